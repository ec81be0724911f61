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
from .dataset import class_list, tasks_of
from .errors import ParameterError
from .fileio import atomic_write
from .models import get_entry
from .scorer import load_scorer
from .store import ensure_features
from .train import TrainConfig, extra_clips, train
from .windows import evaluation_hop, load_windows, mean_by_clip

RESULT_FILE = "lolo.json"


def library_clips(clips: Sequence[Clip], task: str) -> dict[str, list[Clip]]:
    """The single-label clips of ``task`` (any split; real recordings count for every task), by library."""
    out: dict[str, list[Clip]] = {}
    for c in clips:
        if len(c.labels) == 1 and c.task in (*tasks_of(task), ""):
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
    were right and what the others were called (``mistaken_for``), and the mean."""
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
        packed = ensure_features(held_out, entry, cache, workers=workers, progress=False)
        held_out = [c for c in held_out if c.clip_id in packed]
        inputs, clip_index = load_windows(packed, [c.clip_id for c in held_out], entry, hop=evaluation_hop(entry))
        scores = mean_by_clip(scorer.probabilities(inputs), clip_index, len(held_out))  # (clips, run's classes)
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
    text = json.dumps(result, indent=1)
    atomic_write(out_dir / RESULT_FILE, lambda f: f.write(text.encode()))
    return result
