"""Audio front end: decode, downmix, resample, and HSSANet's preprocessing (paper step 2).

Decoding is streamed: ``stream_audio`` reads a file block by block, downmixes and resamples each block
(soxr's streaming resampler gives the same samples as resampling the whole file at once), so a recording
of any length is read in bounded memory. The header is checked before anything is decoded: absurd sample
rates, channel counts and durations are refused up front.

libsndfile (``soundfile``) decodes what it reads, exactly: WAV, FLAC, Ogg Vorbis/Opus, MP3, AIFF. FFmpeg (PyAV)
decodes what it cannot: AAC and ALAC in MP4/M4A, WMA, WebM/Matroska, ADTS AAC. The file's contents decide, not
its name (an upload has none); FFmpeg may open only the containers in ``FFMPEG_DEMUXERS``, none of which
refers to other files or URLs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import soundfile
import soxr

from .errors import AudioError, AudioTooLongError, ParameterError, SilentAudioWarning, TruncatedAudioWarning, printable

SOUNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")  # libsndfile: exact and fastest
FFMPEG_EXTENSIONS = (".m4a", ".m4b", ".mp4", ".aac", ".wma", ".webm", ".mka")  # what libsndfile cannot read
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS + FFMPEG_EXTENSIONS
FFMPEG_DEMUXERS = "mov,ogg,asf,matroska,aac"  # the containers FFmpeg may open (no playlists: they name other files)
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
    frames: int | None  # samples per channel, as the header says (a truncated file holds fewer); None: not said
    decoder: str = "libsndfile"  # or "ffmpeg"

    @property
    def duration(self) -> float | None:
        return None if self.frames is None else self.frames / self.sample_rate


def audio_files(
    paths: Iterable[str | Path], *, skipped: dict[str, str] | None = None
) -> tuple[list[Path], dict[str, str]]:
    """The given files, and the audio files under the given folders (recursively, sorted), each once.

    Returns the files and ``{path: reason}`` for what cannot be searched: unreadable folders, links to
    nothing. Given files that are missing or unreadable are returned too: the audio loader says why.
    With ``skipped``, the files in the folders whose names are not audio (``AUDIO_EXTENSIONS``) are added to
    it as ``{path: reason}``: they are left out, not failures."""
    found: list[Path] = []
    errors: dict[str, str] = {}
    for p in map(Path, paths):
        if not os.path.isdir(p):  # unlike Path.is_dir, never raises (e.g. inside an unreadable folder)
            found.append(p)
            continue
        inside = []
        for folder, _, names in os.walk(p, onerror=lambda err: errors.setdefault(err.filename,
                f"{printable(err.filename)}: folder skipped: {err.strerror} (make it readable, e.g. `chmod -R u+rX DIR`)")):  # fmt: skip
            for f in map(Path(folder).joinpath, names):
                if f.suffix.lower() not in AUDIO_EXTENSIONS:
                    if skipped is not None:
                        skipped[str(f)] = (f"{printable(str(f))}: skipped: not an audio file name (instrid reads "
                                           f"{', '.join(AUDIO_EXTENSIONS)}; rename it if it holds one of those)")  # fmt: skip
                elif os.path.isfile(f):
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
    ``max_seconds``) a duration over the limit — the last as ``AudioTooLongError``. A container that does not
    give its duration is checked while it is decoded (``stream_audio``).
    ``name`` is what the messages call the file (default: the path).
    """
    name = name or str(source)
    if isinstance(source, (str, Path)):
        _check_openable(Path(source))
    header = _read_header(source, name)
    if not MIN_SAMPLE_RATE <= header.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(name, f"its header says {header.sample_rate} Hz, outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
                         "the file is damaged or not a recording: re-export it")  # fmt: skip
    if header.channels > MAX_CHANNELS:
        raise AudioError(name, f"has {header.channels} channels; mono and stereo are supported",
                         "downmix it first, e.g. `sox in.wav -c 1 out.wav`")  # fmt: skip
    if header.channels < 1 or header.frames is not None and header.frames <= 0:
        raise AudioError(name, "contains no samples", "the file is empty: re-export it")
    if max_seconds is not None and header.duration is not None and header.duration > max_seconds:
        raise AudioTooLongError(name, f"is longer than the {max_seconds:.0f} s limit ({header.duration:.0f} s)",
                         "cut it into shorter pieces")  # fmt: skip
    return header


