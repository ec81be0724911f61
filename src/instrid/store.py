"""Feature cache: extract each clip once (``extraction.extract_clip``), keep it on disk, read 10^5 windows
without unpickling.

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
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import features
from .data import Clip
from .errors import DataError, InstridError
from .extraction import extract_clip
from .features import FeatureConfig, mask_track
from .fileio import atomic_write, process_pool
from .models import ModelEntry
from .windows import cut_window


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
        spec = self.config.frontend
        fields = [spec.field, "f0", "voiced_prob"] if self.config.pitch else [spec.field]
        loaded = [_read_fields(self.clip_file(cid), fields) for cid in present]  # each file closed once read
        lengths = [z[spec.field].shape[1] for z in loaded]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist() if lengths else []
        packed = self.dir / "packed"
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


def _read_fields(path: Path, fields: Sequence[str]) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {field: z[field] for field in fields}


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


def ensure_features(
    clips: Sequence[Clip], entry: ModelEntry, cache: str | Path, *, workers: int | None = None, progress: bool = True
) -> PackedFeatures:
    """The packed features of ``clips`` for ``entry``'s front end, extracting and packing what is missing.

    Unreadable clips are skipped with one line each on stderr (and listed in the store's ``errors.json``);
    callers keep the clips that are ``in`` the result."""
    store = FeatureStore(cache, entry.features)
    try:
        packed = store.open()
    except DataError:
        packed = None
    missing = [c for c in clips if packed is None or c.clip_id not in packed]
    if not missing:
        return packed
    errors = store.extract([(c.clip_id, c.path) for c in missing], workers=workers, progress=progress)
    for reason in errors.values():
        print(f"instrid: skipped: {reason}", file=sys.stderr)
    if packed is None or len(errors) < len(missing):  # re-pack only when there is something new to add
        known = packed.clip_ids if packed is not None else []
        store.pack(list(dict.fromkeys([*known, *(c.clip_id for c in clips)])))
    return store.open()
