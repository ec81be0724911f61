"""Run folders: weights in safetensors, everything else in JSON; nothing is unpickled.

    RUN_DIR/run.json           model name and config, training config, labels, feature parameters, input
                               normalisation, the threshold theta, per-epoch history and final metrics
    RUN_DIR/model.safetensors  the best weights (lowest validation loss); ``model.skops`` for classical models
    RUN_DIR/last.safetensors   weights after the last finished epoch, and
    RUN_DIR/optimizer.safetensors + the optimizer's non-tensor state in run.json: what ``--resume`` needs
    RUN_DIR/metrics.csv        one row per epoch
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, TypeAdapter, ValidationError
from safetensors import SafetensorError, safe_open
from typing_extensions import NotRequired, TypedDict  # pydantic needs this one before Python 3.12

from .errors import CheckpointError, InstridError, printable
from .features import FeatureConfig
from .fileio import atomic_write
from .models import ModelEntry, get_entry

if TYPE_CHECKING:  # run.json is read without PyTorch (predicting on ONNX Runtime); weights need it
    import torch

RUN_FILE = "run.json"
BEST_WEIGHTS = "model.safetensors"
LAST_WEIGHTS = "last.safetensors"
OPTIMIZER_STATE = "optimizer.safetensors"
SKLEARN_MODEL = "model.skops"
MAX_RUN_FILE_BYTES = 64 * 2**20  # run.json: settings, history and the optimizer's non-tensor state
MAX_SIZE_FACTOR = 16  # a model size in run.json may be up to 16x the default's (d_model 256 -> 4096)
MAX_LIST_LENGTH = 16  # e.g. the channels of 16 conv blocks
MAX_WEIGHTS_BYTES = 2 * 2**30  # model.safetensors / model.skops (VGGish, the largest network, is 290 MB)
# The only types beyond scikit-learn's and numpy's defaults that the SVM and MLP baselines hold; nothing callable.
SKOPS_TRUSTED = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
)

SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
    "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}  # fmt: skip  (torch dtype name -> safetensors')
Finite = Annotated[float, Field(allow_inf_nan=False)]


Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class ThresholdSpec(TypedDict):
    value: Unit  # theta of every class without its own
    per_class: NotRequired[dict[str, Unit]]  # label -> its own theta (thresholds.py)
    relative: NotRequired[Unit]  # the predominance rule: a named class scores at least this times the best


class RunSpec(TypedDict):
    """What ``load_model`` needs of run.json; other keys (history, training settings) are not read here."""

    model: str
    model_config: dict[str, Any]
    features: dict[str, Any]
    labels: Annotated[list[Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]{1,100}$")]], Field(min_length=2, max_length=1000)]
    window: Annotated[int, Field(gt=0)]
    normalization: dict[str, Annotated[list[Finite], Field(min_length=2, max_length=2)]]  # input -> [mean, std > 0]
    threshold: ThresholdSpec
    activation: NotRequired[Literal["softmax", "sigmoid"]]  # absent in runs of earlier versions: softmax


RUN_SPEC = TypeAdapter(RunSpec)


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1)
    atomic_write(path, lambda f: f.write(text.encode()))


def read_run(run_dir: str | Path) -> dict:
    """A run folder's run.json as a dict (any run, finished or not); ``CheckpointError`` if it is not one."""
    path = Path(run_dir) / RUN_FILE
    _check_run_file(path, MAX_RUN_FILE_BYTES, missing=f"{run_dir}: not a run folder (no {RUN_FILE}); train one with `instrid train --out {run_dir}`")
    try:
        run = json.loads(path.read_bytes())
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror}); check its permissions") from None
    except (ValueError, RecursionError) as err:  # bad JSON, bad UTF-8, a 5,000-digit number, deep nesting
        raise CheckpointError(f"{path}: not valid JSON ({type(err).__name__}); the run folder is damaged — train it again") from None
    if not isinstance(run, dict):
        raise CheckpointError(f"{path}: holds a {type(run).__name__}, not an object; the run folder is damaged — train it again")
    return run


