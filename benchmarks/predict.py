"""End-to-end speed of `instrid predict` on a 3-minute recording, with the share of each stage.

    .venv/bin/python benchmarks/predict.py [--run RUN_DIR] [--data DIR] [--minutes 3]
    .venv/bin/python benchmarks/predict.py --folder 8 --minutes 0.5 [--workers 2]   # a folder's throughput

The recording is made by joining rendered ``mix-long`` excerpts (from ``--data``, or the ``tiny`` dataset
rendered into a temporary folder) into one stereo 48 kHz FLAC, so decoding and resampling are exercised.
Each stage is timed by calling the functions ``Recognizer.predict`` calls, in its order; the scores are then
checked against ``Recognizer.predict`` on the same file, which runs the same stages on 30 s blocks at a time
(leaving out the windows it found silent) and whose own time is printed last. Where the network runs on
ONNX Runtime (``--runtime auto`` on a CPU, the default), the same windows and the same file are
also scored with PyTorch in the same run, and the ratios are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from instrid import audio, features
from instrid.config import RUNTIMES
from instrid.data import load_dataset, render_dataset
from instrid.predict import Recognizer
from instrid.tagging import tag
from instrid.windows import evaluation_hop, excerpt_scores, input_windows, windows_at

FILE_SR = 48_000


def make_recording(data: Path, minutes: float, out: Path) -> Path:
    excerpts = [c for c in load_dataset(data) if c.task == "mix-long"]
    parts, total = [], 0
    while total < minutes * 60 * FILE_SR:
        for c in excerpts:
            y = audio.load_audio(c.path, sr=FILE_SR)
            parts.append(y)
            total += len(y)
    y = np.concatenate(parts)[: int(minutes * 60 * FILE_SR)]
    soundfile.write(out, np.stack([y, 0.8 * y], axis=1), FILE_SR)  # stereo
    return out


def folder_throughput(recognizer: Recognizer, data: Path, args, tmp: Path) -> None:
    """Audio seconds tagged per second for a folder, with one process and with ``args.workers`` (start-up included)."""
    folder = tmp / "folder"
    folder.mkdir()
    first = make_recording(data, args.minutes, folder / "0.flac")
    for i in range(1, args.folder):
        shutil.copy(first, folder / f"{i}.flac")
    seconds = args.folder * args.minutes * 60
    rates = {}
    for workers in (1, args.workers):
        t = time.perf_counter()
        predictions, _ = tag([folder], recognizer, workers=workers, progress=False)
        rates[workers] = seconds / (time.perf_counter() - t)
        print(f"{recognizer.entry.name}, {args.folder} files of {args.minutes:g} min, --workers {workers}: "
              f"{rates[workers]:.1f} audio-seconds per second", flush=True)  # fmt: skip
    print(f"--workers {args.workers} / --workers 1 = {rates[args.workers] / rates[1]:.2f}x ({os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=None, help="run folder (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=None, help="a rendered dataset (default: render tiny)")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--folder", type=int, default=0, metavar="N",
                        help="instead: a folder of N recordings of --minutes each, tagged with 1 and with --workers processes")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--runtime", default="auto", choices=RUNTIMES)
    args = parser.parse_args()
    recognizer = Recognizer.load(args.run, device="cpu", runtime=args.runtime)
    reference = None if recognizer.scorer.runtime == "torch" else Recognizer.load(args.run, device="cpu", runtime="torch")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "tiny"
            render_dataset(data, size="tiny", progress=False)
        if args.folder:
            return folder_throughput(recognizer, data, args, Path(tmp))
        path = make_recording(data, args.minutes, Path(tmp) / "recording.flac")

        times = {}
        t = time.perf_counter()
        y, sr = audio.load_audio(path, sr=None), soundfile.info(path).samplerate
        times["decode"] = time.perf_counter() - t
        t = time.perf_counter()
        y = audio.resample(y, orig_sr=sr, target_sr=recognizer.sample_rate)
        times["resample"] = time.perf_counter() - t
        config = recognizer.entry.features
        t = time.perf_counter()
        arrays = {config.frontend.field: config.frontend.frames(y)}
        times["front end"] = time.perf_counter() - t
        if config.pitch:
            t = time.perf_counter()
            track = features.pitch_track(y, config.frontend)
            arrays.update(f0=track.f0, voiced_prob=track.voiced_prob)
            times["pYIN"] = time.perf_counter() - t
        starts = input_windows(arrays[config.frontend.field].shape[1], size=recognizer.entry.window, hop=evaluation_hop(recognizer.entry))
        times["windows"], times["network"], torch_network, probs = 0.0, 0.0, 0.0, []
        batch = recognizer.scorer.batch_size
        for i in range(0, len(starts), batch):
            t = time.perf_counter()
            inputs = windows_at(arrays, recognizer.entry, starts[i : i + batch])
            times["windows"] += time.perf_counter() - t
            t = time.perf_counter()
            probs.append(recognizer.scorer.probabilities(inputs))
            times["network"] += time.perf_counter() - t
            if reference:
                t = time.perf_counter()
                reference.scorer.probabilities(inputs)
                torch_network += time.perf_counter() - t
        t = time.perf_counter()
        p = recognizer.predict(path, timeline=True)
        end_to_end = time.perf_counter() - t
        if reference:
            t = time.perf_counter()
            reference.predict(path)
            torch_end_to_end = time.perf_counter() - t
        t = time.perf_counter()
        scores = excerpt_scores(np.concatenate(probs)[~p.timeline.silent], recognizer.scorer.activation)  # the windows predict did not call silence
        times["aggregation"] = time.perf_counter() - t
    duration = len(y) / recognizer.sample_rate
    staged = sum(times.values())
    print(f"{recognizer.entry.name} ({recognizer.scorer.runtime}, {recognizer.scorer.precision}) on {duration:.0f} s of stereo 48 kHz FLAC, {os.cpu_count()} cores, "
          f"{len(starts)} windows")  # fmt: skip
    for stage, seconds in times.items():
        print(f"  {stage:<15}{seconds:8.3f} s {seconds / staged:6.1%}")
    print(f"  {'sum of stages':<15}{staged:8.3f} s  = {duration / staged:.1f}x real time")
    print(f"Recognizer.predict end to end: {end_to_end:.3f} s = {duration / end_to_end:.1f}x real time")
    if reference:
        print(f"the same on PyTorch ({reference.scorer.precision}): network {torch_network:.3f} s "
              f"({torch_network / times['network']:.2f}x the time), end to end {torch_end_to_end:.3f} s = "
              f"{duration / torch_end_to_end:.1f}x real time ({torch_end_to_end / end_to_end:.2f}x the time)")  # fmt: skip
    assert np.allclose([x.score for x in p.scores], np.round(scores, 4), atol=1e-4), "stages disagree with predict"


if __name__ == "__main__":
    main()
