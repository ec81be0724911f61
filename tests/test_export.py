import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from instrid.checkpoint import load_model
from instrid.cli import main
from instrid.export import example_inputs

ort = pytest.importorskip("onnxruntime")


def test_onnx_export_matches_pytorch(tiny_run, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    assert main(["export", "--run", str(tiny_run), "--onnx", str(path)]) == 0
    entry, model, run = load_model(tiny_run)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    torch.manual_seed(1)
    inputs = example_inputs(entry, batch=5)  # another batch size than the export's
    inputs = (inputs[0], (inputs[1] > 2).float())  # a sparse binary mask
    got = session.run(None, {name: x.numpy() for name, x in zip(entry.inputs, inputs)})[0]
    with torch.no_grad():
        want = model(*inputs).numpy()
    assert got.shape == (5, 11) and np.abs(got - want).max() <= 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == run["labels"] and meta["model"] == "cross_attention"


def test_classical_models_do_not_export(tiny_dataset, tmp_path, capsys):
    from instrid.train import TrainConfig, train

    data, _ = tiny_dataset
    train(data, tmp_path / "mlp", TrainConfig(model="mlp"), progress=False)
    assert main(["export", "--run", str(tmp_path / "mlp"), "--onnx", str(tmp_path / "m.onnx")]) == 1
    assert "only networks export" in capsys.readouterr().err


def test_onnx_runtime_scores_like_pytorch_and_exports_once(tiny_run, tmp_path, monkeypatch):
    from instrid.runtime import load_scorer

    monkeypatch.setenv("INSTRID_CACHE", str(tmp_path))
    entry, _, _ = load_model(tiny_run)
    inputs = {name: x.numpy() for name, x in zip(entry.inputs, example_inputs(entry, batch=70))}  # two batches
    inputs["mask"] = (inputs["mask"] > 1).astype(np.float32)
    torch_scorer, _ = load_scorer(tiny_run, device="cpu", precision="fp32", runtime="torch")
    onnx_scorer, _ = load_scorer(tiny_run, device="cpu", runtime="onnxruntime")
    assert (torch_scorer.runtime, onnx_scorer.runtime, onnx_scorer.precision) == ("torch", "onnxruntime", "fp32")
    want = torch_scorer.probabilities(inputs)
    np.testing.assert_allclose(onnx_scorer.probabilities(inputs), want, atol=1e-5)
    exports = sorted((tmp_path / "onnx").glob("cross_attention-*.onnx"))
    assert len(exports) == 1
    mtime = exports[0].stat().st_mtime_ns
    assert load_scorer(tiny_run, device="cpu")[0].runtime == "onnxruntime"  # "auto" on CPU
    assert exports[0].stat().st_mtime_ns == mtime  # the cached export was reused
    exports[0].write_bytes(exports[0].read_bytes()[:1000])  # torn
    np.testing.assert_allclose(load_scorer(tiny_run, device="cpu")[0].probabilities(inputs), want, atol=1e-5)  # made again


def test_a_changed_network_gets_its_own_export(tiny_run, tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    from instrid.runtime import load_scorer

    monkeypatch.setenv("INSTRID_CACHE", str(tmp_path / "cache"))
    load_scorer(tiny_run, device="cpu", runtime="onnxruntime")
    changed = tmp_path / "changed"
    shutil.copytree(tiny_run, changed)
    weights = load_file(changed / "model.safetensors")
    name = next(k for k, v in weights.items() if v.dtype == torch.float32 and v.ndim == 2)
    weights[name] = weights[name] * 1.5
    save_file(weights, changed / "model.safetensors")
    entry, _, _ = load_model(changed)
    inputs = {name: x.numpy() for name, x in zip(entry.inputs, example_inputs(entry, batch=4))}
    want = load_scorer(changed, device="cpu", precision="fp32", runtime="torch")[0].probabilities(inputs)
    got = load_scorer(changed, device="cpu", runtime="onnxruntime")[0].probabilities(inputs)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert len(list((tmp_path / "cache" / "onnx").glob("cross_attention-*.onnx"))) == 2


def test_runtime_choices_and_their_errors(tiny_run, monkeypatch, tmp_path):
    from instrid import runtime
    from instrid.errors import InstridError, ParameterError

    with pytest.raises(ParameterError, match="runs fp32 on CPU"):
        runtime.load_scorer(tiny_run, device="cpu", precision="bf16", runtime="onnxruntime")
    assert runtime.load_scorer(tiny_run, device="cpu", precision="bf16")[0].runtime == "torch"  # auto keeps bf16
    monkeypatch.setattr(runtime, "installed", lambda *modules: "onnxruntime" not in modules)
    with pytest.raises(InstridError, match="pip install onnxruntime"):
        runtime.load_scorer(tiny_run, device="cpu", runtime="onnxruntime")
    assert runtime.load_scorer(tiny_run, device="cpu")[0].runtime == "torch"
    monkeypatch.setenv("INSTRID_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(runtime, "installed", lambda *modules: not {"onnx", "onnxscript"} & set(modules))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch without the exporter: PyTorch scores it, with no warning
        assert runtime.load_scorer(tiny_run, device="cpu")[0].runtime == "torch"
    monkeypatch.undo()
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("INSTRID_CACHE", str(blocked / "sub"))  # a cache that cannot be made
    with pytest.warns(UserWarning, match="ONNX Runtime could not"):
        assert runtime.load_scorer(tiny_run, device="cpu")[0].runtime == "torch"
    monkeypatch.setattr(runtime, "installed", lambda *modules: "torch" not in modules)  # a predict-only install
    with pytest.raises(InstridError, match=r"pip install 'instrid\[onnx\]'"):
        runtime.load_scorer(tiny_run, device="cpu", runtime="onnxruntime")
    with pytest.raises(InstridError, match=r"needs PyTorch: pip install 'instrid\[torch\]'"):
        runtime.load_scorer(tiny_run, device="cpu", runtime="torch")


def test_the_shipped_graph_is_the_shipped_weights(monkeypatch, tmp_path):
    """The packaged model.onnx was exported from the packaged weights and scores as PyTorch does on them."""
    from instrid.export import weights_sha256
    from instrid.runtime import SHIPPED_RUN, load_scorer

    monkeypatch.setenv("INSTRID_CACHE", str(tmp_path))  # an empty cache: the shipped graph must be used
    onnx_scorer, _ = load_scorer(SHIPPED_RUN, device="cpu")
    assert onnx_scorer.session.get_modelmeta().custom_metadata_map["weights_sha256"] == weights_sha256(SHIPPED_RUN)
    assert not (tmp_path / "onnx").exists()
    mel = np.log10(1 + 10_000 * np.random.default_rng(0).gamma(0.5, 1e-3, size=(6, 1, 96, 187))).astype(np.float32)
    want = load_scorer(SHIPPED_RUN, device="cpu", precision="fp32", runtime="torch")[0].probabilities({"mel": mel})
    np.testing.assert_allclose(onnx_scorer.probabilities({"mel": mel}), want, atol=1e-5)


def test_a_copy_of_the_shipped_folder_uses_its_graph(monkeypatch, tmp_path):
    """`cp -r shipped runs/default` then --run runs/default: its model.onnx is the weights', so no PyTorch is needed."""
    from instrid import runtime

    copy = tmp_path / "default"
    shutil.copytree(runtime.SHIPPED_RUN, copy)
    monkeypatch.setenv("INSTRID_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runtime, "installed", lambda *modules: "torch" not in modules)  # a predict-only install
    assert runtime.load_scorer(copy, device="cpu")[0].runtime == "onnxruntime"
    assert not (tmp_path / "cache").exists()


def test_musicnn_level_normalisation_exports_to_onnx():
    """The window level normalisation is part of the musicnn network, so ONNX Runtime scores as PyTorch does."""
    from instrid.export import onnx_model
    from instrid.models import create_model, get_entry

    entry = get_entry("musicnn")
    model = create_model("musicnn", n_classes=3, normalise_level=True, pretrained=False).eval()
    session = ort.InferenceSession(onnx_model(entry, model, {"labels": ["a", "b", "c"]}).SerializeToString(),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    mel = np.abs(np.random.default_rng(0).normal(size=(3, 1, 96, 187))).astype(np.float32)  # log10(1 + 10000 power) >= 0
    mel[1] *= 0.1  # a quiet window
    mel[2] = 0  # digital silence
    got = session.run(None, {"mel": mel})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(mel)).numpy()
    assert got.shape == (3, 3) and np.abs(got - want).max() <= 1e-4
