"""Tagging a music library on a Ray cluster (``pip install 'instrid[cluster]'``): a manifest of files (local
paths, or URLs fsspec opens: s3://, gs://, https://, ...) goes through Ray Data as

    read + decode + features (actors, one file at a time)  ->  batched inference (actors, CPU or GPU)  ->  Parquet

with the same windows, network and aggregation as ``Recognizer.predict``, so the answers are the same. The
results are Parquet files in one folder, one row per file (``formats.flat_row``'s columns and ``error``); a
rerun skips the files already there, so a killed run resumes. Files that cannot be read get a row with the
reason in ``error`` and no scores.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .errors import InstridError, ParameterError, printable
from .formats import flat_row
from .predict import FileWindows, Recognizer

FILES_PER_BATCH = 8  # files whose windows are scored together by one inference actor
MAX_SECONDS = 2 * 3600.0  # longest file: its windows are held at once (the shipped model's: 0.35 GB for 2 h)


def read_manifest(manifest: str | Path) -> list[str]:
    """The paths or URLs of a manifest: one per line; blank lines and lines starting with # are skipped.
    Local paths are made absolute, relative to the manifest's folder, so every worker reads the same file."""
    try:
        lines = Path(manifest).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ParameterError(f"--manifest {printable(str(manifest))}: cannot be read ({err}); give a text file with one path or URL per line") from None  # fmt: skip
    entries = [x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#")]
    if not entries:
        raise ParameterError(f"--manifest {printable(str(manifest))}: lists no files; give one path or URL per line")
    folder = Path(manifest).resolve().parent
    entries = [x if "://" in x else os.path.normpath(folder / x) for x in entries]
    return list(dict.fromkeys(entries))  # each once, in order


def done_paths(out_dir: Path) -> set[str]:
    """The paths already tagged in the results folder (rows with an error are tried again). A Parquet file
    torn by a kill is renamed ``*.torn`` (its files are done again)."""
    import pyarrow.parquet as pq

    done = set()
    for part in sorted(out_dir.glob("*.parquet")):
        try:
            table = pq.read_table(part, columns=["path", "error"]).to_pydict()
        except Exception as err:  # noqa: BLE001  (pyarrow raises several types for a torn file)
            print(f"instrid: warning: {part}: unreadable ({type(err).__name__}), renamed to .torn and redone", file=sys.stderr)
            part.rename(part.with_suffix(".parquet.torn"))
            continue
        done.update(path for path, error in zip(table["path"], table["error"]) if not error)
    return done


def read_results(out_dir: str | Path):
    """The results folder as one pyarrow Table, one row per file: its answer where one run got it, else the
    latest reason it could not be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: dict[str, dict] = {}
    for part in sorted(Path(out_dir).glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns):
        for row in pq.read_table(part).to_pylist():
            previous = rows.get(row["path"])
            if previous is None or previous["error"]:  # an answer is never replaced by a later failure
                rows[row["path"]] = row
    return pa.Table.from_pylist(list(rows.values()))


class FeatureStage:
    """Ray Data stage 1, per file: its model input windows (W, ...), their silence (W,) and its duration, or
    the one-line reason it cannot be read."""

    def __init__(self, run_dir: str | None, max_seconds: float | None):
        self.recognizer = Recognizer.load(run_dir, device="cpu", runtime="torch")  # only its front end runs here
        self.max_seconds = max_seconds

    def __call__(self, row: dict) -> dict:
        import fsspec

        path, error = row["path"], ""
        try:
            with fsspec.open(path, "rb") as f:
                windows = self.recognizer.windows(f, name=path, max_seconds=self.max_seconds)
        except InstridError as err:
            error = printable(str(err))
        except OSError as err:  # fsspec: no such file, no access, network
            error = printable(f"{path}: cannot be opened ({err}); check the path or URL and its permissions")
        except Exception as err:  # noqa: BLE001  (one file must not stop the library: a bad URL, a cloud client's error)
            error = printable(f"{path}: failed ({type(err).__name__}: {err})")
        if error:
            shapes = self.recognizer.entry.input_shapes(0)
            windows = FileWindows({k: np.zeros(shape, np.float32) for k, shape in shapes.items()}, np.zeros(0, bool), 0.0)
        return {"path": path, "error": error, "duration": windows.duration, "silent": windows.silent,
                **{f"input_{k}": v for k, v in windows.inputs.items()}}  # fmt: skip


class InferenceStage:
    """Ray Data stage 2, an actor: the windows of a batch of files in one pass of the network, then each
    file's answer as ``Recognizer.predict`` gives it, as ``formats.flat_row`` and ``error`` columns."""

    def __init__(self, run_dir: str | None, device: str, runtime: str, threshold: float | None):
        self.recognizer = Recognizer.load(run_dir, device=device, runtime=runtime)
        self.threshold = threshold

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        counts = [len(s) for s in batch["silent"]]
        inputs = {k: np.concatenate(list(batch[f"input_{k}"])) for k in self.recognizer.entry.inputs}  # (sum of W, ...)
        probs = np.split(self.recognizer.scorer.probabilities(inputs), np.cumsum(counts)[:-1])
        codes = self.recognizer.labels
        rows = []
        for path, error, duration, silent, p in zip(batch["path"], batch["error"], batch["duration"], batch["silent"], probs):
            if error:  # typed like the others' so that every Parquet file has one schema
                rows.append({"path": path, "duration": 0.0, "silence": False, "top": "", "top_name": "", "labels": "",
                             "threshold": float("nan"), **dict.fromkeys(codes, float("nan")), "error": error})  # fmt: skip
            else:
                prediction = self.recognizer.prediction(p, silent, float(duration), path=path, threshold=self.threshold)
                rows.append({**flat_row(prediction), "error": ""})
        return {k: [r[k] for r in rows] for k in rows[0]}


def tag_manifest(
    manifest: str | Path,
    out_dir: str | Path,
    *,
    run_dir: str | Path | None = None,
    address: str | None = None,
    actors: int = 1,
    gpus_per_actor: float = 0.0,
    runtime: str = "auto",
    threshold: float | None = None,
    max_seconds: float | None = MAX_SECONDS,
) -> dict:
    """Tag every file of ``manifest`` on Ray Data into Parquet files under ``out_dir``; the files already
    tagged there are skipped, those that failed are tried again. ``address``: a running cluster ("auto",
    "ray://host:10001"; default: ``RAY_ADDRESS``, else a local one). ``run_dir``: None for the shipped model
    (each worker loads its own copy); a run folder must be at the same path on every machine. A file's windows
    are held in memory at once, so files longer than ``max_seconds`` are refused.
    Returns ``{"done": n already there, "tagged": n, "errors": n}`` for this run."""
    import pyarrow.parquet as pq  # instrid[cluster]: the CLI names the extra when one is missing
    import ray
    import ray.data
    if actors < 1 or gpus_per_actor < 0:
        raise ParameterError(f"--actors {actors} --gpus-per-actor {gpus_per_actor}: give at least one actor and no negative GPUs")

    run_dir = None if run_dir is None else str(Path(run_dir).resolve())
    Recognizer.load(run_dir, device="cpu", runtime="torch")  # a bad run folder fails here with one line, not in Ray
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"--out {printable(str(out_dir))}: is a file; give a folder for the Parquet results")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = read_manifest(manifest)
    done = done_paths(out_dir)
    todo = [p for p in paths if p not in done]
    if not todo:
        return {"done": len(paths), "tagged": 0, "errors": 0}
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    device = "cuda" if gpus_per_actor > 0 else "cpu"
    ds = ray.data.from_items([{"path": p} for p in todo])
    ds = ds.map(FeatureStage, fn_constructor_args=(run_dir, max_seconds), concurrency=(1, max(1, int(ray.cluster_resources().get("CPU", 1)))))  # fmt: skip
    ds = ds.map_batches(
        InferenceStage, fn_constructor_args=(run_dir, device, runtime, threshold),
        batch_size=FILES_PER_BATCH, batch_format="numpy", concurrency=actors, num_gpus=gpus_per_actor or None,
    )  # fmt: skip
    before = set(out_dir.glob("*.parquet"))
    ds.write_parquet(str(out_dir))
    new = [pq.read_table(p, columns=["error"]).column("error").to_pylist() for p in set(out_dir.glob("*.parquet")) - before]
    errors = sum(bool(e) for part in new for e in part)
    return {"done": len(paths) - len(todo), "tagged": sum(map(len, new)) - errors, "errors": errors}
