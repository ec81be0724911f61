"""Networks and classical baselines, registered by name: ``create_model("cross_attention")``; the model
modules are imported at the first lookup (``registry.all_models``)."""

from .registry import ModelEntry, all_models, count_parameters, create_model, get_entry

__all__ = ["ModelEntry", "all_models", "count_parameters", "create_model", "get_entry"]
