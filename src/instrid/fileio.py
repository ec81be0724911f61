"""Writing files so that a killed run never leaves a half-written one behind, and worker processes that
never outlive a killed run."""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import signal
import sys
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set back at once (at import, before any thread starts)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file: temporary files are 0600 otherwise


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _die_with_parent(parent: int) -> None:
    """Pool initializer: on Linux, ask the kernel to kill this worker when its parent dies (even by kill -9)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool whose workers end with the process that made it, however it ends."""
    return concurrent.futures.ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),))
