"""Writing files so that a killed run never leaves a half-written one behind, and worker processes that
never outlive a killed run."""

from __future__ import annotations

import concurrent.futures
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from .errors import ParameterError

PARENT_POLL_SECONDS = 0.5  # how often a pool worker checks that the process that made it is still there


def file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (``mkstemp`` would give 0600)."""
    try:
        umask = int(next(line for line in open("/proc/self/status") if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration):  # not Linux: the only portable way to read it is to set it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def claim_folder(path: Path, manifest: dict, what: str) -> None:
    """Write ``manifest`` (the settings that decide a generated folder's files) as JSON to ``path``, or check that
    the one there matches: resuming with other settings would list old files under new labels."""
    path = Path(path)
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = None
        if previous != manifest:
            raise ParameterError(f"{path.parent} holds {what} made with other settings or sources ({path}): choose another --out")
        return
    atomic_write(path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))


def _exit_with_parent() -> None:
    """Pool initializer: a daemon thread ends this worker once its parent is gone (killed, even by -9), which
    it sees as a change of parent: the orphan is adopted by init or a subreaper. Works for any start method."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool whose workers end with the process that made it, however it ends."""
    return concurrent.futures.ProcessPoolExecutor(workers, initializer=_exit_with_parent)