def check_spec(run: dict, run_dir: Path) -> FeatureConfig:
    """Check run.json against ``RunSpec`` on its own (no model is looked up, no PyTorch imported); returns its
    features. One ``CheckpointError`` naming the field: missing fields, wrong types, repeated labels, a
    per-class threshold of a label the run lacks, features instrid did not write, a standard deviation <= 0."""
    where = run_dir / RUN_FILE
    try:
        spec = RUN_SPEC.validate_python(run, strict=True)  # strict: "5" is not a number
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(x) for x in first["loc"]) or "(top level)"
        if run.get("status") == "running" and "threshold" in field:
            raise CheckpointError(f"{run_dir}: the run has not finished training; `instrid train --resume --out {run_dir}` finishes it") from None
        raise CheckpointError(f"{where}: {field}: {first['msg']} ({err.error_count()} problem(s)); the run folder is damaged — train it again") from None
    try:
        features = FeatureConfig.from_dict(spec["features"])
    except (InstridError, KeyError, TypeError, ValueError, AttributeError):
        raise CheckpointError(f"{where}: features: not a feature description instrid wrote; train the run again") from None
    labels = spec["labels"]
    if len(set(labels)) != len(labels):
        raise CheckpointError(f"{where}: labels: repeated labels {labels}; the run folder is damaged — train it again")
    strangers = sorted(set(spec["threshold"].get("per_class", {})) - set(labels))
    if strangers:
        raise CheckpointError(f"{where}: threshold.per_class: labels the run does not have ({printable(', '.join(strangers))[:200]}); the run folder is damaged")
    flat = [name for name, (_, std) in spec["normalization"].items() if std <= 0]
    if flat:
        raise CheckpointError(f"{where}: normalization.{flat[0]}: standard deviation <= 0; the run folder is damaged")
    return features


def validate_run(run: dict, run_dir: Path) -> tuple[ModelEntry, Any]:
    """Check run.json against ``RunSpec`` (``check_spec``) and the registered model; returns the entry and its
    config. One ``CheckpointError`` naming the field for anything that would fail later or give wrong answers:
    besides ``check_spec``'s, an unknown model, other features or window than the model's, a label count other
    than the network's outputs, other normalised inputs than the network's, settings of the wrong type or size."""
    where = run_dir / RUN_FILE
    features = check_spec(run, run_dir)
    try:
        entry = get_entry(run["model"])
    except InstridError as err:
        raise CheckpointError(f"{where}: {err}") from None
    if features != entry.features or run["window"] != entry.window:
        raise CheckpointError(f"{run_dir}: trained with other features than {entry.name} uses now; retrain it")
    config = config_from_dict(entry, run["model_config"], where)
    if config.n_classes != len(run["labels"]):
        raise CheckpointError(f"{where}: {len(run['labels'])} labels for a model with {config.n_classes} outputs; the run folder is damaged")
    if entry.kind == "torch" and set(run["normalization"]) != set(entry.normalised_inputs):
        raise CheckpointError(f"{where}: normalization: has {sorted(run['normalization'])}, {entry.name} needs {sorted(entry.normalised_inputs)}")
    return entry, config


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write(path, lambda f: f.write(save(tensors)))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file written by ``save_weights`` (training's own files: resume, snapshots)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: missing; the run did not finish an epoch — train it again or --resume it")
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err}); train the run again") from None


def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """An optimizer state dict as JSON, its tensors moved into ``tensors`` under path-like keys."""
    import torch

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


def config_from_dict(entry: ModelEntry, d: dict, where: Path | str = "model_config"):
    """The entry's config dataclass from JSON (lists back to tuples), each value of the type of the default's
    and within bounds: sizes whole numbers from 1 (0 where that is the default) to MAX_SIZE_FACTOR times the default, rates finite and >= 0,
    lists of at most MAX_LIST_LENGTH items. (Building a model runs numpy code sized by these values.)"""
    defaults = dataclasses.asdict(entry.config)
    unknown = set(d) - set(defaults)
    if unknown:
        raise CheckpointError(f"{where}: model_config: {entry.name} has no setting {sorted(unknown)}")
    for key, value in d.items():
        if not _within(value, defaults[key]):
            raise CheckpointError(f"{where}: model_config.{key} = {json.dumps(value)[:80]}: expected a value like "
                                  f"{json.dumps(defaults[key])}, at most {MAX_SIZE_FACTOR}x as large")  # fmt: skip
    tupled = lambda v: tuple(tupled(x) for x in v) if isinstance(v, list) else v  # noqa: E731
    return entry.make_config(**{k: tupled(v) for k, v in d.items()})


