"""Time instrid's pYIN against librosa.pyin on the same clips, in one run; print speed-up and agreement.

    python benchmarks/pitch.py [--clips 24] [--size tiny] [--data DIR]
    python benchmarks/pitch.py --long 180 [--workers N] [--data DIR | --notes DIR]
    python benchmarks/pitch.py --stitching [--long 180] [--signals 3] [--data DIR | --notes DIR]

Clips: the rendered dataset's 3 s ``mix`` and ``solo`` excerpts (rendered into a temporary folder when
--data is not given), at 44.1 kHz, hop 441, C2–C7 — the cross-attention pipeline's parameters.
Both functions run in this process, one clip after the other, after one warm-up call each.

--long: one signal of that many seconds made of pieces of the dataset's clips (of every audio file under
--notes instead), some overlapping the previous piece, some after a silence; ``pyin`` on it whole (workers=1) and
with N threads (default: one per core), alternately, three times each: best times, speed-up, identical or not.

--stitching: the parallel Viterbi pass that ``pyin`` does not do. On --signals such signals, chunks between
joins every 5 s are decoded apart, each from OVERLAP s before its join, and the stitched path switches at the
last frame of the overlap where the two chunks' paths agree. Per overlap: the joins where they agree, and
how often the stitched track still differs from the whole signal's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import librosa
import numpy as np

from instrid.audio import audio_files, load_audio
from instrid.data import load_dataset, render_dataset
from instrid.features import HOP_LENGTH, PYIN_FMAX, PYIN_FMIN, PYIN_FRAME_LENGTH, SAMPLE_RATE
from instrid.pitch import pyin

PARAMS = dict(fmin=PYIN_FMIN, fmax=PYIN_FMAX, sr=SAMPLE_RATE, frame_length=PYIN_FRAME_LENGTH, hop_length=HOP_LENGTH)
OVERLAPS = (0.25, 0.5, 1.0, 2.0, 4.0)  # seconds, for --stitching
JOIN_SECONDS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--data", default=None, help="a rendered dataset folder (default: render one)")
    parser.add_argument("--notes", default=None, help="with --long or --stitching: a folder of recordings to join")
    parser.add_argument("--long", type=float, default=None, help="seconds of one long signal (--stitching: 180)")
    parser.add_argument("--workers", type=int, default=None, help="with --long: threads (default: one per core)")
    parser.add_argument("--stitching", action="store_true")
    parser.add_argument("--signals", type=int, default=3, help="with --stitching: long signals to decode")
    args = parser.parse_args()

    if args.notes:
        signals = [load_audio(p, sr=SAMPLE_RATE) for p in audio_files([args.notes])[0]]
    else:
        data = args.data or tempfile.mkdtemp(prefix="instrid-bench-")
        clips = load_dataset(data) if args.data else render_dataset(data, size=args.size, seed=0, progress=False)
        if not (args.long or args.stitching):
            clips = [c for c in clips if c.task in ("mix", "solo")][: args.clips]
        signals = [load_audio(c.path, sr=SAMPLE_RATE) for c in clips]
    if args.stitching:
        stitching(signals, args.long or 180.0, args.signals)
    elif args.long:
        long_signal_speed(long_signal(signals, args.long, np.random.default_rng(0)), args.workers)
    else:
        clips_against_librosa(signals)


def clips_against_librosa(signals: list[np.ndarray]) -> None:
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


def long_signal(signals: list[np.ndarray], seconds: float, rng: np.random.Generator) -> np.ndarray:
    """``seconds`` of pieces (0.5–4 s) of random signals: 30% start before the previous ends, 20% after a silence."""
    n = int(seconds * SAMPLE_RATE)
    out = np.zeros(n + 4 * SAMPLE_RATE, np.float32)
    start = 0
    while start < n:
        piece = signals[rng.integers(len(signals))][: int(rng.uniform(0.5, 4.0) * SAMPLE_RATE)]
        out[start : start + len(piece)] += rng.uniform(0.3, 1.0) * piece
        join = rng.random()
        if join < 0.3:  # legato: the next piece overlaps this one
            start += int(rng.uniform(0.5, 0.95) * len(piece))
        else:
            start += len(piece) + (int(rng.uniform(0.1, 1.5) * SAMPLE_RATE) if join < 0.5 else 0)
    return out[:n]


def long_signal_speed(y: np.ndarray, workers: int | None) -> None:
    workers = workers or os.cpu_count() or 1
    pyin(y[: 5 * SAMPLE_RATE], **PARAMS, workers=workers)  # warm-up: numba compilation or cache load
    best_whole = best_threads = np.inf
    for _ in range(3):
        start = time.perf_counter()
        whole = pyin(y, **PARAMS)
        best_whole = min(best_whole, time.perf_counter() - start)
        start = time.perf_counter()
        threads = pyin(y, **PARAMS, workers=workers)
        best_threads = min(best_threads, time.perf_counter() - start)
    same = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(whole, threads))
    print(f"{len(y) / SAMPLE_RATE:.0f} s signal, {len(whole[0])} frames, {os.cpu_count()} cores; best of 3")
    print(f"pyin whole            {best_whole:7.2f} s")
    print(f"pyin {workers:2d} threads       {best_threads:7.2f} s")
    print(f"speed-up              {best_whole / best_threads:7.2f}x")
    print(f"identical             {same} (f0, voiced_flag, voiced_prob)")


def stitching(signals: list[np.ndarray], seconds: float, n_signals: int) -> None:
    rng = np.random.default_rng(0)
    join = round(JOIN_SECONDS * SAMPLE_RATE / HOP_LENGTH)
    totals = np.zeros((len(OVERLAPS), 6), int)
    for _ in range(n_signals):
        y = long_signal(signals, seconds, rng)
        padded = np.pad(y, PYIN_FRAME_LENGTH // 2)  # pyin's centring: frame t starts at sample t * hop

        def decode(a: int, b: int) -> np.ndarray:
            """The state path of frames [a, b) decoded on their own, as f0 of the state, negative if unvoiced."""
            y_ab = padded[a * HOP_LENGTH : (b - 1) * HOP_LENGTH + PYIN_FRAME_LENGTH]
            f0, voiced, _ = pyin(y_ab, **PARAMS, center=False, fill_na=None, workers=None)
            return np.where(voiced, f0, -f0)

        whole = decode(0, len(y) // HOP_LENGTH + 1)
        joins = np.linspace(0, len(whole), len(whole) // join + 1).round().astype(int)  # chunks of >= 5 s
        for row, overlap_seconds in enumerate(OVERLAPS):
            overlap = round(overlap_seconds * SAMPLE_RATE / HOP_LENGTH)
            starts = np.maximum(0, joins[:-1] - overlap)
            chunks = [decode(a, b) for a, b in zip(starts, joins[1:])]
            stitched = np.empty_like(whole)
            agree = [True]  # per join: the paths agree somewhere in its overlap
            cut = 0
            for k, (a, chunk) in enumerate(zip(starts, chunks)):
                if k > 0:  # switch from chunk k - 1 to k at the last frame of the overlap where they agree
                    frames = np.arange(a, joins[k])
                    same = chunks[k - 1][frames - starts[k - 1]] == chunk[frames - a]
                    agree.append(bool(same.any()))
                    cut = frames[same][-1] if same.any() else joins[k]
                stitched[cut : joins[k + 1]] = chunk[cut - a :]
            agree.append(True)
            state_differs = stitched != whole
            track_differs = state_differs & ((stitched > 0) | (whole > 0))  # f0 is NaN where unvoiced
            checked = [slice(joins[k], joins[k + 1]) for k in range(len(joins) - 1) if agree[k] and agree[k + 1]]
            totals[row] += [
                len(joins) - 2,
                sum(agree) - 2,
                len(checked),
                sum(bool(track_differs[c].any()) for c in checked),
                sum(int(track_differs[c].sum()) for c in checked),
                sum(bool(state_differs[c].any()) for c in checked),
            ]
    print(f"{n_signals} signals of {seconds:.0f} s, a join every {JOIN_SECONDS:.0f} s; checked: the chunks whose paths "
          "agree with their neighbours' at both joins, compared with the whole signal's")
    print("overlap  joins  paths agree  checked  f0/voicing differ (frames)  state path differs")
    for overlap_seconds, (n_joins, n_agree, n_checked, n_track, n_track_frames, n_state) in zip(OVERLAPS, totals):
        print(f"{overlap_seconds:5.2f} s  {n_joins:5d}  {n_agree:5d} {100 * n_agree / n_joins:4.0f}%  {n_checked:7d}  "
              f"{n_track:9d} ({n_track_frames:6d})          {n_state:9d}")


if __name__ == "__main__":
    main()
