"""Audio front end: decode, downmix, resample, and HSSANet's preprocessing (paper step 2).

Decoding is streamed: ``stream_audio`` reads a file block by block, downmixes and resamples each block
(soxr's streaming resampler gives the same samples as resampling the whole file at once), so a recording
of any length is read in bounded memory. The header is checked before anything is decoded: absurd sample
rates, channel counts and durations are refused up front.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.signal
import soundfile
import soxr

from .errors import AudioError, AudioTooLongError, ParameterError, SilentAudioWarning, TruncatedAudioWarning, printable

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
MIN_SAMPLE_RATE = 2_000  # Hz: nothing below is a music recording (a 1 Hz header would be a resampling bomb)
MAX_SAMPLE_RATE = 768_000  # Hz: the highest rate audio interfaces record at
MAX_CHANNELS = 2
HEADER_SHARE = 0.97  # decoding less than this share of the header's length is "truncated" (MP3 headers estimate)
DECODE_FRAMES = 2**18  # frames decoded at once (5.5 s at 48 kHz): what bounds decoding memory

# HSSANet band-pass defaults: below 40 Hz there is no fundamental of any IRMAS instrument (the lowest,
# cello and organ C2, is 65 Hz; bass strings reach 41 Hz) only rumble and DC; above 10 kHz
# (or 0.45 * sr when lower) there is little timbre but most hiss.
BANDPASS_LOW_HZ = 40.0
BANDPASS_HIGH_HZ = 10_000.0
BANDPASS_ORDER = 4

Source = str | Path | BinaryIO  # a file name, or an open binary file (e.g. an upload)


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int  # Hz, as the header says
    channels: int
    frames: int  # samples per channel, as the header says (a truncated file holds fewer)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_files(paths: Iterable[str | Path]) -> tuple[list[Path], dict[str, str]]:
    """The given files, and the audio files under the given folders (recursively, sorted), each once.

    Returns the files and ``{path: reason}`` for what cannot be searched: unreadable folders, links to
    nothing. Given files that are missing or unreadable are returned too: the audio loader says why."""
    found: list[Path] = []
    errors: dict[str, str] = {}
    for p in map(Path, paths):
        if not os.path.isdir(p):  # unlike Path.is_dir, never raises (e.g. inside an unreadable folder)
            found.append(p)
            continue
        inside = []
        for folder, _, names in os.walk(p, onerror=lambda err: errors.setdefault(err.filename,
                f"{printable(err.filename)}: folder skipped: {err.strerror} (make it readable, e.g. `chmod -R u+rX DIR`)")):  # fmt: skip
            for f in (Path(folder) / name for name in names if Path(name).suffix.lower() in AUDIO_EXTENSIONS):
                if os.path.isfile(f):
                    inside.append(f)
                elif not os.path.exists(f):
                    errors[str(f)] = f"{printable(str(f))}: skipped: a link to a missing file (or a loop of links)"
                else:
                    errors[str(f)] = f"{printable(str(f))}: skipped: not a regular file"
        found.extend(sorted(inside))
    first = {}  # the same file given twice (e.g. relative and absolute) is done once
    for f in found:
        first.setdefault(resolved(f), f)
    return list(first.values()), errors


def resolved(path: str | Path) -> str:
    """The absolute path with links resolved; never raises, even on a loop of links."""
    return os.path.realpath(path)


def audio_info(source: Source, *, name: str | None = None, max_seconds: float | None = None) -> AudioInfo:
    """The file's header, checked before anything is decoded.

    Raises ``AudioError`` for a missing or unreadable file, a header that is not audio, a sample rate
    outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE], more than MAX_CHANNELS channels, no samples, or (with
    ``max_seconds``) a duration over the limit — the last as ``AudioTooLongError``.
    ``name`` is what the messages call the file (default: the path).
    """
    name = name or str(source)
    if isinstance(source, (str, Path)):
        _check_openable(Path(source))
    try:
        info = soundfile.info(source)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as err:
        raise AudioError(name, f"unreadable or corrupt audio ({_one_line(err)})",
                         f"re-encode it as WAV or FLAC; readable: {', '.join(AUDIO_EXTENSIONS)}") from None  # fmt: skip
    finally:
        if not isinstance(source, (str, Path)):
            source.seek(0)
    header = AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))
    if not MIN_SAMPLE_RATE <= header.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(name, f"its header says {header.sample_rate} Hz, outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
                         "the file is damaged or not a recording: re-export it")  # fmt: skip
    if header.channels > MAX_CHANNELS:
        raise AudioError(name, f"has {header.channels} channels; mono and stereo are supported",
                         "downmix it first, e.g. `sox in.wav -c 1 out.wav`")  # fmt: skip
    if header.channels < 1 or header.frames <= 0:
        raise AudioError(name, "contains no samples", "the file is empty: re-export it")
    if max_seconds is not None and header.duration > max_seconds:
        raise AudioTooLongError(name, f"is longer than the {max_seconds:.0f} s limit ({header.duration:.0f} s)",
                         "cut it into shorter pieces")  # fmt: skip
    return header


def _check_openable(path: Path) -> None:
    """One clear error for what libsndfile would call "System error." (and no wait on a FIFO)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise AudioError(path, "is a folder", "give an audio file, or the folder itself to search it")
        if not stat.S_ISREG(mode):
            raise AudioError(path, "is not a regular file", "give an audio file or a folder of them")
        with path.open("rb"):
            pass
    except FileNotFoundError:
        missing = "a link to a missing file" if os.path.islink(path) else "file not found"
        raise AudioError(path, missing, "check the path") from None
    except PermissionError:
        raise AudioError(path, "permission denied", "make it and its folders readable, e.g. `chmod u+r FILE`") from None
    except OSError as err:
        raise AudioError(path, f"cannot be opened ({err.strerror})", "check the file") from None


