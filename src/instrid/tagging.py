"""Tagging many files: walk folders, predict each file, stream results to a JSONL or CSV file that a killed
run resumes from, and report unreadable files without stopping."""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import io
import itertools
import json
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from tqdm import tqdm

from .audio import AUDIO_EXTENSIONS, audio_files, resolved
from .errors import InstridError, ParameterError, printable
from .formats import FORMATS, csv_columns
from .predict import Prediction, Recognizer


class ResultFile:
    """Append-only results (``.jsonl`` or ``.csv``): one line per file, flushed and fsynced as it is written.
    Opening an existing file drops a torn last line (from a kill) and remembers which files are done."""

    def __init__(self, path: str | Path, codes: tuple[str, ...]):
        self.path, self.codes = Path(path), codes  # codes: the run's classes, one CSV column each
        self.kind = {".jsonl": "jsonl", ".csv": "csv"}.get(self.path.suffix.lower())
        if self.kind is None:
            hint = "; a results file from an older instrid is JSON Lines: rename it to .jsonl" if self.path.suffix == ".json" else ""
            raise ParameterError(f"--out {printable(str(path))}: use a .jsonl or .csv file name (results files are "
                                 f"appended to as files are done){hint}")  # fmt: skip
        if os.path.isdir(self.path):
            raise ParameterError(f"--out {printable(str(path))}: is a folder; give a .jsonl or .csv file name")
        self.done: set[str] = set()
        try:
            if self.path.exists():
                self._recover()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self.file = self.path.open("a", newline="")
        except OSError as err:
            raise ParameterError(f"--out {printable(str(path))}: cannot be written ({err.strerror}); choose another file") from None
        if new:
            self._write(FORMATS[self.kind].begin(codes))  # the CSV header

    def _recover(self) -> None:
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        complete = text[: text.rfind("\n") + 1]  # a last line without its newline was torn by a kill
        try:
            if self.kind == "jsonl":
                self.done = {resolved(json.loads(line)["path"]) for line in complete.splitlines() if line.strip()}
            else:
                rows = csv.DictReader(io.StringIO(complete))
                if complete and tuple(rows.fieldnames or ()) != csv_columns(self.codes):
                    raise ValueError("other columns than this model's: written by another model or an older instrid")
                self.done = {resolved(row["path"]) for row in rows}
        except (ValueError, KeyError, TypeError) as err:
            raise ParameterError(f"--out {printable(str(self.path))}: holds lines that are not instrid results ({type(err).__name__}: "
                                 f"{printable(str(err))[:80]}); give a new file name or delete it") from None  # fmt: skip
        if complete != text:  # only now that the file is known to be ours
            self.path.write_text(complete)

    def _write(self, text: str) -> None:
        self.file.write(text)
        self.file.flush()
        os.fsync(self.file.fileno())

    def add(self, p: Prediction) -> None:
        self._write(FORMATS[self.kind].result(p, False))
        self.done.add(resolved(p.path))

    def close(self) -> None:
        self.file.close()


def tag(
    paths: Iterable[str | Path],
    recognizer: Recognizer,
    *,
    out: str | Path | None = None,
    threshold: float | None = None,
    timeline: bool = False,
    progress: bool = True,
    workers: int = 1,
    on_result: Callable[[Prediction], None] | None = None,
) -> tuple[list[Prediction], dict[str, str]]:
    """Predict every file; returns the new predictions and ``{path: reason}`` for the files that failed.
    With ``out``, results stream there and files already in it are skipped. ``workers`` processes share the
    files, each with its share of the cores' threads (one process already runs the network on every core, so
    more pay off only where decoding dominates or there are many cores: ``benchmarks/predict.py --folder``);
    results come in the files' order all the same, each passed to ``on_result`` as soon as it and those
    before it are done."""
    if workers < 1:
        raise ParameterError(f"--workers {workers}: give at least 1")
    paths, skipped = list(paths), {}
    found, errors = audio_files(paths, skipped=skipped)
    if not found and not errors:
        raise ParameterError(f"no audio files in {', '.join(printable(str(p)) for p in paths)} "
                             f"(instrid reads {', '.join(AUDIO_EXTENSIONS)})")  # fmt: skip
    if skipped:
        names = ", ".join(printable(Path(f).name) for f in list(skipped)[:3]) + (", ..." if len(skipped) > 3 else "")
        warnings.warn(f"{len(skipped)} file(s) skipped: not audio by their names ({names})", stacklevel=2)
    results = ResultFile(out, recognizer.labels) if out else None
    files = [f for f in found if results is None or resolved(f) not in results.done]
    predictions = []
    with _predictions(files, recognizer, min(workers, len(files)), threshold, timeline, progress) as outcomes:
        for f, outcome in tqdm(zip(files, outcomes), total=len(files), desc="predict", unit="file",
                               disable=not progress or len(files) < 2):  # fmt: skip
            if isinstance(outcome, str):
                errors[str(f)] = outcome
                continue
            predictions.append(outcome)
            if results is not None:
                results.add(outcome)
            if on_result is not None:
                on_result(outcome)
    if results is not None:
        results.close()
    return predictions, errors


def _predict_file(
    recognizer: Recognizer, path: Path, threshold: float | None, timeline: bool, on_progress: Callable[[float], None] | None = None
) -> Prediction | str:
    """The file's prediction, or the one-line reason it could not be read."""
    try:
        return recognizer.predict(path, threshold=threshold, timeline=timeline, on_progress=on_progress)
    except InstridError as err:
        return printable(str(err))


_worker_recognizer: Recognizer | None = None  # in a worker process: its own copy of the model


def _start_worker(run_dir: Path, device: str, runtime: str, threads: int) -> None:
    global _worker_recognizer
    _worker_recognizer = Recognizer(run_dir, device=device, runtime=runtime, threads=threads)


def _worker_predict(path: Path, threshold: float | None, timeline: bool) -> Prediction | str:
    return _predict_file(_worker_recognizer, path, threshold, timeline)


@contextlib.contextmanager
def _predictions(files: list[Path], recognizer: Recognizer, workers: int, threshold: float | None, timeline: bool,
                 progress: bool):  # fmt: skip
    """The outcomes of ``_predict_file`` for ``files``, in order: in this process, or over ``workers`` processes
    (started with spawn, each with its share of the cores' threads, and its own copy of the model). One file
    gets a bar of its seconds read on stderr (when it is a terminal and the file takes over a second)."""
    if len(files) == 1 and progress:
        with tqdm(desc="predict", unit="s", delay=1.0, disable=None, bar_format="{desc}: {n:.0f} s of audio read [{elapsed}]") as bar:
            yield iter([_predict_file(recognizer, files[0], threshold, timeline, lambda s: bar.update(s - bar.n))])
        return
    if workers <= 1:
        yield (_predict_file(recognizer, f, threshold, timeline) for f in files)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
        initargs=(recognizer.run_dir, str(recognizer.device), recognizer.scorer.runtime, threads),
    ) as pool:  # fmt: skip
        try:
            yield pool.map(_worker_predict, files, itertools.repeat(threshold), itertools.repeat(timeline))
        except concurrent.futures.BrokenExecutor:
            raise InstridError("a worker process died (out of memory?); the files done so far are kept: "
                               "run again with --workers 1 (and --out to skip them)") from None  # fmt: skip
