"""Building blocks shared by the networks."""

from __future__ import annotations

import torch
from torch import nn

LEAKY_SLOPE = 0.33  # Han et al. 2017 and the cross-attention paper


class ConvLeakyBN(nn.Module):
    """3x3 conv (zero padding keeps the size) -> LeakyReLU(0.33) -> BatchNorm: the cross-attention paper's unit."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)
        self.norm = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.conv(x)))


class ConvBNReLU(nn.Module):
    """conv -> BatchNorm -> ReLU (HSSANet step 6, VGG-style nets)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, batch_norm: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not batch_norm)
        self.norm = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))
