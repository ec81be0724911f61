"""``instrid experiment``: re-create the papers' tables and figures (``run_experiment``)."""

from .plan import EXPERIMENTS, PROFILES

__all__ = ["EXPERIMENTS", "PROFILES", "run_experiment"]


def __getattr__(name: str):
    if name == "run_experiment":  # imported on first use: it brings in torch
        from .runner import run_experiment

        return run_experiment
    raise AttributeError(f"module 'instrid.experiment' has no attribute {name!r}")
