"""Which runtime scores a run's windows, and the default one on CPU: the network's ONNX graph on ONNX Runtime,
scored without importing PyTorch.

    load_scorer(run_dir)  -> OnnxScorer (ONNX Runtime, fp32, CPU)        where the runtime resolves to onnxruntime
                          -> scorer.Scorer / SklearnScorer (PyTorch)     otherwise (a GPU, bf16, a baseline)

The graph of the model inside the package ships beside it (``shipped/model.onnx``, tied to its weights by
their SHA-256); any other run's is exported once into the user's cache (``export.cached_onnx``, which needs
PyTorch that one time) and found there again without it. So ``pip install instrid`` predicts with no PyTorch
at all, and a cold ``instrid predict`` does not spend its seconds importing it (``benchmarks/coldstart.py``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np

from .checkpoint import SKLEARN_MODEL, check_spec, read_run
from .config import PRECISIONS, RUNTIMES
from .errors import CheckpointError, InstridError, ParameterError
from .models.registry import ModelEntry
from .windows import normalise

SHIPPED_RUN = Path(__file__).parent / "shipped"  # the model inside the package: run.json, weights, model.onnx
ONNX_FILE = "model.onnx"
ONNX_BATCH_SIZE = 4  # windows per call: as fast per window as 64, with a fifth of the activations' memory
TORCH_EXTRA = "pip install 'instrid[torch]'"


def run_or_shipped(run_dir: str | Path | None) -> Path:
    """``run_dir``, or without one the model shipped in the package (a ``CheckpointError`` if this install has none)."""
    if run_dir is not None:
        return Path(run_dir)
    if not (SHIPPED_RUN / "run.json").is_file():
        raise CheckpointError(f"{SHIPPED_RUN}: this install ships no model; pass --run RUN_DIR from `instrid train`")
    return SHIPPED_RUN


def installed(*modules: str) -> bool:
    def found(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a finder that refuses it
            return False

    return all(map(found, modules))


def cuda_may_be_visible() -> bool:
    """Whether PyTorch could see a CUDA GPU here, asked without importing it (1-2 s): it is installed, is
    not a CPU-only build, and (on Linux) an NVIDIA driver is loaded."""
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return False
    if "+cpu" in version or sys.platform == "darwin":
        return False
    return Path("/proc/driver/nvidia/version").exists() if sys.platform.startswith("linux") else True


def uses_onnxruntime(runtime: str, device: str, precision: str) -> bool:
    """Whether a run is scored on ONNX Runtime. "auto": where it is installed, for fp32 ("auto" precision
    included) on the CPU ("auto" device included when no CUDA GPU is visible); "torch": never."""
    if runtime not in RUNTIMES:
        raise ParameterError(f"unknown runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise ParameterError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    on_cpu = device == "cpu" or (device == "auto" and not _cuda_visible())
    if runtime == "onnxruntime":
        if not on_cpu or precision not in ("auto", "fp32"):
            raise ParameterError(f"--runtime onnxruntime runs fp32 on CPU; got --device {device} --precision {precision}")
        if not installed("onnxruntime"):
            raise InstridError("--runtime onnxruntime needs ONNX Runtime: pip install onnxruntime")
        return True
    return runtime == "auto" and on_cpu and precision in ("auto", "fp32") and installed("onnxruntime")


def _cuda_visible() -> bool:
    if not cuda_may_be_visible():
        return False
    import torch

    return torch.cuda.is_available()


def activate(logits: np.ndarray, activation: str) -> np.ndarray:
    """(B, C) logits -> probabilities: softmax over the classes, or a sigmoid each."""
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-logits))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class OnnxScorer:
    """``scorer.Scorer``'s interface on an ONNX Runtime session of a run's graph: fp32 on the CPU, the run's
    input normalisation, ``ONNX_BATCH_SIZE`` windows a call."""

    runtime, precision, device, model = "onnxruntime", "fp32", "cpu", None

    def __init__(self, session, entry: ModelEntry, normalization: dict, n_classes: int, activation: str = "softmax"):
        self.session, self.entry, self.normalization, self.n_classes = session, entry, normalization, n_classes
        self.activation = activation
        self.batch_size = ONNX_BATCH_SIZE

    def probabilities(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (N, n_classes) of N windows (``inputs`` as ``windows.windows_at`` gives them)."""
        n = len(next(iter(inputs.values())))
        out = []
        for i in range(0, n, self.batch_size):
            batch = normalise({k: v[i : i + self.batch_size] for k, v in inputs.items()}, self.normalization)
            logits = self.session.run(None, {k: v.astype(np.float32, copy=False) for k, v in batch.items()})[0]
            out.append(activate(logits.astype(np.float64), self.activation).astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, self.n_classes), np.float32)


