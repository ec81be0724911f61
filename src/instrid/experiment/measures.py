"""Measurements on a trained run beyond ``evaluate``: accuracy under added noise, inference time per input,
and the embeddings of the weights kept at several epochs (with their t-SNE map)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .. import audio
from ..augment import add_noise
from ..checkpoint import load_weights, snapshot_file
from ..data import Clip
from ..extraction import extract_audio, extract_clip
from ..features import FeatureConfig
from ..fileio import atomic_write
from ..runtime import load_scorer
from ..scorer import to_device
from ..store import ensure_features
from ..windows import clip_windows, evaluation_hop, load_windows, mean_by_clip, normalise, stack_windows

NOISE_VERSION = 1  # in the noisy-feature cache's folder name: bump when the noise or its seeding changes


def noise_accuracy(
    run_dir: Path, clips: list[Clip], snr_db: tuple[float, ...], *, seed: int = 0, cache: Path | None = None
) -> dict[str, float]:
    """Single-label accuracy on ``clips`` with white Gaussian noise added to the audio at each SNR (dB), before
    the model's front end (and HSSANet's band-pass). The noise of clip i at SNR s is seeded by (seed, s, i),
    so every model hears the same noisy clips, and with ``cache`` their features are extracted once per
    front end and SNR and shared by every run that has that front end. Returns {"30": accuracy, ...}."""
    scorer, run = load_scorer(run_dir)
    entry, classes = scorer.entry, run["labels"]
    truth = np.array([classes.index(c.labels[0]) for c in clips])
    spec = entry.features.frontend

    @functools.cache
    def signals() -> list[np.ndarray]:  # decoded once, and only when an SNR is not in the cache
        return [audio.load_audio(c.path, sr=spec.sample_rate, min_samples=spec.min_samples) for c in clips]

    out = {}
    for snr in snr_db:
        arrays = noisy_features(clips, signals, entry.features, snr, seed=seed, cache=cache)
        inputs, clip_index = stack_windows([clip_windows(a, entry, hop=evaluation_hop(entry)) for a in arrays], entry)
        probs = mean_by_clip(scorer.probabilities(inputs), clip_index, len(clips))
        out[f"{snr:g}"] = float(np.mean(probs.argmax(axis=1) == truth))
    return out


def noisy_features(
    clips: list[Clip], signals: Callable[[], list[np.ndarray]], config: FeatureConfig, snr: float, *, seed: int,
    cache: Path | None = None,
) -> list[dict[str, np.ndarray]]:  # fmt: skip
    """``extract_audio`` of every clip's audio (``signals()``: the clips decoded at the front end's rate) with
    white noise at ``snr`` dB, seeded by (seed, snr, i). With ``cache``, read from
    ``cache/noisy<NOISE_VERSION>-<config key>/snr<snr>-seed<seed>.npz`` when it holds these clips, else extracted
    and written there atomically: each field concatenated along time, ``lengths`` (frames per clip) and
    ``clip_ids``. A waveform front end is not cached (its "features" are the noisy audio itself)."""
    spec = config.frontend
    cached = cache is not None and bool(clips) and spec.field != "wave"
    path = Path(cache) / f"noisy{NOISE_VERSION}-{config.key}" / f"snr{snr:g}-seed{seed}.npz" if cached else None
    ids = np.array([c.clip_id for c in clips])
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            if np.array_equal(z["clip_ids"], ids):
                bounds = np.cumsum(z["lengths"])[:-1]
                fields = [f for f in z.files if f not in ("clip_ids", "lengths")]
                split = {f: np.split(z[f], bounds, axis=-1) for f in fields}
                return [{f: split[f][i] for f in fields} for i in range(len(clips))]
    arrays = []
    for i, y in enumerate(signals()):
        rng = np.random.default_rng([seed, round(snr * 10) + 1000, i])
        arrays.append(extract_audio(add_noise(y, snr_db=snr, rng=rng), config))
    if path is not None:
        lengths = np.array([a[spec.field].shape[-1] for a in arrays])
        joined = {f: np.concatenate([a[f] for a in arrays], axis=-1) for f in arrays[0]}
        atomic_write(path, lambda f: np.savez(f, clip_ids=ids, lengths=lengths, **joined))
    return arrays


def inference_time(run_dir: Path, clips: list[Clip], cache: Path, *, repeats: int) -> dict:
    """Inference time on this machine through the run's scorer (as `instrid predict` runs it), one process
    (``torch.get_num_threads()`` threads):

    - ``ms_per_input``: the network alone per model input (features precomputed), in the scorer's batches,
      the fastest of ``repeats`` passes;
    - ``ms_per_clip``: end to end per clip, as ``evaluate`` scores it: decoding, features (pYIN included),
      the windows at a 50 % hop and the network, one clip at a time."""
    scorer, _ = load_scorer(run_dir)
    entry = scorer.entry
    packed = ensure_features(clips, entry, cache, progress=False)
    clips = [c for c in clips if c.clip_id in packed]
    inputs, _ = load_windows(packed, [c.clip_id for c in clips], entry)
    n = len(inputs[entry.inputs[0]])
    scorer.probabilities({k: v[: scorer.batch_size] for k, v in inputs.items()})  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        scorer.probabilities(inputs)
        best = min(best, time.perf_counter() - started)
    started = time.perf_counter()
    for clip in clips:
        scorer.probabilities(clip_windows(extract_clip(clip.path, entry.features), entry, hop=evaluation_hop(entry)))
    per_clip = (time.perf_counter() - started) / max(len(clips), 1)
    return {"ms_per_input": 1000 * best / max(n, 1), "ms_per_clip": 1000 * per_clip, "inputs": n, "clips": len(clips),
            "batch_size": scorer.batch_size, "precision": scorer.precision, "threads": torch.get_num_threads()}  # fmt: skip


@torch.inference_mode()
def embeddings(
    run_dir: Path, clips: list[Clip], cache: Path, epochs: list[int], *, tsne: bool, max_points: int = 1000
) -> dict:
    """For each kept epoch: the silhouette score (cosine) of the test inputs' embeddings grouped by class,
    and with ``tsne`` their 2-d t-SNE map; at most ``max_points`` inputs (a seeded random subset).
    Returns {"labels": [...], "epochs": {"5": {"silhouette": s, "tsne": [[x, y], ...]}, ...}}."""
    from sklearn.manifold import TSNE
    from sklearn.metrics import silhouette_score

    scorer, run = load_scorer(run_dir, runtime="torch")  # the network itself: its embedding layer
    entry, model = scorer.entry, scorer.model
    packed = ensure_features(clips, entry, cache, progress=False)
    clips = [c for c in clips if c.clip_id in packed]
    inputs, clip_index = load_windows(packed, [c.clip_id for c in clips], entry)
    labels = np.array([run["labels"].index(c.labels[0]) for c in clips])[clip_index]
    keep = np.sort(np.random.default_rng(0).permutation(len(labels))[:max_points])
    labels, inputs = labels[keep], normalise({k: v[keep] for k, v in inputs.items()}, run["normalization"])
    out: dict = {"labels": labels.tolist(), "epochs": {}}
    for epoch in epochs:
        path = Path(run_dir) / snapshot_file(epoch)
        if not path.exists():  # early stopping ended the run before this epoch
            continue
        model.load_state_dict(load_weights(path))
        model.eval()
        z = np.concatenate([
            model.embed(**to_device({k: v[i : i + 256] for k, v in inputs.items()}, scorer.device)).float().cpu().numpy()
            for i in range(0, len(labels), 256)
        ])  # fmt: skip
        row = {"silhouette": float(silhouette_score(z, labels, metric="cosine")) if len(set(labels)) > 1 else 0.0}
        if tsne:
            perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
            row["tsne"] = TSNE(perplexity=perplexity, random_state=0, init="pca").fit_transform(z).round(3).tolist()
        out["epochs"][str(epoch)] = row
    return out
