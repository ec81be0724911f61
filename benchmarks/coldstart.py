"""Cold start: `instrid predict` on one 4 s note in a fresh process, on the default runtime (ONNX Runtime,
no PyTorch imported) and with ``--runtime torch`` as the reference, alternately; the median of N each, the
ratio, and where the default path's seconds go (imports, loading the model, tagging).

    .venv/bin/python benchmarks/coldstart.py [--repeats 5] [--run RUN_DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

STAGES = """
import sys, time
t0 = time.perf_counter()
from instrid.predict import Recognizer
t1 = time.perf_counter()
r = Recognizer.load({run})
t2 = time.perf_counter()
r.predict(sys.argv[1])
t3 = time.perf_counter()
print(f"{{t1 - t0:.2f}} {{t2 - t1:.2f}} {{t3 - t2:.2f}} {{'torch' in sys.modules}}")
"""


def note(path: Path, sr: int = 44_100) -> Path:
    """A 4 s harmonic tone at 220 Hz with a decaying envelope, as a FLAC."""
    t = np.arange(4 * sr) / sr
    y = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 8)) * np.exp(-t) * 0.3
    soundfile.write(path, y.astype(np.float32), sr)
    return path


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run", type=Path, default=None, help="run folder (default: the shipped model)")
    args = parser.parse_args()
    run = ["--run", str(args.run)] if args.run else []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(note(Path(tmp) / "note.flac"))
        predict = [sys.executable, "-m", "instrid", "predict", path, *run]
        seconds(predict)  # the first run may export the network into the cache (not for the shipped model)
        times: dict[str, list[float]] = {"default": [], "torch": []}
        for _ in range(args.repeats):
            times["default"].append(seconds(predict))
            times["torch"].append(seconds([*predict, "--runtime", "torch"]))
        code = STAGES.format(run=repr(str(args.run)) if args.run else "")
        stages = subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True, text=True).stdout.split()
    default, torch = statistics.median(times["default"]), statistics.median(times["torch"])
    print(f"instrid predict, one 4 s note, fresh process, {os.cpu_count()} cores, median of {args.repeats}:")
    print(f"  default runtime (ONNX Runtime)  {default:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in times['default'])})")
    print(f"  --runtime torch (reference)     {torch:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in times['torch'])})")
    print(f"  reference / default = {torch / default:.2f}x")
    print(f"  default path: import {stages[0]} s, load {stages[1]} s, predict {stages[2]} s; PyTorch imported: {stages[3]}")


if __name__ == "__main__":
    main()
