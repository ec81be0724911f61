"""Peak memory of `instrid predict` on long recordings, and of the service on a header bomb.

    .venv/bin/python benchmarks/memory.py [--run RUN_DIR] [--minutes 3 30 120] [--tmp DIR]

Each recording (stereo 48 kHz FLAC, rendered ``mix-long`` excerpts joined end to end, so decoding,
resampling, pYIN and the network all work) is tagged by `instrid predict` in a process of its own, on the
default runtime (ONNX Runtime on CPU) and on PyTorch (``--runtime torch``), whose peak resident memory
(``ru_maxrss`` from ``wait4``) is printed. For reference, the whole-file path —
decode everything, then extract features of everything at once, as instrid did before predicting in
blocks — is measured on the shortest recording in the same run. Then `instrid serve` is started, a 16 kB
WAV whose header says 1 Hz (2.2 hours) is posted, and the growth of the server's peak memory is printed.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from instrid import audio
from instrid.data import load_dataset, render_dataset

FILE_SR = 48_000
WHOLE_FILE = """
import sys
from instrid import audio
from instrid.extraction import extract_audio
from instrid.features import FeatureConfig
extract_audio(audio.load_audio(sys.argv[1], sr=44_100), FeatureConfig())
"""


def write_recording(excerpts: list[np.ndarray], minutes: float, out: Path) -> Path:
    """Stereo 48 kHz FLAC of ``minutes``, written a piece at a time (never whole in memory)."""
    total, i = int(minutes * 60 * FILE_SR), 0
    with soundfile.SoundFile(out, "w", FILE_SR, 2, format="FLAC") as f:
        while total > 0:
            y = excerpts[i % len(excerpts)][:total]
            f.write(np.stack([y, 0.8 * y], axis=1))
            total -= len(y)
            i += 1
    return out


# A child's peak (ru_maxrss) counts the memory of the process it was started from, up to its exec: each
# command is started from this small launcher, which prints its child's peak (kB) and wall time.
LAUNCHER = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
if done.returncode:
    sys.exit(done.stderr.decode()[-500:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - start)
"""


def peak_mb(argv: list[str]) -> tuple[float, float]:
    """Peak resident memory (MB) and wall time (s) of a child process."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr[-500:]}")
    kb, seconds = done.stdout.split()
    return int(kb) / 1024, float(seconds)


def memory_kb(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in kB."""
    return int(next(line for line in open(f"/proc/{pid}/status") if line.startswith(field)).split()[1])


def service_growth(run: Path | None) -> float:
    """MB by which the server's peak memory grows while it answers a header bomb."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "instrid", "serve", "--port", str(port), *(["--run", str(run)] if run else [])]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        ok = io.BytesIO()
        soundfile.write(ok, np.zeros(44_100, np.float32), 44_100, format="WAV")
        httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("warm.wav", ok.getvalue())}, timeout=60)
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current size
        before = memory_kb(server.pid, "VmHWM")
        bomb = io.BytesIO()
        soundfile.write(bomb, np.zeros(8_000, np.int16), 1, format="WAV", subtype="PCM_16")
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", files={"file": ("bomb.wav", bomb.getvalue())}, timeout=60)
        growth = (memory_kb(server.pid, "VmHWM") - before) / 1024
        print(f"service: header bomb ({len(bomb.getvalue()) / 1024:.0f} kB, '1 Hz') answered {answer.status_code}: "
              f"{answer.json()['detail']}")  # fmt: skip
        return growth
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=None, help="run folder (default: the shipped model)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[3, 30, 120])
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the recordings (120 min take ~1 GB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        render_dataset(Path(tmp) / "tiny", size="tiny", progress=False)
        excerpts = [audio.load_audio(c.path, sr=FILE_SR) for c in load_dataset(Path(tmp) / "tiny") if c.task == "mix-long"]
        predict = [sys.executable, "-m", "instrid", "predict", "--format", "json", *(["--run", str(args.run)] if args.run else [])]
        rows = []
        for minutes in sorted(args.minutes):
            path = write_recording(excerpts, minutes, Path(tmp) / f"{minutes:g}min.flac")
            for runtime in ("auto", "torch"):
                rss, seconds = peak_mb([*predict, str(path), "--runtime", runtime])
                rows.append((f"instrid predict --runtime {runtime}, {minutes:g} min", rss, minutes * 60 / seconds))
            if minutes == min(args.minutes):
                whole, whole_seconds = peak_mb([sys.executable, "-c", WHOLE_FILE, str(path)])
                rows.append((f"whole file at once (reference), {minutes:g} min", whole, minutes * 60 / whole_seconds))
            path.unlink()
    print(f"peak resident memory, {os.cpu_count()} cores, stereo 48 kHz FLAC")
    for name, rss, speed in rows:
        print(f"  {name:<50}{rss:8.0f} MB  ({speed:.0f}x real time, start-up included)")
    for runtime in ("auto", "torch"):
        streamed = [rss for name, rss, _ in rows if name.startswith(f"instrid predict --runtime {runtime},")]
        print(f"  --runtime {runtime}: at most {max(streamed):.0f} MB, spread over {len(streamed)} lengths {max(streamed) - min(streamed):.0f} MB")
    print(f"service: peak memory grew by {service_growth(args.run):.0f} MB for the header bomb")


if __name__ == "__main__":
    main()
