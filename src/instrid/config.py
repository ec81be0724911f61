"""Training settings, kept free of torch so that the command line starts fast."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ParameterError

PRECISIONS = ("auto", "fp32", "bf16")
RUNTIMES = ("auto", "torch", "onnxruntime")  # what runs a trained network; "auto": onnxruntime on CPU where installed
OPTIMIZERS = ("adam", "sgd", "rmsprop", "radam", "lookahead", "ranger")
LOSSES = ("softmax", "sigmoid")


def option(default, help: str, **cli):
    """A ``TrainConfig`` field with what its command-line option needs: ``help``, and ``flag`` / ``choices``."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """The training settings; `instrid train` makes one option of each field that has a ``help``."""

    model: str = option("cross_attention", "a name from `instrid models`")
    epochs: int = option(100, "the papers' 100")
    batch_size: int = option(16, "windows per step")
    lr: float = option(1e-4, "learning rate")
    optimizer: str = option("adam", "the paper's six", choices=OPTIMIZERS)
    seed: int = option(0, "data split, initialisation, batch order and dropout")
    patience: int = option(10, "early stopping: epochs without a lower validation loss (0: off)")
    loss: str = option(
        "softmax",
        "softmax: one class per window (the papers); sigmoid: each class scored on its own, "
        "so an answer may be several classes or none",
        choices=LOSSES,
    )
    weight_decay: float = option(0.0, "weight decay (decoupled, AdamW-style, for adam, lookahead and ranger)")
    mask_noise_std: float = option(
        0.0, "std of the Gaussian noise on the pitch mask (off: see the docs)", flag="--mask-noise"
    )
    task: str = option("", "rendered task to train on (default: the model's, mix or solo)")
    device: str = option("auto", "auto (CUDA when there is one), cpu, cuda, cuda:N")
    precision: str = option("auto", "auto: bf16 autocast where the hardware does bf16 natively", choices=PRECISIONS)
    model_config: dict = field(default_factory=dict)  # overrides of the model's sizes, e.g. {"d_model": 64} (--set)
    snapshot_epochs: list[int] = field(
        default_factory=list
    )  # also keep the weights after these epochs (epoch-N.safetensors)

    def __post_init__(self):
        """Settings that cannot work fail here, before features are extracted or a run folder is written."""
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise ParameterError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.loss not in LOSSES:
            raise ParameterError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}")
        if self.weight_decay < 0:
            raise ParameterError(f"weight decay must be >= 0, got {self.weight_decay}")
        if self.mask_noise_std < 0:
            raise ParameterError(f"mask noise std must be >= 0, got {self.mask_noise_std}")
