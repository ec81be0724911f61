import json

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
