"""The PyTorch port of musicnn against the original: tag scores of a fixed clip, produced by the original
TF1 MTT_musicnn graph (musicnn==0.1.0) with the original pre-processing, stored in tests/data."""

import json
from pathlib import Path

import numpy as np
import soundfile
import torch

from instrid import features
from instrid.models import create_model
from instrid.models.musicnn import MTT_TAGS, MUSICNN_FRAMES, load_pretrained

DATA = Path(__file__).parent / "data"


def test_port_reproduces_the_original_tag_scores():
    reference = json.loads((DATA / "musicnn-reference.json").read_text())
    assert tuple(reference["tags"]) == MTT_TAGS
    y, sr = soundfile.read(DATA / "musicnn-fixture.wav", dtype="float32")
    assert sr == features.MUSICNN_MEL.sample_rate
    mel = features.log_mel(y, features.MUSICNN_MEL)  # (96, T)
    patches = [mel[:, i : i + MUSICNN_FRAMES] for i in range(0, mel.shape[1] - MUSICNN_FRAMES + 1, MUSICNN_FRAMES)]
    with torch.inference_mode():
        scores = torch.sigmoid(load_pretrained()(torch.from_numpy(np.stack(patches))[:, None])).numpy()
    expected = np.array(reference["scores"])
    assert scores.shape == expected.shape == (2, 50)
    assert np.abs(scores - expected).max() < 1e-4


def test_frozen_classifier_trains_only_its_head_and_keeps_the_backbone_in_inference_mode():
    model = create_model("musicnn", n_classes=3)
    model.train()
    assert not model.backbone.training and model.classifier.training
    assert all(not p.requires_grad for p in model.backbone.parameters())
    mel = torch.randn(2, 1, 96, MUSICNN_FRAMES)
    model.eval()
    with torch.inference_mode():
        assert torch.allclose(model(mel), model(embedding=model.embed(mel)))  # what training on embeddings relies on
