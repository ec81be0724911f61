"""Audio augmentation for rendered data: room reverb, equalisation, additive noise at a given SNR.

Pure functions on mono float32 audio; randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from .errors import ParameterError


def add_noise(y: np.ndarray, *, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise so that signal power / noise power = ``snr_db`` (dB). Silence stays silent."""
    power = float(np.mean(np.square(y, dtype=np.float64)))
    if power == 0:
        return y.copy()
    noise = rng.standard_normal(len(y)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def reverb(y: np.ndarray, *, sr: int, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room: exponentially decaying noise reaching -60 dB after ``rt60`` seconds.

    wet : float in [0, 1], share of reverberant signal. Output has the input's length and peak level.
    """
    if rt60 <= 0 or not 0 <= wet <= 1:
        raise ParameterError(f"reverb needs rt60 > 0 and 0 <= wet <= 1, got rt60={rt60}, wet={wet}")
    t = np.arange(int(rt60 * sr)) / sr
    impulse = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)  # -60 dB at rt60
    impulse /= np.sqrt(np.sum(impulse**2))
    tail = scipy.signal.fftconvolve(y, impulse)[: len(y)]
    out = (1 - wet) * y + wet * tail
    peak_in, peak_out = np.max(np.abs(y), initial=0), np.max(np.abs(out), initial=0)
    return (out * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def equalize(y: np.ndarray, *, sr: int, gains_db: tuple[float, ...], centres_hz: tuple[float, ...]) -> np.ndarray:
    """Peaking-filter EQ (RBJ cookbook biquads, Q = 1): ``gains_db[i]`` dB at ``centres_hz[i]``."""
    out = y.astype(np.float64)
    for gain, f0 in zip(gains_db, centres_hz, strict=True):
        if not 0 < f0 < sr / 2:
            raise ParameterError(f"EQ centre {f0} Hz must lie in (0, {sr / 2}) Hz")
        a = 10 ** (gain / 40)
        w0 = 2 * np.pi * f0 / sr
        alpha = np.sin(w0) / 2  # Q = 1
        b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
        den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
        out = scipy.signal.lfilter(b, den, out)
    return out.astype(np.float32)


def random_augment(y: np.ndarray, *, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Each of reverb, EQ and noise applied with probability 1/2, random settings; returns (audio, settings)."""
    settings: dict = {}
    if rng.random() < 0.5:
        settings["reverb"] = {"rt60": round(float(rng.uniform(0.2, 1.2)), 3), "wet": round(float(rng.uniform(0.1, 0.4)), 3)}
        y = reverb(y, sr=sr, **settings["reverb"], rng=rng)
    if rng.random() < 0.5:
        gains = tuple(round(float(g), 2) for g in rng.uniform(-6, 6, 3))
        settings["eq"] = {"gains_db": gains, "centres_hz": (200.0, 1500.0, 6000.0)}
        y = equalize(y, sr=sr, **settings["eq"])
    if rng.random() < 0.5:
        settings["snr_db"] = round(float(rng.uniform(10, 40)), 1)
        y = add_noise(y, snr_db=settings["snr_db"], rng=rng)
    return y, settings
