import csv
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from instrid.checkpoint import flatten_state, unflatten_state
from instrid.cli import main
from instrid.labels import IRMAS_CLASSES
from instrid.train import OPTIMIZERS, Split, TrainConfig, clip_metrics, make_optimizer, train

TINY_NET = {"d_model": 16, "d_ff": 32, "d_head": 16, "mel_channels": [4, 8, 8], "mask_channels": [4, 8, 8]}
TINY_SET = [arg for k, v in TINY_NET.items() for arg in ("--set", f"{k}={json.dumps(v)}")]


def tiny_config(**kw):
    return TrainConfig(**{"model": "cross_attention", "epochs": 2, "lr": 1e-3, "model_config": TINY_NET, **kw})


def test_train_and_evaluate_from_the_cli(tiny_dataset, tmp_path, capsys):
    data, _ = tiny_dataset
    run = tmp_path / "run"
    assert main(["train", "--model", "cross_attention", "--data", str(data), "--out", str(run), "--epochs", "2", "--lr", "1e-3", *TINY_SET]) == 0
    assert {p.name for p in run.iterdir()} >= {"run.json", "model.safetensors", "last.safetensors", "optimizer.safetensors", "metrics.csv"}
    assert not [p for p in run.rglob("*") if p.suffix in (".pt", ".pth", ".pkl", ".ckpt")]  # nothing pickled
    info = json.loads((run / "run.json").read_text())
    assert info["labels"] == list(IRMAS_CLASSES) and info["status"] == "done" and info["task"] == "mix"
    assert info["threshold"]["chosen_on"] == "validation excerpts (2)" and 0 < info["threshold"]["value"] < 1
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and all(float(r["val_loss"]) > 0 for r in rows)

    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "Micro Avg" in out and "multi-label excerpts of test (2)" in out
    assert (run / "confusion-test.png").stat().st_size > 0
    assert main(["evaluate", "--run", str(run), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["single_label"]["n"] == 11 and sum(map(sum, result["single_label"]["confusion"])) == 11
    assert result["multi_label"]["threshold"]["value"] == info["threshold"]["value"]  # theta from validation, not tuned on test

    assert main(["train", "--model", "cross_attention", "--data", str(data), "--out", str(run)]) == 1
    assert "--resume" in capsys.readouterr().err


def test_same_seed_same_metrics_and_resume_continues_exactly(tiny_dataset, tmp_path):
    data, _ = tiny_dataset
    full = train(data, tmp_path / "full", tiny_config(), progress=False)
    again = train(data, tmp_path / "again", tiny_config(), progress=False)
    assert [h["val_loss"] for h in again["history"]] == [h["val_loss"] for h in full["history"]]
    train(data, tmp_path / "killed", tiny_config(epochs=1), progress=False)  # as if killed after epoch 1
    resumed = train(data, tmp_path / "killed", tiny_config(), resume=True, progress=False)
    for a, b in zip(resumed["history"], full["history"], strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6) and a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)


def test_distributed_training_with_two_cpu_processes(tiny_dataset, tmp_path):
    data, _ = tiny_dataset
    single = train(data, tmp_path / "single", tiny_config(), progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "instrid",
           "train", "--model", "cross_attention", "--data", str(data), "--out", str(tmp_path / "ddp"), "--epochs", "2",
           "--lr", "1e-3", *TINY_SET]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ddp = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert ddp.keys() == single.keys() and ddp["status"] == "done"
    assert [h.keys() for h in ddp["history"]] == [h.keys() for h in single["history"]]
    assert ddp["parameters"] == single["parameters"] and ddp["labels"] == single["labels"]
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(p.name for p in (tmp_path / "single").iterdir())


def test_evaluate_of_the_shipped_model_writes_beside_the_user_not_into_the_package(tiny_dataset, tmp_path, monkeypatch, capsys):
    from instrid.runtime import SHIPPED_RUN

    data, _ = tiny_dataset
    def package_files():
        return sorted((p, p.stat().st_size, p.stat().st_mtime_ns) for p in SHIPPED_RUN.rglob("*"))

    before = package_files()
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--data", str(data), "--cache", str(tmp_path / "cache"), "--workers", "1"]) == 0
    assert "musicnn on test" in capsys.readouterr().out
    assert (tmp_path / "instrid-evaluation" / "confusion-test.png").stat().st_size > 0
    assert json.loads((tmp_path / "instrid-evaluation" / "evaluation-test.json").read_text())["model"] == "musicnn"
    assert main(["evaluate", "--data", str(data), "--out", str(tmp_path / "elsewhere"), "--cache", str(tmp_path / "cache")]) == 0
    assert (tmp_path / "elsewhere" / "evaluation-test.json").exists()
    assert package_files() == before
    # an install without the shipped model says so, and what to pass instead
    monkeypatch.setattr("instrid.runtime.SHIPPED_RUN", tmp_path / "no-model")
    assert main(["evaluate", "--data", str(data)]) == 1
    assert "ships no model; pass --run" in capsys.readouterr().err


def test_classical_baseline_trains_and_evaluates(tiny_dataset, tmp_path, capsys):
    data, _ = tiny_dataset
    run = train(data, tmp_path / "svm", TrainConfig(model="svm"), progress=False)
    assert run["parameters"] is None and (tmp_path / "svm" / "model.skops").exists()
    assert main(["evaluate", "--run", str(tmp_path / "svm"), "--data", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["single_label"]
    assert report["n"] == 11 and sum(map(sum, report["confusion"])) == 11  # every test clip was scored once
    assert report["accuracy"] == sum(report["confusion"][i][i] for i in range(11)) / 11


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_survives_safetensors_round_trip(name):
    def fresh():
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        return model, make_optimizer(name, model.parameters(), 1e-2)

    def step(model, optimizer):
        loss = model(torch.ones(2, 4)).square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    a, opt_a = fresh()
    for _ in range(3):
        step(a, opt_a)
    tensors = {}
    saved = json.loads(json.dumps(flatten_state(opt_a.state_dict(), tensors)))  # through JSON, as on disk
    b, opt_b = fresh()
    b.load_state_dict(a.state_dict())
    opt_b.load_state_dict(unflatten_state(saved, {k: v.clone() for k, v in tensors.items()}))
    for _ in range(3):
        step(a, opt_a)
        step(b, opt_b)
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_folder_dataset_with_a_corrupt_file_trains_and_reports_it(write_audio, tmp_path, capsys):
    from conftest import tone

    for i in range(6):
        write_audio(f"data/low/{i}.wav", tone(110 * (1 + i % 3), 1.5))
        write_audio(f"data/high/{i}.wav", tone(880 * (1 + i % 3), 1.5))
    (tmp_path / "data" / "high" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    run = train(tmp_path / "data", tmp_path / "run", tiny_config(epochs=1), progress=False)
    assert "broken.wav" in capsys.readouterr().err  # skipped, with the reason, not fatal
    assert run["labels"] == ["high", "low"] and run["n_clips"] == {"train": 9, "validation": 3, "validation_excerpts": 0}
    assert run["threshold"]["chosen_on"].startswith("default")  # no multi-label validation excerpts: Han's 0.5


def test_killing_feature_extraction_leaves_no_workers_and_resume_starts_the_run(tiny_dataset, tmp_path):
    import signal
    import time
    from pathlib import Path

    def children(pid: int) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
        return found

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    data, _ = tiny_dataset
    cache, out = tmp_path / "cache", tmp_path / "run"
    args = ["train", "--model", "hssanet", "--data", str(data), "--out", str(out), "--cache", str(cache), "--workers", "2", "--epochs", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "instrid", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(cache.glob("*/clips/*.npz")) and time.monotonic() < deadline:  # extraction has begun
        time.sleep(0.05)
    workers = children(proc.pid)
    assert len(workers) >= 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers))
    assert not (out / "run.json").exists()
    assert main([*args, "--resume"]) == 0  # a run killed before it saved anything starts afresh
    assert json.loads((out / "run.json").read_text())["status"] == "done"


def test_run_files_follow_the_umask(tmp_path):
    from instrid.fileio import atomic_write

    atomic_write(tmp_path / "x.json", lambda f: f.write(b"{}"))
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_trainer_adds_gaussian_noise_to_the_mask_only():
    from instrid.errors import ParameterError
    from instrid.train import add_mask_noise

    batch = {"mel": np.ones((8, 1, 128, 100), np.float32), "mask": np.zeros((8, 1, 128, 100), np.float32)}
    a = add_mask_noise(batch, 0.1, torch.Generator().manual_seed(3))
    b = add_mask_noise(batch, 0.1, torch.Generator().manual_seed(3))
    assert np.array_equal(a["mask"], b["mask"]) and a["mask"].std() == pytest.approx(0.1, rel=0.02)
    assert a["mel"] is batch["mel"] and not batch["mask"].any()  # the mel is untouched, the batch not changed in place
    assert add_mask_noise(batch, 0.0, torch.Generator()) is batch
    with pytest.raises(ParameterError):
        add_mask_noise(batch, -1.0, torch.Generator())


@pytest.mark.parametrize("bad", [{"optimizer": "nope"}, {"precision": "fp8"}, {"mask_noise_std": -1.0}, {"model": "svm", "loss": "sigmoid"}])
def test_bad_settings_fail_before_any_work(bad, tmp_path):
    from instrid.errors import ParameterError

    with pytest.raises(ParameterError):
        train(tmp_path / "no-data", tmp_path / "run", TrainConfig(**bad), progress=False)
    assert not (tmp_path / "run").exists()


def test_musicnn_head_with_sigmoid_loss_negatives_mixtures_and_leave_one_library_out(tmp_path, write_audio):
    """The shipped recipe's path, small: frozen musicnn embeddings (computed once, then cached), extra clips
    with no instrument and with several, per-class sigmoid scores, and one fold per library trained without
    it (and without every mixture that uses it)."""
    from conftest import tone

    from instrid.data import mix_recordings, render_dataset, uses_library
    from instrid.dataset import train_validation
    from instrid.errors import ParameterError
    from instrid.evaluate import evaluate
    from instrid.libraries import adopt_rule, leave_one_library_out
    from instrid.models import get_entry
    from instrid.predict import Recognizer
    from instrid.runtime import load_scorer
    from instrid.store import ensure_features
    from instrid.windows import load_windows

    data = tmp_path / "data"
    clips = render_dataset(data, size="tiny", seed=0, libraries=("fluid", "timgm"), progress=False)
    negatives = tmp_path / "negatives"
    for i in range(4):
        write_audio(f"negatives/noise-{i}.wav", tone(50.0 + 10 * i, 3.0))
    (negatives / "labels.csv").write_text("file,label,source\n" + "".join(f"noise-{i}.wav,,hum\n" for i in range(4)))
    for i in range(3):  # a third library, for mixtures only
        write_audio(f"tones/{i}.wav", tone(220.0 * (i + 1), 3.0))
    (tmp_path / "tones" / "labels.csv").write_text("file,label,source\n" + "".join(f"{i}.wav,org,tones\n" for i in range(3)))
    mixes = mix_recordings([data, tmp_path / "tones"], tmp_path / "mixes", count=10, seed=0, max_instruments=2, workers=1, progress=False)
    assert {"fluid", "timgm"} < {library for p in mixes for library in p.source.split("+")}
    assert {p.source for p in mixes} & {"fluid+tones", "timgm+tones"}  # kept by one of the folds below
    config = TrainConfig(model="musicnn", epochs=2, lr=1e-2, batch_size=8, loss="sigmoid", task="solo")
    cache = tmp_path / "cache"
    extra = [negatives, tmp_path / "mixes"]
    run = train(data, tmp_path / "run", config, cache=cache, extra_data=extra, progress=False)
    solo_train = [c for c in clips if c.task == "solo" and c.split == "train"]
    assert run["activation"] == "sigmoid" and run["n_clips"]["train"] == len(solo_train) + 4 + len(mixes)
    stored = list(cache.glob("embeddings-*/*.npy"))
    assert len(stored) == run["n_clips"]["train"] + run["n_clips"]["validation"]  # one file per clip
    scorer, _ = load_scorer(tmp_path / "run", device="cpu")
    assert scorer.activation == "sigmoid"
    scored = evaluate(tmp_path / "run", tmp_path / "mixes", cache=cache, progress=False)  # mixtures: multi-label excerpts
    support = sum(m["support"] for m in scored["multi_label"]["classes"].values())
    assert "single_label" not in scored and scored["multi_label"]["n"] == len(mixes) and support == sum(len(p.labels) for p in mixes)

    result = leave_one_library_out(data, tmp_path / "lolo", config, extra_data=extra, cache=cache, progress=False)
    assert set(result["libraries"]) == {"fluid", "timgm"}  # the tiny set's two sample libraries
    for library, fold in result["libraries"].items():
        held_out = [c for c in clips if c.source == library and c.task == "solo"]
        assert fold["clips"] == len(held_out) and 0 <= fold["accuracy"] <= 1
        wrong = sum(n for called in fold["mistaken_for"].values() for n in called.values())
        assert wrong == round((1 - fold["accuracy"]) * fold["clips"])  # every wrong clip, by what it was called
        assert all(label not in called for label, called in fold["mistaken_for"].items())
        trained_on = json.loads((tmp_path / "lolo" / library / "run.json").read_text())
        assert trained_on["excluded_library"] == library
        own = train_validation([c for c in clips if not uses_library(c, library)], "solo", seed=config.seed)[0]
        kept = len(own) + 4 + sum(library not in p.source.split("+") for p in mixes)  # negatives, mixtures without it
        assert trained_on["n_clips"]["train"] == kept
    assert json.loads((tmp_path / "lolo" / "lolo.json").read_text())["mean_accuracy"] == result["mean_accuracy"]
    # the naming rule: chosen on the folds' held-out clips; a mixture's parts from the other library count for nothing
    labels = result["threshold"]["per_class_effect"].keys()
    assert set(result["threshold"]["per_class"]) == set(labels) and "leave-one-library-out" in result["threshold"]["chosen_on"]
    with np.load(tmp_path / "lolo" / "fluid" / "held-out.npz") as held:
        targets, labels = held["targets"], held["labels"].tolist()
    fluid_mixes = [p for p in mixes if "fluid" in p.source.split("+")]
    excerpts = [c for c in clips if len(c.labels) > 1 and c.source == "fluid"]  # rendered multi-label excerpts: all held out
    assert len(targets) == result["libraries"]["fluid"]["clips"] + len(excerpts) + len(fluid_mixes)
    for plan, row in zip(fluid_mixes, targets[-len(fluid_mixes) :]):
        for part in plan.parts:
            assert row[labels.index(part.label)] == (1 if part.library == "fluid" else -1)
        assert sum(row == 0) == len(labels) - len(plan.parts)
    rule = adopt_rule(tmp_path / "lolo", tmp_path / "run")
    assert load_scorer(tmp_path / "run", device="cpu")[1]["threshold"] == rule  # still a valid run
    recognizer = Recognizer.load(tmp_path / "run")
    assert recognizer.thresholds == rule["per_class"] and recognizer.relative == rule["relative"]
    only = leave_one_library_out(data, tmp_path / "lolo", config, extra_data=extra, cache=cache, progress=False, libraries=["timgm"])
    assert only["libraries"] == result["libraries"]  # timgm's fold resumed, the others' results kept from lolo.json

    # the nuisance projection: fitted on the same cached embeddings, kept in the weights, used when scoring
    nap = dataclasses.replace(config, model_config={"nuisance_dims": 1, "nuisance_min_windows": 1})  # tiny: 1 clip each
    train(data, tmp_path / "nap", nap, cache=cache, extra_data=[negatives], progress=False)
    assert len(list(cache.glob("embeddings-*"))) == 1
    scorer, _ = load_scorer(tmp_path / "nap", device="cpu", runtime="torch")
    assert torch.linalg.norm(scorer.model.nuisance).item() == pytest.approx(1.0, abs=1e-5)

    # a presence head: learns from the negatives too, and is part of the network each runtime scores
    gated = dataclasses.replace(config, model_config={"presence": True})
    train(data, tmp_path / "gated", gated, cache=cache, extra_data=[negatives], progress=False)
    entry = get_entry("musicnn")
    packed = ensure_features(clips[:3], entry, cache, progress=False)
    inputs, _ = load_windows(packed, [c.clip_id for c in clips[:3]], entry)
    on_torch = load_scorer(tmp_path / "gated", device="cpu", precision="fp32", runtime="torch")[0]
    standardise = on_torch.model.presence[0]  # its statistics move only when training runs the presence head
    assert on_torch.model.config.presence and standardise.num_batches_tracked > 0
    assert standardise.running_mean.abs().sum() > 0
    on_onnx = load_scorer(tmp_path / "gated", runtime="onnxruntime")[0]
    assert np.abs(on_torch.probabilities(inputs) - on_onnx.probabilities(inputs)).max() < 1e-4
    with pytest.raises(ParameterError, match="no instrument"):  # nothing to tell instruments from: refused
        train(data, tmp_path / "ungated", gated, cache=cache, progress=False)

    # level-normalised windows have other embeddings: they get their own cache, and the run keeps the setting
    level = dataclasses.replace(config, model_config={"normalise_level": True})
    train(data, tmp_path / "level", level, cache=cache, progress=False)
    assert len(list(cache.glob("embeddings-*"))) == 2
    assert load_scorer(tmp_path / "level", device="cpu", runtime="torch")[0].model.config.normalise_level


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_weight_decay_reaches_every_optimizer(name):
    optimizer = make_optimizer(name, torch.nn.Linear(2, 2).parameters(), 1e-2, weight_decay=0.1)
    assert all(group["weight_decay"] == 0.1 for group in optimizer.param_groups)


def test_sigmoid_validation_loss_counts_false_alarms():
    """A sigmoid model that scores every class high must not look better than one that scores only the true class:
    the validation loss that picks the kept weights is the training objective, BCE over every class."""
    labels = np.array([0, 1, 2, 0])
    split = Split({}, labels, np.eye(3, dtype=np.float32)[labels], np.arange(4), labels, [f"c{i}" for i in range(4)], 1)
    everything = np.full((4, 3), 0.99)  # (N, C): every class present
    right = np.full((4, 3), 0.05)
    right[np.arange(4), labels] = 0.9
    sigmoid = [clip_metrics(p, split, ("a", "b", "c"), "sigmoid")["val_loss"] for p in (everything, right)]
    assert sigmoid[1] < sigmoid[0]
    softmax = [clip_metrics(p / p.sum(1, keepdims=True), split, ("a", "b", "c"))["val_loss"] for p in (everything, right)]
    assert softmax[1] < softmax[0] and np.isclose(softmax[0], np.log(3))
