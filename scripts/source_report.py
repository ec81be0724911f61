"""How a model does on each source of a ``labels.csv`` set of single-instrument recordings (``real-samples``):
top-1, the right name among its names, a wrong name among them, and no name at all, per source, each file
scored as ``instrid predict`` scores it. A file's source is its name up to the trailing ``-N`` (and its
articulation: ``bigcat-cello-pizz-3.flac`` -> ``bigcat-cello``), as the ``real-samples`` files are named.
Files that cannot be read are listed and left out.

    python scripts/source_report.py REAL_SAMPLES [--sources bigcat-cello,merryorks] [--run RUN]
"""

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from instrid.data import load_dataset
from instrid.errors import AudioError
from instrid.predict import Recognizer


def source_of(path: str) -> str:
    return re.sub(r"-(pizz|stac|sus)$", "", re.sub(r"-\d+$", "", Path(path).stem))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a labels.csv set with one label a file")
    parser.add_argument("--sources", default=None, help="comma-separated sources to report (default: all)")
    parser.add_argument("--run", type=Path, default=None, help="a run folder (default: the shipped model)")
    args = parser.parse_args()
    wanted = set(args.sources.split(",")) if args.sources else None
    recognizer = Recognizer.load(args.run)
    rows = defaultdict(list)  # source -> (label, top code, named codes) per file
    for clip in load_dataset(args.data):
        source = source_of(clip.path)
        if len(clip.labels) == 1 and (wanted is None or source in wanted):
            try:
                p = recognizer.predict(clip.path)
            except AudioError as e:
                print(f"skipped: {e}", file=sys.stderr)
                continue
            rows[source].append((clip.labels[0], p.top.code if p.top else None, [x.code for x in p.labels]))
    if wanted and wanted - set(rows):
        print(f"no files of: {', '.join(sorted(wanted - set(rows)))}", file=sys.stderr)
    print(f"{'source':<20}{'files':>6}{'top-1':>12}{'right named':>14}{'wrong named':>14}{'unnamed':>9}  top-1 answers")
    for source, results in sorted(rows.items()):
        n = len(results)
        top = sum(top == label for label, top, _ in results)
        right = sum(label in named for label, _, named in results)
        wrong = sum(any(c != label for c in named) for label, _, named in results)
        unnamed = sum(not named for *_, named in results)
        answers = ", ".join(f"{code} {k}" for code, k in Counter(top for _, top, _ in results).most_common())
        print(
            f"{source:<20}{n:>6}{top:>6} {top / n:>4.0%}{right:>8} {right / n:>4.0%}{wrong:>8} {wrong / n:>4.0%}{unnamed:>9}  {answers}"
        )


if __name__ == "__main__":
    main()
