"""Named, reproducible training recipes: the data to render and the training config, as one command.

``instrid train --recipe default --out RUN --extra-data REAL --extra-data NEGATIVES`` renders the recipe's
dataset (if it is not there yet) and trains on it and on the extra folders; the shipped model
(``instrid/shipped``) was made this way (docs/training.md names the folders).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .data import render_dataset
from .data.layouts import METADATA_FILE
from .errors import ParameterError
from .train import TrainConfig, train


@dataclass(frozen=True)
class Recipe:
    render: dict  # arguments of ``render_dataset``: size, seed, augment_prob
    train: TrainConfig = field(default_factory=TrainConfig)
    summary: str = ""


RECIPES = {
    "default": Recipe(
        render={"size": "medium", "seed": 0, "augment_prob": 0.5, "libraries": ("fluid", "timgm", "musescore", "merlin", "sfgm")},
        train=TrainConfig(model="musicnn", epochs=40, batch_size=64, lr=1e-3, weight_decay=0.01, patience=10, loss="sigmoid",
                          model_config={"nuisance_dims": 6, "head": "mlp", "normalise_level": True, "presence": True}),  # fmt: skip
        summary="the shipped model: an instrument head (one hidden layer, sigmoid) on the pretrained musicnn, every "
        "window brought to one loudness before it, with 6 directions of between-library variation projected out, and a "
        "presence head (P(an instrument plays), learnt from the sounds with no instrument too) multiplying every class, "
        "trained on rendered solo notes and IRMAS-like mixes from five sample libraries (half with reverb/EQ/noise), "
        "plus the --extra-data folders (real recordings; sounds with no instrument; sung phrases from `instrid sing`; "
        "mixtures from `instrid mix`; notes rendered from FreePats, a sixth library)",
    ),
    "cross-attention": Recipe(
        render={"size": "medium", "seed": 0, "augment_prob": 0.5},
        train=TrainConfig(model="cross_attention", task="solo+mix", epochs=15, patience=4),
        summary="the model shipped before musicnn: the cross-attention network on rendered solo notes and IRMAS-like "
        "mixes (FluidR3, half of the clips with reverb/EQ/noise), the paper's Adam 1e-4, batch 16",
    ),
}


def run_recipe(name: str, out: str | Path, *, data: str | Path | None = None, resume: bool = False, **kwargs) -> dict:
    """Render the recipe's data into ``data`` (default ``data/recipe-NAME``) unless it is there, then train."""
    if name not in RECIPES:
        raise ParameterError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    data = Path(data or f"data/recipe-{name}")
    if not (data / METADATA_FILE).exists():
        render_dataset(data, **recipe.render)
    return train(data, out, recipe.train, resume=resume, **kwargs)
