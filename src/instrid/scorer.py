"""Scoring windows with a trained model: one ``Scorer`` (model, device, precision, input normalisation, batch
size) used wherever instrid turns windows into class probabilities, so every figure it prints is measured
the way users get their answers."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_model
from .config import PRECISIONS
from .errors import ParameterError
from .models import ModelEntry
from .models.classical import window_statistics
from .windows import normalise

BATCH_SIZE = 64  # windows per forward pass


@functools.cache
def cpu_info() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ("model name", "flags", ...); empty where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        if not line.strip():  # the end of the first processor
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), where oneDNN runs it about 2x faster
    (``benchmarks/models.py`` prints the ratio)."""
    flags = cpu_info().get("flags", "").split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" where the hardware runs it natively (CUDA with bf16, AMX / AVX512-BF16 CPUs), else "fp32"."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if native_bf16_cpu() else "fp32"


def resolve_device(name: str | torch.device) -> torch.device:
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ParameterError(f"--device {name}: not a device; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"--device {name}: no CUDA GPU is visible; use --device cpu or auto")
    return device


def autocast(device: torch.device, precision: str):
    """Mixed precision for the forward pass: bf16 matrix work, fp32 weights, norms and losses."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def input_statistics(inputs: dict[str, np.ndarray], entry: ModelEntry) -> dict[str, list[float]]:
    """Mean and standard deviation of each normalised input over the training windows (saved in the run)."""
    return {k: [float(inputs[k].mean()), float(inputs[k].std()) or 1.0] for k in entry.normalised_inputs}


def to_device(inputs: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """numpy inputs -> tensors on ``device``; 4-d (image-like) inputs in channels-last memory layout, which
    oneDNN's CPU convolutions run faster on."""
    out = {}
    for k, v in inputs.items():
        t = torch.from_numpy(np.ascontiguousarray(v)).to(device)
        out[k] = t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t
    return out


class Scorer:
    """A network ready to score windows the one way instrid does everywhere — predict, serve, evaluate,
    experiment, training's validation, benchmarks: on ``device``, in ``precision`` (bf16 autocast where the
    hardware runs it natively, see ``resolve_precision``), channels-last, inputs normalised with the run's
    statistics, ``batch_size`` windows per forward pass. It moves the module it is given to ``device``,
    channels-last, in eval mode (training's validation relies on ``model.train()`` at each epoch's start).
    ``runtime.OnnxScorer`` is the same on ONNX Runtime."""

    def __init__(
        self, model: torch.nn.Module, entry: ModelEntry, normalization: dict, n_classes: int,
        *, device: str | torch.device = "auto", precision: str = "auto", batch_size: int = BATCH_SIZE,
        activation: str = "softmax",
    ):  # fmt: skip
        self.device = resolve_device(device)
        if precision not in PRECISIONS:
            raise ParameterError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
        self.precision = resolve_precision(precision, self.device)
        self.runtime = "torch"
        self.model = model.to(self.device).to(memory_format=torch.channels_last).eval()
        self.entry, self.normalization, self.n_classes, self.batch_size = entry, normalization, n_classes, batch_size
        self.activation = activation  # "softmax": classes compete (sum to 1); "sigmoid": each scored on its own

    def logits(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
        """Logits (B, n_classes) float32 of normalised windows."""
        with autocast(self.device, self.precision):
            return self.model(**to_device(batch, self.device)).float()

    @torch.inference_mode()
    def probabilities(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (N, n_classes) of N windows (``inputs`` as ``windows.windows_at`` gives them)."""
        n = len(next(iter(inputs.values())))
        out = []
        for i in range(0, n, self.batch_size):
            logits = self.logits(normalise({k: v[i : i + self.batch_size] for k, v in inputs.items()}, self.normalization))
            probs = torch.softmax(logits, dim=1) if self.activation == "softmax" else torch.sigmoid(logits)
            out.append(probs.cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), np.float32)


class SklearnScorer:
    """``Scorer``'s interface over a classical baseline: descriptor statistics of each window -> predict_proba."""

    device, precision, batch_size = torch.device("cpu"), "fp32", BATCH_SIZE  # scikit-learn takes all windows at once
    runtime = "torch"  # not ONNX Runtime: what worker processes are told to load
    activation = "softmax"

    def __init__(self, model, entry: ModelEntry, n_classes: int):
        self.model, self.entry, self.n_classes = model, entry, n_classes

    def probabilities(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        n = len(inputs["descriptors"])
        probs = np.zeros((n, self.n_classes))  # float64, as scikit-learn gives them
        if n:
            probs[:, self.model.classes_] = self.model.predict_proba(window_statistics(inputs["descriptors"]))
        return probs


def make_scorer(entry: ModelEntry, model, run: dict, *, device: str | torch.device = "auto", precision: str = "auto") -> Scorer | SklearnScorer:
    """The PyTorch (or scikit-learn) scorer of a loaded run (``checkpoint.load_model``'s ``entry, model, run``)."""
    n_classes = len(run["labels"])
    if entry.kind == "sklearn":
        return SklearnScorer(model, entry, n_classes)
    return Scorer(
        model, entry, run["normalization"], n_classes, device=device, precision=precision,
        activation=run.get("activation", "softmax"),
    )  # fmt: skip


def load_torch_scorer(
    run_dir: str | Path, *, device: str | torch.device = "auto", precision: str = "auto", threads: int | None = None
) -> tuple[Scorer | SklearnScorer, dict]:
    """The PyTorch scorer of a run folder, and its run.json (``runtime.load_scorer`` picks the runtime)."""
    device = resolve_device(device)  # a wrong --device fails before the model is read
    if threads:
        torch.set_num_threads(threads)
    entry, model, run = load_model(run_dir)
    return make_scorer(entry, model, run, device=device, precision=precision), run
