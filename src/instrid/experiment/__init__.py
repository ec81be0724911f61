"""``instrid experiment``: re-create the papers' tables and figures (``run_experiment``)."""

from .plan import EXPERIMENTS, PROFILES
from .runner import run_experiment

__all__ = ["EXPERIMENTS", "PROFILES", "run_experiment"]