def _read_header(source: Source, name: str) -> AudioInfo:
    """The header as libsndfile reads it, else as FFmpeg does. When neither can, the error gives the words of
    the decoder the file's name points to (libsndfile's for a file object)."""
    try:
        info = soundfile.info(source)
        return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as err:
        failed = None if isinstance(source, (str, Path)) and Path(source).suffix.lower() in FFMPEG_EXTENSIONS else err
    finally:
        if not isinstance(source, (str, Path)):
            source.seek(0)
    try:
        with _ffmpeg_open(source, name) as (container, stream):
            rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            else:  # e.g. Matroska: only the container's duration, in microseconds (0 when it does not say)
                seconds = (container.duration or 0) / av.time_base
            return AudioInfo(rate, channels, round(seconds * rate) if seconds > 0 else None, "ffmpeg")
    except (av.FFmpegError, OSError, ValueError) as err:
        not_allowed = isinstance(err, av.error.ArgumentError)  # a container outside FFMPEG_DEMUXERS
        words = "Format not recognised." if not_allowed else _one_line(err)
        raise AudioError(name, f"unreadable or corrupt audio ({_one_line(failed) if failed else words})",
                         f"re-encode it as WAV or FLAC; readable: {', '.join(AUDIO_EXTENSIONS)}") from None  # fmt: skip
    finally:
        if not isinstance(source, (str, Path)):
            source.seek(0)


@contextlib.contextmanager
def _ffmpeg_open(source: Source, name: str) -> Iterator[tuple[av.container.InputContainer, av.AudioStream]]:
    """The container and its main audio stream. A path is opened here and handed over as a file, so that FFmpeg
    never reads it as a URL (``a:b.m4a``, ``concat:...``); FFmpeg may use only ``FFMPEG_DEMUXERS``."""
    with contextlib.ExitStack() as stack:
        file = stack.enter_context(open(source, "rb")) if isinstance(source, (str, Path)) else source
        file.seek(0)
        container = stack.enter_context(av.open(_FFmpegInput(file), options={"format_whitelist": FFMPEG_DEMUXERS}, metadata_errors="ignore"))  # fmt: skip
        stream = container.streams.best("audio")
        if stream is None:
            raise AudioError(name, "has no audio track", "give a recording with sound")
        if stream.codec_context is None:
            raise AudioError(name, "its audio codec cannot be decoded", "re-encode it as WAV or FLAC")
        yield container, stream


class _FFmpegInput:
    """A binary file as PyAV reads it. A seek outside the file (a damaged index) returns an error code rather
    than raising: PyAV would print the exception, or keep it for the next call on this thread (another file)."""

    def __init__(self, file: BinaryIO):
        self.file = file

    def read(self, size: int) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            return self.file.seek(offset, whence)
        except (OSError, ValueError, OverflowError):
            return -errno.EINVAL

    def tell(self) -> int:
        return self.file.tell()


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
    """The decoder's own words ("Format not recognised.", "Invalid data found when processing input"), without
    soundfile's "Error opening <file object>" or PyAV's errno and function name."""
    words = getattr(err, "error_string", None) or (err.strerror if isinstance(err, av.FFmpegError) else None) or err
    return " ".join(str(words).split())


_WAV_TRUNCATED = re.compile(r"^data\s*:\s*\d+\s*\(should be", re.MULTILINE)  # libsndfile's log of a short WAV
_TRUNCATED = "the file ends before its header says (truncated?)"


def _soundfile_blocks(source: Source, block_frames: int, damage: list[str]) -> Iterator[np.ndarray]:
    """Mono float32 blocks of ``block_frames`` (the last: what is left), decoded by libsndfile."""
    with soundfile.SoundFile(source) as f:
        if _WAV_TRUNCATED.search(f.extra_info):
            damage.append(_TRUNCATED)
        while len(data := f.read(block_frames, dtype="float32", always_2d=True)):  # (n, channels)
            yield data.mean(axis=1, dtype=np.float32)


def _ffmpeg_blocks(
    source: Source, name: str, sample_rate: int, block_frames: int, damage: list[str]
) -> Iterator[np.ndarray]:
    """Mono float32 blocks of ``block_frames`` or a packet more (the last: what is left), decoded by FFmpeg.
    A packet that does not decode is skipped and the decoding goes on, as the ``ffmpeg`` tool does; a read
    error ends the file. Both are noted in ``damage``."""
    pending, count, skipped = [], 0, 0
    with _ffmpeg_open(source, name) as (container, stream):
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets, None)
            except av.FFmpegError:
                damage.append("the rest of the file cannot be read (truncated or damaged?)")
                break
            if packet is None:
                break
            try:
                frames = packet.decode()  # a packet of size 0 (the last) flushes the decoder
            except av.FFmpegError:
                skipped += 1
                continue
            for frame in frames:
                if frame.sample_rate != sample_rate:
                    raise AudioError(name, f"changes from {sample_rate} to {frame.sample_rate} Hz within the file",
                                     "re-encode it, e.g. `ffmpeg -i IN -ar 48000 OUT.flac`")  # fmt: skip
                pending.append(_frame_mono(frame))
                count += frame.samples
            if count >= block_frames:
                yield np.concatenate(pending)
                pending, count = [], 0
    if pending:
        yield np.concatenate(pending)
    if skipped:
        damage.append(f"{skipped} damaged packet(s) could not be decoded")


