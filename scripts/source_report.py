"""How a model does on each source of a ``labels.csv`` set of single-instrument recordings (``real-samples``):
top-1, the right name among its names, a wrong name among them, and no name at all, per source and class and over all,
each file scored as ``instrid predict`` scores it. A source is what ``instrid lolo`` leaves out: the library
named by the ``source`` column (``data.layouts.library_of``). Files that cannot be read are listed and left out.

    python scripts/source_report.py REAL_SAMPLES [--sources karoryfer-bigcat.cello,ML_Project] [--run RUN]
"""

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

from instrid.data import load_dataset
from instrid.errors import AudioError
from instrid.predict import Recognizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a labels.csv set with one label a file")
    parser.add_argument("--sources", default=None, help="comma-separated sources to report (default: all)")
    parser.add_argument("--run", type=Path, default=None, help="a run folder (default: the shipped model)")
    args = parser.parse_args()
    wanted = set(args.sources.split(",")) if args.sources else None
    recognizer = Recognizer.load(args.run)
    rows = defaultdict(list)  # (source, class) -> (top code, named codes) per file
    for clip in load_dataset(args.data):
        if len(clip.labels) == 1 and (wanted is None or clip.source in wanted):
            try:
                p = recognizer.predict(clip.path)
            except AudioError as e:
                print(f"skipped: {e}", file=sys.stderr)
                continue
            rows[clip.source, clip.labels[0]].append((p.top.code if p.top else None, [x.code for x in p.labels]))
    missing = (wanted or set()) - {source for source, _ in rows}
    if missing:
        print(f"no files of: {', '.join(sorted(missing))}", file=sys.stderr)
    print(
        f"{'source':<28}{'class':<6}{'files':>6}{'top-1':>12}{'right named':>14}{'wrong named':>14}{'unnamed':>9}  top-1 answers"
    )
    table = [(source, label, [(label, first, named) for first, named in rows[source, label]]) for source, label in sorted(rows)]
    table.append(("all", "", [result for *_, results in table for result in results]))  # (truth, top-1, named) per file
    for source, label, results in table:
        n = len(results)
        top = sum(first == truth for truth, first, _ in results)
        right = sum(truth in named for truth, _, named in results)
        wrong = sum(any(c != truth for c in named) for truth, _, named in results)
        unnamed = sum(not named for _, _, named in results)
        answers = ", ".join(f"{code} {k}" for code, k in Counter(first for _, first, _ in results).most_common()) if label else ""
        print(
            f"{source:<28}{label:<6}{n:>6}{top:>6} {top / n:>4.0%}{right:>8} {right / n:>4.0%}{wrong:>8} {wrong / n:>4.0%}{unnamed:>9}  {answers}".rstrip()
        )


if __name__ == "__main__":
    main()
