"""Audio front end: decode, downmix, resample, and HSSANet's preprocessing (paper step 2).

All functions are pure: an array in, an array out, parameters keyword-only.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile
import soxr

from .errors import AudioError, ParameterError, SilentAudioWarning

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

# HSSANet band-pass defaults: below 40 Hz there is no fundamental of any IRMAS instrument (the lowest,
# cello and organ C2, is 65 Hz; bass strings reach 41 Hz) only rumble and DC; above 10 kHz
# (or 0.45 * sr when lower) there is little timbre but most hiss.
BANDPASS_LOW_HZ = 40.0
BANDPASS_HIGH_HZ = 10_000.0
BANDPASS_ORDER = 4


def load_audio(path: str | Path, *, sr: int | None, min_samples: int = 1) -> np.ndarray:
    """Decode an audio file to mono float32, resampled to ``sr`` with soxr.

    Parameters
    ----------
    path : WAV, FLAC, OGG or MP3 file with 1 or 2 channels
    sr : int > 0, or None to keep the file's own rate
    min_samples : int >= 1
        shortest accepted length *after* resampling (e.g. one analysis window).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    AudioError : missing, unreadable/corrupt, empty, too short, NaN/Inf, more than 2 channels.
    Warns ``SilentAudioWarning`` for digital silence.
    """
    y, file_sr = read_audio(path)
    if sr is not None and sr != file_sr:
        y = resample(y, orig_sr=file_sr, target_sr=sr)
    if len(y) < min_samples:
        rate = sr or file_sr
        raise AudioError(
            path,
            f"is {len(y) / rate:.3f} s long, shorter than one analysis window ({min_samples / rate:.3f} s)",
            "use a longer recording or pad it with silence",
        )
    return y


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode a file to mono float32 at its own sample rate; see ``load_audio`` for the checks."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found", "check the path")
    try:
        data, file_sr = soundfile.read(path, dtype="float32", always_2d=True)  # (n, channels)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(
            path, f"unreadable or corrupt audio ({err})", f"re-encode it as WAV or FLAC; readable: {AUDIO_EXTENSIONS}"
        ) from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no samples", "the file is empty: re-export it")
    if data.shape[1] > 2:
        raise AudioError(
            path,
            f"has {data.shape[1]} channels; mono and stereo are supported",
            "downmix it first, e.g. `sox in.wav -c 1 out.wav`",
        )
    if not np.isfinite(data).all():
        raise AudioError(path, "contains NaN or Inf samples", "the file is damaged: re-export it")
    y = data.mean(axis=1, dtype=np.float32)  # (n,) downmix
    if not np.any(y):
        warnings.warn(f"{path}: audio is digital silence", SilentAudioWarning, stacklevel=3)
    return y, int(file_sr)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample mono audio with soxr (high quality); returns float32 (n * target_sr / orig_sr,)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be > 0, got orig_sr={orig_sr}, target_sr={target_sr}")
    if orig_sr == target_sr:
        return y.astype(np.float32, copy=False)
    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def bandpass(
    y: np.ndarray,
    *,
    sr: int,
    low_hz: float = BANDPASS_LOW_HZ,
    high_hz: float | None = BANDPASS_HIGH_HZ,
    order: int = BANDPASS_ORDER,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``): HSSANet's denoising step.

    high_hz : number > low_hz, capped at 0.45 * sr; None means 0.45 * sr.
    """
    nyquist_cap = 0.45 * sr
    high = nyquist_cap if high_hz is None else min(high_hz, nyquist_cap)
    if not 0 < low_hz < high:
        raise ParameterError(f"band-pass needs 0 < low_hz < high_hz <= 0.45*sr, got low_hz={low_hz}, high_hz={high}")
    sos = scipy.signal.butter(order, [low_hz, high], btype="bandpass", fs=sr, output="sos")
    padlen = min(len(y) - 1, 3 * (2 * len(sos) + 1))  # short clips: shrink the edge padding
    return scipy.signal.sosfiltfilt(sos, y, padlen=padlen).astype(np.float32)


def normalize(y: np.ndarray, *, method: str = "peak") -> np.ndarray:
    """Amplitude normalisation.

    method : "peak" (default) scales to max |y| = 1 and keeps the signal centred on zero.
        "minmax" is the HSSANet paper's formula (y - min) / (max - min): it maps to [0, 1], which adds a
        DC offset of about 0.5 — a spectral spike at 0 Hz that no instrument makes — so it is offered
        for reproduction only. Silence is returned unchanged by both.
    """
    if method == "peak":
        peak = np.max(np.abs(y), initial=0.0)
        return y / peak if peak > 0 else y.copy()
    if method == "minmax":
        lo, hi = np.min(y), np.max(y)
        return (y - lo) / (hi - lo) if hi > lo else y.copy()
    raise ParameterError(f"normalize method must be 'peak' or 'minmax', got {method!r}")


def segment(y: np.ndarray, *, sr: int, seconds: float = 2.0, hop_seconds: float | None = None) -> np.ndarray:
    """Cut audio into frames of ``seconds`` every ``hop_seconds`` (default: no overlap).

    Policy for the end: a last partial frame is kept, zero-padded, when it holds at least half a frame
    of new audio, otherwise dropped; audio shorter than one frame becomes one zero-padded frame.

    Returns
    -------
    frames : np.ndarray [shape=(n_frames, round(seconds * sr)), dtype=y.dtype]
    """
    size = int(round(seconds * sr))
    hop = size if hop_seconds is None else int(round(hop_seconds * sr))
    if size <= 0 or hop <= 0:
        raise ParameterError(f"segment seconds and hop_seconds must be > 0, got {seconds}, {hop_seconds}")
    starts = list(range(0, max(len(y) - size, 0) + 1, hop))
    tail = len(y) - (starts[-1] + size)  # audio after the last full frame; always < hop
    if tail >= size / 2:
        starts.append(starts[-1] + hop)
    frames = np.zeros((len(starts), size), dtype=y.dtype)
    for i, start in enumerate(starts):
        chunk = y[start : start + size]
        frames[i, : len(chunk)] = chunk
    return frames
