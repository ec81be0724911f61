"""ResNet-18 (He et al. 2016) on HSSANet's log-mel input, one input channel: a baseline of the HSSANet paper.

Written here rather than taken from torchvision: torchvision's wheels on PyPI are CUDA builds that fail to
load beside the CPU build of torch this project pins (``operator torchvision::nms does not exist``), and the
network is 40 lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .hssanet import FEATURES, SEGMENT_FRAMES
from .registry import register


@dataclass(frozen=True)
class ResNetConfig:
    n_classes: int = 11
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)  # ResNet-18


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, config: ResNetConfig):
        super().__init__()
        c = config.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(1, c, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(3, 2, 1)
        )
        layers = []
        for i, (width, n) in enumerate(zip(config.widths, config.blocks)):
            for j in range(n):
                layers.append(BasicBlock(c, width, stride=2 if i > 0 and j == 0 else 1))
                c = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, config.n_classes)

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(mel)).mean(dim=(2, 3))  # (B, 1, 128, 125) -> (B, 512, 4, 4) -> (B, 512)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(mel))


@register(
    "resnet18",
    config=ResNetConfig(),
    features=FEATURES,
    window=SEGMENT_FRAMES,
    inputs=("mel",),
    task="solo",
    summary="ResNet-18 on HSSANet's 2 s log-mel (HSSANet paper baseline, from scratch)",
)
def resnet18(config: ResNetConfig) -> nn.Module:
    return ResNet(config)
