"""Extraction: a clip's or a whole recording's feature arrays, as a ``features.FeatureConfig`` says.

``extract_clip`` / ``extract_audio`` compute a clip's arrays at once; ``extract_stream`` a recording's of any
length, block by block, in bounded memory (what ``predict`` runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from . import audio
from .features import FeatureConfig, mask_track, pitch_track


def extract_clip(path: str | Path, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Features of one audio file: the front end's frames (dim, T), and with pitch ``f0`` and
    ``voiced_prob`` (T,), all float32."""
    spec = config.frontend
    return extract_audio(audio.load_audio(path, sr=spec.sample_rate, min_samples=spec.min_samples), config)


def extract_audio(y: np.ndarray, config: FeatureConfig) -> dict[str, np.ndarray]:
    """``extract_clip`` of mono audio already at ``config.frontend.sample_rate``."""
    spec = config.frontend
    if config.preprocess:
        y = audio.normalize(audio.bandpass(y, sr=spec.sample_rate))
    out = {spec.field: spec.frames(y)}
    if config.pitch:
        track = pitch_track(y, spec)
        out["f0"] = track.f0  # NaN where unvoiced
        out["voiced_prob"] = track.voiced_prob
    return out


BLOCK_SECONDS = 30.0  # audio analysed at once by ``extract_stream``: what bounds memory on long recordings
CONTEXT_SECONDS = 2.0  # audio either side of a block, so that its frames match the whole file's (see below)


def extract_stream(
    chunks: Iterable[np.ndarray],
    config: FeatureConfig,
    *,
    block_seconds: float = BLOCK_SECONDS,
    context_seconds: float = CONTEXT_SECONDS,
) -> Iterator[dict[str, np.ndarray]]:
    """Features of a recording of any length, in bounded memory: ``extract_audio`` block by block.

    ``chunks`` is mono audio at ``config.frontend.sample_rate`` in pieces of any size (``audio.stream_audio``).
    Yields, for consecutive runs of about ``block_seconds`` of frames, the arrays ``extract_audio`` gives —
    already through ``mask_track`` — plus ``rms`` (T,), the RMS level of the samples of each frame's hop,
    and ``envelope`` (2, T), their min and max. Joined along time they have the whole file's frame count.

    Each block is extracted with ``context_seconds`` of audio either side, then cut back to its own frames.
    That makes the log-mel frames the whole file's up to float rounding (the context exceeds half an FFT) and the
    frame-wise pYIN probabilities too; the Viterbi path, decided per block, equals the whole file's wherever
    the paths have merged within the context. Steps that look at the whole recording — HSSANet's peak
    normalisation, the descriptors' dB range and chroma tuning — become per block on files longer than one.
    """
    spec = config.frontend
    hop = spec.hop_length
    block = max(1, round(block_seconds * spec.frames_per_second))  # frames per block
    context = -(-round(context_seconds * spec.sample_rate) // hop) * hop  # samples, a whole number of hops
    buffer, buffer_start = np.zeros(0, np.float32), 0  # audio from sample ``buffer_start`` on
    total, frame = 0, 0  # samples read so far; the next frame to yield

    def cut(start: int, stop: int) -> dict[str, np.ndarray]:
        """Frames [start, stop) from the audio around them (what the buffer holds of it)."""
        first = max(0, start * hop - context)  # a multiple of hop: frame j of y is frame first // hop + j
        y = buffer[first - buffer_start : stop * hop + context - buffer_start]
        arrays = mask_track(extract_audio(y, config), config)
        keep = slice(start - first // hop, stop - first // hop)
        out = {k: v[..., keep] for k, v in arrays.items()}  # (dim, T) frames and (T,) tracks alike
        core = np.zeros((stop - start) * hop, np.float32)  # each frame's hop of samples, zero past the end
        own = buffer[start * hop - buffer_start : stop * hop - buffer_start]
        core[: len(own)] = own
        hops = core.reshape(stop - start, hop)
        out["rms"] = np.sqrt(np.mean(np.square(hops), axis=1))
        out["envelope"] = np.stack([hops.min(axis=1), hops.max(axis=1)])
        return out

    for chunk in chunks:
        buffer = np.concatenate([buffer, chunk])
        total += len(chunk)
        while (frame + block) * hop + context <= total:  # the block and its right context have been read
            yield cut(frame, frame + block)
            frame += block
            drop = frame * hop - context - buffer_start
            if drop > 0:
                buffer, buffer_start = buffer[drop:], buffer_start + drop
    n_frames = spec.n_frames(total)
    while frame < n_frames:
        stop = min(frame + block, n_frames)
        yield cut(frame, stop)
        frame = stop
