"""From a dataset folder to model inputs: which clips train, validate and test a task, their features
(extracted once into the feature store), and the windows cut from them.

Windows: training cuts each clip into non-overlapping windows of the model's input length (a 3 s IRMAS
excerpt gives three 1 s inputs, as in the cross-attention paper); evaluation uses a 50 % hop (Han's protocol).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import Clip
from .errors import DataError
from .features import input_windows
from .labels import IRMAS_CLASSES
from .models import ModelEntry
from .store import FeatureStore, PackedFeatures, cut_window, mask_track

VALIDATION_SHARE = 0.2  # the papers' 80:20 split, used when a dataset has no validation split


def tasks_of(task: str) -> tuple[str, ...]:
    """"solo+mix" -> ("solo", "mix"): a model may train on several rendered tasks at once."""
    return tuple(task.split("+"))


def task_clips(clips: Sequence[Clip], task: str, split: str, *, single_label: bool = True) -> list[Clip]:
    """Clips of ``split`` for ``task`` (clips of published layouts without a task count for every task)."""
    tasks = (*tasks_of(task), "")
    return [c for c in clips if c.split == split and c.task in tasks and (len(c.labels) == 1 or not single_label)]


def excerpt_clips(clips: Sequence[Clip], split: str) -> list[Clip]:
    """The variable-length, multi-label excerpts of ``split`` (rendered ``mix-long``, IRMAS test)."""
    return [c for c in clips if c.split == split and c.task == "mix-long"]


def class_list(clips: Sequence[Clip]) -> tuple[str, ...]:
    """The IRMAS codes in their usual order when every label is one; otherwise the sorted labels."""
    labels = {label for c in clips for label in c.labels}
    return IRMAS_CLASSES if labels <= set(IRMAS_CLASSES) else tuple(sorted(labels))


def train_validation(clips: Sequence[Clip], task: str, *, seed: int) -> tuple[list[Clip], list[Clip]]:
    """The training and validation clips of ``task``: the dataset's own validation split when it has one,
    otherwise a stratified 20 % of its training clips (seeded)."""
    train = task_clips(clips, task, "train")
    if not train:
        raise DataError(f"no single-label training clips for task {task!r}; pick another --task or dataset")
    validation = task_clips(clips, task, "validation")
    if validation:
        return train, validation
    from sklearn.model_selection import train_test_split

    labels = [c.labels[0] for c in train]
    stratify = labels if min(labels.count(x) for x in set(labels)) >= 2 else None
    train, validation = train_test_split(train, test_size=VALIDATION_SHARE, random_state=seed, stratify=stratify)
    return list(train), list(validation)


def ensure_features(
    clips: Sequence[Clip], entry: ModelEntry, cache: str | Path, *, workers: int | None = None, progress: bool = True
) -> PackedFeatures:
    """The packed features of ``clips`` for ``entry``'s front end, extracting and packing what is missing.

    Unreadable clips are skipped with one line each on stderr (and listed in the store's ``errors.json``);
    callers keep the clips that are ``in`` the result."""
    store = FeatureStore(cache, entry.features)
    try:
        packed = store.open()
    except DataError:
        packed = None
    missing = [c for c in clips if packed is None or c.clip_id not in packed]
    if not missing:
        return packed
    errors = store.extract([(c.clip_id, c.path) for c in missing], workers=workers, progress=progress)
    for reason in errors.values():
        print(f"instrid: skipped: {reason}", file=sys.stderr)
    if packed is None or len(errors) < len(missing):  # re-pack only when there is something new to add
        known = packed.clip_ids if packed is not None else []
        store.pack(list(dict.fromkeys([*known, *(c.clip_id for c in clips)])))
    return store.open()


def clip_windows(arrays: dict[str, np.ndarray], entry: ModelEntry, *, hop: int) -> dict[str, np.ndarray]:
    """The model inputs of one clip's feature arrays (as ``store.extract_clip`` gives them), every ``hop``
    frames: ``mel``/``mask`` (W, 1, F, T), ``wave`` (W, window * hop_length), ``descriptors`` (W, 29, T)."""
    n_frames = arrays[entry.features.frontend.field].shape[1]
    return windows_at(mask_track(arrays, entry.features), entry, input_windows(n_frames, size=entry.window, hop=hop))


def windows_at(arrays: dict[str, np.ndarray], entry: ModelEntry, starts: Sequence[int]) -> dict[str, np.ndarray]:
    """The model inputs starting at frames ``starts`` (see ``clip_windows``; ``arrays`` already through
    ``store.mask_track``)."""
    columns: dict[str, list[np.ndarray]] = {name: [] for name in entry.inputs}
    for start in starts:
        window = cut_window(arrays, entry.features, int(start), entry.window)
        for name in entry.inputs:
            x = window[name]
            columns[name].append(x.T.reshape(-1) if name == "wave" else x[None] if name in ("mel", "mask") else x)
    return {name: np.stack(xs).astype(np.float32) for name, xs in columns.items()}


def load_windows(
    packed: PackedFeatures, clip_ids: Sequence[str], entry: ModelEntry, *, hop: int | None = None
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
