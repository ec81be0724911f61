"""instrid against the original pretrained musicnn tagger (Pons & Serra 2019) on real recordings, in one run.

    .venv/bin/python benchmarks/peer.py --peer-python VENV/bin/python --peer-script musicnn_peer.py \\
        --set real-notes:DIR --set real-samples:DIR:runs/lolo   [--run RUN_DIR]

Each ``--set NAME:DIR[:LOLO]`` is a folder with a ``labels.csv``. The peer is the original MTT_musicnn, run by
``--peer-script`` (a script that prints, per file, musicnn's best class among cello, flute, piano, violin,
guitar and voice) in its own environment (``--peer-python``: TensorFlow does not belong in instrid's).

Six-way top-1: on the clips whose class musicnn has a tag for, each system's best class among those six
(instrid's guitar is the better of its acoustic and electric guitar). instrid's 11-way top-1 is printed too.
A set instrid was trained on must name the ``instrid lolo`` folder whose folds left its sources out: each
clip is then scored by the fold trained without its source (clips of a source with no finished fold are
skipped and counted), so no figure comes from a source the model has heard. Other sets are scored by
``--run`` (default: the shipped model). Without the peer's environment it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from instrid.data import load_dataset
from instrid.predict import Recognizer

SIX = {"cel": "cel", "flu": "flu", "pia": "pia", "vio": "vio", "gac": "guitar", "gel": "guitar", "voi": "voi"}


def peer_predictions(python: str, script: str, labels_csv: Path) -> dict[str, str]:
    """File (relative to the set) -> musicnn's six-way class."""
    out = subprocess.run(
        [python, script, str(labels_csv), "--models", "MTT_musicnn"], check=True, capture_output=True, text=True
    )
    return {row["file"]: row["MTT_musicnn"]["pred"] for row in json.loads(out.stdout)["files"]}


def finished(run_dir: Path) -> bool:
    return (run_dir / "run.json").exists() and json.loads((run_dir / "run.json").read_text()).get("status") == "done"


def six_way(scores: dict[str, float]) -> str:
    mapped: dict[str, float] = {}
    for code, target in SIX.items():
        mapped[target] = max(mapped.get(target, 0.0), scores[code])
    return max(mapped, key=mapped.get)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", required=True, metavar="NAME:DIR[:LOLO]")
    parser.add_argument("--peer-python", required=True)
    parser.add_argument("--peer-script", required=True)
    parser.add_argument("--run", default=None, help="instrid run folder (default: the shipped model)")
    args = parser.parse_args()
    if not Path(args.peer_python).exists() or not Path(args.peer_script).exists():
        print(
            f"peer: {args.peer_python} or {args.peer_script} not found; set up the musicnn environment first (skipped)"
        )
        return
    shipped = Recognizer.load(args.run)
    for item in args.set:
        name, folder, *lolo = item.split(":")
        folder = Path(folder)
        folds = {p.name: p for p in Path(lolo[0]).iterdir() if finished(p)} if lolo else {}
        recognizers = {"": shipped}
        peer = peer_predictions(args.peer_python, args.peer_script, folder / "labels.csv")
        counts = {"instrid": 0, "musicnn": 0, "six_way_clips": 0, "instrid_11": 0, "clips": 0, "no_fold": 0}
        for clip in load_dataset(folder):
            fold = clip.source if lolo else ""
            if lolo and fold not in folds:
                counts["no_fold"] += 1
                continue
            if fold not in recognizers:
                recognizers[fold] = Recognizer(folds[fold])
            scores = {x.code: x.score for x in recognizers[fold].predict(clip.path).scores}
            gold = set(clip.labels)
            counts["clips"] += 1
            counts["instrid_11"] += max(scores, key=scores.get) in gold
            gold_six = {SIX[c] for c in gold if c in SIX}
            if gold_six:
                counts["six_way_clips"] += 1
                counts["instrid"] += six_way(scores) in gold_six
                counts["musicnn"] += peer[clip.path.relative_to(folder).as_posix()] in gold_six
        n6, n = counts["six_way_clips"], counts["clips"]
        a, b = counts["instrid"] / n6, counts["musicnn"] / n6
        print(f"{name}: six-way top-1 on {n6} clips: instrid {a:.1%}, musicnn {b:.1%}, difference {100 * (a - b):+.1f} points; "
              f"instrid 11-way top-1 {counts['instrid_11'] / n:.1%} of {n}"
              + (f"; each scored by the fold without its source ({counts['no_fold']} skipped: no fold yet)" if lolo else ""))  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    main()
