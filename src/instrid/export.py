"""ONNX export of a run's network. Feature extraction stays in Python: the ONNX graph takes the model's
inputs (``mel`` and ``mask`` (B, 1, 128, 100) for the cross-attention network) after the run's input
normalisation, and returns logits (B, n_classes). The labels, the normalisation, the feature parameters and
the SHA-256 of the weights it was made from are stored in the file's metadata (``labels``, ``normalization``,
``features``, ``threshold`` as JSON; ``weights_sha256``).

``cached_onnx`` keeps one export per run in the user's cache, found again without PyTorch
(``cached_onnx_path``), which is how ``runtime.OnnxScorer`` runs a network on ONNX Runtime."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import warnings
from importlib import resources
from pathlib import Path

from .checkpoint import BEST_WEIGHTS, MAX_WEIGHTS_BYTES, _check_run_file, load_model
from .errors import CheckpointError
from .fileio import atomic_write


def example_inputs(entry, batch: int = 2) -> tuple:
    import torch

    return tuple(torch.randn(shape) for shape in entry.input_shapes(batch).values())


def onnx_model(entry, model, run: dict, weights_sha256: str = ""):
    """The network (an ``nn.Module``) as an ONNX ``ModelProto`` with a dynamic batch size and the run's
    metadata (needs instrid[onnx]: the CLI names the extra when one is missing)."""
    import torch

    model.eval()
    dynamic = {name: {0: torch.export.Dim("batch")} for name in entry.inputs}
    quiet = contextlib.ExitStack()  # the exporter prints its progress, logs and warns about what it cannot see
    quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
    quiet.enter_context(warnings.catch_warnings(action="ignore"))
    onnx_log = logging.getLogger("torch.onnx")
    level, onnx_log.level = onnx_log.level, logging.ERROR
    quiet.callback(onnx_log.setLevel, level)
    with quiet:
        program = torch.onnx.export(
            model, (), kwargs=dict(zip(entry.inputs, example_inputs(entry))), input_names=list(entry.inputs),
            output_names=["logits"], dynamic_shapes=dynamic, dynamo=True,
        )  # fmt: skip
    proto = program.model_proto
    for key in ("labels", "normalization", "features", "threshold"):
        proto.metadata_props.add(key=key, value=json.dumps(run.get(key)))
    proto.metadata_props.add(key="model", value=entry.name)
    proto.metadata_props.add(key="weights_sha256", value=weights_sha256)
    return proto


def save_onnx(proto, path: str | Path) -> Path:
    """Write ``proto`` to ``path`` atomically; returns the path."""
    atomic_write(Path(path), lambda f: f.write(proto.SerializeToString()))
    return Path(path)


def export_onnx(run_dir: str | Path, path: str | Path) -> Path:
    """Write the network of ``run_dir`` to ``path`` as ONNX (dynamic batch size); returns the path."""
    entry, model, run = load_model(run_dir)
    if entry.kind != "torch":
        raise CheckpointError(f"{run_dir}: {entry.name} is a scikit-learn model; only networks export to ONNX")
    return save_onnx(onnx_model(entry, model, run, weights_sha256(run_dir)), path)


def cache_dir() -> Path:
    """``$INSTRID_CACHE``, else ``$XDG_CACHE_HOME/instrid``, else ``~/.cache/instrid``."""
    if os.environ.get("INSTRID_CACHE"):
        return Path(os.environ["INSTRID_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "instrid"


def weights_sha256(run_dir: str | Path) -> str:
    """SHA-256 of a run's ``model.safetensors``: what ties an ONNX graph to the weights it was made from."""
    path = Path(run_dir) / BEST_WEIGHTS
    _check_run_file(path, MAX_WEIGHTS_BYTES, missing=f"{path}: missing; the run did not finish an epoch — train it again")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(2**20):
            digest.update(block)
    return digest.hexdigest()


def cached_onnx_path(run: dict, weights: str) -> Path:
    """Where the cache keeps the export of a run whose weights have SHA-256 ``weights``: named by a hash of
    them, of the model and its settings, and of the networks' source and instrid's version, so a changed run
    or network gets a new export, never a stale one. Found without importing PyTorch."""
    from . import __version__

    digest = hashlib.sha256(f"{weights} {__version__}".encode())
    digest.update(json.dumps([run["model"], run["model_config"], run["window"], run["features"]], sort_keys=True).encode())
    for source in sorted(resources.files("instrid.models").iterdir(), key=lambda f: f.name):
        if source.name.endswith(".py"):
            digest.update(source.read_bytes())
    return cache_dir() / "onnx" / f"{run['model']}-{digest.hexdigest()[:20]}.onnx"


def cached_onnx(run_dir: str | Path, run: dict, *, again: bool = False) -> Path:
    """The ONNX export of a run folder, made once (or ``again``; needs PyTorch and instrid[onnx]) into the
    cache (``cached_onnx_path``)."""
    weights = weights_sha256(run_dir)
    path = cached_onnx_path(run, weights)
    if again or not path.is_file():
        entry, model, run = load_model(run_dir)
        if entry.kind != "torch":
            raise CheckpointError(f"{run_dir}: {entry.name} is a scikit-learn model; only networks run on ONNX Runtime")
        save_onnx(onnx_model(entry, model, run, weights), path)
    return path
