"""Training: ``train(data_dir, out_dir, TrainConfig(model="cross_attention"))``, or ``instrid train``.

The papers' recipe is the default: Adam, lr 1e-4, batch 16, 100 epochs, cross-entropy, 80:20 train /
validation (the paper's Gaussian noise on the pitch mask is available but off: docs/training.md says why). Each epoch is followed by validation (clip-level accuracy and
macro F1, window-level loss); the weights with the lowest validation loss are kept, training stops after
``patience`` epochs without improvement, and every epoch leaves a resumable checkpoint. After training,
theta for the multi-label protocol is chosen on the validation excerpts.

Under ``torchrun`` (WORLD_SIZE > 1) it runs DistributedDataParallel — gloo on CPU, NCCL on GPUs — each
process taking its share of every epoch's batches; rank 0 validates and writes the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from . import checkpoint as ckpt
from .config import OPTIMIZERS, TrainConfig
from .data import Clip, load_dataset, uses_library
from .dataset import class_list, excerpt_clips, scores_excerpts, train_validation
from .distributed import init_distributed
from .errors import CheckpointError, DataError, ParameterError
from .evaluate import choose_run_threshold
from .fileio import atomic_write
from .metrics import single_label_report
from .models import ModelEntry, count_parameters, get_entry
from .models.classical import window_statistics
from .scorer import (
    Scorer,
    SklearnScorer,
    autocast,
    input_statistics,
    make_scorer,
    resolve_device,
    resolve_precision,
    to_device,
)
from .store import ensure_features
from .windows import evaluation_hop, load_windows, mean_by_clip, normalise


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The paper's six optimizers; Lookahead (around Adam) and Ranger come from ``pytorch_optimizer``.
    ``weight_decay`` is decoupled (AdamW) for Adam, Lookahead and Ranger, an L2 term for SGD, RMSprop and RAdam."""
    adam = torch.optim.AdamW if weight_decay else torch.optim.Adam
    if name == "adam":
        return adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, weight_decay=weight_decay)
    if name in ("lookahead", "ranger"):
        import pytorch_optimizer

        if name == "ranger":
            return pytorch_optimizer.Ranger(params, lr=lr, weight_decay=weight_decay)
        return pytorch_optimizer.Lookahead(adam(params, lr=lr, weight_decay=weight_decay), k=5, alpha=0.5)
    raise ParameterError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


