"""The VGGish architecture (Hershey et al. 2017) with its own front end: 0.96 s = 96 frames x 64 log-mel bands
at 16 kHz; conv 64 / 128 / 2x256 / 2x512 (3x3, ReLU) with 2x2 max-pooling after each group, fully connected
4096 -> 4096 -> 128 (the embedding), then a ReLU and a linear classifier. Trained from scratch: the pretrained
weights cannot be downloaded here. About 72 M parameters, most of them in the first dense layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import features
from ..features import FeatureConfig
from .blocks import ConvBNReLU
from .registry import register

VGGISH_FRAMES = 96


@dataclass(frozen=True)
class VGGishConfig:
    n_classes: int = 11
    groups: tuple[tuple[int, ...], ...] = ((64,), (128,), (256, 256), (512, 512))
    dense: tuple[int, ...] = (4096, 4096)
    embedding: int = 128
    n_mels: int = features.VGGISH_MEL.n_mels
    frames: int = VGGISH_FRAMES


class VGGish(nn.Module):
    def __init__(self, config: VGGishConfig):
        super().__init__()
        layers, c_in = [], 1
        for group in config.groups:
            for c in group:
                layers.append(ConvBNReLU(c_in, c, batch_norm=False))
                c_in = c
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        shrink = 2 ** len(config.groups)
        width = c_in * (config.n_mels // shrink) * (config.frames // shrink)  # 512 * 4 * 6 = 12288
        dense = []
        for d in config.dense:
            dense += [nn.Linear(width, d), nn.ReLU()]
            width = d
        self.embedding = nn.Sequential(*dense, nn.Linear(width, config.embedding))
        self.classifier = nn.Sequential(nn.ReLU(), nn.Linear(config.embedding, config.n_classes))

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.features(mel).flatten(1))  # (B, 1, 64, 96) -> (B, 512, 4, 6) -> (B, 128)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(mel))


@register(
    "vggish",
    config=VGGishConfig(),
    features=FeatureConfig(features.VGGISH_MEL, pitch=False, preprocess=True),
    window=VGGISH_FRAMES,
    inputs=("mel",),
    task="solo",
    summary="the VGGish architecture on its 0.96 s, 64-band log-mel (HSSANet paper baseline, from scratch)",
)
def vggish(config: VGGishConfig) -> nn.Module:
    return VGGish(config)
