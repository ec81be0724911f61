"""Networks and classical baselines, registered by name: ``create_model("cross_attention")``."""

from . import classical, cross_attention, han, hssanet, resnet, vggish, wavenet  # noqa: F401  (they register)
from .registry import MODELS, ModelEntry, count_parameters, create_model, get_entry, list_models

__all__ = ["MODELS", "ModelEntry", "count_parameters", "create_model", "get_entry", "list_models"]
