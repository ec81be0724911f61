"""Feature store: extract each clip once, cache it on disk, read 10^5 windows without unpickling.

Layout, under ``root/<key>/`` where ``key`` hashes the feature parameters (so changing any of them
starts a new store instead of mixing old and new features)::

    config.json          the parameters behind the key
    clips/<id>.npz       per clip: mel (n_mels, T) float32, f0 (T,), voiced_prob (T,) — written
                         atomically (temporary file + rename): a killed run resumes at the next clip
    packed/              all clips concatenated along time, for training:
        mel.npy          (total_frames, n_mels) float32, memory-mapped
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import audio, features
from .errors import DataError, InstridError
from .fileio import atomic_write

STORE_VERSION = 1  # bump when the extraction code changes its output


@dataclass(frozen=True)
class FeatureConfig:
    mel: features.MelSpec = features.CROSS_ATTENTION_MEL
    pitch: bool = True  # compute the pYIN track (needed for the mask)

    @property
    def key(self) -> str:
        text = json.dumps({"version": STORE_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def extract_clip(path: str | Path, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Features of one audio file: ``mel`` (n_mels, T), ``f0`` and ``voiced_prob`` (T,) float32."""
    y = audio.load_audio(path, sr=config.mel.sample_rate, min_samples=config.mel.win_length)
    out = {"mel": features.log_mel(y, config.mel)}
    if config.pitch:
        track = features.pitch_track(y, config.mel)
        out["f0"] = track.f0  # NaN where unvoiced
        out["voiced_prob"] = track.voiced_prob
    return out


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
        config_text = json.dumps(dataclasses.asdict(self.config), indent=1, sort_keys=True)
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
            with concurrent.futures.ProcessPoolExecutor(workers) as pool:
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
        lengths = [z["mel"].shape[1] for z in loaded]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist() if lengths else []
        packed = self.dir / "packed"
        fields = ["mel", "f0", "voiced_prob"] if self.config.pitch else ["mel"]
        for field in fields:
            parts = [z[field].T if field == "mel" else z[field] for z in loaded]  # mel as (T, n_mels)
            empty = np.zeros((0, self.config.mel.n_mels) if field == "mel" else 0, dtype=np.float32)
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
        self.mel = np.load(packed_dir / "mel.npy", mmap_mode="r")  # (total_frames, n_mels)
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
        """``mel`` (n_mels, T) and, with pitch, ``f0``, ``voiced`` and ``voiced_prob`` (T,) of one clip."""
        start, stop = self._span[clip_id]
        out = {"mel": np.asarray(self.mel[start:stop]).T}
        if self.f0 is not None:
            f0 = np.asarray(self.f0[start:stop])
            out.update(f0=f0, voiced=np.isfinite(f0), voiced_prob=np.asarray(self.voiced_prob[start:stop]))
        return out

    def window(self, clip_id: str, start: int, size: int = features.INPUT_FRAMES) -> dict[str, np.ndarray]:
        """One model input: ``mel``, ``mask`` and ``pred_spec`` (n_mels, size), zero-padded past the clip's end
        (mel padded with its floor value, -100 dB)."""
        clip = self.clip(clip_id)
        mel = clip["mel"][:, start : start + size]
        pad = size - mel.shape[1]
        floor = -100.0 if self.config.mel.scale == "db" else float(np.log(self.config.mel.log_eps))
        mel = np.pad(mel, ((0, 0), (0, pad)), constant_values=floor)
        out = {"mel": mel}
        if self.f0 is not None:
            f0 = np.pad(clip["f0"][start : start + size], (0, pad), constant_values=np.nan)
            mask = features.pitch_mask(f0, np.isfinite(f0), self.config.mel)
            out.update(mask=mask, pred_spec=features.masked_spectrogram(mel, mask))
        return out
