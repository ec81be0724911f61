"""ONNX export of a run's network. Feature extraction stays in Python: the ONNX graph takes the model's
inputs (``mel`` and ``mask`` (B, 1, 128, 100) for the cross-attention network) after the run's input
normalisation, and returns logits (B, n_classes). The labels, the normalisation and the feature parameters
are stored in the file's metadata (``labels``, ``normalization``, ``features``, ``threshold`` as JSON).

``cached_onnx`` keeps one export per run in the user's cache, which is how ``Scorer`` runs a network on
ONNX Runtime (2x faster than PyTorch on CPU, see ``benchmarks/predict.py``) without writing into the run."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import torch

from .checkpoint import load_model
from .errors import CheckpointError
from .fileio import atomic_write


def example_inputs(entry, batch: int = 2) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(shape) for shape in entry.input_shapes(batch).values())


def onnx_model(entry, model: torch.nn.Module, run: dict):
    """The network as an ONNX ``ModelProto`` with a dynamic batch size and the run's metadata (needs
    instrid[onnx]: the CLI names the extra when one is missing)."""
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
    return save_onnx(onnx_model(entry, model, run), path)


def cache_dir() -> Path:
    """``$INSTRID_CACHE``, else ``$XDG_CACHE_HOME/instrid``, else ``~/.cache/instrid``."""
    if os.environ.get("INSTRID_CACHE"):
        return Path(os.environ["INSTRID_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "instrid"


def cached_onnx(entry, model: torch.nn.Module, run: dict, *, again: bool = False) -> Path:
    """The ONNX export of a loaded run, made once (or ``again``) and kept in ``cache_dir()/onnx``, named by a
    hash of the weights, run.json, the network's source and the versions of instrid, torch and onnx: a changed
    run or network gets a new export, never a stale one."""
    import onnx

    from . import __version__

    versions = f"{__version__} {torch.__version__} {onnx.__version__}"
    digest = hashlib.sha256(json.dumps(run, sort_keys=True).encode() + versions.encode())
    digest.update(inspect.getsource(sys.modules[type(model).__module__]).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    path = cache_dir() / "onnx" / f"{entry.name}-{digest.hexdigest()[:20]}.onnx"
    if again or not path.is_file():
        save_onnx(onnx_model(entry, model, run), path)
    return path
