"""musicnn (Pons & Serra 2019), the MagnaTagATune model, ported to PyTorch with its pretrained weights, and an
instrument classifier on top of it.

``MusicnnMTT`` is the original network: 3 s = 187 frames x 96 log-mel bands at 16 kHz; a front end of
musically motivated filters (timbral: 7 frames x 38 / 67 bands; temporal: 128 / 64 / 32 frames x 1 band),
each max-pooled over frequency; three 1-d convolutions over time with residual connections (the mid-end);
max and mean over time of everything before (753 x 2); batch norm, a 200-unit dense layer and the 50 MTT
tags. As in the original, every convolution is conv -> ReLU -> batch norm, with TensorFlow's epsilon 1e-3.
The weights (``pretrained/musicnn_mtt.safetensors``, ISC licence) were converted from the original TF1
checkpoint by ``scripts/convert_musicnn.py``; a test checks the port's tag scores against the original's.

``MusicnnClassifier`` replaces the tag layer with an instrument head on the 1506-d pooled features or the
200-d penultimate layer. With ``freeze`` the pretrained network stays in inference mode and only the head
learns, so training computes each window's embedding once (``embed``) and runs its epochs on them
(``forward(embedding=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import torch
import torch.nn.functional as F
from torch import nn

from .. import features
from ..errors import ParameterError
from ..features import FeatureConfig
from .registry import register

MUSICNN_FRAMES = 187  # 3 s at 16 kHz with a 256-sample hop
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
TF_EPSILON = 1e-3  # tf.layers.batch_normalization's default
EMBEDDINGS = ("pooled", "penultimate")


def weights_file():
    return resources.files("instrid") / "pretrained" / "musicnn_mtt.safetensors"


class FrequencyPooledConv(nn.Module):
    """conv (k_time x k_freq) -> ReLU -> batch norm -> max over frequency: (B, 1, T, 96) -> (B, C, T).
    ``time_padding`` (before, after) gives TensorFlow's 'same' in time, or the timbral blocks' 3 + 3."""

    def __init__(self, channels: int, kernel: tuple[int, int], time_padding: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, kernel)
        self.norm = nn.BatchNorm2d(channels, eps=TF_EPSILON)
        self.time_padding = time_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, *self.time_padding))
        return self.norm(F.relu(self.conv(x))).amax(dim=3)


def same_padding(kernel: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding for stride 1: the odd sample goes after."""
    return (kernel - 1) // 2, kernel // 2


class MidendConv(nn.Module):
    """conv over time (7 frames, all features) -> ReLU -> batch norm: (B, C_in, T) -> (B, 64, T)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 7, padding=3)
        self.norm = nn.BatchNorm1d(c_out, eps=TF_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(x)))


class MusicnnMTT(nn.Module):
    """The original MTT_musicnn network; ``forward`` gives the 50 tag logits."""

    def __init__(self, midend: int = 64, dense: int = 200, n_tags: int = len(MTT_TAGS)):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(1, eps=TF_EPSILON)
        self.timbral = nn.ModuleList(FrequencyPooledConv(204, (7, bands), (3, 3)) for bands in (38, 67))
        self.temporal = nn.ModuleList(
            FrequencyPooledConv(51, (frames, 1), same_padding(frames)) for frames in (128, 64, 32)
        )
        front = 2 * 204 + 3 * 51  # 561
        self.midend = nn.ModuleList([MidendConv(front, midend), MidendConv(midend, midend), MidendConv(midend, midend)])
        self.pooled_dim = 2 * (front + 3 * midend)  # 1506
        self.pool_norm = nn.BatchNorm1d(self.pooled_dim, eps=TF_EPSILON)
        self.dense = nn.Linear(self.pooled_dim, dense)
        self.dense_norm = nn.BatchNorm1d(dense, eps=TF_EPSILON)
        self.dropout = nn.Dropout(0.5)
        self.tags = nn.Linear(dense, n_tags)

    def pooled(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 96, T) log-mel -> (B, 1506): max and mean over time of the front and mid-end features."""
        x = self.input_norm(mel.transpose(2, 3))  # (B, 1, T, 96)
        front = torch.cat([block(x) for block in (*self.timbral, *self.temporal)], dim=1)  # (B, 561, T)
        m1 = self.midend[0](front)
        m2 = self.midend[1](m1) + m1
        m3 = self.midend[2](m2) + m2
        maps = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
        return torch.stack([maps.amax(dim=2), maps.mean(dim=2)], dim=2).flatten(1)  # (B, 1506), max/mean interleaved

    def penultimate(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, 1506) -> (B, 200): the layer musicnn calls ``penultimate``."""
        return self.dense_norm(F.relu(self.dense(self.dropout(self.pool_norm(pooled)))))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.tags(self.dropout(self.penultimate(self.pooled(mel))))  # (B, 50)


def load_pretrained() -> MusicnnMTT:
    from safetensors.torch import load

    net = MusicnnMTT()
    net.load_state_dict(load(weights_file().read_bytes()))
    return net.eval()


@dataclass(frozen=True)
class MusicnnConfig:
    n_classes: int = 11
    embedding: str = "pooled"  # the head's input: "pooled" (1506-d) or "penultimate" (200-d)
    freeze: bool = True  # train only the head; the pretrained network stays in inference mode
    pretrained: bool = True  # start from the MTT weights (False: random, for tests)
    dropout: float = 0.5


class MusicnnClassifier(nn.Module):
    def __init__(self, config: MusicnnConfig):
        super().__init__()
        if config.embedding not in EMBEDDINGS:
            raise ParameterError(f"musicnn embedding {config.embedding!r}: choose one of {', '.join(EMBEDDINGS)}")
        self.config = config
        on_meta = torch.empty(0).device.type == "meta"  # built to check a run's shapes: no weights to load
        self.backbone = load_pretrained() if config.pretrained and not on_meta else MusicnnMTT()
        if config.freeze:
            self.backbone.requires_grad_(False)
        width = self.backbone.pooled_dim if config.embedding == "pooled" else self.backbone.dense.out_features
        self.classifier = nn.Sequential(
            nn.LayerNorm(width), nn.Dropout(config.dropout), nn.Linear(width, config.n_classes)
        )

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze:
            self.backbone.eval()  # batch-norm statistics and dropout of the pretrained network stay fixed
        return self

    @property
    def embeds_once(self) -> bool:
        """Whether training may compute the embeddings once (the pretrained network does not learn)."""
        return self.config.freeze

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 96, 187) -> (B, 1506) or (B, 200)."""
        pooled = self.backbone.pooled(mel)
        return pooled if self.config.embedding == "pooled" else self.backbone.penultimate(pooled)

    def forward(self, mel: torch.Tensor | None = None, embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n_classes) of log-mel windows, or of their embeddings."""
        return self.classifier(self.embed(mel) if embedding is None else embedding)


@register(
    "musicnn",
    config=MusicnnConfig(),
    features=FeatureConfig(features.MUSICNN_MEL, pitch=False),
    window=MUSICNN_FRAMES,
    inputs=("mel",),
    task="solo+mix",
    summary="pretrained musicnn (MagnaTagATune) with an instrument head; 96 x 187 log-mel at 16 kHz",
    standardise=False,
)
def build_musicnn(config: MusicnnConfig) -> MusicnnClassifier:
    return MusicnnClassifier(config)
