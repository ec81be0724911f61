"""Every model by name: its network (or classical classifier), default config, front end and input window.

A model module registers its variants with ``@register``; ``create_model(name)`` builds one and
``all_models()`` names them all. The modules (and PyTorch with them) are imported at the first lookup, so
code that needs only ``ModelEntry`` — predicting on ONNX Runtime — imports no torch. Every network takes the same batch — a dict of tensors named after the
front end's fields (``mel`` / ``mask`` (B, 1, F, T), ``wave`` (B, N)) — as keyword arguments, and
returns logits (B, n_classes).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError
from ..features import FeatureConfig


@dataclass(frozen=True)
class ModelEntry:
    name: str
    build: Callable[[Any], Any]  # config -> nn.Module (or a scikit-learn estimator when kind == "sklearn")
    config: Any  # the default config dataclass; its fields are the model's sizes
    features: FeatureConfig  # what the feature store must hold for this model
    window: int  # frames of the front end per input
    inputs: tuple[str, ...]  # batch keys the network takes: "mel", "mask", "wave", "descriptors"
    task: str  # the rendered task it is trained on by default: "mix" (IRMAS-like) or "solo" (NSynth-like)
    summary: str  # one line for `instrid models`
    kind: str = "torch"  # "torch" or "sklearn"
    standardise: bool = True  # False: the network normalises its own input (a pretrained backbone)

    @property
    def normalised_inputs(self) -> tuple[str, ...]:
        """The inputs standardised with the training statistics: all but the binary pitch mask."""
        return tuple(name for name in self.inputs if name != "mask") if self.standardise else ()

    @property
    def window_seconds(self) -> float:
        return self.window / self.features.frontend.frames_per_second

    def input_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the batch the network takes: ``mel``/``mask`` (B, 1, F, T), ``wave`` (B, N), ``descriptors`` (B, 29, T)."""
        spec = self.features.frontend
        shapes = {"wave": (batch, self.window * spec.dim), "descriptors": (batch, spec.dim, self.window)}
        return {name: shapes.get(name, (batch, 1, spec.dim, self.window)) for name in self.inputs}

    def make_config(self, **overrides):
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self.config)}
        if unknown:
            raise ParameterError(f"{self.name} has no setting {sorted(unknown)}; its settings: {dataclasses.asdict(self.config)}")
        return dataclasses.replace(self.config, **overrides)


MODEL_MODULES = ("cross_attention", "hssanet", "han", "resnet", "vggish", "wavenet", "classical", "musicnn")
MODELS: dict[str, ModelEntry] = {}  # filled by ``register`` as the modules are imported: read it via ``all_models``


def all_models() -> dict[str, ModelEntry]:
    """Every registered model by name (imports the model modules the first time)."""
    for module in MODEL_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    return MODELS


def register(name: str, **fields) -> Callable:
    """Decorator on a ``config -> model`` builder: ``@register("han2017", config=HanConfig(), ...)``."""

    def wrap(build):
        MODELS[name] = ModelEntry(name=name, build=build, **fields)
        return build

    return wrap


def get_entry(name: str) -> ModelEntry:
    models = all_models()
    if name not in models:
        raise ParameterError(f"unknown model {name!r}; choose one of: {', '.join(models)}")
    return models[name]


def create_model(name: str, **overrides):
    """Build model ``name`` with its default config, changed by ``overrides`` (e.g. ``n_classes=5``)."""
    entry = get_entry(name)
    return entry.build(entry.make_config(**overrides))


def count_parameters(model) -> int | None:
    """Trainable parameters of a network; None for classical classifiers (sized by the data they fit)."""
    if not hasattr(model, "parameters"):
        return None
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
