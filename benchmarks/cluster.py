"""Throughput of the Ray Data path (``instrid predict --manifest``) against the single-process path, same run.

    .venv/bin/python benchmarks/cluster.py [--files 24] [--minutes 1] [--cpus 2] [--address ADDR]

A folder of ``--files`` recordings of ``--minutes`` each (rendered ``mix-long`` excerpts joined into stereo
48 kHz FLAC) is tagged by ``tag`` in this process, then by ``tag_manifest`` on a local Ray cluster of
``--cpus`` CPUs (or the cluster at ``--address``); start-up is included in both. The answers are compared.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from predict import make_recording  # noqa: E402

from instrid.cluster import read_results, tag_manifest  # noqa: E402
from instrid.data import render_dataset  # noqa: E402
from instrid.predict import Recognizer  # noqa: E402
from instrid.tagging import tag  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--address", default=None, help="a running Ray cluster instead of a local one")
    parser.add_argument("--actors", type=int, default=1)
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        render_dataset(tmp / "tiny", size="tiny", progress=False)
        folder = tmp / "music"
        folder.mkdir()
        first = make_recording(tmp / "tiny", args.minutes, folder / "0.flac")
        for i in range(1, args.files):
            shutil.copy(first, folder / f"{i}.flac")
        files = sorted(str(p) for p in folder.glob("*.flac"))
        seconds = args.files * args.minutes * 60

        t = time.perf_counter()
        single, _ = tag(files, Recognizer.load(), progress=False)
        single_rate = seconds / (time.perf_counter() - t)
        print(f"one process: {single_rate:.1f} audio-seconds per second", flush=True)

        manifest = tmp / "manifest.txt"
        manifest.write_text("\n".join(files))
        t = time.perf_counter()
        ray.init(address=args.address, num_cpus=None if args.address else args.cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)  # fmt: skip
        tag_manifest(manifest, tmp / "out", actors=args.actors)
        ray_rate = seconds / (time.perf_counter() - t)
        resources = ray.cluster_resources()
        print(f"Ray Data ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs, {args.actors} actor(s)): "
              f"{ray_rate:.1f} audio-seconds per second, {ray_rate / single_rate:.2f}x one process")  # fmt: skip
        rows = {r["path"]: r for r in read_results(tmp / "out").to_pylist()}
        worst = max(abs(rows[p.path][x.code] - x.score) for p in single for x in p.scores)
        same = all(rows[p.path]["labels"] == " ".join(x.code for x in p.labels) for p in single)
        print(f"{args.files} files of {args.minutes:g} min: same labels {same}, largest score difference {worst:.1e}")
        ray.shutdown()
        assert same and worst <= 2e-4 and np.isfinite(worst)


if __name__ == "__main__":
    main()
