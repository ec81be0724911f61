"""How a recording's class scores become the instruments named, and how that rule is chosen.

A class is named when its score reaches its own threshold θ_c **and** at least ``relative`` times the best
class's score (the predominance rule: an instrument heard far more faintly than the loudest one is not named).
A run without per-class thresholds uses its one θ for every class and no predominance rule.

The rule is chosen on held-out scores of a leave-one-library-out evaluation (``instrid lolo``): every clip a
fold scores comes from the library that fold never heard, so the scores are those of an unfamiliar recording,
which is what a user's songs are. A mixture is held out by the fold of each of its libraries; in that fold
only the part from the held-out library counts as a positive (the others were heard in training, so their
scores say nothing: ``IGNORE``), and every class not in the mixture counts as a negative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)  # the grid theta is chosen from (never on a test set)
IGNORE = -1  # a target entry held-out scores say nothing about
RELATIVE = np.round(np.arange(0.0, 0.95, 0.1), 2)  # the grid the predominance ratio is chosen from
MIN_POSITIVES = 20  # a class with fewer held-out positives keeps the pooled threshold


def class_thresholds(spec: dict, labels: Sequence[str], override: float | None = None) -> np.ndarray:
    """θ per class (C,) from a run's ``threshold`` entry; ``override`` puts one θ on every class."""
    if override is not None:
        return np.full(len(labels), float(override))
    per_class = spec.get("per_class", {})
    return np.array([float(per_class.get(c, spec["value"])) for c in labels])


def named_by_rule(scores: np.ndarray, spec: dict, labels: Sequence[str], override: float | None = None) -> np.ndarray:
    """Which classes a run's naming rule (its ``threshold`` entry) names: ``scores`` (N, C) -> (N, C) bool.
    ``override`` puts one θ on every class in place of the whole rule, its predominance ratio included."""
    relative = 0.0 if override is not None else float(spec.get("relative", 0.0))
    return named(scores, class_thresholds(spec, labels, override), relative)


def named(scores: np.ndarray, thetas: np.ndarray, relative: float = 0.0) -> np.ndarray:
    """Which classes are named: ``scores`` (N, C) -> (N, C) bool. A class reaches its θ (``thetas``, (C,)) and
    ``relative`` times its row's best score."""
    scores = np.atleast_2d(scores)
    return (scores >= thetas) & (scores >= relative * scores.max(axis=1, keepdims=True))


def counts(chosen: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per class (C,), leaving out ``IGNORE`` entries."""
    known = targets != IGNORE
    tp = np.sum(chosen & (targets == 1), axis=0)
    fp = np.sum(chosen & (targets == 0) & known, axis=0)
    fn = np.sum(~chosen & (targets == 1), axis=0)
    return tp, fp, fn


def f1(tp, fp, fn) -> float:
    tp, fp, fn = (float(np.sum(x)) for x in (tp, fp, fn))
    return 2 * tp / max(2 * tp + fp + fn, 1.0)


def precision_recall(tp, fp, fn) -> tuple[float, float]:
    tp, fp, fn = (float(np.sum(x)) for x in (tp, fp, fn))
    return tp / max(tp + fp, 1.0), tp / max(tp + fn, 1.0)


def choose_rule(scores: np.ndarray, targets: np.ndarray, labels: Sequence[str], chosen_on: str) -> dict:
    """The rule with the best F1 on held-out ``scores`` (N, C) against ``targets`` (N, C) of 1, 0 or IGNORE:
    first one pooled θ (micro F1), then each class's own θ (its F1; classes with under ``MIN_POSITIVES``
    positives keep the pooled one), then the predominance ratio (micro F1). Ties go to the smaller value.
    Returns a run's ``threshold`` entry, with what the rule costs and gains per class (``per_class_effect``)."""

    def best(grid, f1_of):
        values = [f1_of(x) for x in grid]
        return float(grid[int(np.argmax(np.round(values, 12)))])

    pooled = best(THRESHOLDS, lambda t: f1(*counts(scores >= t, targets)))
    thetas = np.full(len(labels), pooled)
    for c in range(len(labels)):
        if np.sum(targets[:, c] == 1) >= MIN_POSITIVES:
            thetas[c] = best(THRESHOLDS, lambda t: f1(*counts(scores[:, c : c + 1] >= t, targets[:, c : c + 1])))
    relative = best(RELATIVE, lambda r: f1(*counts(named(scores, thetas, r), targets)))
    before, after = counts(scores >= pooled, targets), counts(named(scores, thetas, relative), targets)
    effect = {}
    for c, code in enumerate(labels):
        (p0, r0), (p1, r1) = (precision_recall(*(x[c] for x in before)), precision_recall(*(x[c] for x in after)))
        effect[code] = {"threshold": float(thetas[c]), "positives": int(np.sum(targets[:, c] == 1)),
                        "precision": [round(p0, 4), round(p1, 4)], "recall": [round(r0, 4), round(r1, 4)]}  # fmt: skip
    (p0, r0), (p1, r1) = precision_recall(*before), precision_recall(*after)
    return {
        "value": pooled,
        "per_class": {code: float(t) for code, t in zip(labels, thetas)},
        "relative": relative,
        "chosen_on": chosen_on,
        "micro": {"precision": [round(p0, 4), round(p1, 4)], "recall": [round(r0, 4), round(r1, 4)]},
        "per_class_effect": effect,  # [with the pooled theta alone, with the rule]
    }
