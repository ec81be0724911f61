"""Mel power spectrograms of one long signal, in one run: instrid's (NumPy, ``melspec.mel_power``), librosa's
``feature.melspectrogram`` (the reference) and torch.stft (float32); prints the time of each, the ratios and
the largest difference from librosa in dB.

    .venv/bin/python benchmarks/frontend.py [--minutes 3]

For the shipped model's front end (musicnn, 16 kHz) and the cross-attention network's (44.1 kHz, 128 bands).
"""

from __future__ import annotations

import argparse
import time

import librosa
import numpy as np
import torch

from instrid.features import CROSS_ATTENTION_MEL, MUSICNN_MEL
from instrid.melspec import mel_power


def torch_power_mel(y: np.ndarray, spec) -> np.ndarray:
    """The same mel power as librosa's (Hann window, centred, zero-padded), from torch.stft."""
    basis = torch.from_numpy(librosa.filters.mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels,
                                                 fmin=spec.fmin, fmax=spec.fmax))  # fmt: skip
    window = torch.hann_window(spec.win_length, periodic=True)
    stft = torch.stft(torch.from_numpy(y), spec.n_fft, spec.hop_length, spec.win_length, window,
                      center=True, pad_mode="constant", return_complex=True)  # fmt: skip
    return (basis @ stft.abs().square()).numpy()


def timed(f, repeats: int = 3) -> tuple[float, np.ndarray]:
    f()
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, librosa {librosa.__version__}")
    for name, spec in (("musicnn", MUSICNN_MEL), ("cross-attention", CROSS_ATTENTION_MEL)):
        y = np.random.default_rng(0).normal(0, 0.1, int(args.minutes * 60 * spec.sample_rate)).astype(np.float32)
        kw = dict(n_fft=spec.n_fft, win_length=spec.win_length, hop_length=spec.hop_length, n_mels=spec.n_mels,
                  fmin=spec.fmin, fmax=spec.fmax)  # fmt: skip
        t_instrid, ours = timed(lambda: mel_power(y, sample_rate=spec.sample_rate, **kw))
        t_librosa, reference = timed(lambda: librosa.feature.melspectrogram(y=y, sr=spec.sample_rate, power=2.0, **kw))
        t_torch, candidate = timed(lambda: torch_power_mel(y, spec))
        db = lambda p: 10 * np.log10(np.maximum(p, 1e-10))  # noqa: E731
        print(f"{name} ({spec.sample_rate} Hz, {args.minutes:g} min), best of 3: librosa {t_librosa:.3f} s; "
              f"instrid {t_instrid:.3f} s = {t_librosa / t_instrid:.2f}x librosa's speed, largest difference "
              f"{np.abs(db(ours) - db(reference)).max():.1e} dB; torch.stft {t_torch:.3f} s = "
              f"{t_librosa / t_torch:.2f}x, {np.abs(db(candidate) - db(reference)).max():.1e} dB")  # fmt: skip


if __name__ == "__main__":
    main()
