"""How often a model names an instrument for sounds that are none (``make_out_of_set.py``'s set, or any
``labels.csv`` set whose clips have no label): per kind of sound (the ``source`` column up to its last ``-``,
e.g. ``kit-TheBlackPearl10-hit`` -> ``kit-TheBlackPearl10``), the share left unnamed and the highest score of
an instrument named, each file scored as ``instrid predict`` scores it.

    python scripts/out_of_set_report.py data/out-of-set [--run RUN]
"""

import argparse
from collections import defaultdict
from pathlib import Path

from instrid.data import load_dataset
from instrid.predict import Recognizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a labels.csv set of sounds with no instrument")
    parser.add_argument("--run", type=Path, default=None, help="a run folder (default: the shipped model)")
    args = parser.parse_args()
    recognizer = Recognizer.load(args.run)
    kinds = defaultdict(list)  # kind -> (named instruments, their best score) per sound
    for clip in load_dataset(args.data):
        if not clip.labels:
            p = recognizer.predict(clip.path)
            kinds[clip.source.rsplit("-", 1)[0]].append([x.code for x in p.labels] and (p.labels, p.labels[0].score))
    total = sum(len(v) for v in kinds.values())
    unnamed = sum(not x for v in kinds.values() for x in v)
    print(f"{'kind':<28}{'unnamed':>9}  highest score named (what)")
    for kind, results in sorted(kinds.items()):
        named = [x for x in results if x]
        worst = max(named, key=lambda x: x[1], default=None)
        what = f"{worst[1]:.2f} ({worst[0][0].name})" if worst else "-"
        print(f"{kind:<28}{len(results) - len(named):>4} / {len(results):<3} {what}")
    print(f"{'all':<28}{unnamed:>4} / {total:<3} = {unnamed / total:.1%} unnamed")


if __name__ == "__main__":
    main()
