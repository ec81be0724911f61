"""Han et al. 2017 ("Deep convolutional neural networks for predominant instrument recognition in polyphonic
music"): 22.05 kHz, 128 mels, 1 s = 43 frames; four double-conv blocks (32, 64, 128, 256 filters, 3x3,
LeakyReLU 0.33), 3x3 max-pooling and dropout 0.25 after the first three, global max-pooling after the last,
dense 1024, dropout 0.5. 1,446,123 parameters with 11 classes (the paper's Table 6 lists 1.446 M).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import features
from ..features import FeatureConfig
from .blocks import LEAKY_SLOPE
from .registry import register

HAN_FRAMES = round(features.HAN_MEL.frames_per_second)  # 43 frames = 1 s


@dataclass(frozen=True)
class HanConfig:
    n_classes: int = 11
    channels: tuple[int, ...] = (32, 64, 128, 256)
    dense: int = 1024
    conv_dropout: float = 0.25
    dense_dropout: float = 0.5


def double_conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
    ]  # fmt: skip


class Han2017(nn.Module):
    def __init__(self, config: HanConfig):
        super().__init__()
        layers, c_in = [], 1
        for i, c in enumerate(config.channels):
            layers += double_conv(c_in, c)
            if i < len(config.channels) - 1:
                layers += [nn.MaxPool2d(3), nn.Dropout(config.conv_dropout)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(c_in, config.dense), nn.LeakyReLU(LEAKY_SLOPE), nn.Dropout(config.dense_dropout),
            nn.Linear(config.dense, config.n_classes),
        )  # fmt: skip

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        return self.features(mel).amax(dim=(2, 3))  # (B, 1, 128, 43) -> (B, 256, 4, 1) -> global max (B, 256)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(mel))


@register(
    "han2017",
    config=HanConfig(),
    features=FeatureConfig(features.HAN_MEL, pitch=False),
    window=HAN_FRAMES,
    inputs=("mel",),
    task="mix",
    summary="Han et al. 2017 CNN baseline of the cross-attention paper (1 s at 22.05 kHz)",
)
def han2017(config: HanConfig) -> nn.Module:
    return Han2017(config)