def _within(value: Any, default: Any) -> bool:
    """``value`` has the type of ``default`` and is not absurdly larger (see ``config_from_dict``)."""
    if isinstance(default, (bool, str)):
        return type(value) is type(default)
    if isinstance(default, int):
        return type(value) is int and min(default, 1) <= value <= MAX_SIZE_FACTOR * max(default, 1)  # 0 only where it is the default
    if isinstance(default, float):
        return type(value) in (int, float) and math.isfinite(value) and 0 <= value <= MAX_SIZE_FACTOR * max(default, 1.0)
    if isinstance(default, (tuple, list)) and default:  # every item is judged against the largest default item
        largest = max(default, key=_largest_number)
        return isinstance(value, list) and 1 <= len(value) <= MAX_LIST_LENGTH and all(_within(v, largest) for v in value)
    return False


def _largest_number(x: Any) -> float:
    return max(map(_largest_number, x)) if isinstance(x, (tuple, list)) else x


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def snapshot_file(epoch: int) -> str:
    return f"epoch-{epoch}.safetensors"


def save_checkpoint(net, optimizer, run: dict, out_dir: Path) -> None:
    """Last weights, optimizer state, run.json and metrics.csv, each written atomically."""
    tensors: dict[str, torch.Tensor] = {}
    run["optimizer_state"] = flatten_state(optimizer.state_dict(), tensors)
    save_weights(out_dir / OPTIMIZER_STATE, tensors)
    save_weights(out_dir / LAST_WEIGHTS, net.state_dict())
    write_json(out_dir / RUN_FILE, run)
    write_metrics_csv(out_dir / "metrics.csv", run["history"])
    tensorboard_scalars(out_dir, run["history"][-1])


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def tensorboard_scalars(out_dir: Path, row: dict) -> None:
    """Per-epoch scalars for TensorBoard, when it is installed (it is optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    with SummaryWriter(out_dir / "tensorboard") as writer:
        for key, value in row.items():
            if key != "epoch":
                writer.add_scalar(key, value, row["epoch"])


def load_model(run_dir: str | Path, *, weights: str = BEST_WEIGHTS):
    """The trained model of a run folder, in eval mode, and the run's JSON.

    Returns ``(entry, model, run)``; ``model`` is an ``nn.Module`` or, for classical baselines, a
    scikit-learn pipeline read with skops (``load_sklearn``). Everything is checked before it is used:
    run.json against ``RunSpec`` (``validate_run``), the weights' names and shapes against the network
    the config builds (from the file's header, before any tensor is read), their values for NaN/Inf, and
    the network on one input for its output shape. Any problem is one ``CheckpointError``."""
    import torch

    run_dir = Path(run_dir)
    run = read_run(run_dir)
    entry, config = validate_run(run, run_dir)
    n_classes = len(run["labels"])
    if entry.kind == "sklearn":
        model = load_sklearn(run_dir / SKLEARN_MODEL)
        _check_outputs(lambda: model.predict_proba(np.zeros((1, 2 * entry.features.frontend.dim))),
                       len(getattr(model, "classes_", [])), run_dir / SKLEARN_MODEL)  # fmt: skip
        if not set(np.asarray(model.classes_).tolist()) <= set(range(n_classes)):
            raise CheckpointError(f"{run_dir / SKLEARN_MODEL}: predicts classes outside the run's {n_classes} labels; train it again")
        return entry, model, run
    try:
        with torch.device("meta"):  # names and shapes, nothing allocated: a huge size cannot exhaust memory
            expected = {k: (tuple(v.shape), v.dtype) for k, v in entry.build(config).state_dict().items()}
    except Exception as err:  # noqa: BLE001 — a config the network cannot be built from
        raise CheckpointError(f"{run_dir / RUN_FILE}: model_config does not build {entry.name} ({type(err).__name__}: {err})") from None
    path = run_dir / weights
    _check_weights_header(path, expected)
    state = load_weights(path)
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: NaN or Inf in {bad[:3]}; the weights are damaged (a diverged run?) — train it again")
    model = entry.build(config)
    model.load_state_dict(state)
    model.eval()
    shapes = entry.input_shapes(1)
    with torch.inference_mode():
        _check_outputs(lambda: model(**{k: torch.zeros(v) for k, v in shapes.items()}), n_classes, path)
    return entry, model, run


def _check_weights_header(path: Path, expected: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    """The tensors a safetensors file holds, read from its header: exactly the network's names, shapes, dtypes."""
    _check_run_file(path, MAX_WEIGHTS_BYTES, missing=f"{path}: missing; the run did not finish an epoch — train it again or --resume it")
    try:
        with safe_open(path, framework="pt") as f:
            found = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err}); train the run again") from None
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{path}: tensors do not match the network: missing {missing[:3]}, unexpected {extra[:3]}; train the run again")
    for name, (shape, dtype) in expected.items():
        dtype_name = SAFETENSORS_DTYPES.get(str(dtype).removeprefix("torch."), str(dtype))
        if found[name] != (shape, dtype_name):
            raise CheckpointError(f"{path}: {name} is {found[name]}, the network needs {(shape, dtype_name)}; train the run again")


