"""Recognise the instruments in recordings of any length: ``Recognizer.load().predict("song.wav")``.

A recording is cut into the model's windows (1 s for the cross-attention network) with a 50 % hop; each
window gets class probabilities; the file's scores are Han et al.'s aggregation — the class-wise mean over
windows divided by its maximum — and the instruments whose score reaches the run's theta are reported,
best first. Features are computed once for the whole file, so pYIN tracks across window edges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import audio
from .checkpoint import load_model
from .dataset import windows_at
from .errors import CheckpointError
from .features import input_windows
from .inference import resolve_device, resolve_precision, window_probabilities
from .metrics import excerpt_scores, full_name
from .store import extract_audio, mask_track

SHIPPED_RUN = Path(__file__).parent / "shipped"  # the model inside the package: run.json + model.safetensors
WINDOW_BATCH = 64  # windows per forward pass: bounds memory on hour-long files


@dataclass(frozen=True)
class LabelScore:
    code: str  # IRMAS code, e.g. "vio"
    name: str  # full name, e.g. "violin"
    score: float  # in [0, 1]; the top class scores 1


@dataclass(frozen=True)
class Timeline:
    starts: np.ndarray  # (W,) window start times, seconds
    window_seconds: float
    probabilities: np.ndarray  # (W, n_classes) class probabilities of each window


@dataclass(frozen=True)
class Prediction:
    path: str
    duration: float  # seconds
    labels: tuple[LabelScore, ...]  # the predominant instrument(s): score >= threshold, best first
    top: LabelScore
    scores: tuple[LabelScore, ...]  # every class, in label order
    threshold: float
    timeline: Timeline | None = None
    features: dict[str, np.ndarray] | None = None  # with keep_features: the arrays of store.extract_audio

    def to_dict(self) -> dict:
        out = {
            "path": self.path,
            "duration": round(self.duration, 3),
            "labels": [vars(x) for x in self.labels],
            "top": vars(self.top),
            "threshold": self.threshold,
            "scores": {x.code: x.score for x in self.scores},
        }
        if self.timeline is not None:
            codes = [x.code for x in self.scores]
            out["timeline"] = {
                "window_seconds": self.timeline.window_seconds,
                "starts": [round(float(t), 3) for t in self.timeline.starts],
                "scores": [dict(zip(codes, np.round(p.astype(float), 4).tolist())) for p in self.timeline.probabilities],
            }
        return out


class Recognizer:
    """A trained run ready to tag recordings. ``Recognizer.load()`` takes the model shipped in the package."""

    def __init__(self, run_dir: str | Path, *, device: str = "auto"):
        self.entry, self.model, self.run = load_model(run_dir)
        self.device = resolve_device(device)
        self.precision = resolve_precision("auto", self.device)
        if self.entry.kind == "torch":
            self.model = self.model.to(self.device).to(memory_format=torch.channels_last)
        self.labels = tuple(self.run["labels"])
        self.threshold = float(self.run["threshold"]["value"])
        self.run_dir = Path(run_dir)

    @classmethod
    def load(cls, run_dir: str | Path | None = None, *, device: str = "auto") -> Recognizer:
        if run_dir is None and not (SHIPPED_RUN / "run.json").is_file():
            raise CheckpointError(f"{SHIPPED_RUN}: this install ships no model; pass --run RUN_DIR from `instrid train`")
        return cls(run_dir or SHIPPED_RUN, device=device)

    @property
    def sample_rate(self) -> int:
        return self.entry.features.frontend.sample_rate

    def read_audio(self, path: str | Path) -> np.ndarray:
        """Decode a file (any format soundfile reads, any rate, mono or stereo) to mono at ``sample_rate``."""
        return audio.load_audio(path, sr=self.sample_rate, min_samples=self.entry.features.frontend.min_samples)

    def predict(self, path: str | Path, *, threshold: float | None = None, timeline: bool = False) -> Prediction:
        """Instruments of one audio file."""
        return self.predict_audio(self.read_audio(path), path=str(path), threshold=threshold, timeline=timeline)

    def predict_audio(
        self, y: np.ndarray, *, path: str = "", threshold: float | None = None, timeline: bool = False, keep_features: bool = False
    ) -> Prediction:
        """Instruments of mono audio already at ``self.sample_rate``."""
        theta = self.threshold if threshold is None else threshold
        arrays = extract_audio(y, self.entry.features)
        probs = np.concatenate(list(self._window_probabilities(arrays)))  # (W, C)
        scores = excerpt_scores(probs)
        all_scores = tuple(LabelScore(c, full_name(c), round(float(s), 4)) for c, s in zip(self.labels, scores))
        ranked = sorted(all_scores, key=lambda x: -x.score)
        hop = self.entry.window // 2
        fps = self.entry.features.frontend.frames_per_second
        return Prediction(
            path=path,
            duration=len(y) / self.sample_rate,
            labels=tuple(x for x in ranked if x.score >= theta),
            top=ranked[0],
            scores=all_scores,
            threshold=theta,
            timeline=Timeline(np.arange(len(probs)) * hop / fps, self.entry.window / fps, probs) if timeline else None,
            features=arrays if keep_features else None,
        )

    def _window_probabilities(self, arrays: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
        """(W, C) probabilities of the 50 %-hop windows, WINDOW_BATCH windows at a time (bounded memory)."""
        n_frames = arrays[self.entry.features.frontend.field].shape[1]
        starts = input_windows(n_frames, size=self.entry.window, hop=self.entry.window // 2)
        arrays = mask_track(arrays, self.entry.features)
        for i in range(0, len(starts), WINDOW_BATCH):
            inputs = windows_at(arrays, self.entry, starts[i : i + WINDOW_BATCH])
            yield window_probabilities(
                self.model, self.entry, inputs, self.run["normalization"], len(self.labels),
                device=self.device, precision=self.precision,
            )  # fmt: skip
