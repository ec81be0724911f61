"""instrid: which musical instruments play in a recording."""

from .errors import AudioError, DataError, InstridError, ParameterError

__version__ = "0.1.0"
__all__ = ["AudioError", "DataError", "InstridError", "ParameterError", "__version__"]
