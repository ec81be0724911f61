"""The mel power spectrogram in NumPy: librosa's ``feature.melspectrogram`` (centred Hann frames, zero padding,
Slaney mel filters) without importing librosa, whose first use costs about 1 s (scipy.signal, numba). With it
``instrid predict`` starts in 0.44 s instead of 2.4 s (``benchmarks/coldstart.py``); the tests hold the numbers
to librosa's.
"""

from __future__ import annotations

import functools

import numpy as np

from .errors import ParameterError

# Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above
_MEL_LINEAR_HZ = 200.0 / 3  # Hz per mel below the break
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _MEL_LINEAR_HZ  # 15
_LOG_STEP = np.log(6.4) / 27.0  # log(Hz) per mel above the break


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    above = _BREAK_MEL + np.log(np.maximum(hz, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(hz >= _BREAK_HZ, above, hz / _MEL_LINEAR_HZ)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    above = _BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _BREAK_MEL) - _BREAK_MEL))
    return np.where(mel >= _BREAK_MEL, above, mel * _MEL_LINEAR_HZ)


def mel_frequencies(n: int, fmin: float, fmax: float) -> np.ndarray:
    """(n,) frequencies in Hz evenly spaced on the mel scale from ``fmin`` to ``fmax`` (librosa's, bit for bit)."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n))


@functools.lru_cache(maxsize=16)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 triangular filters, Slaney-normalised (each has area 2 / bandwidth)."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # (F,)
    edges = mel_frequencies(n_mels + 2, fmin, fmax)  # (n_mels + 2,) Hz
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]  # (n_mels + 2, F)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (n_mels, F)
    weights = (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)
    weights.flags.writeable = False  # shared by every call (cached)
    return weights


@functools.lru_cache(maxsize=16)
def _hann(win_length: int, n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``win_length``, zero-padded in the middle of ``n_fft`` samples (float64)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    window = np.pad(window, (left, n_fft - win_length - left))
    window.flags.writeable = False  # shared by every call (cached)
    return window


BLOCK_BYTES = 16 << 20  # about this much memory for the temporaries of one block of frames


def mel_power(
    y: np.ndarray, *, sample_rate: int, n_fft: int, win_length: int, hop_length: int, n_mels: int,
    fmin: float = 0.0, fmax: float | None = None,
) -> np.ndarray:  # fmt: skip
    """Mel power spectrogram (n_mels, 1 + len(y) // hop_length) float32 of mono audio ``y`` (as float32, even
    ``n_fft``): frame t is centred on sample t * hop_length, the signal zero-padded by n_fft / 2 at both ends."""
    if not 0 < win_length <= n_fft:
        raise ParameterError(f"win_length must be in 1..n_fft ({n_fft}), got {win_length}")
    padded = np.pad(np.asarray(y, dtype=np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]  # (T, n_fft), a view
    window = _hann(win_length, n_fft)
    nyquist = sample_rate / 2
    filters = mel_filters(sample_rate, n_fft, n_mels, float(fmin), float(nyquist if fmax is None else fmax))
    out = np.empty((n_mels, len(frames)), dtype=np.float32)
    block = max(1, BLOCK_BYTES // (20 * n_fft))  # frames: float64 frames (8 B) + complex128 half spectrum (8) + ...
    for start in range(0, len(frames), block):
        part = frames[start : start + block]
        spectrum = np.fft.rfft(part * window, axis=1).astype(np.complex64)  # (t, F), float64 FFT as librosa's
        out[:, start : start + len(part)] = filters @ (spectrum.real**2 + spectrum.imag**2).T  # (n_mels, t)
    return out
