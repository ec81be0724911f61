"""One exception hierarchy: every message names the file or value at fault and how to fix it."""

from __future__ import annotations

from pathlib import Path


def printable(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escapes) shown as escapes: a file name can never
    forge an extra line of output."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class InstridError(Exception):
    """Base class of every error instrid raises on purpose."""


class ParameterError(InstridError, ValueError):
    """A parameter value is out of its valid range."""


class AudioError(InstridError):
    """An audio file cannot be used: missing, corrupt, empty, too short, non-finite, bad layout."""

    def __init__(self, path: str | Path, reason: str, fix: str = ""):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{printable(str(path))}: {reason}" + (f" ({fix})" if fix else ""))


class AudioTooLongError(AudioError):
    """An audio file is longer than the limit its caller set (the service's ``max_seconds``)."""


class DataError(InstridError):
    """A dataset folder or metadata file does not match the layout it claims."""


class SilentAudioWarning(UserWarning):
    """The audio is digital silence: features are computed, but carry no information."""


class TruncatedAudioWarning(UserWarning):
    """The file ends before its header says, or some of its packets do not decode: what could be decoded is used."""


class CheckpointError(InstridError):
    """A run folder that is missing, incomplete or holds untrusted objects."""
