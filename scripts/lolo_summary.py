"""The leave-one-library-out figures of several ``instrid lolo`` folders (one per seed, say), from their
``lolo.json``: per folder, the mean accuracy over its libraries, over the SoundFonts and over the recorded
libraries, and the accuracy pooled over the recorded libraries' clips (for the folds of the shipped recipe, the
real samples each scored with its source left out), each class's top-1 pooled over the folds' clips, and, for
a sigmoid run, the precision and recall on the held-out mixtures (the mixtures that use a fold's library, each
part from it a positive and each class not in the mixture a negative, named at the fold's own θ; pooled over
the folds); then mean ± std over the folders.

    python scripts/lolo_summary.py runs/lolo-s0 runs/lolo-s1 runs/lolo-s2 --leave-out instrid-singing
"""

import argparse
import json
from pathlib import Path

import numpy as np

from instrid.checkpoint import read_run
from instrid.data.render import LIBRARIES
from instrid.libraries import HELD_OUT_FILE, RESULT_FILE
from instrid.thresholds import counts, precision_recall


def figures(folder: Path, leave_out: set[str]) -> dict[str, float]:
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
        tp = fp = fn = 0
        for name, r in results.items():
            held = np.load(folder / name / HELD_OUT_FILE)
            scores, targets = held["scores"][r["clips"] :], held["targets"][r["clips"] :]  # the mixtures come after the clips
            theta = read_run(folder / name)["threshold"]["value"]
            tp, fp, fn = (a + np.sum(b) for a, b in zip((tp, fp, fn), counts(scores >= theta, targets)))
        precision, recall = precision_recall(tp, fp, fn)
        mixtures = {"held-out mixtures, precision": precision, "held-out mixtures, recall": recall}
    return {
        "mean over the libraries": np.mean([r["accuracy"] for r in results.values()]),
        "SoundFonts": np.mean([r["accuracy"] for r in soundfonts]),
        "recorded libraries": np.mean([r["accuracy"] for r in recorded]),
        "recorded clips, pooled": sum(r["accuracy"] * r["clips"] for r in recorded) / sum(r["clips"] for r in recorded),
        **{f"class {code}, pooled": right[code] / total[code] for code in sorted(total)},
        **mixtures,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="instrid lolo --out folders")
    parser.add_argument("--leave-out", action="append", default=[], help="libraries not to count, comma-separated (repeatable)")
    args = parser.parse_args()
    leave_out = {name for names in args.leave_out for name in names.split(",")}
    rows = [figures(folder, leave_out) for folder in args.folders]
    for name in rows[0]:
        values = np.array([row[name] for row in rows]) * 100
        spread = f" = {values.mean():.1f} % ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""
        print(f"{name:30s} {', '.join(f'{v:.1f} %' for v in values)}{spread}")


if __name__ == "__main__":
    main()
