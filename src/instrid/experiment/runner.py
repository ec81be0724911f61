"""Running an experiment: every job trained (or found finished), measured, and the report written.

Resumable: each job's run folder is ``OUT/runs/JOB`` and its measurements ``OUT/runs/JOB/experiment.json``,
written atomically when the job is complete; a second call skips complete jobs, resumes an interrupted
training from its last epoch and refuses a run folder that was trained with other settings. A job measured
before on the same data and recorded in ``OUT/results.json`` (a committed report, on a machine without its run
folders) counts as complete too, so ``--models`` can add models to a report without training the others again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from ..data import Clip, load_dataset, render_dataset
from ..data.layouts import METADATA_FILE
from ..dataset import task_clips
from ..errors import CheckpointError
from ..evaluate import evaluate
from ..models import get_entry
from ..scorer import cpu_info
from ..train import TrainConfig, train
from .measures import embeddings, inference_time, noise_accuracy
from .plan import Job, Profile, jobs_of, profile_with
from .report import write_report

RESULT_FILE = "experiment.json"


def run_experiment(
    name: str,
    data: str | Path | None,
    out: str | Path,
    *,
    profile: str = "quick",
    seeds: int = 3,
    epochs: int | None = None,
    models: tuple[str, ...] = (),
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Train and measure what experiment ``name`` needs on the dataset at ``data`` (None: the profile's rendered
    dataset, ``data/SIZE``, rendered if it is not there); with ``models``, only those runs. Write
    ``out/report.md``, ``out/results.json`` and ``out/figures/*.png`` from every finished run of the experiment
    in ``out/runs``, whichever call trained it. Returns the report's path."""
    started = time.perf_counter()
    settings = profile_with(profile, epochs=epochs)
    plan, jobs = jobs_of(name, settings, seeds), jobs_of(name, settings, seeds, models)
    data, out = Path(data or f"data/{settings.data_size}"), Path(out)
    if not (data / METADATA_FILE).exists() and data == Path(f"data/{settings.data_size}"):
        render_dataset(data, size=settings.data_size, seed=0, workers=workers, progress=progress)
    clips = load_dataset(data)
    recorded = recorded_results(out, name, split_summary(clips))
    for i, job in enumerate(jobs, 1):
        print(f"instrid experiment {name}: [{i}/{len(jobs)}] {job.name}", flush=True)
        run_job(job, data, out / "runs", clips, settings, recorded=recorded, workers=workers, progress=progress)
    results = {job.name: r for job in plan if (r := finished_result(job, out / "runs", recorded)) is not None}
    context = {
        "experiment": name,
        "data": str(data),
        "splits": split_summary(clips),
        "profile": {"name": profile, "epochs_capped_by_option": epochs, **dataclasses.asdict(settings)},
        "seeds": seeds,
        "missing": [job.name for job in plan if job.name not in results],
        "hardware": hardware(),
        "wall_seconds_this_call": time.perf_counter() - started,
        "compute_seconds_all_jobs": sum(r["seconds"]["train"] + r["seconds"]["measures"] for r in results.values()),
        "command": f"instrid experiment {name} --data {data} --out {out} --profile {profile} --seeds {seeds}"
        + (f" --epochs {epochs}" if epochs else ""),
    }
    return write_report(out, context, results)


def run_job(
    job: Job, data: Path, runs: Path, clips: list[Clip], profile: Profile, *, recorded=None, workers=None, progress=True
) -> dict:
    """Train ``job`` (or find it trained) and take its measurements; returns (and saves) its results."""
    run_dir = runs / job.name
    if (result := finished_result(job, runs, recorded)) is not None:
        return result
    started = time.perf_counter()
    run = trained_run(job, data, run_dir, workers=workers, progress=progress)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    result = {
        "job": job.to_dict(),
        "run": {k: run.get(k) for k in ("model", "task", "labels", "parameters", "best_epoch", "history", "validation", "threshold", "n_clips", "precision")},
    }  # fmt: skip
    cache = data / "features"
    test_clips = [c for c in task_clips(clips, run["task"], "test") if c.labels[0] in run["labels"]]
    if "test" in job.measures:
        result["test"] = evaluate(run_dir, data, split="test", workers=workers, progress=progress)
    if "noise" in job.measures and test_clips:
        result["noise"] = noise_accuracy(run_dir, test_clips, profile.snr_db, cache=cache)
    if "timing" in job.measures and test_clips:
        result["timing"] = inference_time(run_dir, test_clips, cache, repeats=profile.timing_repeats)
    if "embeddings" in job.measures and test_clips:
        first_seed = job.config.seed == 0
        result["embeddings"] = embeddings(run_dir, test_clips, cache, job.config.snapshot_epochs, tsne=first_seed)
    history_seconds = sum(h.get("seconds", 0.0) for h in run["history"])
    result["seconds"] = {"train": history_seconds or trained, "measures": time.perf_counter() - started}
    ckpt.write_json(run_dir / RESULT_FILE, result)
    return result


def finished_result(job: Job, runs: Path, recorded: dict | None = None) -> dict | None:
    """The saved results of ``job`` in ``runs/JOB`` (else in ``recorded``, see ``recorded_results``), or None when
    it has not finished with these settings."""
    saved = runs / job.name / RESULT_FILE
    result = json.loads(saved.read_text()) if saved.exists() else (recorded or {}).get(job.name)
    return result if result is not None and result["job"] == job.to_dict() else None


def recorded_results(out: Path, experiment: str, splits: list[dict]) -> dict:
    """The jobs of ``out/results.json`` when it records ``experiment`` on data with exactly these ``splits``
    (clip counts by task, split and source); {} when there is none, or it was measured on other data."""
    try:
        raw = json.loads((out / "results.json").read_text())
        context, jobs = raw["context"], raw["jobs"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if context.get("experiment") != experiment or context.get("splits") != splits:
        print(f"{out / 'results.json'}: measured on other data than this; its jobs are not reused", flush=True)
        return {}
    return jobs


def trained_run(job: Job, data: Path, run_dir: Path, *, workers=None, progress=True) -> dict:
    """The finished run of ``job``: found in ``run_dir``, resumed there, or trained from scratch."""
    resume = (run_dir / ckpt.RUN_FILE).exists()
    if resume:
        run = ckpt.read_run(run_dir)
        if TrainConfig(**run["train"]) != job.config:
            raise CheckpointError(
                f"{run_dir} holds a run with other settings than this experiment's ({run['train']}); "
                "use another --out, or delete that folder to train it again"
            )
        if run["status"] == "done":
            return run
    get_entry(job.config.model)  # fail early on an unknown model
    return train(data, run_dir, job.config, resume=resume, workers=workers, progress=progress)


def split_summary(clips: list[Clip]) -> list[dict]:
    """Clip counts by task, split and source (sound font or dataset), for the report."""
    counts: dict[tuple[str, str, str], int] = {}
    for c in clips:
        key = (c.task or "-", c.split, c.source or "-")
        counts[key] = counts.get(key, 0) + 1
    return [{"task": t, "split": s, "source": src, "clips": n} for (t, s, src), n in sorted(counts.items())]


def hardware() -> dict:
    cpu = cpu_info().get("model name") or platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version()}  # fmt: skip