@dataclass
class Split:
    """Windows of a set of clips: inputs (N, ...), their labels, and the clip of each window."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray  # (N,) class index of a one-instrument window; -1: no instrument, or several
    targets: np.ndarray  # (N, C) 1 for every instrument the window's clip is labelled with
    clip_index: np.ndarray  # (N,)
    clip_labels: np.ndarray  # (n_clips,) as ``labels``, per clip
    clip_ids: list[str]
    hop: int  # frames between windows


def make_split(packed, clips, entry: ModelEntry, classes: tuple[str, ...], hop: int) -> Split:
    ids = [c.clip_id for c in clips]
    inputs, clip_index = load_windows(packed, ids, entry, hop=hop)
    clip_labels = np.array([classes.index(c.labels[0]) if len(c.labels) == 1 else -1 for c in clips])
    clip_targets = np.array([[label in c.labels for label in classes] for c in clips], np.float32).reshape(len(clips), len(classes))
    return Split(inputs, clip_labels[clip_index], clip_targets[clip_index], clip_index, clip_labels, ids, hop)


def clip_metrics(probs: np.ndarray, split: Split, classes, activation: str = "softmax") -> dict:
    """Validation metrics: window-level loss (the training objective of ``activation``), clip-level accuracy and
    macro F1. For sigmoid scores the loss is the binary cross-entropy over every class: the true class's score
    alone would rate an untrained model that scores every class alike as well as a trained one."""
    if activation == "sigmoid":
        likelihood = np.where(split.targets > 0, probs, 1 - probs)  # (N, C)
    else:
        likelihood = probs[np.arange(len(probs)), split.labels]  # (N,)
    loss = float(-np.log(np.maximum(likelihood, 1e-12)).mean())
    clip_probs = mean_by_clip(probs, split.clip_index, len(split.clip_labels))
    report = single_label_report(split.clip_labels, clip_probs.argmax(1), classes)
    return {"val_loss": loss, "val_accuracy": report["accuracy"], "val_macro_f1": report["macro"]["f1"]}


def train(
    data_dir: str | Path,
    out_dir: str | Path,
    config: TrainConfig,
    *,
    cache: str | Path | None = None,
    resume: bool = False,
    workers: int | None = None,
    progress: bool = True,
    extra_data: Sequence[str | Path] = (),
    exclude_library: str | None = None,
) -> dict:
    """Train ``config.model`` on the dataset at ``data_dir`` into the run folder ``out_dir``; returns run.json.
    Every clip of the ``extra_data`` folders (e.g. real recordings listed in a labels.csv) is added to training;
    clips of ``exclude_library``, alone or in a mixture, are left out (leave-one-library-out, see ``libraries.py``)."""
    out_dir = Path(out_dir)
    entry = get_entry(config.model)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    dd = init_distributed(device)
    if (out_dir / ckpt.RUN_FILE).exists() and not resume:
        raise CheckpointError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    # --resume of a run killed before it wrote run.json (e.g. during feature extraction) starts it afresh
    previous = ckpt.read_run(out_dir) if resume and (out_dir / ckpt.RUN_FILE).exists() else None
    if previous is not None and dataclasses.replace(TrainConfig(**previous["train"]), epochs=config.epochs) != config:
        raise CheckpointError(f"{out_dir}: --resume with other settings than the run's ({previous['train']}); only --epochs may change")

    if entry.kind == "sklearn" and config.loss == "sigmoid":
        raise ParameterError(f"--loss sigmoid needs a network; {entry.name} is a scikit-learn baseline with one answer per clip (softmax)")
    task = config.task or entry.task
    clips = [c for c in load_dataset(data_dir) if not uses_library(c, exclude_library)]
    train_clips, val_clips = train_validation(clips, task, seed=config.seed)
    multi_label = config.loss == "sigmoid"  # clips of no instrument or of several: a sigmoid model learns from them
    train_clips += [c for c in extra_clips(extra_data) if (len(c.labels) == 1 or multi_label) and not uses_library(c, exclude_library)]
    classes = class_list(train_clips + val_clips)
    val_excerpts = excerpt_clips(clips, "validation") if scores_excerpts(task, config.loss) else []
    cache = Path(cache) if cache else Path(data_dir) / "features"
    if dd.main:
        packed = ensure_features(train_clips + val_clips + val_excerpts, entry, cache, workers=workers, progress=progress)
    if dd.world > 1:
        dist.barrier()
    if not dd.main:
        packed = ensure_features(train_clips + val_clips + val_excerpts, entry, cache, progress=False)
    train_clips, val_clips, val_excerpts = ([c for c in cs if c.clip_id in packed] for cs in (train_clips, val_clips, val_excerpts))
    if not train_clips or not val_clips:
        raise DataError(f"{data_dir}: no readable training or validation clips for task {task!r} (see the lines above)")

    train_split = make_split(packed, train_clips, entry, classes, hop=entry.window)
    val_split = make_split(packed, val_clips, entry, classes, hop=evaluation_hop(entry))
    stats = input_statistics(train_split.inputs, entry)
    model_config = entry.make_config(**{**config.model_config, "n_classes": len(classes)})
    # a presence head's loss takes both heads' outputs; built here, it refuses data it cannot learn from before any work
    gated_loss = presence_loss(train_split.targets, config.loss) if getattr(model_config, "presence", False) else None
    run = previous or {
        "model": entry.name,
        "model_config": ckpt.config_to_dict(model_config),
        "train": dataclasses.asdict(config),
        "task": task,
        "labels": list(classes),
        "features": entry.features.to_dict(),
        "window": entry.window,
        "normalization": stats,
        "activation": config.loss,
        "data": str(data_dir),
        "extra_data": [str(folder) for folder in extra_data],
        "excluded_library": exclude_library,
        "n_clips": {"train": len(train_clips), "validation": len(val_clips), "validation_excerpts": len(val_excerpts)},
        "n_windows": {"train": len(train_split.labels), "validation": len(val_split.labels)},
        "precision": precision,
        "history": [],
        "status": "running",
    }
    run["train"]["epochs"] = config.epochs
    if dd.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt.write_json(out_dir / ckpt.RUN_FILE, run)

    if entry.kind == "sklearn":
        model = entry.build(model_config).fit(window_statistics(train_split.inputs["descriptors"]), train_split.labels)
        run["parameters"] = None
        probs = SklearnScorer(model, entry, len(classes)).probabilities(val_split.inputs)
        run["history"] = [{"epoch": 1, **clip_metrics(probs, val_split, classes)}]
        run["best_epoch"] = 1
        if dd.main:
            ckpt.save_sklearn(out_dir / ckpt.SKLEARN_MODEL, model)
    else:
        torch.manual_seed(config.seed)
        net = entry.build(model_config).to(device).to(memory_format=torch.channels_last)
        run["parameters"] = count_parameters(net)
        groups = net.parameter_groups(config.lr) if hasattr(net, "parameter_groups") else [p for p in net.parameters() if p.requires_grad]
        optimizer = make_optimizer(config.optimizer, groups, config.lr, config.weight_decay)
        if getattr(net, "embeds_once", False):  # a frozen pretrained network: its embeddings are computed once
            store = embedding_store(cache, net, run["precision"])
            train_split, val_split = (embed_split(net, split, device, run["precision"], store) for split in (train_split, val_split))
            if getattr(net.config, "nuisance_dims", 0) and not run["history"]:  # a resumed run has it in its weights
                library = {c.clip_id: c.source for c in train_clips}
                net.fit_nuisance(train_split.inputs["embedding"], train_split.labels,
                                 np.array([library[train_split.clip_ids[i]] for i in train_split.clip_index]))  # fmt: skip
        if resume and run["history"]:
            net.load_state_dict(ckpt.load_weights(out_dir / ckpt.LAST_WEIGHTS))
            tensors = ckpt.load_weights(out_dir / ckpt.OPTIMIZER_STATE)
            optimizer.load_state_dict(ckpt.unflatten_state(run["optimizer_state"], tensors))
        model = nn.parallel.DistributedDataParallel(net) if dd.world > 1 else net
        _fit(model, net, optimizer, entry, config, run, train_split, val_split, stats, classes, device, dd, out_dir, progress,
             gated_loss)  # fmt: skip
        if dd.main:
            net.load_state_dict(ckpt.load_weights(out_dir / ckpt.BEST_WEIGHTS))
        model = net.eval()

    if dd.main:
        scorer = make_scorer(entry, model, run, device=device, precision=run["precision"])
        run["threshold"] = choose_run_threshold(scorer, packed, val_excerpts, classes)
        best = next(h for h in run["history"] if h["epoch"] == run["best_epoch"])
        run["validation"] = {k: v for k, v in best.items() if k.startswith("val_")}
        run["status"] = "done"
        ckpt.write_json(out_dir / ckpt.RUN_FILE, run)
    if dd.world > 1:
        dist.barrier()
    return run


def _fit(model, net, optimizer, entry, config, run, train_split, val_split, stats, classes, device, dd, out_dir, progress,
         gated_loss=None):  # fmt: skip
    """The epoch loop; ``model`` is ``net`` or its DDP wrapper; ``gated_loss``: a presence head's loss."""
    gated = gated_loss is not None
    loss_fn = gated_loss or (nn.CrossEntropyLoss() if config.loss == "softmax" else nn.BCEWithLogitsLoss())
    train_inputs = normalise(train_split.inputs, stats)
    labels = torch.from_numpy(train_split.labels if config.loss == "softmax" else train_split.targets)  # (N,) or (N, C)
    n = len(labels)
    steps = max(1, n // dd.world // config.batch_size + bool(n // dd.world % config.batch_size))
    best_loss = min((h["val_loss"] for h in run["history"]), default=float("inf"))
    for epoch in range(len(run["history"]) + 1, config.epochs + 1):
        if run["history"] and config.patience and epoch - run["best_epoch"] > config.patience:
            break
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)  # same order on every rank
        torch.manual_seed(config.seed * 100_003 + epoch + dd.rank)  # dropout
        order = torch.randperm(n, generator=generator)
        mine = order[dd.rank :: dd.world][: n // dd.world if dd.world > 1 else n]  # equal shares under DDP
        model.train()
        total, seen = 0.0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{config.epochs}", unit="step", leave=False, disable=not (progress and dd.main))
        for step in bar:
            idx = mine[step * config.batch_size : (step + 1) * config.batch_size].numpy()
            batch = {k: v[idx] for k, v in train_inputs.items()}
            batch = add_mask_noise(batch, config.mask_noise_std, generator)
            with autocast(device, run["precision"]):
                logits = model(**to_device(batch, device), **({"parts": True} if gated else {}))
            loss = loss_fn(logits if gated else logits.float(), labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        train_loss = dd.mean(total / max(seen, 1))
        row = None
        if dd.main:
            probs = Scorer(net, entry, stats, len(classes), device=device, precision=run["precision"], activation=config.loss).probabilities(val_split.inputs)
            row = {"epoch": epoch, "train_loss": train_loss, **clip_metrics(probs, val_split, classes, config.loss),
                   "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started}  # fmt: skip
            run["history"].append(row)
            if row["val_loss"] < best_loss:
                best_loss, run["best_epoch"] = row["val_loss"], epoch
                ckpt.save_weights(out_dir / ckpt.BEST_WEIGHTS, net.state_dict())
            if epoch in config.snapshot_epochs:
                ckpt.save_weights(out_dir / ckpt.snapshot_file(epoch), net.state_dict())
            ckpt.save_checkpoint(net, optimizer, run, out_dir)
            print(
                f"epoch {epoch}: train loss {train_loss:.4f}, val loss {row['val_loss']:.4f}, "
                f"val accuracy {row['val_accuracy']:.1%}, val macro F1 {row['val_macro_f1']:.3f} ({row['seconds']:.0f} s)",
                flush=True,
            )
        synced = dd.broadcast({"history": run["history"], "best_epoch": run.get("best_epoch")})
        run.update(synced)


def presence_loss(targets: np.ndarray, loss: str):
    """The loss of a network with a presence head (``forward(parts=True)``: class logits (B, C), presence
    logit (B,)): binary cross-entropy of the presence head against "some instrument is labelled", with the two
    kinds weighted equally whatever their shares of the training windows (``targets``, (N, C)), plus the
    instrument head's binary cross-entropy on the windows with an instrument only."""
    plays = targets.max(axis=1) > 0
    if loss != "sigmoid":
        raise ParameterError("--set presence=true needs --loss sigmoid: a presence head scores clips of no instrument")
    if plays.all() or not plays.any():
        raise ParameterError("--set presence=true needs clips of no instrument and clips of one among the training "
                             "data (e.g. --extra-data of scripts/make_out_of_set.py --training)")  # fmt: skip
    presence_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float((~plays).sum() / plays.sum())))
    head_fn = nn.BCEWithLogitsLoss()

    def loss_fn(outputs: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        logits, presence = (x.float() for x in outputs)
        labelled = y.amax(dim=1)  # (B,) 1 where an instrument plays
        total = presence_fn(presence, labelled)
        if labelled.any():
            total = total + head_fn(logits[labelled > 0], y[labelled > 0])
        return total

    return loss_fn


def extra_clips(folders: Sequence[str | Path]) -> list[Clip]:
    """Every clip of ``folders`` as a training clip, its id prefixed with the folder's name."""
    return [dataclasses.replace(c, clip_id=f"{Path(folder).name}-{c.clip_id}", split="train") for folder in folders for c in load_dataset(folder)]


def embedding_store(cache: str | Path, net, precision: str) -> Path:
    """The folder of a frozen network's cached embeddings under a feature ``cache`` (``embed_split``)."""
    return Path(cache) / f"embeddings-{embedding_key(net, precision)}"


def embedding_key(net, precision: str) -> str:
    """What a frozen network's embeddings depend on: its weights, its ``embedding_settings`` and the precision."""
    digest = hashlib.sha1(f"{net.embedding_settings}{precision}".encode())
    for value in net.backbone.state_dict().values():
        digest.update(value.cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


@torch.inference_mode()
def embed_split(net, split: Split, device: torch.device, precision: str, store: Path, batch_size: int = 64) -> Split:
    """``split`` with its windows replaced by the frozen network's embeddings (N, D), each clip's kept in
    ``store`` (``<clip_id>-<hop>.npy``), so that later runs on the same clips (e.g. the folds of a
    leave-one-library-out evaluation) compute none again."""
    net.eval()
    store.mkdir(parents=True, exist_ok=True)
    files = [store / f"{clip_id}-{split.hop}.npy" for clip_id in split.clip_ids]
    per_clip: list[np.ndarray | None] = [np.load(f) if f.exists() else None for f in files]
    todo = np.flatnonzero(np.isin(split.clip_index, [i for i, e in enumerate(per_clip) if e is None]))
    mel = split.inputs["mel"][todo]
    out = []
    for i in range(0, len(mel), batch_size):
        with autocast(device, precision):
            out.append(net.embed(to_device({"mel": mel[i : i + batch_size]}, device)["mel"]).float().cpu().numpy())
    if out:
        computed, owners = np.concatenate(out), split.clip_index[todo]
        for i in np.unique(owners):
            per_clip[i] = computed[owners == i]
            atomic_write(files[i], lambda f, e=per_clip[i]: np.save(f, e))
    embeddings = np.concatenate(per_clip) if per_clip else np.zeros((0, 0), np.float32)  # windows are in clip order
    return dataclasses.replace(split, inputs={"embedding": embeddings})


def add_mask_noise(batch: dict[str, np.ndarray], std: float, generator: torch.Generator) -> dict[str, np.ndarray]:
    """The paper's training-time augmentation: Gaussian noise N(0, std^2) on the pitch mask (B, 1, F, T), drawn
    from ``generator`` (so a resumed run draws what an unbroken one would); other inputs unchanged."""
    if std < 0:
        raise ParameterError(f"mask noise std must be >= 0, got {std}")
    if "mask" not in batch or std == 0:
        return batch
    noise = torch.randn(batch["mask"].shape, generator=generator).numpy() * std
    return {**batch, "mask": batch["mask"] + noise.astype(np.float32)}


