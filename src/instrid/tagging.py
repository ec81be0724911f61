"""Tagging many files: walk folders, predict each file, stream results to a JSONL or CSV file that a killed
run resumes from, and report unreadable files without stopping."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tqdm import tqdm

from .audio import AUDIO_EXTENSIONS
from .errors import InstridError, ParameterError
from .predict import Prediction, Recognizer

CSV_COLUMNS = ("path", "duration", "top", "top_name", "labels", "scores")


def audio_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The given files, and the audio files under the given folders (recursively, sorted)."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
        else:
            yield p  # missing or unreadable files are reported by the audio loader


def csv_row(p: Prediction) -> dict:
    return {
        "path": p.path,
        "duration": f"{p.duration:.3f}",
        "top": p.top.code,
        "top_name": p.top.name,
        "labels": " ".join(x.code for x in p.labels),
        "scores": " ".join(f"{x.code}:{x.score:.3f}" for x in p.scores),
    }


def table_line(p: Prediction) -> str:
    labels = ", ".join(f"{x.name} ({x.score:.2f})" for x in p.labels)
    return f"{p.path}  [{p.duration:.1f} s]  {labels}"


class ResultFile:
    """Append-only results (``.jsonl`` or ``.csv``): one line per file, flushed and fsynced as it is written.
    Opening an existing file drops a torn last line (from a kill) and remembers which paths are done."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.kind = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}.get(self.path.suffix.lower())
        if self.kind is None:
            raise ParameterError(f"--out {path}: use a .jsonl or .csv file name")
        self.done: set[str] = set()
        if self.path.exists():
            self._recover()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.file = self.path.open("a", newline="")
        if new and self.kind == "csv":
            self._write(",".join(CSV_COLUMNS) + "\n")

    def _recover(self) -> None:
        text = self.path.read_text()
        if text and not text.endswith("\n"):  # killed mid-line
            text = text[: text.rfind("\n") + 1]
            self.path.write_text(text)
        if self.kind == "jsonl":
            self.done = {json.loads(line)["path"] for line in text.splitlines() if line.strip()}
        else:
            self.done = {row["path"] for row in csv.DictReader(io.StringIO(text))}

    def _write(self, text: str) -> None:
        self.file.write(text)
        self.file.flush()
        os.fsync(self.file.fileno())

    def add(self, p: Prediction, *, timeline: bool) -> None:
        if self.kind == "jsonl":
            d = p.to_dict()
            if not timeline:
                d.pop("timeline", None)
            self._write(json.dumps(d) + "\n")
        else:
            buf = io.StringIO()
            csv.DictWriter(buf, fieldnames=CSV_COLUMNS).writerow(csv_row(p))
            self._write(buf.getvalue())
        self.done.add(p.path)

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
) -> tuple[list[Prediction], dict[str, str]]:
    """Predict every file; returns the new predictions and ``{path: reason}`` for the files that failed.
    With ``out``, results stream there and files already in it are skipped."""
    results = ResultFile(out) if out else None
    files = [f for f in audio_files(paths) if results is None or str(f) not in results.done]
    predictions, errors = [], {}
    for f in tqdm(files, desc="predict", unit="file", disable=not progress or len(files) < 2):
        try:
            p = recognizer.predict(f, threshold=threshold, timeline=timeline)
        except InstridError as err:
            errors[str(f)] = str(err)
            continue
        predictions.append(p)
        if results is not None:
            results.add(p, timeline=timeline)
    if results is not None:
        results.close()
    return predictions, errors
