"""The leave-one-library-out figures of several ``instrid lolo`` folders (one per seed, say), from their
``lolo.json``: per folder, the mean accuracy over its libraries, over the SoundFonts and over the recorded
libraries, and the accuracy pooled over the recorded libraries' clips (for the folds of the shipped recipe, the
real samples each scored with its source left out), and each class's top-1 pooled over the folds' clips;
then mean ± std over the folders.

    python scripts/lolo_summary.py runs/lolo-s0 runs/lolo-s1 runs/lolo-s2 --leave-out instrid-singing
"""

import argparse
import json
from pathlib import Path

import numpy as np

from instrid.data.render import LIBRARIES
from instrid.libraries import RESULT_FILE


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
    return {
        "mean over the libraries": np.mean([r["accuracy"] for r in results.values()]),
        "SoundFonts": np.mean([r["accuracy"] for r in soundfonts]),
        "recorded libraries": np.mean([r["accuracy"] for r in recorded]),
        "recorded clips, pooled": sum(r["accuracy"] * r["clips"] for r in recorded) / sum(r["clips"] for r in recorded),
        **{f"class {code}, pooled": right[code] / total[code] for code in sorted(total)},
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
        print(f"{name:24s} {', '.join(f'{v:.1f} %' for v in values)}{spread}")


if __name__ == "__main__":
    main()
