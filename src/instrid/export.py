"""ONNX export of a run's network. Feature extraction stays in Python: the ONNX graph takes the model's
inputs (``mel`` and ``mask`` (B, 1, 128, 100) for the cross-attention network) after the run's input
normalisation, and returns logits (B, n_classes). The labels, the normalisation and the feature parameters
are stored in the file's metadata (``labels``, ``normalization``, ``features``, ``threshold`` as JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoint import load_model
from .errors import CheckpointError, InstridError


def example_inputs(entry, batch: int = 2) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(shape) for shape in entry.input_shapes(batch).values())


def export_onnx(run_dir: str | Path, path: str | Path) -> Path:
    """Write the network of ``run_dir`` to ``path`` as ONNX (dynamic batch size); returns the path."""
    try:
        import onnx
    except ImportError:
        raise InstridError("ONNX export needs the onnx packages: pip install 'instrid[onnx]'") from None
    entry, model, run = load_model(run_dir)
    if entry.kind != "torch":
        raise CheckpointError(f"{run_dir}: {entry.name} is a scikit-learn model; only networks export to ONNX")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = example_inputs(entry)
    dynamic = {name: {0: torch.export.Dim("batch")} for name in entry.inputs}
    program = torch.onnx.export(
        model, inputs, input_names=list(entry.inputs), output_names=["logits"], dynamic_shapes=dynamic, dynamo=True
    )
    proto = program.model_proto
    for key in ("labels", "normalization", "features", "threshold"):
        proto.metadata_props.add(key=key, value=json.dumps(run[key]))
    proto.metadata_props.add(key="model", value=entry.name)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, tmp)
    tmp.replace(path)
    return path
