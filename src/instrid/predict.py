"""Recognise the instruments in recordings of any length: ``Recognizer.load().predict("song.wav")``.

A recording is cut into the model's windows (3 s for the shipped musicnn head, 1 s for the cross-attention
network) with a 50 % hop; each window gets class probabilities; the file's scores are the class-wise mean
over windows (``windows.excerpt_scores``: kept as it is for sigmoid models, divided by its maximum — Han
et al.'s aggregation — for softmax ones), and the instruments whose score reaches the run's theta are
reported, best first. Windows quieter than ``SILENCE_DBFS`` are silence: they get no instrument and take no part in
the scores, and a recording that is silence throughout is reported as such, with no instrument.

The file is decoded, resampled, analysed and scored block by block (``extraction.extract_stream``), so memory
does not grow with its length; pYIN tracks across block edges thanks to the context each block carries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio
from .extraction import extract_stream
from .labels import full_name
from .runtime import load_scorer, run_or_shipped
from .thresholds import class_thresholds, named_by_rule
from .windows import evaluation_hop, excerpt_scores, windows_at

SILENCE_DBFS = -60.0  # RMS level (dB re full scale) under which a window is silence: room tone, dither, fades


@dataclass(frozen=True)
class LabelScore:
    code: str  # IRMAS code, e.g. "vio"
    name: str  # full name, e.g. "violin"
    score: float  # in [0, 1]: the class's mean probability (sigmoid runs); for softmax runs divided by the top's


@dataclass(frozen=True)
class Timeline:
    starts: np.ndarray  # (W,) window start times, seconds
    window_seconds: float
    probabilities: np.ndarray  # (W, n_classes) class probabilities of each window; all 0 for silent windows
    silent: np.ndarray  # (W,) bool: the window is quieter than SILENCE_DBFS


@dataclass(frozen=True)
class Prediction:
    path: str
    duration: float  # seconds
    labels: tuple[LabelScore, ...]  # the predominant instrument(s), best first (thresholds.named)
    top: LabelScore | None  # the best class; None when the recording is silence
    scores: tuple[LabelScore, ...]  # every class, in label order (all 0 for silence)
    threshold: float  # the theta the best class had to reach
    silence: bool = False  # every window is quieter than SILENCE_DBFS: no instrument is reported
    timeline: Timeline | None = None
    features: dict[str, np.ndarray] | None = None  # with keep_features: the arrays of extraction.extract_stream, joined

    def to_dict(self) -> dict:
        out = {
            "path": self.path,
            "duration": round(self.duration, 3),
            "silence": self.silence,
            "labels": [vars(x) for x in self.labels],
            "top": None if self.top is None else vars(self.top),
            "threshold": self.threshold,
            "scores": {x.code: x.score for x in self.scores},
        }
        if self.timeline is not None:
            codes = [x.code for x in self.scores]
            out["timeline"] = {
                "window_seconds": self.timeline.window_seconds,
                "starts": [round(float(t), 3) for t in self.timeline.starts],
                "silent": self.timeline.silent.tolist(),
                "probabilities": [dict(zip(codes, np.round(p.astype(float), 4).tolist())) for p in self.timeline.probabilities],
            }
        return out


@dataclass(frozen=True)
class FileWindows:
    inputs: dict[str, np.ndarray]  # the model's input windows, e.g. "mel" (W, 1, 96, 187)
    silent: np.ndarray  # (W,) bool
    duration: float  # seconds


class Recognizer:
    """A trained run ready to tag recordings. ``Recognizer.load()`` takes the model shipped in the package."""

    def __init__(self, run_dir: str | Path, *, device: str = "auto", runtime: str = "auto", threads: int | None = None):
        self.scorer, self.run = load_scorer(run_dir, device=device, runtime=runtime, threads=threads)
        self.entry, self.model = self.scorer.entry, self.scorer.model
        self.labels = tuple(self.run["labels"])
        self.threshold = float(self.run["threshold"]["value"])  # theta of the classes without their own
        self.thresholds = dict(zip(self.labels, class_thresholds(self.run["threshold"], self.labels).tolist()))  # own theta per class
        self.relative = float(self.run["threshold"].get("relative", 0.0))  # the predominance rule (thresholds.py)
        self.run_dir = Path(run_dir)

    @classmethod
    def load(
        cls, run_dir: str | Path | None = None, *, device: str = "auto", runtime: str = "auto", threads: int | None = None
    ) -> Recognizer:
        return cls(run_or_shipped(run_dir), device=device, runtime=runtime, threads=threads)

    @property
    def device(self):
        return self.scorer.device

    @property
    def precision(self) -> str:
        return self.scorer.precision

    @property
    def sample_rate(self) -> int:
        return self.entry.features.frontend.sample_rate

    def predict(
        self,
        source: audio.Source,
        *,
        name: str | None = None,
        threshold: float | None = None,
        timeline: bool = False,
        keep_features: bool = False,
        max_seconds: float | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Prediction:
        """Instruments of one audio file (a path, or an open binary file with ``name`` for messages), read
        block by block. ``max_seconds`` refuses longer files (``AudioTooLongError``) before decoding them;
        ``on_progress`` is called with the seconds of audio read so far, block by block."""
        name = name or str(source)
        chunks = self._stream(source, name, max_seconds)
        return self._recognise(
            chunks, path=name, threshold=threshold, timeline=timeline, keep_features=keep_features, on_progress=on_progress
        )

    def predict_audio(
        self, y: np.ndarray, *, path: str = "", threshold: float | None = None, timeline: bool = False, keep_features: bool = False
    ) -> Prediction:
        """Instruments of mono audio already at ``self.sample_rate``."""
        return self._recognise([y], path=path, threshold=threshold, timeline=timeline, keep_features=keep_features)

    def windows(self, source: audio.Source, *, name: str | None = None, max_seconds: float | None = None) -> FileWindows:
        """Every input window of one file, for scoring several files' windows at once (``cluster.py``); memory
        grows with the file's length, unlike ``predict``'s."""
        duration = [0.0]
        blocks = list(self._windows(self._stream(source, name or str(source), max_seconds), duration, kept=None))
        return FileWindows(
            {k: np.concatenate([b[k] for b, _ in blocks]) for k in blocks[0][0]}, np.concatenate([s for _, s in blocks]), duration[0]
        )

    def _stream(self, source: audio.Source, name: str, max_seconds: float | None) -> Iterator[np.ndarray]:
        min_samples = self.entry.features.frontend.min_samples
        return audio.stream_audio(source, sr=self.sample_rate, name=name, max_seconds=max_seconds, min_samples=min_samples)

    def _recognise(
        self, chunks: Iterable[np.ndarray], *, path: str, threshold: float | None, timeline: bool, keep_features: bool,
        on_progress: Callable[[float], None] | None = None,
    ) -> Prediction:  # fmt: skip
        kept = [] if keep_features else None
        duration = [0.0]
        probs, silent = [], []
        for inputs, quiet in self._windows(chunks, duration, kept, on_progress):
            probs.append(self.scorer.probabilities(inputs))
            silent.append(quiet)
        features = {k: np.concatenate([b[k] for b in kept], axis=-1) for k in kept[0]} if keep_features else None
        return self.prediction(
            np.concatenate(probs), np.concatenate(silent), duration[0], path=path, threshold=threshold, timeline=timeline,
            features=features,
        )  # fmt: skip

    def _windows(
        self, chunks: Iterable[np.ndarray], duration: list[float], kept: list | None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:  # fmt: skip
        """The input windows (W, ...) and their silence (W,) block by block as the audio streams in; the
        seconds of audio read go into ``duration[0]`` (and to ``on_progress`` as they grow) and, with ``kept``,
        the feature blocks into it."""
        window, hop = self.entry.window, evaluation_hop(self.entry)
        n_samples = 0

        def counted(chunks):
            nonlocal n_samples
            for chunk in chunks:
                n_samples += len(chunk)
                duration[0] = n_samples / self.sample_rate
                if on_progress is not None:
                    on_progress(duration[0])
                yield chunk

        frames: dict[str, np.ndarray] = {}  # frames not yet windowed, from frame ``offset`` on
        offset = next_start = n_frames = 0
        for block in extract_stream(counted(chunks), self.entry.features):
            if kept is not None:
                kept.append(block)
            frames = {k: np.concatenate([frames[k], v], axis=-1) if frames else v for k, v in block.items()}
            n_frames += len(block["rms"])
            starts = np.arange(next_start, n_frames - window + 1, hop)  # the windows that fit in the frames so far
            if len(starts):
                yield self._inputs(frames, starts - offset)
                next_start = int(starts[-1]) + hop
                frames = {k: v[..., next_start - offset :] for k, v in frames.items()}
                offset = next_start
        if n_frames < window:  # shorter than one window: one window, padded
            yield self._inputs(frames, np.zeros(1, np.int64))

    def _inputs(self, frames: dict[str, np.ndarray], starts: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The model's inputs (W, ...) at ``starts`` (frames of ``frames``) and whether each window is silent (W,)."""
        levels = [np.sqrt(np.mean(np.square(frames["rms"][s : s + self.entry.window]))) for s in starts]  # RMS per window
        return windows_at(frames, self.entry, starts), 20 * np.log10(np.maximum(levels, 1e-12)) < SILENCE_DBFS

    def prediction(
        self, probs: np.ndarray, silent: np.ndarray, duration: float, *, path: str, threshold: float | None = None,
        timeline: bool = False, features: dict[str, np.ndarray] | None = None,
    ) -> Prediction:  # fmt: skip
        """A file's answer from its windows' class probabilities (W, C) and silence (W,)."""
        window, hop = self.entry.window, evaluation_hop(self.entry)
        probs = probs.copy()
        probs[silent] = 0.0
        thetas = class_thresholds(self.run["threshold"], self.labels, threshold)  # (C,)
        scores = np.zeros(len(self.labels)) if silent.all() else excerpt_scores(probs[~silent], self.scorer.activation)
        all_scores = tuple(LabelScore(c, full_name(c), round(float(x), 4)) for c, x in zip(self.labels, scores))
        chosen = named_by_rule(np.array([x.score for x in all_scores]), self.run["threshold"], self.labels, threshold)[0]  # (C,)
        ranked = [] if silent.all() else sorted(range(len(all_scores)), key=lambda i: -all_scores[i].score)
        fps = self.entry.features.frontend.frames_per_second
        return Prediction(
            path=path,
            duration=duration,
            labels=tuple(all_scores[i] for i in ranked if chosen[i]),
            top=all_scores[ranked[0]] if ranked else None,
            scores=all_scores,
            threshold=float(thetas[ranked[0]] if ranked else thetas.min()),
            silence=bool(silent.all()),
            timeline=Timeline(np.arange(len(probs)) * hop / fps, window / fps, probs, silent) if timeline else None,
            features=features,
        )
