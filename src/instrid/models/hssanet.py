"""HSSANet (Harmonic-Structured Spectral Attention Network), steps 4-8 of the paper; steps 1-3 (resampling,
band-pass, normalisation, 2 s segments, log-mel) are the feature store's ``HSSANET`` front end.

Shapes for the default config, a 2 s segment at 16 kHz (125 frames of 128 log-mel bands):

    mel (B, 1, 128, 125)
    -> log-frequency axis (B, 1, 128, 125): 16 bins per octave from 32.7 Hz (C1), interpolated from the mel bands
    -> harmonic stack     (B, K, 128, 125): channel k holds x(k f), the log axis shifted by 16 log2(k) bins
    -> harmonic attention: softmax over the K harmonics of a 3x3 conv of the stack, times the stack
    -> spectral attention: channel weights softmax(W_c GAP) (B, K, 1, 1) x frequency weights softmax(W_f GAP)
                           (B, 1, F, 1), each scaled by its size so that uniform attention is the identity
    -> backbone: conv1 (B, C, 128, 125) -> pool -> conv2, conv3 at (B, C, 64, 62); residual = conv1 + conv2 + conv3
                 -> pool -> conv4 (B, 2C, 32, 31)
    -> CNN features: mean over frequency (B, 31, 2C); BiGRU over time (B, 31, 2H); concatenated (B, 31, 2C + 2H)
    -> global average pooling over time -> dense (ReLU) -> dropout -> dense -> logits

Why a log-frequency axis: on it, the k-th harmonic of every note is the same number of bins above its
fundamental, so "stack x(f), x(2f), x(3f), ..." is a fixed shift per harmonic and a conv kernel sees the
harmonics of a note aligned across channels. The mel scale is nearly linear below 1 kHz, where it would not.
Sizes the paper leaves open (K, C, H, dense width) are config fields; the defaults keep the network small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import features
from ..features import FeatureConfig
from ..melspec import mel_frequencies
from .blocks import ConvBNReLU
from .registry import register

FEATURES = FeatureConfig(features.HSSANET_MEL, pitch=False, preprocess=True)
SEGMENT_SECONDS = 2.0  # the paper's example segment length
SEGMENT_FRAMES = round(SEGMENT_SECONDS * features.HSSANET_MEL.frames_per_second)  # 125


@dataclass(frozen=True)
class HSSANetConfig:
    n_classes: int = 11
    n_mels: int = features.HSSANET_MEL.n_mels  # input bands (must match the front end)
    sample_rate: int = features.HSSANET_MEL.sample_rate  # with fmin/fmax: where the input bands lie
    fmin: float = features.HSSANET_MEL.fmin
    fmax: float = features.HSSANET_MEL.sample_rate / 2
    bins_per_octave: int = 16  # resolution of the log-frequency axis
    log_fmin: float = 32.70  # Hz (C1): lowest bin of the log-frequency axis
    n_bins: int = 128  # log-frequency bins: 8 octaves, C1 to C9 (bins above fmax are zero)
    n_harmonics: int = 5  # K: x(f), x(2f), ..., x(Kf)
    channels: int = 32  # C: backbone width (conv4 has 2C)
    gru_hidden: int = 64  # H: per direction
    dense: int = 128
    dropout: float = 0.3
    spectral_attention: bool = True  # False: step 5 left out (an ablation; n_harmonics=1 leaves out step 4)


def mel_to_log_frequency(config: HSSANetConfig) -> np.ndarray:
    """(n_bins, n_mels) linear-interpolation matrix from mel-band centres to log-spaced frequencies."""
    mel_centres = mel_frequencies(config.n_mels + 2, config.fmin, config.fmax)[1:-1]
    log_centres = config.log_fmin * 2.0 ** (np.arange(config.n_bins) / config.bins_per_octave)
    eye = np.eye(config.n_mels)
    return np.stack([np.interp(log_centres, mel_centres, eye[j], left=0, right=0) for j in range(config.n_mels)], 1)


def harmonic_shifts(config: HSSANetConfig) -> list[int]:
    """Bins between a fundamental and its k-th harmonic on the log axis: round(bins_per_octave * log2 k)."""
    return [round(config.bins_per_octave * np.log2(k)) for k in range(1, config.n_harmonics + 1)]


class HarmonicStack(nn.Module):
    """Step 4: stack x(f), x(2f), ..., then softmax attention over the harmonics."""

    def __init__(self, config: HSSANetConfig):
        super().__init__()
        self.register_buffer("to_log", torch.tensor(mel_to_log_frequency(config), dtype=torch.float32), persistent=False)
        self.shifts = harmonic_shifts(config)
        self.phi = nn.Conv2d(config.n_harmonics, config.n_harmonics, 3, padding=1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = torch.einsum("lm,bmt->blt", self.to_log, mel[:, 0])  # (B, F, T) log-frequency axis
        stack = [nn.functional.pad(x[:, s:], (0, 0, 0, s)) if s else x for s in self.shifts]  # K x (B, F, T): x(k f)
        harmonics = torch.stack(stack, dim=1)  # (B, K, F, T)
        attention = torch.softmax(self.phi(harmonics), dim=1)  # (B, K, F, T), sums to 1 over the harmonics
        return harmonics * attention


class SpectralAttention(nn.Module):
    """Step 5: channel attention x frequency attention, each softmax(W . GAP(x)), rescaled to mean 1."""

    def __init__(self, n_channels: int, n_bins: int):
        super().__init__()
        self.channel = nn.Linear(n_channels, n_channels)
        self.frequency = nn.Linear(n_bins, n_bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, k, f, _ = x.shape
        ca = torch.softmax(self.channel(x.mean(dim=(2, 3))), dim=1) * k  # (B, K)
        fa = torch.softmax(self.frequency(x.mean(dim=(1, 3))), dim=1) * f  # (B, F)
        return x * ca[:, :, None, None] * fa[:, None, :, None]


class HSSANet(nn.Module):
    def __init__(self, config: HSSANetConfig):
        super().__init__()
        c = config.channels
        self.harmonics = HarmonicStack(config)
        self.spectral_attention = (
            SpectralAttention(config.n_harmonics, config.n_bins) if config.spectral_attention else nn.Identity()
        )
        self.conv1 = ConvBNReLU(config.n_harmonics, c)
        self.conv2 = ConvBNReLU(c, c)
        self.conv3 = ConvBNReLU(c, c)
        self.conv4 = ConvBNReLU(c, 2 * c)
        self.pool = nn.MaxPool2d(2)
        self.gru = nn.GRU(2 * c, config.gru_hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Linear(2 * c + 2 * config.gru_hidden, config.dense),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.dense, config.n_classes),
        )

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.spectral_attention(self.harmonics(mel))  # (B, K, F, T)
        c1 = self.pool(self.conv1(x))  # (B, C, F/2, T/2)
        c2 = self.conv2(c1)
        c3 = self.conv3(c2)
        cnn = self.conv4(self.pool(c1 + c2 + c3))  # (B, 2C, F/4, T/4): residual sum, then conv4
        cnn = cnn.mean(dim=2).transpose(1, 2)  # (B, T/4, 2C) sequence over time
        gru, _ = self.gru(cnn)  # (B, T/4, 2H)
        return torch.cat([cnn, gru], dim=-1).mean(dim=1)  # (B, 2C + 2H): fusion, then GAP over time

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(mel))


COMMON = {"features": FEATURES, "window": SEGMENT_FRAMES, "inputs": ("mel",), "task": "solo"}


@register("hssanet_no_harmonics", config=HSSANetConfig(n_harmonics=1), **COMMON,
          summary="HSSANet without harmonic stacking (K = 1: the log-frequency spectrum alone)")  # fmt: skip
@register("hssanet_no_attention", config=HSSANetConfig(spectral_attention=False), **COMMON,
          summary="HSSANet without its spectral attention module (an ablation)")  # fmt: skip
@register("hssanet", config=HSSANetConfig(), **COMMON,
          summary="harmonic stacking + spectral attention + residual CNN + BiGRU (HSSANet paper)")  # fmt: skip
def hssanet(config: HSSANetConfig) -> nn.Module:
    return HSSANet(config)
