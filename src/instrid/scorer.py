"""Scoring windows with a trained model: one ``Scorer`` (model, device, precision, input normalisation, batch
size) used wherever instrid turns windows into class probabilities, so every figure it prints is measured
the way users get their answers."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_model
from .config import PRECISIONS, RUNTIMES
from .errors import InstridError, ParameterError
from .models import ModelEntry
from .models.classical import window_statistics

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


def onnx_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))


def resolve_runtime(runtime: str, device: torch.device, precision: str) -> str:
    """"auto" -> "onnxruntime" for fp32 on CPU where the ``[onnx]`` extra is installed (it runs every network
    here 1.1-2x faster than PyTorch bf16, see ``benchmarks/predict.py``), else "torch"."""
    if runtime not in RUNTIMES:
        raise ParameterError(f"unknown runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    if runtime == "onnxruntime":
        if device.type != "cpu" or precision not in ("auto", "fp32"):
            raise ParameterError(f"--runtime onnxruntime runs fp32 on CPU; got --device {device} --precision {precision}")
        if not onnx_installed():
            raise InstridError("--runtime onnxruntime needs the onnx packages: pip install 'instrid[onnx]'")
        return runtime
    if runtime == "auto":
        return "onnxruntime" if device.type == "cpu" and precision in ("auto", "fp32") and onnx_installed() else "torch"
    return runtime


def onnx_session(entry: ModelEntry, model: torch.nn.Module, run: dict):
    """An ONNX Runtime session of a loaded run's network (exported once into the user's cache), using as many
    threads as PyTorch is set to."""
    import onnxruntime

    from .export import cached_onnx

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    try:
        return onnxruntime.InferenceSession(str(cached_onnx(entry, model, run)), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001  (a cached file that is torn, or that this ONNX Runtime cannot read)
        return onnxruntime.InferenceSession(str(cached_onnx(entry, model, run, again=True)), options, providers=["CPUExecutionProvider"])


def autocast(device: torch.device, precision: str):
    """Mixed precision for the forward pass: bf16 matrix work, fp32 weights, norms and losses."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def input_statistics(inputs: dict[str, np.ndarray], entry: ModelEntry) -> dict[str, list[float]]:
    """Mean and standard deviation of each normalised input over the training windows (saved in the run)."""
    return {k: [float(inputs[k].mean()), float(inputs[k].std()) or 1.0] for k in entry.normalised_inputs}


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


class Scorer:
    """A network ready to score windows the one way instrid does everywhere — predict, serve, evaluate,
    experiment, training's validation, benchmarks: on ``device``, in ``precision`` (bf16 autocast where the
    hardware runs it natively, see ``resolve_precision``), channels-last, inputs normalised with the run's
    statistics, ``batch_size`` windows per forward pass. It moves the module it is given to ``device``,
    channels-last, in eval mode (training's validation relies on ``model.train()`` at each epoch's start).
    Given an ONNX Runtime ``session`` of the same network, that runs the forward pass instead (fp32)."""

    def __init__(
        self, model: torch.nn.Module, entry: ModelEntry, normalization: dict, n_classes: int,
        *, device: str | torch.device = "auto", precision: str = "auto", batch_size: int = BATCH_SIZE,
        activation: str = "softmax", session=None,
    ):  # fmt: skip
        self.device = resolve_device(device)
        if precision not in PRECISIONS:
            raise ParameterError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
        self.precision = "fp32" if session is not None else resolve_precision(precision, self.device)
        self.runtime = "torch" if session is None else "onnxruntime"
        self.model = model.to(self.device).to(memory_format=torch.channels_last).eval()
        self.entry, self.normalization, self.n_classes, self.batch_size = entry, normalization, n_classes, batch_size
        self.activation = activation  # "softmax": classes compete (sum to 1); "sigmoid": each scored on its own
        self.session = session

    def logits(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
        """Logits (B, n_classes) float32 of normalised windows."""
        if self.session is not None:
            return torch.from_numpy(self.session.run(None, {k: v.astype(np.float32, copy=False) for k, v in batch.items()})[0])
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
    activation = "softmax"

    def __init__(self, model, entry: ModelEntry, n_classes: int):
        self.model, self.entry, self.n_classes = model, entry, n_classes

    def probabilities(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        n = len(inputs["descriptors"])
        probs = np.zeros((n, self.n_classes))  # float64, as scikit-learn gives them
        if n:
            probs[:, self.model.classes_] = self.model.predict_proba(window_statistics(inputs["descriptors"]))
        return probs


def make_scorer(
    entry: ModelEntry, model, run: dict, *, device: str | torch.device = "auto", precision: str = "auto", runtime: str = "torch"
) -> Scorer | SklearnScorer:
    """The scorer of a loaded run (``checkpoint.load_model``'s ``entry, model, run``). With ``runtime`` "auto"
    or "onnxruntime" (see ``resolve_runtime``) the network runs on ONNX Runtime; where its export fails under
    "auto", PyTorch runs it and a warning says why. The default, "torch", suits a network still in training."""
    n_classes = len(run["labels"])
    if entry.kind == "sklearn":
        return SklearnScorer(model, entry, n_classes)
    device = resolve_device(device)
    session = None
    if resolve_runtime(runtime, device, precision) == "onnxruntime":
        try:
            session = onnx_session(entry, model, run)
        except Exception as e:  # noqa: BLE001  (a cache that cannot be written, an exporter or ONNX Runtime failure)
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if runtime != "auto":
                raise InstridError(f"cannot run the network on ONNX Runtime ({reason}); use --runtime torch, or set "
                                   "INSTRID_CACHE to a writable folder") from None  # fmt: skip
            warnings.warn(f"running the network on PyTorch: its ONNX export failed ({reason})", stacklevel=2)
    return Scorer(
        model, entry, run["normalization"], n_classes, device=device, precision=precision,
        activation=run.get("activation", "softmax"), session=session,
    )  # fmt: skip


def load_scorer(
    run_dir: str | Path, *, device: str | torch.device = "auto", precision: str = "auto", runtime: str = "auto"
) -> tuple[Scorer | SklearnScorer, dict]:
    """The scorer of a run folder, and its run.json."""
    device = resolve_device(device)  # a wrong --device fails before the model is read
    entry, model, run = load_model(run_dir)
    return make_scorer(entry, model, run, device=device, precision=precision, runtime=runtime), run
