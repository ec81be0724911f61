"""Feature store: extract each clip once, cache it on disk, read 10^5 windows without unpickling.

Layout, under ``root/<key>/`` where ``key`` hashes the feature parameters (so changing any of them
starts a new store instead of mixing old and new features)::

    config.json          the parameters behind the key
    clips/<id>.npz       per clip: the front end's frames (dim, T) float32 — ``mel``, ``wave`` or
                         ``descriptors`` — and with pitch f0 (T,), voiced_prob (T,); written
                         atomically (temporary file + rename): a killed run resumes at the next clip
    packed/              all clips concatenated along time, for training:
        mel.npy          (total_frames, dim) float32, memory-mapped (named after the field)
        f0.npy, voiced_prob.npy   (total_frames,) float32
        index.json       clip ids, frame offsets and lengths
    errors.json          clips that could not be read, with the reason

Why not the paper's one ``.pt`` per window: ``torch.load`` unpickles (slow, and unsafe for files
from elsewhere) and 10^5 small files cost a filesystem lookup each. One memory-mapped ``.npy``
per field opens in milliseconds and gives any window as a zero-copy slice. The mask and the
masked spectrogram are not stored: they are derived from f0 in microseconds (``features.pitch_mask``),
so mask variants (clean, noisy) need no re-extraction and the store is ~2x smaller.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import audio, features
from .errors import DataError, InstridError, ParameterError
from .fileio import atomic_write, process_pool

MASKS = ("pyin", "clean")
STORE_VERSION = 2  # bump when the extraction code changes its output
FrontEnd = features.MelSpec | features.WaveSpec | features.DescriptorSpec


@dataclass(frozen=True)
class FeatureConfig:
    frontend: FrontEnd = features.CROSS_ATTENTION_MEL
    pitch: bool = True  # compute the pYIN track (needed for the mask)
    preprocess: bool = False  # HSSANet step 2: band-pass 40 Hz-10 kHz and peak normalisation before the front end
    mask: str = "pyin"  # the pitch mask from the raw pYIN track, or "clean" (``features.clean_f0``; Table 5)

    def __post_init__(self):
        if self.mask not in MASKS:
            raise ParameterError(f"unknown pitch mask {self.mask!r}; choose one of: {', '.join(MASKS)}")

    def to_dict(self) -> dict:
        return {"frontend": {"type": type(self.frontend).__name__, **dataclasses.asdict(self.frontend)},
                "pitch": self.pitch, "preprocess": self.preprocess, "mask": self.mask}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        kinds = {k.__name__: k for k in FrontEnd.__args__}
        params = dict(d["frontend"])
        frontend = kinds[params.pop("type")](**params)
        return cls(frontend, d["pitch"], d["preprocess"], d.get("mask", "pyin"))

    def stored(self) -> dict:
        """``to_dict`` without the mask, which is derived when windows are cut, not stored."""
        return {k: v for k, v in self.to_dict().items() if k != "mask"}

    @property
    def key(self) -> str:
        """The store folder's name: what is extracted (the mask is derived when windows are cut, so not in it)."""
        text = json.dumps({"version": STORE_VERSION, **self.stored()}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


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
        track = features.pitch_track(y, spec)
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
    That makes the log-mel frames exactly the whole file's (the context exceeds half an FFT) and the
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


def _extract_to_file(path: str, config: FeatureConfig, out: Path) -> str | None:
    """Worker: extract one clip into ``out``; returns the error message or None."""
    try:
        feats = extract_clip(path, config)
    except InstridError as err:
        return str(err)
    atomic_write(out, lambda f: np.savez(f, **feats))
    return None


class FeatureStore:
    """Cached features of a set of clips, keyed by ``FeatureConfig``."""

    def __init__(self, root: str | Path, config: FeatureConfig = FeatureConfig()):
        self.config = config
        self.dir = Path(root) / config.key

    def clip_file(self, clip_id: str) -> Path:
        return self.dir / "clips" / f"{clip_id}.npz"

    def extract(self, clips: Sequence[tuple[str, str | Path]], *, workers: int | None = None, progress=True) -> dict:
        """Extract features of ``clips`` — (clip_id, audio path) pairs — skipping those already cached.

        Bad files are skipped and listed in ``errors.json``; the returned dict maps their ids to the reason.
        Runs ``workers`` processes (default: all cores).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        config_text = json.dumps(self.config.stored(), indent=1, sort_keys=True)
        atomic_write(self.dir / "config.json", lambda f: f.write(config_text.encode()))
        todo = [(cid, str(p)) for cid, p in clips if not self.clip_file(cid).exists()]
        errors: dict[str, str] = {}
        workers = workers or os.cpu_count() or 1
        bar = tqdm(total=len(todo), desc="features", unit="clip", disable=not progress)
        if workers == 1:
            for cid, p in todo:
                if (err := _extract_to_file(p, self.config, self.clip_file(cid))) is not None:
                    errors[cid] = err
                bar.update()
        else:
            with process_pool(workers) as pool:
                futures = {pool.submit(_extract_to_file, p, self.config, self.clip_file(cid)): cid for cid, p in todo}
                for future in concurrent.futures.as_completed(futures):
                    if (err := future.result()) is not None:
                        errors[futures[future]] = err
                    bar.update()
        bar.close()
        errors_text = json.dumps(errors, indent=1, sort_keys=True)
        atomic_write(self.dir / "errors.json", lambda f: f.write(errors_text.encode()))
        return errors

    def pack(self, clip_ids: Sequence[str]) -> None:
        """Concatenate the cached clips ``clip_ids`` (those that exist) into the memory-mappable ``packed/``."""
        present = [cid for cid in clip_ids if self.clip_file(cid).exists()]
        loaded = [np.load(self.clip_file(cid)) for cid in present]
        spec = self.config.frontend
        lengths = [z[spec.field].shape[1] for z in loaded]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist() if lengths else []
        packed = self.dir / "packed"
        fields = [spec.field, "f0", "voiced_prob"] if self.config.pitch else [spec.field]
        for field in fields:
            parts = [z[field].T if field == spec.field else z[field] for z in loaded]  # frames as (T, dim)
            empty = np.zeros((0, spec.dim) if field == spec.field else 0, dtype=np.float32)
            array = np.concatenate(parts) if parts else empty
            atomic_write(packed / f"{field}.npy", lambda f, a=array: np.save(f, a))
        index = {"clip_ids": present, "offsets": offsets, "lengths": lengths}
        atomic_write(packed / "index.json", lambda f: f.write(json.dumps(index).encode()))

    def open(self) -> PackedFeatures:
        """Memory-map the packed features (``pack`` must have run)."""
        if not (self.dir / "packed" / "index.json").exists():
            raise DataError(f"{self.dir}: no packed features; run `instrid features` on this dataset first")
        return PackedFeatures(self.dir / "packed", self.config)


class PackedFeatures:
    """Read-only, memory-mapped view of a packed store: ``clip(id)`` gives one clip's arrays."""

    def __init__(self, packed_dir: Path, config: FeatureConfig):
        self.config = config
        index = json.loads((packed_dir / "index.json").read_text())
        self.clip_ids: list[str] = index["clip_ids"]
        self._span = {cid: (o, o + n) for cid, o, n in zip(index["clip_ids"], index["offsets"], index["lengths"])}
        self.field = config.frontend.field
        self.frames = np.load(packed_dir / f"{self.field}.npy", mmap_mode="r")  # (total_frames, dim)
        self.f0 = np.load(packed_dir / "f0.npy", mmap_mode="r") if config.pitch else None
        self.voiced_prob = np.load(packed_dir / "voiced_prob.npy", mmap_mode="r") if config.pitch else None

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._span

    def n_frames(self, clip_id: str) -> int:
        start, stop = self._span[clip_id]
        return stop - start

    def clip(self, clip_id: str) -> dict[str, np.ndarray]:
        """The front end's frames (``mel``, ``wave`` or ``descriptors``: (dim, T)) and, with pitch, ``f0``,
        ``voiced`` and ``voiced_prob`` (T,) of one clip."""
        start, stop = self._span[clip_id]
        out = {self.field: np.asarray(self.frames[start:stop]).T}
        if self.f0 is not None:
            f0 = np.asarray(self.f0[start:stop])
            out.update(f0=f0, voiced=np.isfinite(f0), voiced_prob=np.asarray(self.voiced_prob[start:stop]))
        return out

    def window(self, clip_id: str, start: int, size: int = features.INPUT_FRAMES) -> dict[str, np.ndarray]:
        """One model input of clip ``clip_id`` (see ``cut_window``) and, with pitch, the paper's masked
        spectrogram ``pred_spec`` (n_mels, size)."""
        out = cut_window(mask_track(self.clip(clip_id), self.config), self.config, start, size)
        if "mask" in out:
            out["pred_spec"] = features.masked_spectrogram(out[self.field], out["mask"])
        return out


def mask_track(arrays: dict[str, np.ndarray], config: FeatureConfig) -> dict[str, np.ndarray]:
    """A clip's arrays with ``f0`` replaced by the track its mask is drawn from: the raw pYIN f0, or with
    ``config.mask == "clean"`` the repaired ``features.clean_f0`` (computed over the arrays given: a whole clip,
    or a block of a long recording with its context)."""
    if not config.pitch or config.mask == "pyin":
        return arrays
    return {**arrays, "f0": features.clean_f0(arrays["f0"], arrays["voiced_prob"], config.frontend)}


def cut_window(arrays: dict[str, np.ndarray], config: FeatureConfig, start: int, size: int) -> dict[str, np.ndarray]:
    """One model input of ``size`` frames from a clip's arrays (as ``extract_clip`` gives them), padded past the
    clip's end with the front end's floor (-100 dB for the cross-attention mel): the frames (dim, size) and,
    with pitch, the binary ``mask`` (n_mels, size)."""
    field = config.frontend.field
    x = arrays[field][:, start : start + size]
    pad = size - x.shape[1]
    x = np.pad(x, ((0, 0), (0, pad)), constant_values=config.frontend.floor)
    out = {field: x}
    if config.pitch:
        f0 = np.pad(arrays["f0"][start : start + size], (0, pad), constant_values=np.nan)
        out["mask"] = features.pitch_mask(f0, np.isfinite(f0), config.frontend)
    return out