def onnx_session(path: Path, threads: int | None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.enable_mem_pattern = False  # it plans memory per batch shape and keeps every plan (1.8 GB for 5 min)
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class NoGraphError(InstridError):
    """The run has no ONNX graph yet, and the packages that export one are not installed."""


def _graph_session(run_dir: Path, run: dict, threads: int | None):
    """A session of the run's graph: the ``model.onnx`` in its folder when that was exported from these weights
    (the packaged model, or a copy of its folder), the cached export, or a new export into the cache (PyTorch
    and instrid[onnx] needed); a cached file that is torn or that this ONNX Runtime cannot read is exported again."""
    from .export import cached_onnx, cached_onnx_path, weights_sha256

    weights = weights_sha256(run_dir)
    beside = run_dir / ONNX_FILE
    if beside.is_file():
        try:
            session = onnx_session(beside, threads)
        except Exception:  # noqa: BLE001  (not a graph this ONNX Runtime can read: use the cache instead)
            session = None
        if session is not None and session.get_modelmeta().custom_metadata_map.get("weights_sha256") == weights:
            return session
    cached = cached_onnx_path(run, weights)
    can_export = installed("torch", "onnx", "onnxscript")
    if cached.is_file():
        try:
            return onnx_session(cached, threads)
        except Exception:  # noqa: BLE001  (torn, or written by an exporter this ONNX Runtime cannot read)
            if not can_export:
                raise
            return onnx_session(cached_onnx(run_dir, run, again=True), threads)
    if not can_export:
        raise NoGraphError(f"{run_dir}: its network has no ONNX export yet; making one (once) needs PyTorch and the "
                           "onnx packages: pip install 'instrid[onnx]'")  # fmt: skip
    return onnx_session(cached_onnx(run_dir, run), threads)


def load_onnx_scorer(run_dir: str | Path, *, threads: int | None = None) -> tuple[OnnxScorer, dict]:
    """The ONNX Runtime scorer of a run folder, and its run.json, checked (``checkpoint.check_spec``) and
    matched against the graph's inputs and outputs; PyTorch is imported only to make a missing export."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    features = check_spec(run, run_dir)
    session = _graph_session(run_dir, run, threads)
    inputs = tuple(x.name for x in session.get_inputs())
    entry = ModelEntry(
        name=run["model"], build=None, config=None, features=features, window=run["window"], inputs=inputs,
        task=run.get("task", ""), summary="", standardise=bool(run["normalization"]),
    )  # fmt: skip
    n_classes = len(run["labels"])
    expected = {x.name: list(x.shape[1:]) for x in session.get_inputs()}
    if session.get_outputs()[0].shape[1:] != [n_classes] or expected != {k: list(v[1:]) for k, v in entry.input_shapes(1).items()}:
        raise CheckpointError(f"{run_dir}: its ONNX graph does not fit run.json (inputs {expected}, {n_classes} labels); "
                              "delete the cached export or --runtime torch")  # fmt: skip
    if set(run["normalization"]) - set(entry.normalised_inputs):
        raise CheckpointError(f"{run_dir / 'run.json'}: normalization: has {sorted(run['normalization'])}, the network takes {list(inputs)}")
    return OnnxScorer(session, entry, run["normalization"], n_classes, run.get("activation", "softmax")), run


def load_scorer(
    run_dir: str | Path, *, device: str = "auto", precision: str = "auto", runtime: str = "auto", threads: int | None = None
):
    """The scorer of a run folder and its run.json: ``OnnxScorer`` where ``uses_onnxruntime`` says so (a
    scikit-learn baseline, or a network whose ONNX export fails under "auto", falls back to PyTorch, the
    latter with a warning), else ``scorer.Scorer`` (PyTorch) on ``device`` in ``precision``."""
    device = str(device)
    baseline = (Path(run_dir) / SKLEARN_MODEL).is_file()  # a scikit-learn model: no network to run
    if uses_onnxruntime(runtime, device, precision) and not baseline:
        try:
            return load_onnx_scorer(run_dir, threads=threads)
        except NoGraphError:
            if runtime != "auto" or not installed("torch"):
                raise
            # PyTorch is here and the onnx packages are not: score on PyTorch, as without ONNX Runtime
        except InstridError:
            raise
        except Exception as e:  # noqa: BLE001  (an exporter or ONNX Runtime failure, a cache that cannot be written)
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if runtime != "auto" or not installed("torch"):
                from .export import cache_dir

                fix = "set INSTRID_CACHE to a writable folder" if isinstance(e, OSError) else f"delete {cache_dir() / 'onnx'}"
                also = ", or use --runtime torch" if installed("torch") else ""
                raise InstridError(f"cannot run the network on ONNX Runtime ({reason}); {fix}{also}") from None
            warnings.warn(f"running the network on PyTorch: ONNX Runtime could not ({reason})", stacklevel=2)
    if not installed("torch"):
        if device not in ("auto", "cpu"):
            raise ParameterError(f"--device {device}: instrid runs on the CPU without PyTorch; use --device cpu, or {TORCH_EXTRA}")
        raise InstridError(f"{run_dir}: scoring it with --runtime {runtime} --device {device} --precision {precision} "
                           f"needs PyTorch: {TORCH_EXTRA}")  # fmt: skip
    from .scorer import load_torch_scorer

    return load_torch_scorer(run_dir, device=device, precision=precision, threads=threads)
