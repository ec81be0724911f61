"""The dual-branch cross-attention CNN (cross-attention paper, Table 2) and its Table 4 ablations.

Mel branch: 3 double-conv blocks (16, 32, 64 filters) + 2x2 max-pooling: (B, 1, 128, 100) -> (B, 64, 16, 12).
Mask branch: 3 single-conv blocks (32, 64, 128) + 2x2 max-pooling:        (B, 1, 128, 100) -> (B, 128, 16, 12).
Fusion: 1x1 convs to ``d_model`` channels, 192 tokens, multi-head attention with mel tokens as queries and mask
tokens as keys/values, feed-forward d_model -> d_ff -> d_model, mean over tokens, head d_model -> d_head -> classes.

Sizes: the paper's text says 512-d tokens and a 512 -> 1024 head, but its Table 2 parameter counts (16.6 K,
33.0 K, 263.2 K, 262.9 K, total 878,331) only fit 256-d tokens and a 256 -> 512 head, so the table is followed;
both are config fields. No residual or layer norm around the attention: the table counts none.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .. import features
from ..features import FeatureConfig
from .blocks import ConvLeakyBN
from .registry import register

FEATURES = FeatureConfig(features.CROSS_ATTENTION_MEL, pitch=True)


@dataclass(frozen=True)
class CrossAttentionConfig:
    n_classes: int = 11
    mel_channels: tuple[int, ...] = (16, 32, 64)  # filters of the mel branch's double-conv blocks
    mask_channels: tuple[int, ...] = (32, 64, 128)  # filters of the mask branch's single-conv blocks
    d_model: int = 256  # token width after the 1x1 projections
    n_heads: int = 4
    d_ff: int = 512  # feed-forward hidden width
    d_head: int = 512  # hidden units of the classification head
    dropout: float = 0.5  # before the head's last layer


def mel_branch(channels: tuple[int, ...]) -> nn.Sequential:
    layers, c_in = [], 1
    for c in channels:
        layers += [ConvLeakyBN(c_in, c), ConvLeakyBN(c, c), nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers)


def mask_branch(channels: tuple[int, ...]) -> nn.Sequential:
    layers, c_in = [], 1
    for c in channels:
        layers += [ConvLeakyBN(c_in, c), nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers)


def tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) feature map -> (B, F*T, C) token sequence."""
    return x.flatten(2).transpose(1, 2)


def head(config: CrossAttentionConfig, d_in: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, config.d_head), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.d_head, config.n_classes)
    )


def feed_forward(config: CrossAttentionConfig) -> nn.Sequential:
    return nn.Sequential(nn.Linear(config.d_model, config.d_ff), nn.ReLU(), nn.Linear(config.d_ff, config.d_model))


class CrossAttentionNet(nn.Module):
    def __init__(self, config: CrossAttentionConfig):
        super().__init__()
        self.mel_branch = mel_branch(config.mel_channels)
        self.mask_branch = mask_branch(config.mask_channels)
        self.mel_proj = nn.Conv2d(config.mel_channels[-1], config.d_model, 1)
        self.mask_proj = nn.Conv2d(config.mask_channels[-1], config.d_model, 1)
        self.attention = nn.MultiheadAttention(config.d_model, config.n_heads, batch_first=True)
        self.feed_forward = feed_forward(config)
        self.head = head(config, config.d_model)

    def embed(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, 128, 100) mel and mask -> (B, d_model) fused embedding (used for the t-SNE figure)."""
        query = tokens(self.mel_proj(self.mel_branch(mel)))  # (B, 192, d)
        key = tokens(self.mask_proj(self.mask_branch(mask)))  # (B, 192, d)
        fused, _ = self.attention(query, key, key, need_weights=False)  # (B, 192, d)
        return self.feed_forward(fused).mean(dim=1)  # (B, d)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(mel, mask))  # (B, n_classes)


class ConcatNet(CrossAttentionNet):
    """Ablation "Mel + Mask (Concat)": both branches, each token's mel and mask features concatenated and
    projected back to d_model by a linear layer where the attention was."""

    def __init__(self, config: CrossAttentionConfig):
        super().__init__(config)
        del self.attention
        self.fuse = nn.Linear(2 * config.d_model, config.d_model)

    def embed(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mel_tokens = tokens(self.mel_proj(self.mel_branch(mel)))  # (B, 192, d)
        mask_tokens = tokens(self.mask_proj(self.mask_branch(mask)))  # (B, 192, d)
        fused = self.fuse(torch.cat([mel_tokens, mask_tokens], dim=-1))  # (B, 192, d)
        return self.feed_forward(fused).mean(dim=1)


class SingleBranchNet(nn.Module):
    """Ablations "MelCNN-only" / "MaskCNN-only": one branch, its 1x1 projection, feed-forward, mean, head."""

    def __init__(self, config: CrossAttentionConfig, input_name: str):
        super().__init__()
        self.input_name = input_name
        if input_name == "mel":
            self.branch, c_out = mel_branch(config.mel_channels), config.mel_channels[-1]
        else:
            self.branch, c_out = mask_branch(config.mask_channels), config.mask_channels[-1]
        self.proj = nn.Conv2d(c_out, config.d_model, 1)
        self.feed_forward = feed_forward(config)
        self.head = head(config, config.d_model)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.feed_forward(tokens(self.proj(self.branch(x)))).mean(dim=1)  # (B, d)

    def forward(self, mel: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.embed(mel if self.input_name == "mel" else mask))


COMMON = dict(config=CrossAttentionConfig(), features=FEATURES, window=features.INPUT_FRAMES, task="mix")


@register("cross_attention", inputs=("mel", "mask"), summary="dual-branch CNN, mel queries attend to pitch-mask keys (paper Table 2)", **COMMON)
def cross_attention(config: CrossAttentionConfig) -> nn.Module:
    return CrossAttentionNet(config)


@register(
    "cross_attention_clean", inputs=("mel", "mask"), summary="cross_attention on the post-processed (clean) pitch mask (Table 5)",
    **{**COMMON, "features": dataclasses.replace(FEATURES, mask="clean")},
)
def cross_attention_clean(config: CrossAttentionConfig) -> nn.Module:
    return CrossAttentionNet(config)


@register("concat", inputs=("mel", "mask"), summary="ablation: both branches concatenated, no attention (Table 4)", **COMMON)
def concat(config: CrossAttentionConfig) -> nn.Module:
    return ConcatNet(config)


@register("mel_cnn", inputs=("mel",), summary="ablation: mel branch only (Table 4 MelCNN)", **COMMON)
def mel_cnn(config: CrossAttentionConfig) -> nn.Module:
    return SingleBranchNet(config, "mel")


@register("mask_cnn", inputs=("mask",), summary="ablation: pitch-mask branch only (Table 4 MaskCNN)", **COMMON)
def mask_cnn(config: CrossAttentionConfig) -> nn.Module:
    return SingleBranchNet(config, "mask")
