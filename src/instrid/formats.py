"""How predictions are written: a table for people, JSON Lines and CSV for programs, the per-window timeline.
``FORMATS`` maps each ``--format`` to a function giving a file's finished text, so the CLI and the results
file print the same."""

from __future__ import annotations

import csv
import io
import json

from .errors import printable
from .predict import Prediction

CSV_COLUMNS = ("path", "duration", "top", "top_name", "labels", "scores")


def table_line(p: Prediction) -> str:
    """``path  [duration]  instrument (score), ...``, ``no instrument recognised (best: ...)`` or ``silence``;
    control characters in the path escaped."""
    if p.silence:
        labels = "silence"
    elif not p.labels:
        labels = f"no instrument recognised (best: {p.top.name} {p.top.score:.2f} < threshold {p.threshold:.2f})"
    else:
        labels = ", ".join(f"{x.name} ({x.score:.2f})" for x in p.labels)
    return f"{printable(p.path)}  [{p.duration:.1f} s]  {labels}"


def timeline_lines(p: Prediction) -> list[str]:
    """One line per window: its start and its most probable instrument, or ``silence``."""
    codes = [x.code for x in p.scores]
    return [
        f"    {start:7.1f} s  " + ("silence" if silent else f"{codes[probs.argmax()]} {probs.max():.2f}")
        for start, probs, silent in zip(p.timeline.starts, p.timeline.probabilities, p.timeline.silent)
    ]


def table(p: Prediction) -> str:
    return "\n".join([table_line(p), *(timeline_lines(p) if p.timeline is not None else [])]) + "\n"


def json_line(p: Prediction) -> str:
    return json.dumps(p.to_dict()) + "\n"


def csv_row(p: Prediction) -> dict:
    return {
        "path": p.path,
        "duration": f"{p.duration:.3f}",
        "top": "" if p.top is None else p.top.code,
        "top_name": "silence" if p.top is None else p.top.name,
        "labels": " ".join(x.code for x in p.labels),
        "scores": " ".join(f"{x.code}:{x.score:.3f}" for x in p.scores),
    }


def csv_header() -> str:
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=CSV_COLUMNS).writeheader()
    return buf.getvalue()


def csv_line(p: Prediction) -> str:
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=CSV_COLUMNS).writerow(csv_row(p))
    return buf.getvalue()


FORMATS = {"table": table, "json": json_line, "csv": csv_line}
