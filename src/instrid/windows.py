"""Windows: the model inputs cut from a clip's feature frames, and the clip scores made of their probabilities.

    frames (dim, T), f0 (T,)  --input_windows / cut_window / windows_at-->  inputs: mel, mask (W, 1, F, size) ...
    probabilities (W, C)      --mean_by_clip (single label) / excerpt_scores (Han's protocol)-->  scores (C,)

Training cuts non-overlapping windows (a 3 s clip gives three 1 s inputs, as in the cross-attention paper);
evaluation and prediction cut one every ``evaluation_hop`` frames: half a window (Han et al.'s protocol).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .errors import ParameterError
from .features import INPUT_FRAMES, FeatureConfig, mask_track, pitch_mask
from .models import ModelEntry

EVALUATION_HOP = 0.5  # windows start every half window when evaluating and predicting (Han et al.'s protocol)


class FrameSource(Protocol):
    """Where windows are cut from: the feature store's ``PackedFeatures``, or anything with its ``clip``."""

    def clip(self, clip_id: str) -> dict[str, np.ndarray]: ...


def evaluation_hop(entry: ModelEntry) -> int:
    """Frames between the starts of two evaluation windows of ``entry``'s model."""
    return int(entry.window * EVALUATION_HOP)


def input_windows(n_frames: int, *, size: int = INPUT_FRAMES, hop: int = INPUT_FRAMES) -> np.ndarray:
    """Start frames of the model inputs cut from a clip of ``n_frames`` frames.

    Windows of ``size`` frames every ``hop`` frames that fit entirely inside the clip; a clip shorter than
    one window gives one window at 0 (the caller pads it). Training uses hop = size (3 s -> 3 inputs);
    the IRMAS evaluation protocol uses hop = size // 2.
    """
    if size <= 0 or hop <= 0:
        raise ParameterError(f"window size and hop must be > 0, got size={size}, hop={hop}")
    return np.arange(0, max(n_frames - size, 0) + 1, hop)


def cut_window(arrays: dict[str, np.ndarray], config: FeatureConfig, start: int, size: int) -> dict[str, np.ndarray]:
    """One model input of ``size`` frames from a clip's arrays (as ``extract_clip`` gives them), padded past the
    clip's end with the front end's floor (-100 dB for the cross-attention mel): the frames (dim, size) and,
    with pitch, the binary ``mask`` (n_mels, size)."""
    field = config.frontend.field
    x = arrays[field][:, start : start + size]
    pad = size - x.shape[1]
    x = np.pad(x, ((0, 0), (0, pad)), constant_values=config.frontend.floor)
    out = {field: x}
    if config.pitch:
        f0 = np.pad(arrays["f0"][start : start + size], (0, pad), constant_values=np.nan)
        out["mask"] = pitch_mask(f0, np.isfinite(f0), config.frontend)
    return out


def clip_windows(arrays: dict[str, np.ndarray], entry: ModelEntry, *, hop: int) -> dict[str, np.ndarray]:
    """The model inputs of one clip's feature arrays (as ``extraction.extract_clip`` gives them), every ``hop``
    frames: ``mel``/``mask`` (W, 1, F, T), ``wave`` (W, window * hop_length), ``descriptors`` (W, 29, T)."""
    n_frames = arrays[entry.features.frontend.field].shape[1]
    return windows_at(mask_track(arrays, entry.features), entry, input_windows(n_frames, size=entry.window, hop=hop))


def windows_at(arrays: dict[str, np.ndarray], entry: ModelEntry, starts: Sequence[int]) -> dict[str, np.ndarray]:
    """The model inputs starting at frames ``starts`` (see ``clip_windows``; ``arrays`` already through
    ``features.mask_track``)."""
    columns: dict[str, list[np.ndarray]] = {name: [] for name in entry.inputs}
    for start in starts:
        window = cut_window(arrays, entry.features, int(start), entry.window)
        for name in entry.inputs:
            x = window[name]
            columns[name].append(x.T.reshape(-1) if name == "wave" else x[None] if name in ("mel", "mask") else x)
    return {name: np.stack(xs).astype(np.float32) for name, xs in columns.items()}


def load_windows(
    packed: FrameSource, clip_ids: Sequence[str], entry: ModelEntry, *, hop: int | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every window of the clips as arrays, ready to batch: the ``clip_windows`` of each clip concatenated,
    and ``clip_index`` (N,), the position in ``clip_ids`` of each window."""
    return stack_windows([clip_windows(packed.clip(cid), entry, hop=hop or entry.window) for cid in clip_ids], entry)


def stack_windows(per_clip: Sequence[dict[str, np.ndarray]], entry: ModelEntry) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The ``clip_windows`` of several clips as one batchable set, and ``clip_index`` (N,): the clip of each window."""
    if not per_clip:
        return {name: np.zeros((0,), np.float32) for name in entry.inputs}, np.zeros(0, np.int64)
    inputs = {name: np.concatenate([w[name] for w in per_clip]) for name in entry.inputs}
    clip_index = np.repeat(np.arange(len(per_clip)), [len(w[entry.inputs[0]]) for w in per_clip])
    return inputs, clip_index


def normalise(inputs: dict[str, np.ndarray], stats: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """Inputs standardised with the run's statistics (name -> [mean, std]); the others as they are."""
    return {k: (v - stats[k][0]) / stats[k][1] if k in stats else v for k, v in inputs.items()}


def mean_by_clip(probs: np.ndarray, clip_index: np.ndarray, n_clips: int) -> np.ndarray:
    """(N, C) window probabilities -> (n_clips, C) mean over each clip's windows."""
    sums = np.zeros((n_clips, probs.shape[1]))
    np.add.at(sums, clip_index, probs)
    counts = np.bincount(clip_index, minlength=n_clips)[:, None]
    return sums / np.maximum(counts, 1)


def excerpt_scores(window_probs: np.ndarray, activation: str = "softmax") -> np.ndarray:
    """An excerpt's class scores (C,) from its window probabilities (W, C): the class-wise mean. For softmax
    models (the papers') Han's aggregation divides it by its maximum, so the top class scores 1; sigmoid
    models score each class on its own, so the mean is kept as it is — a score that says how sure the model is."""
    mean = window_probs.mean(axis=0)
    if activation == "sigmoid":
        return mean
    return mean / mean.max() if mean.max() > 0 else mean
