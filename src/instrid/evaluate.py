"""Evaluation of a run on a split: single-label clips (argmax of the mean over their windows) and, for
IRMAS-like tasks, the multi-label excerpts under Han's protocol with the theta stored in the run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .checkpoint import write_json
from .data import load_dataset
from .dataset import excerpt_clips, scores_excerpts, task_clips
from .errors import DataError
from .metrics import choose_threshold, multilabel_report, plot_confusion, single_label_report
from .runtime import load_scorer
from .store import PackedFeatures, ensure_features
from .thresholds import named_by_rule
from .windows import evaluation_hop, excerpt_scores, load_windows, mean_by_clip

DEFAULT_THRESHOLD = 0.5  # Han et al.'s theta, used when a dataset has no multi-label validation excerpts


def evaluate(
    run_dir: str | Path,
    data_dir: str | Path,
    *,
    split: str = "test",
    cache: str | Path | None = None,
    device: str = "auto",
    runtime: str = "auto",
    workers: int | None = None,
    progress: bool = True,
    restrict: bool = False,
) -> dict:
    """Metrics of the run at ``run_dir`` on ``split`` of the dataset at ``data_dir``.

    Returns a dict with ``single_label`` (accuracy, per-class and averaged P/R/F1, confusion matrix) and,
    when the split has multi-label excerpts and the run was trained on the mix task or scores each class on its
    own (sigmoid), ``multi_label``.
    With ``restrict``, single-label predictions are the best of the classes that occur in the split (for
    evaluation sets that cover only some classes, such as real-notes).
    """
    scorer, run = load_scorer(run_dir, device=device, runtime=runtime)
    entry, classes, task = scorer.entry, tuple(run["labels"]), run["task"]
    clips = load_dataset(data_dir)
    single = [c for c in task_clips(clips, task, split) if c.labels[0] in classes]
    excerpts = excerpt_clips(clips, split) if scores_excerpts(task, scorer.activation) else []
    unknown = [c for c in excerpts if not set(c.labels) <= set(classes)]
    if unknown:
        warnings.warn(f"{len(unknown)} excerpt(s) left out: labelled with classes the run does not know "
                      f"({', '.join(sorted({x for c in unknown for x in c.labels} - set(classes)))})", stacklevel=2)  # fmt: skip
        excerpts = [c for c in excerpts if c not in unknown]
    if not single and not excerpts:
        splits = sorted({c.split for c in clips})
        raise DataError(f"{data_dir}: no clips of split {split!r} for task {task!r}; splits here: {splits}")
    cache = Path(cache) if cache else Path(data_dir) / "features"
    packed = ensure_features(single + excerpts, entry, cache, workers=workers, progress=progress)
    single, excerpts = [c for c in single if c.clip_id in packed], [c for c in excerpts if c.clip_id in packed]
    result = {"run": str(run_dir), "model": entry.name, "data": str(data_dir), "split": split, "task": task, "restricted": restrict}
    if single:
        inputs, clip_index = load_windows(packed, [c.clip_id for c in single], entry, hop=evaluation_hop(entry))
        clip_probs = mean_by_clip(scorer.probabilities(inputs), clip_index, len(single))
        truth = [classes.index(c.labels[0]) for c in single]
        if restrict:
            absent = np.setdiff1d(np.arange(len(classes)), truth)
            clip_probs[:, absent] = -1.0
        predicted = clip_probs.argmax(axis=1)
        result["single_label"] = single_label_report(truth, predicted, classes)
    if excerpts:
        scores, targets = excerpt_matrix(scorer, packed, excerpts, classes)
        spec = run["threshold"]
        chosen = named_by_rule(scores, spec, classes)
        result["multi_label"] = {"threshold": spec, **multilabel_report(targets, chosen, classes)}
    return result


def save_evaluation(result: dict, out: str | Path) -> dict[str, Path]:
    """Write ``evaluate``'s result into the folder ``out`` (a run folder, or any other): ``evaluation-SPLIT.json``
    and, for single-label clips, the confusion matrix ``confusion-SPLIT.png``. Returns the paths written."""
    split, out = result["split"], Path(out)
    written = {"json": out / f"evaluation-{split}.json"}
    write_json(written["json"], result)
    if "single_label" in result:
        written["confusion"] = out / f"confusion-{split}.png"
        plot_confusion(result["single_label"], written["confusion"], f"{result['model']} on {split}")
    return written


def excerpt_matrix(scorer, packed: PackedFeatures, excerpts, classes) -> tuple[np.ndarray, np.ndarray]:
    """Han's protocol on excerpts: windows with 50 % hop, class-wise mean (divided by its maximum for softmax models).
    Returns ``scores`` (N, C) in [0, 1] and ``targets`` (N, C) of 0/1."""
    inputs, clip_index = load_windows(packed, [c.clip_id for c in excerpts], scorer.entry, hop=evaluation_hop(scorer.entry))
    probs = scorer.probabilities(inputs)
    scores = np.array([excerpt_scores(probs[clip_index == i], scorer.activation) for i in range(len(excerpts))]).reshape(-1, len(classes))
    targets = np.array([[label in c.labels for label in classes] for c in excerpts], dtype=int)
    return scores, targets


def choose_run_threshold(scorer, packed, excerpts, classes) -> dict:
    """theta for the multi-label protocol, chosen on the validation excerpts (never on test)."""
    if not excerpts:
        return {"value": DEFAULT_THRESHOLD, "chosen_on": "default: no multi-label validation excerpts"}
    scores, targets = excerpt_matrix(scorer, packed, excerpts, classes)
    theta, f1 = choose_threshold(scores, targets)
    report = multilabel_report(targets, scores >= theta, classes)
    return {"value": theta, "chosen_on": f"validation excerpts ({len(excerpts)})", "micro_f1": f1, "macro_f1": report["macro"]["f1"]}
