"""How predictions are written: a table for people; JSON (one document), JSON Lines and CSV for programs.

``FORMATS`` maps each ``--format`` to the text before the first result, each result's text and the text after
the last, so results print as they come and the CLI and the results file write the same. Two kinds of number
appear: a file's **score** per class (the mean of its windows' probabilities; see ``predict``) and, in the
timeline, each window's **probability** per class."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import NamedTuple

from .errors import printable
from .predict import Prediction

SUMMARY_COLUMNS = ("path", "duration", "silence", "top", "top_name", "labels", "threshold")  # then one score per class


class Format(NamedTuple):
    begin: Callable[[tuple[str, ...]], str]  # the run's class codes -> the text before the first result
    result: Callable[[Prediction, bool], str]  # (prediction, is it the first) -> its text
    end: str  # after the last result


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
    """A header, then one line per window: its start and its most probable instrument with that window's
    probability, or ``silence``."""
    names = [x.name for x in p.scores]
    rows = [
        f"    {start:7.1f} s  " + ("silence" if silent else f"{names[probs.argmax()]} (p = {probs.max():.2f})")
        for start, probs, silent in zip(p.timeline.starts, p.timeline.probabilities, p.timeline.silent)
    ]
    return [f"    {p.timeline.window_seconds:g} s windows: the most probable instrument in each", *rows]


def table(p: Prediction) -> str:
    return "\n".join([table_line(p), *(timeline_lines(p) if p.timeline is not None else [])]) + "\n"


def json_line(p: Prediction) -> str:
    return json.dumps(p.to_dict()) + "\n"


def flat_row(p: Prediction) -> dict:
    """A file's answer as one flat record (CSV rows, Parquet): ``SUMMARY_COLUMNS``, then the file score of
    each class under its code."""
    return {
        "path": p.path,
        "duration": round(p.duration, 3),
        "silence": p.silence,
        "top": "" if p.top is None else p.top.code,
        "top_name": "silence" if p.top is None else p.top.name,
        "labels": " ".join(x.code for x in p.labels),
        "threshold": p.threshold,
        **{x.code: x.score for x in p.scores},
    }


def csv_columns(codes: tuple[str, ...]) -> tuple[str, ...]:
    return (*SUMMARY_COLUMNS, *codes)


def csv_header(codes: tuple[str, ...]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(csv_columns(codes))
    return buf.getvalue()


def csv_line(p: Prediction) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(flat_row(p).values())
    return buf.getvalue()


FORMATS = {
    "table": Format(lambda codes: "", lambda p, first: table(p), ""),
    "json": Format(lambda codes: "[\n", lambda p, first: ("" if first else ",\n") + json.dumps(p.to_dict()), "\n]\n"),
    "jsonl": Format(lambda codes: "", lambda p, first: json_line(p), ""),
    "csv": Format(csv_header, lambda p, first: csv_line(p), ""),
}
