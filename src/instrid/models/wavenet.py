"""A WaveNet-style classifier on the raw waveform (van den Oord et al. 2016): a strided conv front
(16 kHz -> 2 kHz steps), stacks of dilated causal convs with gated tanh x sigmoid units, residual and skip
connections, then ReLU, 1x1 conv, mean over time and a linear classifier. Input: HSSANet's 2 s segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import features
from ..features import FeatureConfig
from .hssanet import SEGMENT_SECONDS
from .registry import register

WAVE_FRAMES = round(SEGMENT_SECONDS * features.WAVENET_WAVE.frames_per_second)  # 125 rows of 256 samples = 2 s


@dataclass(frozen=True)
class WaveNetConfig:
    n_classes: int = 11
    stride: int = 8  # the front conv's hop: 16 kHz -> 2 kHz
    channels: int = 32  # residual channels
    skip_channels: int = 64
    layers_per_stack: int = 8  # dilations 1, 2, ..., 128: a receptive field of 256 steps = 128 ms per stack
    stacks: int = 2


class GatedResidual(nn.Module):
    def __init__(self, channels: int, skip_channels: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(channels, 2 * channels, 2, dilation=dilation)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(nn.functional.pad(x, (self.dilation, 0)))  # (B, 2C, N), causal
        filt, gate = h.chunk(2, dim=1)
        h = torch.tanh(filt) * torch.sigmoid(gate)  # (B, C, N)
        return x + self.residual(h), self.skip(h)


class WaveNet(nn.Module):
    def __init__(self, config: WaveNetConfig):
        super().__init__()
        self.front = nn.Conv1d(1, config.channels, 2 * config.stride, stride=config.stride, padding=config.stride // 2)
        self.blocks = nn.ModuleList(
            GatedResidual(config.channels, config.skip_channels, 2**i)
            for _ in range(config.stacks)
            for i in range(config.layers_per_stack)
        )
        self.post = nn.Conv1d(config.skip_channels, config.skip_channels, 1)
        self.fc = nn.Linear(config.skip_channels, config.n_classes)

    def embed(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.front(wave[:, None])  # (B, N) -> (B, C, N / stride)
        skips = 0
        for block in self.blocks:
            x, skip = block(x)
            skips = skips + skip  # (B, S, N / stride)
        return torch.relu(self.post(torch.relu(skips))).mean(dim=2)  # (B, S)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(wave))


@register(
    "wavenet",
    config=WaveNetConfig(),
    features=FeatureConfig(features.WAVENET_WAVE, pitch=False, preprocess=True),
    window=WAVE_FRAMES,
    inputs=("wave",),
    task="solo",
    summary="dilated gated causal convs on the 16 kHz waveform (HSSANet paper baseline)",
)
def wavenet(config: WaveNetConfig) -> nn.Module:
    return WaveNet(config)
