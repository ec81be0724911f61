"""The papers' metrics: accuracy, precision / recall / F1 (per class, micro, macro, weighted), the per-class
table in the layout of the cross-attention paper's Table 3, a confusion matrix, and Han et al.'s multi-label
protocol for variable-length excerpts (window scores averaged, divided by their maximum, thresholded at theta).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from .labels import full_name
from .thresholds import THRESHOLDS

AVERAGES = ("micro", "macro", "weighted")


def _prf(y_true, y_pred, n_classes: int, labels: Sequence[str]) -> dict:
    per_class = precision_recall_fscore_support(y_true, y_pred, labels=range(n_classes), zero_division=0)
    report = {
        "classes": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, *per_class)
        }
    }
    for average in AVERAGES:
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=range(n_classes), average=average, zero_division=0)
        report[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    return report


def single_label_report(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    """Metrics of one label per clip: class indices into ``labels``."""
    report = {"n": len(y_true), "accuracy": float(accuracy_score(y_true, y_pred))}
    report.update(_prf(y_true, y_pred, len(labels), labels))
    report["confusion"] = confusion_matrix(y_true, y_pred, labels=range(len(labels))).tolist()
    return report


def multilabel_report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Metrics over the excerpt x class matrix: ``y_true``, ``y_pred`` (N, n_classes) of 0/1."""
    report = {"n": len(y_true), "exact_match": float(np.mean(np.all(y_true == y_pred, axis=1)))}
    report.update(_prf(y_true.astype(int), y_pred.astype(int), len(labels), labels))
    return report


def choose_threshold(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """The theta in ``THRESHOLDS`` with the best micro F1 of ``scores >= theta`` against ``targets`` (N, C);
    ties go to the smallest theta. Returns (theta, that micro F1). Call it on validation excerpts only."""
    best = (0.5, -1.0)
    for theta in THRESHOLDS:
        _, _, f1, _ = precision_recall_fscore_support(targets, (scores >= theta).astype(int), average="micro", zero_division=0)
        if f1 > best[1] + 1e-12:
            best = (float(theta), float(f1))
    return best


def table3(report: dict) -> str:
    """Per-class precision, recall and F1, then micro / macro / weighted averages (cross-attention Table 3)."""
    lines = [f"{'SL. No':>6}  {'Class':<18}{'P':>6}{'R':>6}{'F1':>6}{'n':>6}"]
    for i, (label, m) in enumerate(report["classes"].items(), 1):
        lines.append(f"{i:>6}  {full_name(label):<18}{m['precision']:>6.2f}{m['recall']:>6.2f}{m['f1']:>6.2f}{m['support']:>6}")
    for average in AVERAGES:
        m = report[average]
        lines.append(f"{'':>6}  {average.capitalize() + ' Avg':<18}{m['precision']:>6.2f}{m['recall']:>6.2f}{m['f1']:>6.2f}")
    return "\n".join(lines)


def plot_confusion(report: dict, path: Path, title: str = "") -> None:
    """The confusion matrix of a single-label report as a PNG (rows: true class, columns: predicted)."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no backend to choose

    labels = list(report["classes"])
    matrix = np.asarray(report["confusion"])
    fig = Figure(figsize=(1 + 0.5 * len(labels), 0.8 + 0.5 * len(labels)))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        if v:
            ax.text(j, i, v, ha="center", va="center", color="white" if v > matrix.max() / 2 else "black", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {report['accuracy']:.1%} (n = {report['n']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
