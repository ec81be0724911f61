"""The leave-one-library-out figures of several ``instrid lolo`` folders (one per seed, say), from their
``lolo.json``: per folder, the mean accuracy over its libraries, over the SoundFonts and over the recorded
libraries, and the accuracy pooled over the recorded libraries' clips (for the folds of the shipped recipe, the
real samples each scored with its source left out), each class's top-1 pooled over the folds' clips, and, for
a sigmoid run, the precision and recall on the held-out mixtures (the mixtures that use a fold's library, each
part from it a positive and each class not in the mixture a negative, named by the fold's own rule; pooled over
the folds) and how often each class is named in one it is not in; with ``--theta``, every held-out clip named
by that one θ and by the rule the lolo chose; then mean ± std over the folders.

    python scripts/lolo_summary.py runs/lolo-s0 runs/lolo-s1 runs/lolo-s2 --leave-out instrid-singing
    python scripts/lolo_summary.py runs/more-mixtures-s0 --leave-out instrid-singing --same-mixtures-as runs/lolo-s0
    python scripts/lolo_summary.py runs/lolo-s0 runs/lolo-s1 --theta 0.3
"""

import argparse
import json
from pathlib import Path

import numpy as np

from instrid.checkpoint import read_run
from instrid.data.render import LIBRARIES
from instrid.libraries import HELD_OUT_FILE, RESULT_FILE
from instrid.thresholds import counts, f1, named_by_rule, precision_recall


def held_out_mixtures(fold: Path, n_clips: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fold's class labels (C,) and its held-out mixtures' scores and targets (M, C), which ``held-out.npz``
    keeps after its ``n_clips`` single-label clips."""
    held = np.load(fold / HELD_OUT_FILE)
    return held["labels"], held["scores"][n_clips:], held["targets"][n_clips:]


def same_mixtures(fold: Path, n_clips: int, other: Path, other_clips: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``held_out_mixtures`` of ``fold``, only as many as ``other`` (a fold of another run) scored: a run whose
    extra data begins with the same folders scores the same mixtures first, which is checked on their targets."""
    labels, scores, targets = held_out_mixtures(fold, n_clips)
    other_labels, _, other_targets = held_out_mixtures(other, other_clips)
    m = len(other_targets)
    if list(labels) != list(other_labels) or m > len(targets) or not (targets[:m] == other_targets).all():
        raise SystemExit(f"{fold}: its held-out mixtures do not begin with those of {other}")
    return labels, scores[:m], targets[:m]


def rule_against_theta(folder: Path, names, theta: float) -> dict[str, float]:
    """Precision, recall and micro F1 over every held-out clip of the folds ``names`` (single clips and the
    held-out parts of mixtures), named by one ``theta`` and by the rule the lolo chose (its ``lolo.json``)."""
    rule = json.loads((folder / RESULT_FILE).read_text())["threshold"]
    held = [np.load(folder / name / HELD_OUT_FILE) for name in names]
    labels, scores, targets = held[0]["labels"], *(np.concatenate([h[k] for h in held]) for k in ("scores", "targets"))
    out = {}
    for how, chosen in ((f"one theta {theta:g}", scores >= theta), ("the folds' rule", named_by_rule(scores, rule, labels))):
        tp, fp, fn = counts(chosen, targets)
        precision, recall = precision_recall(tp, fp, fn)
        out |= {f"held-out clips, {how}: precision": precision, f"held-out clips, {how}: recall": recall,
                f"held-out clips, {how}: micro F1": f1(tp, fp, fn)}  # fmt: skip
    return out


def figures(folder: Path, leave_out: set[str], same_as: Path | None = None, theta: float | None = None) -> dict[str, float]:
    results = json.loads((folder / RESULT_FILE).read_text())["libraries"]
    results = {name: r for name, r in results.items() if name not in leave_out}
    soundfonts = [r for name, r in results.items() if name in LIBRARIES]
    recorded = [r for name, r in results.items() if name not in LIBRARIES]
    right, total = {}, {}  # class -> clips right, clips, over every fold
    for r in results.values():
        for code, score in r["per_class"].items():
            k, n = map(int, score.split("/"))
            right[code], total[code] = right.get(code, 0) + k, total.get(code, 0) + n
    mixtures = {}
    if all((folder / name / HELD_OUT_FILE).is_file() for name in results):
        other_clips = same_as and {
            k: r["clips"] for k, r in json.loads((same_as / RESULT_FILE).read_text())["libraries"].items()
        }
        tp = fp = fn = negatives = 0
        labels = None
        for name, r in results.items():
            if same_as:
                fold_labels, scores, targets = same_mixtures(
                    folder / name, r["clips"], same_as / name, other_clips[name]
                )
            else:
                fold_labels, scores, targets = held_out_mixtures(folder / name, r["clips"])
            if labels is not None and list(fold_labels) != list(labels):
                raise SystemExit(f"{folder / name}: its classes are not those of the other folds")
            labels, rule = fold_labels, read_run(folder / name)["threshold"]
            chosen = named_by_rule(scores, rule, labels)
            tp, fp, fn = (a + b for a, b in zip((tp, fp, fn), counts(chosen, targets)))  # each (C,)
            negatives = negatives + np.sum(targets == 0, axis=0)
        precision, recall = precision_recall(tp, fp, fn)
        mixtures = {"held-out mixtures, precision": precision, "held-out mixtures, recall": recall}
        mixtures |= {f"{code} named, not in the mixture": f / max(n, 1) for code, f, n in zip(labels, fp, negatives)}
    return {
        "mean over the libraries": np.mean([r["accuracy"] for r in results.values()]),
        "SoundFonts": np.mean([r["accuracy"] for r in soundfonts]),
        "recorded libraries": np.mean([r["accuracy"] for r in recorded]),
        "recorded clips, pooled": sum(r["accuracy"] * r["clips"] for r in recorded) / sum(r["clips"] for r in recorded),
        **{f"class {code}, pooled": right[code] / total[code] for code in sorted(total)},
        **mixtures,
        **(rule_against_theta(folder, results, theta) if theta is not None else {}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="instrid lolo --out folders")
    parser.add_argument(
        "--leave-out", action="append", default=[], help="libraries not to count, comma-separated (repeatable)"
    )
    parser.add_argument(
        "--same-mixtures-as",
        type=Path,
        help="count only the held-out mixtures this lolo folder scored "
        "(to compare runs whose extra data adds mixtures after the same folders)",
    )
    parser.add_argument("--theta", type=float, help="also every held-out clip named by this one θ and by the folds' rule")
    args = parser.parse_args()
    leave_out = {name for names in args.leave_out for name in names.split(",")}
    rows = [figures(folder, leave_out, args.same_mixtures_as, args.theta) for folder in args.folders]
    for name in dict.fromkeys(key for row in rows for key in row):
        if any(name not in row for row in rows):
            print(
                f"{name:32s} (not in every folder: {', '.join(str(f) for f, row in zip(args.folders, rows) if name not in row)})"
            )
            continue
        values = np.array([row[name] for row in rows]) * 100
        spread = f" = {values.mean():.1f} % ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""
        print(f"{name:32s} {', '.join(f'{v:.1f} %' for v in values)}{spread}")


if __name__ == "__main__":
    main()
