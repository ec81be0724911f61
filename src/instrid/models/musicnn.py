"""musicnn (Pons & Serra 2019), the MagnaTagATune model, ported to PyTorch with its pretrained weights, and an
instrument classifier on top of it.

``MusicnnMTT`` is the original network: 3 s = 187 frames x 96 log-mel bands at 16 kHz; a front end of
musically motivated filters (timbral: 7 frames x 38 / 67 bands; temporal: 128 / 64 / 32 frames x 1 band),
each max-pooled over frequency; three 1-d convolutions over time with residual connections (the mid-end);
max and mean over time of everything before (753 x 2); batch norm, a 200-unit dense layer and the 50 MTT
tags. As in the original, every convolution is conv -> ReLU -> batch norm, with TensorFlow's epsilon 1e-3.
The weights (``pretrained/musicnn_mtt.safetensors``, ISC licence) were converted from the original TF1
checkpoint by ``scripts/convert_musicnn.py``; a test checks the port's tag scores against the original's.
The same network trained on the Million Song Dataset (``MSD_musicnn``: about 200,000 songs and 50 Last.fm
tags) is ``pretrained/musicnn_msd.safetensors``, checked the same way (``backbone="msd"``).

``MusicnnClassifier`` replaces the tag layer with an instrument head on the 1506-d pooled features or the
200-d penultimate layer. With ``freeze`` only the head learns, so training computes each window's embedding
once (``embed``) and runs its epochs on them (``forward(embedding=...)``); without it the pretrained network
is fine-tuned at a smaller learning rate. Its batch-norm statistics stay the pretrained ones either way.
``nuisance_dims`` removes the directions along which the same instrument's embeddings differ from one sample
library to another (``fit_nuisance``) before the head sees them. ``normalise_level`` brings every window to one
loudness before the network: the level a recording was made at says nothing of its
instrument, yet the sample libraries' median levels run from 7 to 24 dB (``scripts/library_levels.py``),
rendered notes among the loudest.
``presence`` adds a second head, a logistic regression on the embedding that tells whether an instrument plays
at all. It learns from every training clip, the examples of no instrument (noise, drum kits, test signals,
speech) among them, while the instrument head learns from the clips with an instrument only; a class's
score is the product of the two (``forward``), so a sound that is no instrument gets low scores for every class
without the instrument head having to bend its classes around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
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
LEVEL_REFERENCE = 150.0  # a window's loudest frame after ``normalise_level`` (mel power): under rendered notes' medians
EMBEDDINGS = ("pooled", "penultimate")
PROBABILITY_EPS = 1e-6  # a gated class's probability is kept within [eps, 1 - eps], so its logit is finite
HEADS = ("linear", "mlp")


BACKBONES = {"mtt": "musicnn_mtt.safetensors", "msd": "musicnn_msd.safetensors"}  # the pretrained weights of each


def weights_file(backbone: str = "mtt"):
    return resources.files("instrid") / "pretrained" / BACKBONES[backbone]


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


def normalise_level(mel: torch.Tensor) -> torch.Tensor:
    """(B, 1, 96, T) musicnn log-mel, log10(1 + 10000 power) -> the same windows with their power scaled so that
    each window's loudest frame (summed over the bands) is LEVEL_REFERENCE. The gain is exact: it is applied to
    the power, not to its logarithm. A window of digital silence stays silent."""
    power = (torch.pow(10.0, mel.float()) - 1) / 10_000
    loudest = power.sum(dim=2, keepdim=True).amax(dim=3, keepdim=True)  # (B, 1, 1, 1)
    gain = LEVEL_REFERENCE / loudest.clamp_min(1e-10)
    return torch.log10(1 + 10_000 * power * gain)


def load_pretrained(backbone: str = "mtt") -> MusicnnMTT:
    """The network with the weights of the MagnaTagATune (``"mtt"``) or Million Song Dataset (``"msd"``) model."""
    from safetensors.torch import load

    net = MusicnnMTT()
    net.load_state_dict(load(weights_file(backbone).read_bytes()))
    return net.eval()


@dataclass(frozen=True)
class MusicnnConfig:
    n_classes: int = 11
    backbone: str = "mtt"  # the pretrained weights: "mtt" (MagnaTagATune) or "msd" (Million Song Dataset)
    embedding: str = "pooled"  # the head's input: "pooled" (1506-d) or "penultimate" (200-d)
    freeze: bool = True  # train only the head; False fine-tunes the pretrained network too
    backbone_lr: float = 0.01  # when fine-tuning: the pretrained network's learning rate, relative to the head's
    pretrained: bool = True  # start from the MTT weights (False: random, for tests)
    dropout: float = 0.5
    head: str = "linear"  # the instrument head: "linear", or "mlp" (one hidden layer of ``hidden`` units)
    hidden: int = 256
    nuisance_dims: int = 0  # directions of between-library variation removed from the embedding (0: none)
    nuisance_min_windows: int = 5  # a (class, library) pair's windows needed for it to count in that fit
    normalise_level: bool = False  # every window brought to one loudness before the network (``normalise_level``)
    presence: bool = False  # a second head: P(an instrument plays), which multiplies every class's probability


class MusicnnClassifier(nn.Module):
    def __init__(self, config: MusicnnConfig):
        super().__init__()
        if config.embedding not in EMBEDDINGS:
            raise ParameterError(f"musicnn embedding {config.embedding!r}: choose one of {', '.join(EMBEDDINGS)}")
        if config.backbone not in BACKBONES:
            raise ParameterError(f"musicnn backbone {config.backbone!r}: choose one of {', '.join(BACKBONES)}")
        self.config = config
        on_meta = torch.empty(0).device.type == "meta"  # built to check a run's shapes: no weights to load
        self.backbone = load_pretrained(config.backbone) if config.pretrained and not on_meta else MusicnnMTT()
        if config.freeze:
            self.backbone.requires_grad_(False)
        width = self.backbone.pooled_dim if config.embedding == "pooled" else self.backbone.dense.out_features
        if config.head not in HEADS:
            raise ParameterError(f"musicnn head {config.head!r}: choose one of {', '.join(HEADS)}")
        if config.head == "mlp":
            layers = [nn.Linear(width, config.hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.hidden, config.n_classes)]
        else:
            layers = [nn.Linear(width, config.n_classes)]
        self.classifier = nn.Sequential(nn.LayerNorm(width), nn.Dropout(config.dropout), *layers)
        if config.nuisance_dims < 0:
            raise ParameterError(f"musicnn nuisance_dims must be >= 0, got {config.nuisance_dims}")
        if config.nuisance_dims and not config.freeze:
            raise ParameterError("musicnn nuisance_dims needs freeze=true: the directions are fitted on fixed embeddings")
        if config.presence:  # logistic regression on the standardised embedding (train.py: ``presence_loss``)
            self.presence = nn.Sequential(nn.BatchNorm1d(width, affine=False), nn.Linear(width, 1))
        if config.nuisance_dims:  # nuisance attribute projection (fit_nuisance): standardise, remove a subspace
            self.register_buffer("embedding_mean", torch.zeros(width))
            self.register_buffer("embedding_scale", torch.ones(width))
            self.register_buffer("nuisance", torch.zeros(config.nuisance_dims, width))  # (K, D), orthonormal rows

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # its batch-norm statistics (and dropout) stay as pretrained, fine-tuned or not
        return self

    def parameter_groups(self, lr: float) -> list[dict]:
        """The optimizer's parameter groups: the head at ``lr``; when fine-tuning, the pretrained network at
        ``lr * backbone_lr`` (a randomly initialised head's first gradients would otherwise wreck it)."""
        head = [*self.classifier.parameters(), *(self.presence.parameters() if self.config.presence else ())]
        groups = [{"params": head, "lr": lr}]
        if not self.config.freeze:
            groups.append({"params": list(self.backbone.parameters()), "lr": lr * self.config.backbone_lr})
        return groups

    @property
    def embedding_settings(self) -> str:
        """What the embeddings depend on besides the pretrained weights (part of their cache's key)."""
        return self.config.embedding + (f" level {LEVEL_REFERENCE}" if self.config.normalise_level else "")

    @property
    def embeds_once(self) -> bool:
        """Whether training may compute the embeddings once (the pretrained network does not learn)."""
        return self.config.freeze

    def embed(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 1, 96, 187) -> (B, 1506) or (B, 200)."""
        pooled = self.backbone.pooled(normalise_level(mel) if self.config.normalise_level else mel)
        return pooled if self.config.embedding == "pooled" else self.backbone.penultimate(pooled)

    def fit_nuisance(self, embeddings: np.ndarray, labels: np.ndarray, libraries: np.ndarray) -> None:
        """Fit the nuisance attribute projection (Solomonoff et al. 2005) on training embeddings (N, D): after
        standardising, the ``nuisance_dims`` principal directions of the class-wise deviations of each
        library's mean from the mean over that class's libraries. These are what changes with the sample
        library (its recording, room, instrument) rather than with the instrument, so removing them makes the
        head rely less on which library a sound came from. Windows labelled -1 (no instrument, or several: a
        mixture) are ignored; a (class, library) pair needs ``nuisance_min_windows`` windows to count."""
        min_windows = self.config.nuisance_min_windows
        std = embeddings.std(axis=0)
        # half of musicnn's pooled features hardly vary on training audio; a floor keeps them from being blown up
        mean, scale = embeddings.mean(axis=0), np.maximum(std, max(0.1 * std.mean(), 1e-6))
        z = (embeddings - mean) / scale
        deviations, rank = [], 0  # each class's deviations sum to zero: they span (libraries - 1) directions
        for label in np.unique(labels[labels >= 0]):
            of_class = labels == label
            means = [z[of_class & (libraries == lib)].mean(axis=0) for lib in np.unique(libraries[of_class])
                     if np.sum(of_class & (libraries == lib)) >= min_windows]  # fmt: skip
            if len(means) >= 2:
                deviations += list(np.asarray(means) - np.mean(means, axis=0))
                rank += len(means) - 1
        k = self.config.nuisance_dims
        if rank < k:
            raise ParameterError(f"nuisance_dims={k}: the data gives only {rank} directions (a class's libraries with {min_windows}+ windows each, less one per class)")
        directions = np.linalg.svd(np.asarray(deviations), full_matrices=False)[2][:k]  # (K, D), orthonormal
        for name, value in (("embedding_mean", mean), ("embedding_scale", scale), ("nuisance", directions)):
            getattr(self, name).copy_(torch.from_numpy(np.asarray(value, np.float32)))

    def forward(
        self, mel: torch.Tensor | None = None, embedding: torch.Tensor | None = None, parts: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, n_classes) of log-mel windows, or of their embeddings. With ``presence``, each class's
        probability is P(an instrument plays) x P(the class | an instrument plays), returned as its logit;
        ``parts`` returns the two heads' logits instead, (B, n_classes) and (B,), for training."""
        e = self.embed(mel) if embedding is None else embedding  # (B, D)
        z = e
        if self.config.nuisance_dims:
            z = (e - self.embedding_mean) / self.embedding_scale
            z = z - (z @ self.nuisance.T) @ self.nuisance
        logits = self.classifier(z)
        if not self.config.presence:
            return logits
        plays = self.presence(e)  # (B, 1), from the embedding before the projection
        if parts:
            return logits, plays[:, 0]
        return torch.logit(torch.sigmoid(logits) * torch.sigmoid(plays), eps=PROBABILITY_EPS)


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
