"""Run folders: weights in safetensors, everything else in JSON; nothing is unpickled.

    RUN_DIR/run.json           model name and config, training config, labels, feature parameters, input
                               normalisation, the threshold theta, per-epoch history and final metrics
    RUN_DIR/model.safetensors  the best weights (lowest validation loss); ``model.skops`` for classical models
    RUN_DIR/last.safetensors   weights after the last finished epoch, and
    RUN_DIR/optimizer.safetensors + the optimizer's non-tensor state in run.json: what ``--resume`` needs
    RUN_DIR/metrics.csv        one row per epoch
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from .errors import CheckpointError
from .fileio import atomic_write
from .models import ModelEntry, get_entry
from .store import FeatureConfig

RUN_FILE = "run.json"
BEST_WEIGHTS = "model.safetensors"
LAST_WEIGHTS = "last.safetensors"
OPTIMIZER_STATE = "optimizer.safetensors"
SKLEARN_MODEL = "model.skops"


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1)
    atomic_write(path, lambda f: f.write(text.encode()))


def read_run(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a run folder (no {RUN_FILE}); train one with `instrid train --out {run_dir}`")
    return json.loads(path.read_text())


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write(path, lambda f: f.write(save(tensors)))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; the run did not finish an epoch — train it again or --resume it")
    return load_file(path)


def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """An optimizer state dict as JSON, its tensors moved into ``tensors`` under path-like keys."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__items__": [[flatten_state(k, tensors), flatten_state(v, tensors, f"{prefix}/{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [flatten_state(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"cannot save optimizer state of type {type(obj).__name__} at {prefix}")


def unflatten_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__items__" in obj:
        return {unflatten_state(k, tensors): unflatten_state(v, tensors) for k, v in obj["__items__"]}
    if isinstance(obj, dict) and "__list__" in obj:
        items = [unflatten_state(v, tensors) for v in obj["__list__"]]
        return tuple(items) if obj["tuple"] else items
    return obj


def config_from_dict(entry: ModelEntry, d: dict):
    """The entry's config dataclass from JSON (lists back to tuples)."""
    tupled = lambda v: tuple(tupled(x) for x in v) if isinstance(v, list) else v  # noqa: E731
    return entry.make_config(**{k: tupled(v) for k, v in d.items()})


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def load_model(run_dir: str | Path, *, weights: str = BEST_WEIGHTS):
    """The trained model of a run folder, in eval mode, and the run's JSON.

    Returns ``(entry, model, run)``; ``model`` is an ``nn.Module`` or, for classical baselines, a
    scikit-learn pipeline read with skops (which refuses any type outside scikit-learn and numpy)."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    entry = get_entry(run["model"])
    if FeatureConfig.from_dict(run["features"]) != entry.features:
        raise CheckpointError(f"{run_dir}: trained with other features than {entry.name} uses now; retrain it")
    config = config_from_dict(entry, run["model_config"])
    if entry.kind == "sklearn":
        return entry, load_sklearn(run_dir / SKLEARN_MODEL), run
    model = entry.build(config)
    model.load_state_dict(load_weights(run_dir / weights))
    return entry, model.eval(), run


def save_sklearn(path: Path, model) -> None:
    import skops.io

    atomic_write(path, lambda f: f.write(skops.io.dumps(model)))


def load_sklearn(path: Path):
    import skops.io

    if not path.is_file():
        raise CheckpointError(f"{path}: missing; train the run again")
    data = path.read_bytes()
    untrusted = skops.io.get_untrusted_types(data=data)
    foreign = [t for t in untrusted if not t.startswith(("sklearn.", "numpy.", "builtins."))]
    if foreign:
        raise CheckpointError(f"{path}: holds types outside scikit-learn/numpy ({foreign[:3]}); refusing to load it")
    return skops.io.loads(data, trusted=untrusted)
