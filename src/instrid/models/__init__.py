"""Networks and classical baselines, registered by name: ``create_model("cross_attention")``."""

from . import cross_attention, hssanet, han, resnet, vggish, wavenet, classical, musicnn  # noqa: F401, I001  (they register)
from .registry import MODELS, ModelEntry, count_parameters, create_model, get_entry

__all__ = ["MODELS", "ModelEntry", "count_parameters", "create_model", "get_entry"]
