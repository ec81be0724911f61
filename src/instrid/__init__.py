"""instrid: which musical instruments play in a recording."""

from .errors import AudioError, CheckpointError, DataError, InstridError, ParameterError

__version__ = "0.1.0"
__all__ = ["AudioError", "CheckpointError", "DataError", "InstridError", "ParameterError", "Recognizer", "__version__"]


def __getattr__(name: str):
    if name == "Recognizer":  # imported on first use: it brings in torch
        from .predict import Recognizer

        return Recognizer
    raise AttributeError(f"module 'instrid' has no attribute {name!r}")
