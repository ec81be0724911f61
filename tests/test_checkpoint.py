"""Run folders are untrusted input: nothing in them runs code, exhausts memory or gives silently wrong answers."""

import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import skops.io
import torch
from safetensors.torch import load_file, save_file

from instrid.checkpoint import BEST_WEIGHTS, RUN_FILE, SKLEARN_MODEL, load_model, load_sklearn, save_sklearn
from instrid.errors import CheckpointError
from instrid.models import get_entry


def crafted_skops(code: str) -> bytes:
    """A skops archive whose schema asks the loader to call ``builtins.exec(code)``."""
    archive = zipfile.ZipFile(io.BytesIO(skops.io.dumps((code,))))
    schema = json.loads(archive.read("schema.json"))
    header = {k: schema.pop(k) for k in ("protocol", "_skops_version") if k in schema}
    attack = {**header, "__class__": "exec", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode", "content": schema}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in archive.namelist():
            z.writestr(name, json.dumps(attack) if name == "schema.json" else archive.read(name))
    return out.getvalue()


def test_a_skops_file_that_calls_exec_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / SKLEARN_MODEL
    path.write_bytes(crafted_skops(f"open({str(marker)!r}, 'w').close()"))
    assert "builtins.exec" in skops.io.get_untrusted_types(file=path)  # the file really asks for exec
    with pytest.raises(CheckpointError, match="builtins.exec"):
        load_sklearn(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["svm", "mlp"])
def test_the_baselines_still_load(tmp_path, name):
    entry = get_entry(name)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 58)), np.repeat(np.arange(3), 20)
    save_sklearn(tmp_path / SKLEARN_MODEL, entry.build(entry.config).fit(x, y))
    model = load_sklearn(tmp_path / SKLEARN_MODEL)
    assert model.predict_proba(x[:2]).shape == (2, 3)


def edit_run(key, value):
    def edit(run_dir):
        run = json.loads((run_dir / RUN_FILE).read_text())
        if value is DELETE:
            del run[key]
        else:
            run[key] = value(run[key]) if callable(value) else value
        (run_dir / RUN_FILE).write_text(json.dumps(run))

    return edit


def edit_weights(change):
    def edit(run_dir):
        path = run_dir / BEST_WEIGHTS
        tensors = load_file(path)
        change(tensors)
        save_file(tensors, path)

    return edit


def replace_file(make):
    def edit(run_dir):
        path = run_dir / BEST_WEIGHTS
        path.unlink()
        make(path, run_dir)

    return edit


DELETE = object()
first = lambda t: next(k for k, v in t.items() if v.is_floating_point())  # noqa: E731  (a weight, not a counter)

