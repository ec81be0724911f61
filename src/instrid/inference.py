"""Running a trained model over windows: input normalisation, batched softmax, aggregation per clip."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np
import torch

from .errors import ParameterError
from .models import ModelEntry
from .models.classical import window_statistics

NOT_NORMALISED = ("mask",)  # the binary pitch mask goes in as it is
PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache
def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), where oneDNN runs it about 2x faster
    (``benchmarks/models.py`` prints the ratio)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" where the hardware runs it natively (CUDA with bf16, AMX / AVX512-BF16 CPUs), else "fp32"."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if native_bf16_cpu() else "fp32"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"--device {name}: no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """Mixed precision for the forward pass: bf16 matrix work, fp32 weights, norms and losses."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def input_statistics(inputs: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Mean and standard deviation of each input over the training windows (saved in the run)."""
    return {k: [float(v.mean()), float(v.std()) or 1.0] for k, v in inputs.items() if k not in NOT_NORMALISED}


def normalise(inputs: dict[str, np.ndarray], stats: dict[str, list[float]]) -> dict[str, np.ndarray]:
    return {k: (v - stats[k][0]) / stats[k][1] if k in stats else v for k, v in inputs.items()}


def to_device(inputs: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """numpy inputs -> tensors on ``device``; 4-d (image-like) inputs in channels-last memory layout, which
    oneDNN's CPU convolutions run faster on."""
    out = {}
    for k, v in inputs.items():
        t = torch.from_numpy(np.ascontiguousarray(v)).to(device)
        out[k] = t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t
    return out


@torch.inference_mode()
def window_probabilities(
    model, entry: ModelEntry, inputs: dict[str, np.ndarray], stats: dict, n_classes: int,
    *, device: torch.device = torch.device("cpu"), batch_size: int = 64, precision: str = "fp32",
) -> np.ndarray:  # fmt: skip
    """Class probabilities (N, n_classes) of N windows (``inputs`` as ``dataset.load_windows`` gives them)."""
    n = len(next(iter(inputs.values())))
    if entry.kind == "sklearn":
        probs = np.zeros((n, n_classes))
        if n:
            probs[:, model.classes_] = model.predict_proba(window_statistics(inputs["descriptors"]))
        return probs
    out = []
    for i in range(0, n, batch_size):
        batch = to_device(normalise({k: v[i : i + batch_size] for k, v in inputs.items()}, stats), device)
        with autocast(device, precision):
            logits = model(**batch)
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, n_classes))


def mean_by_clip(probs: np.ndarray, clip_index: np.ndarray, n_clips: int) -> np.ndarray:
    """(N, C) window probabilities -> (n_clips, C) mean over each clip's windows."""
    sums = np.zeros((n_clips, probs.shape[1]))
    np.add.at(sums, clip_index, probs)
    counts = np.bincount(clip_index, minlength=n_clips)[:, None]
    return sums / np.maximum(counts, 1)
