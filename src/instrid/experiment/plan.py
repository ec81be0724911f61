"""What each experiment trains: profiles (how long), jobs (one training run each) and the papers' figures.

An experiment is a list of ``Job``s, each one ``instrid train`` run with a fixed ``TrainConfig`` plus the
measurements its tables need. Jobs are named after the model, optimizer and seed, so a killed
experiment finds its finished runs again and skips them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import TrainConfig
from ..errors import ParameterError


@dataclass(frozen=True)
class Profile:
    epochs: int  # at most this many epochs per run (early stopping may end it sooner)
    patience: int  # early stopping on the validation loss; 0: off
    optimizer_epochs: int  # Figure 5: epochs of the optimizer comparison
    snapshot_epochs: tuple[int, ...]  # Figure 3: epochs whose embeddings are drawn with t-SNE
    snr_db: tuple[float, ...]  # HSSANet noise robustness: white noise at these SNRs
    timing_repeats: int  # Table 6: inference is timed this many times, the fastest kept
    data_size: str  # the rendered dataset used when no --data is given (``instrid render --size``)
    summary: str


PROFILES = {
    "quick": Profile(
        epochs=2, patience=0, optimizer_epochs=2, snapshot_epochs=(1, 2), snr_db=(30, 10, 0), timing_repeats=1, data_size="tiny",
        summary="checks the pipeline, not the science: 2 epochs per run",
    ),
    "full": Profile(
        epochs=100, patience=10, optimizer_epochs=10, snapshot_epochs=(1, 5, 10, 20, 40, 60, 80, 100),
        snr_db=(30, 25, 20, 15, 10, 5, 0), timing_repeats=5, data_size="medium",
        summary="the papers' recipe: Adam 1e-4, batch 16, up to 100 epochs, early stopping after 10 without a lower validation loss",
    ),
}  # fmt: skip

TABLE1_MODELS = ("hssanet", "vggish", "resnet18", "wavenet")  # HSSANet paper, Table 1 (OpenL3: not offline)
HSSANET_ABLATIONS = ("hssanet_no_harmonics", "hssanet_no_attention")  # the parts the paper credits, left out
PRETRAINED_MODEL = "musicnn"  # beside both papers' tables: the pretrained musicnn, frozen, with a trained head
TABLE3_MODELS = ("han2017", "mel_cnn", "mask_cnn", "cross_attention")  # cross-attention paper, Table 3 / Figure 4
ABLATION_MODELS = ("mel_cnn", "mask_cnn", "concat", "cross_attention")  # Table 4
CLEAN_MASK_MODEL = "cross_attention_clean"  # Table 5: the same network on the post-processed mask
CLASSICAL_MODELS = ("svm", "mlp")  # Table 6's classical baselines
TSNE_MODELS = ("cross_attention", "concat")  # Figure 3
FIGURE5_OPTIMIZERS = ("adam", "sgd", "rmsprop", "radam", "ranger", "lookahead")
EXPERIMENTS = ("hssanet", "cross-attention")


@dataclass(frozen=True)
class Job:
    name: str  # run folder name, e.g. "cross_attention-seed0"
    config: TrainConfig
    measures: tuple[str, ...]  # "test" (evaluate on test), "noise", "timing", "embeddings"

    def to_dict(self) -> dict:
        return {"name": self.name, "train": dataclasses.asdict(self.config), "measures": list(self.measures)}


def profile_with(name: str, *, epochs: int | None = None) -> Profile:
    """The named profile, with ``epochs`` (when given) capping every run and the snapshots."""
    if name not in PROFILES:
        raise ParameterError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    profile = PROFILES[name]
    if epochs is None:
        return profile
    if epochs < 1:
        raise ParameterError(f"--epochs must be at least 1, got {epochs}")
    snapshots = tuple(e for e in profile.snapshot_epochs if e <= epochs) or (epochs,)
    return dataclasses.replace(
        profile, epochs=epochs, optimizer_epochs=min(profile.optimizer_epochs, epochs), snapshot_epochs=snapshots
    )


def jobs_of(experiment: str, profile: Profile, seeds: int, models: tuple[str, ...] = ()) -> list[Job]:
    """The runs ``experiment`` needs, seed by seed (so that a partial experiment has whole seeds first);
    ``models`` (when given) keeps only those runs, named as ``run_name`` names them."""
    if experiment not in EXPERIMENTS:
        raise ParameterError(f"unknown experiment {experiment!r}; choose one of: {', '.join(EXPERIMENTS)}")
    if seeds < 1:
        raise ParameterError(f"--seeds must be at least 1, got {seeds}")
    jobs = []
    for seed in range(seeds):

        def job(model: str, measures: tuple[str, ...], **train) -> Job:
            config = TrainConfig(model=model, epochs=profile.epochs, patience=profile.patience, seed=seed, **train)
            suffix = f"-{config.optimizer}" if config.optimizer != "adam" else ""
            return Job(f"{model}{suffix}-seed{seed}", config, measures)

        if experiment == "hssanet":
            jobs += [job(m, ("test", "noise")) for m in (*TABLE1_MODELS, *HSSANET_ABLATIONS)]
            jobs.append(job(PRETRAINED_MODEL, ("test",), task="solo"))
            continue
        for model in dict.fromkeys((*TABLE3_MODELS, *ABLATION_MODELS, CLEAN_MASK_MODEL, *CLASSICAL_MODELS)):
            snapshots = list(profile.snapshot_epochs) if model in TSNE_MODELS else []
            measures = ("test", "timing", "embeddings") if snapshots else ("test", "timing")
            jobs.append(job(model, measures, snapshot_epochs=snapshots))
        jobs.append(job(PRETRAINED_MODEL, ("test",), task="mix"))
        # Figure 5: adam's curve is the cross_attention run's (same seed, same batches: the same first epochs)
        jobs += [
            dataclasses.replace(j, config=dataclasses.replace(j.config, epochs=profile.optimizer_epochs, patience=0))
            for j in (job("cross_attention", (), optimizer=o) for o in FIGURE5_OPTIMIZERS if o != "adam")
        ]
    if models:
        known = list(dict.fromkeys(run_name(j) for j in jobs))
        unknown = [m for m in models if m not in known]
        if unknown:
            raise ParameterError(
                f"--models: {experiment} has no run {', '.join(unknown)}; choose from: {', '.join(known)}"
            )
        jobs = [j for j in jobs if run_name(j) in models]
    return jobs


def run_name(job: Job) -> str:
    """A job's name without its seed: the model, and the optimizer when it is not Adam (``cross_attention-sgd``)."""
    return job.name.rsplit("-seed", 1)[0]