def _check_run_file(path: Path, limit: int, *, missing: str) -> None:
    """A run-folder file is a regular file (or a link to one) of at most ``limit`` bytes, or ``CheckpointError``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(missing) from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror}); check its and its folders' permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path}: not a regular file; the run folder is damaged — train it again")
    if info.st_size > limit:
        raise CheckpointError(f"{path}: {info.st_size:,} bytes, over the {limit:,} a run file may have; refusing to read it")


def _check_outputs(forward, n_classes: int, path: Path) -> None:
    """The model maps one input to (1, n_classes) finite numbers."""
    try:
        out = np.asarray(forward(), dtype=np.float64)
    except Exception as err:  # noqa: BLE001 — weights that fit but do not run
        raise CheckpointError(f"{path}: the model does not run on its inputs ({type(err).__name__}); train the run again") from None
    if out.shape != (1, n_classes) or not np.isfinite(out).all():
        raise CheckpointError(f"{path}: the model gives {out.shape} outputs for {n_classes} labels; the run folder is damaged")


def save_sklearn(path: Path, model) -> None:
    import skops.io

    atomic_write(path, lambda f: f.write(skops.io.dumps(model)))


def load_sklearn(path: Path):
    """A scikit-learn baseline saved by ``save_sklearn``. skops rebuilds only the types it trusts by default
    (scikit-learn estimators, numpy and scipy types, plain containers) and those in ``SKOPS_TRUSTED``: a file
    that holds any other type — ``builtins.exec``, ``os.system``, a function of its own — is refused before
    anything in it is built. What is built must then be one of the two pipelines instrid trains, with
    integer classes."""
    import skops.io
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    _check_run_file(path, MAX_WEIGHTS_BYTES, missing=f"{path}: missing; train the run again")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror}); check its permissions") from None
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as err:  # noqa: BLE001 — skops raises many kinds on a damaged archive
        raise CheckpointError(f"{path}: not a readable skops file ({type(err).__name__}); train the run again") from None
    foreign = sorted(set(untrusted) - set(SKOPS_TRUSTED))
    if foreign:
        raise CheckpointError(f"{path}: holds types a baseline never has ({', '.join(foreign[:3])}); refusing to load it")
    try:
        model = skops.io.loads(data, trusted=list(SKOPS_TRUSTED))
    except Exception as err:  # noqa: BLE001
        raise CheckpointError(f"{path}: not a readable skops file ({type(err).__name__}); train the run again") from None
    steps = [type(step) for _, step in model.steps] if isinstance(model, Pipeline) else []
    classifier = model.steps[-1][1] if steps else None
    svm = steps == [StandardScaler, CalibratedClassifierCV] and type(getattr(classifier, "estimator", None)) is SVC
    if not (svm or steps == [StandardScaler, MLPClassifier]) or np.asarray(getattr(model, "classes_", [])).dtype.kind not in "iu":
        raise CheckpointError(f"{path}: not the SVM or MLP pipeline instrid trains; train the run again")
    return model
