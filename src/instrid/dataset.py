"""Splits: which clips of a dataset train, validate and test a task, and its class list."""

from __future__ import annotations

from collections.abc import Sequence

from .data import Clip
from .errors import DataError
from .labels import IRMAS_CLASSES

VALIDATION_SHARE = 0.2  # the papers' 80:20 split, used when a dataset has no validation split


def tasks_of(task: str) -> tuple[str, ...]:
    """"solo+mix" -> ("solo", "mix"): a model may train on several rendered tasks at once."""
    return tuple(task.split("+"))


def task_clips(clips: Sequence[Clip], task: str, split: str, *, single_label: bool = True) -> list[Clip]:
    """Clips of ``split`` for ``task`` (clips of published layouts without a task count for every task)."""
    tasks = (*tasks_of(task), "")
    return [c for c in clips if c.split == split and c.task in tasks and (len(c.labels) == 1 or not single_label)]


def excerpt_clips(clips: Sequence[Clip], split: str) -> list[Clip]:
    """The multi-label excerpts of ``split``: rendered ``mix-long``, IRMAS test, and the clips of a
    ``labels.csv`` set with several labels (e.g. mixtures of recordings, ``data/mixtures.py``)."""
    return [c for c in clips if c.split == split and (c.task == "mix-long" or (not c.task and len(c.labels) > 1))]


def scores_excerpts(task: str, activation: str) -> bool:
    """Whether a run answers several instruments per excerpt, so that it has a θ and is scored on multi-label
    excerpts: trained on the mix task, or scoring each class on its own (sigmoid)."""
    return "mix" in tasks_of(task) or activation == "sigmoid"


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


