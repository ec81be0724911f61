"""Leave-one-library-out evaluation: for each sample library (a SoundFont, or a source of real recordings), a
model trained without it, scored on its clips — how well a recipe recognises instruments it has never heard
from that library. ``instrid lolo`` runs it; each fold is an ordinary run folder (``OUT/<library>``), so a
killed evaluation resumes where it stopped."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from .data import Clip, load_dataset
from .data.layouts import LIBRARY_JOIN, label_libraries, uses_library
from .dataset import class_list, tasks_of
from .errors import ParameterError
from .fileio import atomic_write
from .models import get_entry
from .runtime import load_scorer
from .store import ensure_features
from .thresholds import IGNORE, choose_rule
from .train import TrainConfig, extra_clips, train
from .windows import evaluation_hop, load_windows, mean_by_clip

RESULT_FILE = "lolo.json"
HELD_OUT_FILE = "held-out.npz"  # in each fold: the held-out clips' scores and targets, for thresholds.choose_rule


def is_mixture(clip: Clip) -> bool:
    """Several instruments labelled, or parts from several libraries (``instrid mix``)."""
    return len(clip.labels) > 1 or LIBRARY_JOIN in clip.source


def library_clips(clips: Sequence[Clip], task: str) -> dict[str, list[Clip]]:
    """The single-label clips of one library of ``task`` (any split; real recordings count for every task), by library."""
    out: dict[str, list[Clip]] = {}
    for c in clips:
        if len(c.labels) == 1 and not is_mixture(c) and c.task in (*tasks_of(task), ""):
            out.setdefault(c.source, []).append(c)
    return dict(sorted(out.items()))


def _previous_results(out_dir: Path) -> dict:
    """The per-library results of ``OUT/lolo.json``, or none when it is missing or unreadable."""
    try:
        previous = json.loads((out_dir / RESULT_FILE).read_text())["libraries"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return previous if isinstance(previous, dict) else {}


def leave_one_library_out(
    data_dir: str | Path,
    out_dir: str | Path,
    config: TrainConfig,
    *,
    extra_data: Sequence[str | Path] = (),
    cache: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    libraries: Sequence[str] | None = None,
) -> dict:
    """Train one fold per library of ``data_dir`` + ``extra_data`` (or per one of ``libraries``) and score it on
    that library's clips. Returns (and writes to ``OUT/lolo.json``) each library's clip accuracy, per class how many
    were right and what the others were called (``mistaken_for``), and the mean. For a sigmoid model, also the
    naming rule (per-class thresholds and predominance ratio, ``thresholds.choose_rule``) chosen on every
    fold's held-out scores: its single-label clips and the multi-label clips (mixtures) that use its library,
    kept in ``OUT/LIBRARY/held-out.npz``."""
    out_dir, entry = Path(out_dir), get_entry(config.model)
    cache = Path(cache) if cache else Path(data_dir) / "features"
    clips = load_dataset(data_dir) + extra_clips(extra_data)
    by_library = library_clips(clips, config.task or entry.task)
    classes = class_list([c for group in by_library.values() for c in group])
    unknown = sorted(set(libraries or ()) - set(by_library))
    if unknown:
        raise ParameterError(f"no clips of library {', '.join(unknown)}; the data has: {', '.join(by_library)}")
    known = set(by_library)
    if libraries:
        by_library = {k: v for k, v in by_library.items() if k in libraries}
    result = {"model": config.model, "data": str(data_dir), "extra_data": [str(x) for x in extra_data], "libraries": {}}
    if libraries:  # keep the folds scored before, e.g. by another --libraries share of the same OUT
        result["libraries"] = {k: v for k, v in _previous_results(out_dir).items() if k in known}
    for library, held_out in by_library.items():
        fold = out_dir / library
        finished = (fold / ckpt.RUN_FILE).exists() and ckpt.read_run(fold).get("status") == "done"
        if not finished:
            train(data_dir, fold, config, cache=cache, resume=(fold / ckpt.RUN_FILE).exists(), workers=workers,
                  progress=progress, extra_data=extra_data, exclude_library=library)  # fmt: skip
        scorer, run = load_scorer(fold, device=config.device, precision=config.precision)
        mixed = [c for c in clips if is_mixture(c) and c.labels and uses_library(c, library) and set(c.labels) <= set(run["labels"])]
        packed = ensure_features(held_out + mixed, entry, cache, workers=workers, progress=False)
        held_out, mixed = [c for c in held_out if c.clip_id in packed], [c for c in mixed if c.clip_id in packed]
        all_scores = clip_scores(scorer, packed, held_out + mixed)  # (clips, run's classes)
        scores = all_scores[: len(held_out)]
        if scorer.activation == "sigmoid":
            targets = held_out_targets(held_out + mixed, library, run["labels"])
            labels = np.array(run["labels"])
            atomic_write(fold / HELD_OUT_FILE, lambda f: np.savez(f, labels=labels, scores=all_scores, targets=targets))
        predicted = [run["labels"][i] for i in scores.argmax(axis=1)]
        correct = [p == c.labels[0] for p, c in zip(predicted, held_out)]
        per_class = {k: f"{sum(ok for ok, c in zip(correct, held_out) if c.labels[0] == k)}/{sum(c.labels[0] == k for c in held_out)}"
                     for k in classes if any(c.labels[0] == k for c in held_out)}  # fmt: skip
        mistaken: dict[str, Counter] = {}  # true class -> what its clips were called instead, and how often
        for p, c in zip(predicted, held_out):
            if p != c.labels[0]:
                mistaken.setdefault(c.labels[0], Counter())[p] += 1
        result["libraries"][library] = {
            "accuracy": float(np.mean(correct)),
            "clips": len(held_out),
            "per_class": per_class,
            "mistaken_for": {k: dict(v.most_common()) for k, v in mistaken.items()},
        }
        print(
            f"{library}: {np.mean(correct):.1%} of {len(held_out)} clips ({', '.join(f'{k} {v}' for k, v in per_class.items())})",
            flush=True,
        )
    accuracies = [r["accuracy"] for r in result["libraries"].values()]
    result["mean_accuracy"] = float(np.mean(accuracies))
    folds = [out_dir / name / HELD_OUT_FILE for name in result["libraries"] if (out_dir / name / HELD_OUT_FILE).is_file()]
    if folds and len(folds) == len(result["libraries"]) and (held := held_out_scores(folds)):
        labels, scores, targets = held
        where = f"leave-one-library-out folds of {out_dir} ({len(folds)} folds, {len(scores)} held-out clips)"
        result["threshold"] = choose_rule(scores, targets, labels, where)
    text = json.dumps(result, indent=1)
    atomic_write(out_dir / RESULT_FILE, lambda f: f.write(text.encode()))
    return result


def clip_scores(scorer, packed, clips: Sequence[Clip]) -> np.ndarray:
    """Each clip's class scores (clips, C): the mean of its windows' probabilities (50 % hop)."""
    inputs, clip_index = load_windows(packed, [c.clip_id for c in clips], scorer.entry, hop=evaluation_hop(scorer.entry))
    return mean_by_clip(scorer.probabilities(inputs), clip_index, len(clips))


def held_out_targets(clips: Sequence[Clip], library: str, labels: Sequence[str]) -> np.ndarray:
    """(clips, C) of 1 (an instrument played from the held-out ``library``), ``IGNORE`` (one played from a
    library the fold heard) or 0 (not in the clip)."""
    targets = np.zeros((len(clips), len(labels)), np.int8)
    for i, clip in enumerate(clips):
        for label, source in label_libraries(clip).items():
            targets[i, labels.index(label)] = 1 if source == library else IGNORE
    return targets


def held_out_scores(files: Sequence[Path]) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """The folds' labels and their held-out scores and targets, stacked: (N, C) each; None when the folds'
    runs have different labels (no one rule fits them all)."""
    parts = []
    for path in files:
        with np.load(path, allow_pickle=False) as f:
            parts.append((f["labels"].tolist(), f["scores"], f["targets"]))
    if any(labels != parts[0][0] for labels, _, _ in parts):
        return None
    return parts[0][0], np.concatenate([s for _, s, _ in parts]), np.concatenate([t for _, _, t in parts])


def adopt_rule(lolo_dir: str | Path, run_dir: str | Path) -> dict:
    """Put the naming rule that ``instrid lolo`` chose (``LOLO/lolo.json``) into the run at ``run_dir`` (its
    ``run.json``'s ``threshold``), replacing the theta chosen on its validation split. Returns the rule."""
    path = Path(lolo_dir) / RESULT_FILE
    try:
        rule = json.loads(path.read_text())["threshold"]
    except OSError as err:
        raise ParameterError(f"{path}: cannot be read ({err.strerror}); run `instrid lolo --out {lolo_dir}` first") from None
    except (ValueError, KeyError, TypeError):
        raise ParameterError(f"{path}: holds no naming rule; it is chosen by `instrid lolo` of a sigmoid model, all folds finished") from None
    run = ckpt.read_run(run_dir)
    ckpt.validate_run({**run, "threshold": rule}, Path(run_dir))
    if set(rule.get("per_class", {})) != set(run["labels"]):
        raise ParameterError(f"{path}: its rule is for the labels {sorted(rule.get('per_class', {}))}, the run has {run['labels']}")
    ckpt.write_json(Path(run_dir) / ckpt.RUN_FILE, {**run, "threshold": rule})
    return rule