MALFORMED = {
    "invalid-json": lambda d: (d / RUN_FILE).write_text("{not json"),
    "empty-run-json": lambda d: (d / RUN_FILE).write_text(""),
    "a-list": lambda d: (d / RUN_FILE).write_text("[1, 2]"),
    "deep-nesting": lambda d: (d / RUN_FILE).write_text("[" * 100_000 + "]" * 100_000),
    "no-features": edit_run("features", DELETE),
    "no-normalization": edit_run("normalization", DELETE),
    "window-as-string": edit_run("window", "100"),
    "labels-not-strings": edit_run("labels", lambda v: list(range(len(v)))),
    "one-label": edit_run("labels", ["vio"]),
    "fifty-labels": edit_run("labels", [f"c{i}" for i in range(50)]),
    "repeated-labels": edit_run("labels", lambda v: [v[0]] * len(v)),
    "zero-std": edit_run("normalization", lambda v: {k: [m, 0.0] for k, (m, _) in v.items()}),
    "nan-threshold": edit_run("threshold", {"value": float("nan")}),
    "unknown-model": edit_run("model", "gpt"),
    "other-model": edit_run("model", "han2017"),
    "huge-size": edit_run("model_config", lambda v: {**v, "d_model": 10**9}),
    "negative-size": edit_run("model_config", lambda v: {**v, "d_model": -4}),
    "size-as-string": edit_run("model_config", lambda v: {**v, "d_model": "16"}),
    "unknown-setting": edit_run("model_config", lambda v: {**v, "rm_rf": 1}),
    "size-17x-default": edit_run("model_config", lambda v: {**v, "d_head": 17 * 512}),
    "100-conv-blocks": edit_run("model_config", lambda v: {**v, "mel_channels": [4] * 100}),
    "label-with-newline": edit_run("labels", lambda v: ["cel\nvio", *v[1:]]),
    "5000-digit-number": lambda d: (d / RUN_FILE).write_text('{"window": ' + "9" * 5000 + "}"),
    "bad-features": edit_run("features", {"frontend": {"type": "os.system"}}),
    "unfinished": edit_run("threshold", DELETE),
    "truncated-weights": lambda d: (d / BEST_WEIGHTS).write_bytes((d / BEST_WEIGHTS).read_bytes()[:1000]),
    "empty-weights": lambda d: (d / BEST_WEIGHTS).write_bytes(b""),
    "header-only-weights": lambda d: (d / BEST_WEIGHTS).write_bytes(b"\xff" * 8 + b"{}"),
    "weights-link-to-dev-zero": replace_file(lambda p, d: p.symlink_to("/dev/zero")),
    "weights-link-to-folder": replace_file(lambda p, d: p.symlink_to(d)),
    "weights-missing": replace_file(lambda p, d: None),
    "missing-tensor": edit_weights(lambda t: t.pop(first(t))),
    "extra-tensor": edit_weights(lambda t: t.update(extra=torch.zeros(3))),
    "mis-shaped-tensor": edit_weights(lambda t: t.update({first(t): torch.zeros(2, 2)})),
    "integer-tensor": edit_weights(lambda t: t.update({first(t): t[first(t)].long()})),
    "nan-weights": edit_weights(lambda t: t[first(t)].fill_(float("nan"))),
}


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / "run")


@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_run_folder_gives_one_checkpoint_error(run_copy, damage):
    load_model(run_copy)  # sound before the damage
    damage(run_copy)
    with pytest.raises(CheckpointError) as err:
        load_model(run_copy)
    assert "\n" not in str(err.value)


def test_the_cli_says_one_line_for_a_damaged_run(run_copy, tmp_path):
    MALFORMED["nan-weights"](run_copy)
    audio = tmp_path / "a.wav"
    import soundfile

    soundfile.write(audio, np.zeros(44_100, np.float32), 44_100)
    result = subprocess.run([sys.executable, "-m", "instrid", "predict", str(audio), "--run", str(run_copy)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "NaN" in result.stderr and "Traceback" not in result.stderr


def mutations(run: dict, rng: random.Random):
    """Random damage to a run.json: delete, retype or replace a value somewhere in the tree."""
    values = [None, True, -1, 0, 10**12, 1e308, "x", "", [], {}, [1, "a"], {"a": 1}, float("nan")]
    run = json.loads(json.dumps(run))
    for _ in range(rng.randint(1, 3)):
        node, key = run, rng.choice(list(run))
        while isinstance(node[key], (dict, list)) and node[key] and rng.random() < 0.6:
            node = node[key]
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if isinstance(node, dict) and rng.random() < 0.3:
            del node[key]
        else:
            node[key] = rng.choice(values)
    return run


def test_fuzzed_run_json_gives_a_model_or_a_checkpoint_error(run_copy):
    original = json.loads((run_copy / RUN_FILE).read_text())
    rng = random.Random(0)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(200):
        (run_copy / RUN_FILE).write_text(json.dumps(mutations(original, rng)))
        try:
            load_model(run_copy)
            outcomes["loaded"] += 1
        except CheckpointError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100  # most damage is caught (what loads was damage to unused fields)


def test_weights_are_not_read_before_their_header_matches(run_copy, monkeypatch):
    """A larger size in run.json than the weights have is refused from the file's header: nothing is allocated
    for the network it describes (a 4096-wide one: 4096 x 4096 attention weights)."""
    edit_run("model_config", lambda v: {**v, "d_model": 4096})(run_copy)
    monkeypatch.setattr("instrid.checkpoint.load_weights", lambda path: pytest.fail("weights read"))
    with pytest.raises(CheckpointError, match="the network needs"):
        load_model(run_copy)
    assert os.path.getsize(run_copy / BEST_WEIGHTS) < 5 * 2**20