def _frame_mono(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as mono float32 (samples,): its channels' mean, integers scaled to [-1, 1) as libsndfile does."""
    x = frame.to_ndarray()  # planar: (channels, samples); packed: (1, samples * channels)
    if not frame.format.is_planar:
        x = x.reshape(-1, frame.layout.nb_channels).T
    if x.dtype.kind in "iu":  # s16, s32, s64; u8 is offset by half its range
        full = 2.0 ** (8 * x.dtype.itemsize - 1)
        x = (x.astype(np.float32) - (full if x.dtype.kind == "u" else 0.0)) / np.float32(full)
    return x.mean(axis=0, dtype=np.float32)


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
    ends before its header says or has packets that do not decode.
    """
    name = name or str(source)
    info = audio_info(source, name=name, max_seconds=max_seconds)
    target = sr or info.sample_rate
    if target <= 0:
        raise ParameterError(f"sample rate must be > 0, got sr={sr}")
    resampler = None if target == info.sample_rate else soxr.ResampleStream(info.sample_rate, target, 1, dtype="float32", quality="HQ")
    decoded, resampled, audible, damage = 0, 0, False, []
    if info.decoder == "ffmpeg":
        blocks = _ffmpeg_blocks(source, name, info.sample_rate, block_frames, damage)
    else:
        blocks = _soundfile_blocks(source, block_frames, damage)
    try:
        for y in blocks:
            if not np.isfinite(y).all():
                raise AudioError(name, "contains NaN or Inf samples", "the file is damaged: re-export it")
            decoded += len(y)
            if max_seconds is not None and decoded > max_seconds * info.sample_rate:
                raise AudioTooLongError(name, f"is longer than the {max_seconds:.0f} s limit", "cut it into shorter pieces")
            audible = audible or bool(np.any(y))
            if resampler is not None:
                y = resampler.resample_chunk(y)
            resampled += len(y)
            if len(y):
                yield y
        if resampler is not None and len(y := resampler.resample_chunk(np.zeros(0, np.float32), last=True)):  # fmt: skip
            resampled += len(y)  # what the resampler held back for its filter
            yield y
    except (soundfile.LibsndfileError, av.FFmpegError, RuntimeError, TypeError, ValueError, OSError) as err:
        raise AudioError(name, f"unreadable or corrupt audio ({_one_line(err)})",
                         f"re-encode it as WAV or FLAC; readable: {', '.join(AUDIO_EXTENSIONS)}") from None  # fmt: skip
    if decoded == 0:
        if damage:
            raise AudioError(name, f"unreadable or corrupt audio ({', '.join(damage)})",
                             "the file is damaged: re-export it")  # fmt: skip
        raise AudioError(name, "contains no samples", "the file is empty: re-export it")
    short = info.frames is not None and decoded < HEADER_SHARE * info.frames
    if notes := list(dict.fromkeys([_TRUNCATED] * short + damage)):
        warnings.warn(f"{printable(name)}: {', '.join(notes)}; the {decoded / info.sample_rate:.1f} s that could be decoded "
                      "are used", TruncatedAudioWarning, stacklevel=2)  # fmt: skip
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
    source : an audio file (a path or an open binary file) with 1 or 2 channels: any of ``AUDIO_EXTENSIONS``
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
    import scipy.signal  # 0.7 s to import: HSSANet's preprocessing only, not the default model's path

    sos = scipy.signal.butter(order, [low_hz, high], btype="bandpass", fs=sr, output="sos")
    padlen = min(len(y) - 1, 3 * (2 * len(sos) + 1))  # short clips: shrink the edge padding
    return scipy.signal.sosfiltfilt(sos, y, padlen=padlen).astype(np.float32)


def normalize(y: np.ndarray) -> np.ndarray:
    """Peak normalisation to max |y| = 1, centred on zero as before; silence is returned unchanged.

    HSSANet's paper writes min-max scaling, (y - min) / (max - min), which maps audio to [0, 1] and so adds a
    DC offset of about 0.5 — a spectral spike at 0 Hz that no instrument makes: peak scaling is used instead."""
    peak = np.max(np.abs(y), initial=0.0)
    return y / peak if peak > 0 else y.copy()
