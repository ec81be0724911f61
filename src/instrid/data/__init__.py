"""Datasets: readers for the published layouts and the rendered default dataset."""

from .layouts import (
    Clip,
    load_dataset,
    read_folders,
    read_irmas_test,
    read_irmas_train,
    read_metadata,
    read_nsynth,
    uses_library,
)
from .mixtures import mix_recordings
from .render import render_dataset
from .singing import sing_dataset

__all__ = [
    "Clip",
    "load_dataset",
    "mix_recordings",
    "read_folders",
    "read_irmas_test",
    "read_irmas_train",
    "read_metadata",
    "read_nsynth",
    "render_dataset",
    "sing_dataset",
    "uses_library",
]