def _one_line(err: Exception) -> str:
    """libsndfile's own words ("Format not recognised."), without soundfile's "Error opening <file object>"."""
    return " ".join(str(getattr(err, "error_string", None) or err).split())


_WAV_TRUNCATED = re.compile(r"^data\s*:\s*\d+\s*\(should be", re.MULTILINE)  # libsndfile's log of a short WAV


def stream_audio(
    source: Source,
    *,
    sr: int | None,
    name: str | None = None,
    max_seconds: float | None = None,
    min_samples: int = 1,
    block_frames: int = DECODE_FRAMES,
) -> Iterator[np.ndarray]:
    """Decode a file block by block to mono float32, resampled to ``sr`` with soxr (None: the file's rate).

    The blocks joined equal ``load_audio``'s array. Memory is bounded by ``block_frames`` whatever the
    file's length. Checks the header first (``audio_info``), then every block: NaN/Inf samples raise
    ``AudioError``, as does (with ``max_seconds``) more audio than the limit whatever the header said, and
    fewer than ``min_samples`` samples after resampling (raised after the last block).
    Warns ``SilentAudioWarning`` for digital silence and ``TruncatedAudioWarning`` for a file that
    ends before its header says.
    """
    name = name or str(source)
    info = audio_info(source, name=name, max_seconds=max_seconds)
    target = sr or info.sample_rate
    if target <= 0:
        raise ParameterError(f"sample rate must be > 0, got sr={sr}")
    resampler = None if target == info.sample_rate else soxr.ResampleStream(info.sample_rate, target, 1, dtype="float32", quality="HQ")
    decoded, resampled, audible = 0, 0, False
    try:
        with soundfile.SoundFile(source) as f:
            truncated_wav = bool(_WAV_TRUNCATED.search(f.extra_info))
            while True:
                data = f.read(block_frames, dtype="float32", always_2d=True)  # (n, channels)
                last = len(data) < block_frames
                if not np.isfinite(data).all():
                    raise AudioError(name, "contains NaN or Inf samples", "the file is damaged: re-export it")
                y = data.mean(axis=1, dtype=np.float32)  # (n,) downmix
                decoded += len(y)
                if max_seconds is not None and decoded > max_seconds * info.sample_rate:
                    raise AudioTooLongError(name, f"is longer than the {max_seconds:.0f} s limit", "cut it into shorter pieces")
                audible = audible or bool(np.any(y))
                if resampler is not None:
                    y = resampler.resample_chunk(y, last=last)
                resampled += len(y)
                if len(y):
                    yield y
                if last:
                    break
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(name, f"unreadable or corrupt audio ({_one_line(err)})",
                         f"re-encode it as WAV or FLAC; readable: {', '.join(AUDIO_EXTENSIONS)}") from None  # fmt: skip
    if decoded == 0:
        raise AudioError(name, "contains no samples", "the file is empty: re-export it")
    if truncated_wav or decoded < HEADER_SHARE * info.frames:
        warnings.warn(f"{printable(name)}: the file ends before its header says (truncated?); the {decoded / info.sample_rate:.1f} s "
                      "that could be decoded are used", TruncatedAudioWarning, stacklevel=2)  # fmt: skip
    if not audible:
        warnings.warn(f"{printable(name)}: audio is digital silence", SilentAudioWarning, stacklevel=2)
    if resampled < min_samples:
        raise AudioError(name, f"is {resampled / target:.3f} s long, shorter than one analysis window "
                         f"({min_samples / target:.3f} s)", "use a longer recording or pad it with silence")  # fmt: skip


def load_audio(
    source: Source, *, sr: int | None, min_samples: int = 1, name: str | None = None, max_seconds: float | None = None
) -> np.ndarray:
    """Decode a whole file to mono float32, resampled to ``sr`` with soxr (``stream_audio``, joined).

    Parameters
    ----------
    source : WAV, FLAC, OGG or MP3 file (a path or an open binary file) with 1 or 2 channels
    sr : int > 0, or None to keep the file's own rate
    min_samples : int >= 1
        shortest accepted length *after* resampling (e.g. one analysis window).
    name : what error messages call the file (default: the path)
    max_seconds : refuse longer files, from the header before decoding

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    AudioError : missing, unreadable/corrupt, empty, too short, NaN/Inf, more than 2 channels, absurd
    sample rate, too long. Warns ``SilentAudioWarning`` for digital silence, ``TruncatedAudioWarning``
    for a file shorter than its header says.
    """
    return np.concatenate(list(stream_audio(source, sr=sr, name=name, max_seconds=max_seconds, min_samples=min_samples)))


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


def normalize(y: np.ndarray) -> np.ndarray:
    """Peak normalisation to max |y| = 1, centred on zero as before; silence is returned unchanged.

    HSSANet's paper writes min-max scaling, (y - min) / (max - min), which maps audio to [0, 1] and so adds a
    DC offset of about 0.5 — a spectral spike at 0 Hz that no instrument makes: peak scaling is used instead."""
    peak = np.max(np.abs(y), initial=0.0)
    return y / peak if peak > 0 else y.copy()
