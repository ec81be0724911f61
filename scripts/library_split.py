"""A dataset for ``instrid experiment`` whose test comes from a library the models never heard: the rendered
libraries (``make libraries``) with one library held out, and real recordings added to the solo test.

    python scripts/library_split.py data/libraries --held-out timgm --real ../shared/data/real-samples --out data/paper

The other libraries' ``train`` and ``validation`` clips keep their splits (their own ``test`` splits are left
out); every clip of the held-out library becomes ``test``, and so does every real recording (task ``solo``).
Nothing is copied: ``OUT/metadata.csv`` points at the audio where it is.
"""

import argparse
import csv
import io
import json
import os
from pathlib import Path

from instrid.data import load_dataset
from instrid.data.layouts import METADATA_COLUMNS, METADATA_FILE, library_of, uses_library
from instrid.fileio import atomic_write


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("libraries", type=Path, help="a rendered dataset of several libraries (metadata.csv)")
    parser.add_argument("--held-out", required=True, help="the library (source) whose clips become the test split")
    parser.add_argument("--real", type=Path, action="append", default=[], help="a labels.csv set added to solo test")
    parser.add_argument("--out", required=True, type=Path, help="the dataset folder to write (metadata.csv)")
    args = parser.parse_args()
    rows = []
    clips = load_dataset(args.libraries)
    if args.held_out not in {c.source for c in clips}:
        raise SystemExit(f"{args.libraries}: no library {args.held_out!r}; it has {sorted({c.source for c in clips})}")
    for c in clips:
        if uses_library(c, args.held_out):  # a mixture with a part from it too
            rows.append((c, "test", c.task))
        elif c.split in ("train", "validation"):
            rows.append((c, c.split, c.task))
    for real in args.real:
        rows += [(c, "test", "solo") for c in load_dataset(real) if len(c.labels) == 1]
    ids = [c.clip_id for c, _, _ in rows]
    if len(set(ids)) < len(ids):  # the feature store keys clips by id
        raise SystemExit(f"clip ids repeat across the sets: {sorted({i for i in ids if ids.count(i) > 1})[:5]}")
    args.out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    for c, split, task in rows:
        path = Path(os.path.relpath(c.path.resolve(), args.out.resolve())).as_posix()
        writer.writerow([c.clip_id, path, " ".join(c.labels), split, task, library_of(c.source), json.dumps(c.details)])
    atomic_write(args.out / METADATA_FILE, lambda f: f.write(buffer.getvalue().encode()))
    counts = {}
    for _, split, task in rows:
        counts[split, task] = counts.get((split, task), 0) + 1
    print(f"{args.out / METADATA_FILE}: " + ", ".join(f"{t} {s} {n}" for (s, t), n in sorted(counts.items())))


if __name__ == "__main__":
    main()
