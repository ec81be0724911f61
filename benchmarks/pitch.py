"""Time instrid's pYIN against librosa.pyin on the same clips, in one run; print speed-up and agreement.

    python benchmarks/pitch.py [--clips 24] [--size tiny] [--data DIR]

Clips: the rendered dataset's 3 s ``mix`` and ``solo`` excerpts (rendered into a temporary folder when
--data is not given), at 44.1 kHz, hop 441, C2–C7 — the cross-attention pipeline's parameters.
Both functions run in this process, one clip after the other, after one warm-up call each.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import librosa
import numpy as np

from instrid.audio import load_audio
from instrid.data import load_dataset, render_dataset
from instrid.features import HOP_LENGTH, PYIN_FMAX, PYIN_FMIN, PYIN_FRAME_LENGTH, SAMPLE_RATE
from instrid.pitch import pyin

PARAMS = dict(fmin=PYIN_FMIN, fmax=PYIN_FMAX, sr=SAMPLE_RATE, frame_length=PYIN_FRAME_LENGTH, hop_length=HOP_LENGTH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--data", default=None, help="a rendered dataset folder (default: render one)")
    args = parser.parse_args()

    data = args.data or tempfile.mkdtemp(prefix="instrid-bench-")
    clips = load_dataset(data) if args.data else render_dataset(data, size=args.size, seed=0, progress=False)
    clips = [c for c in clips if c.task in ("mix", "solo")][: args.clips]
    signals = [load_audio(c.path, sr=SAMPLE_RATE) for c in clips]
    seconds_of_audio = sum(len(y) for y in signals) / SAMPLE_RATE

    pyin(signals[0], **PARAMS)  # warm-up: numba compilation or cache load
    librosa.pyin(signals[0], **PARAMS)
    t_ours = t_ref = 0.0
    frames = same_f0 = same_voicing = 0
    max_prob_diff = 0.0
    for y in signals:
        start = time.perf_counter()
        ref = librosa.pyin(y, **PARAMS)
        t_ref += time.perf_counter() - start
        start = time.perf_counter()
        ours = pyin(y, **PARAMS)
        t_ours += time.perf_counter() - start
        frames += len(ref[0])
        same_f0 += int(np.sum((ref[0] == ours[0]) | (np.isnan(ref[0]) & np.isnan(ours[0]))))
        same_voicing += int(np.sum(ref[1] == ours[1]))
        max_prob_diff = max(max_prob_diff, float(np.max(np.abs(ref[2] - ours[2]))))

    print(f"{len(signals)} clips, {seconds_of_audio:.0f} s of audio, {frames} frames, {os.cpu_count()} cores, one process")
    print(f"librosa.pyin   {t_ref:7.2f} s  {seconds_of_audio / t_ref:7.1f}x real time  {1000 * t_ref / len(signals):7.1f} ms/clip")
    print(f"instrid pyin   {t_ours:7.2f} s  {seconds_of_audio / t_ours:7.1f}x real time  {1000 * t_ours / len(signals):7.1f} ms/clip")
    print(f"speed-up       {t_ref / t_ours:7.1f}x")
    print(f"agreement      f0 identical in {same_f0}/{frames} frames, voicing identical in {same_voicing}/{frames}, "
          f"max |voiced_prob difference| {max_prob_diff:.1e}")


if __name__ == "__main__":
    main()
