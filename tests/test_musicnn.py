"""The PyTorch port of musicnn against the original: tag scores of a fixed clip, produced by the original
TF1 MTT_musicnn graph (musicnn==0.1.0) with the original pre-processing, stored in tests/data."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from instrid import features
from instrid.models import create_model
from instrid.models.musicnn import MTT_TAGS, MUSICNN_FRAMES, load_pretrained

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("backbone, reference_file", [("mtt", "musicnn-reference.json"),
                                                      ("msd", "musicnn-msd-reference.json")])
def test_port_reproduces_the_original_tag_scores(backbone, reference_file):
    reference = json.loads((DATA / reference_file).read_text())
    assert len(reference["tags"]) == 50 and (backbone != "mtt" or tuple(reference["tags"]) == MTT_TAGS)
    y, sr = soundfile.read(DATA / "musicnn-fixture.wav", dtype="float32")
    assert sr == features.MUSICNN_MEL.sample_rate
    mel = features.log_mel(y, features.MUSICNN_MEL)  # (96, T)
    patches = [mel[:, i : i + MUSICNN_FRAMES] for i in range(0, mel.shape[1] - MUSICNN_FRAMES + 1, MUSICNN_FRAMES)]
    with torch.inference_mode():
        scores = torch.sigmoid(load_pretrained(backbone)(torch.from_numpy(np.stack(patches))[:, None])).numpy()
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


def test_the_mlp_head_has_one_hidden_layer_and_other_heads_are_refused():
    from instrid.errors import ParameterError

    model = create_model("musicnn", n_classes=3, head="mlp", hidden=8, pretrained=False)
    hidden = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in hidden] == [(1506, 8), (8, 3)]
    assert model(embedding=torch.randn(2, 1506)).shape == (2, 3)
    assert [type(m) for m in create_model("musicnn", n_classes=3, pretrained=False).classifier][-1] is torch.nn.Linear
    with pytest.raises(ParameterError, match="head 'deep'"):
        create_model("musicnn", n_classes=3, head="deep", pretrained=False)


def test_presence_head_multiplies_every_class_and_learns_alone_from_clips_of_no_instrument():
    """P(class) = P(an instrument plays) x P(class | an instrument plays); the instrument head gets no gradient
    from a window of no instrument, the presence head gets one from every window."""
    from instrid.errors import ParameterError
    from instrid.train import presence_loss

    model = create_model("musicnn", n_classes=3, head="mlp", hidden=8, pretrained=False, presence=True).eval()
    e = torch.randn(4, 1506)
    with torch.no_grad():
        logits, plays = model(embedding=e, parts=True)
        combined = torch.sigmoid(model(embedding=e))
    assert logits.shape == (4, 3) and plays.shape == (4,)
    assert torch.allclose(combined, torch.sigmoid(logits) * torch.sigmoid(plays)[:, None], atol=1e-6)

    targets = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 0]], np.float32)  # two windows of no instrument
    loss_fn = presence_loss(np.concatenate([targets, targets[:1]]), "sigmoid")  # 3 with an instrument, 2 without
    logits = torch.zeros(4, 3, requires_grad=True)
    plays = torch.zeros(4, requires_grad=True)
    loss_fn((logits, plays), torch.from_numpy(targets)).backward()
    assert logits.grad[2:].abs().max() == 0 and logits.grad[:2].abs().min() > 0
    assert (plays.grad[:2] < 0).all() and (plays.grad[2:] > 0).all()  # up where an instrument plays, else down
    # a window with an instrument weighs (windows without) / (windows with) = 2/3 of one without: the kinds weigh alike
    assert plays.grad[:2].sum().item() == pytest.approx(-2 / 3 * plays.grad[2:].sum().item())
    with pytest.raises(ParameterError, match="no instrument"):
        presence_loss(targets[:2], "sigmoid")
    with pytest.raises(ParameterError, match="--loss sigmoid"):
        presence_loss(targets, "softmax")


def test_nuisance_projection_removes_library_offsets_and_keeps_classes():
    """Embeddings = class signal + a per-library offset + noise: the fitted projection removes the offsets'
    span and keeps most of what tells the classes apart."""
    from instrid.models.musicnn import MusicnnClassifier, MusicnnConfig

    rng = np.random.default_rng(0)
    net = MusicnnClassifier(MusicnnConfig(n_classes=3, pretrained=False, nuisance_dims=3))
    dim = net.backbone.pooled_dim
    classes, offsets = rng.normal(size=(3, dim)), 3 * rng.normal(size=(4, dim))
    labels, libraries = rng.integers(0, 3, 2000), rng.integers(0, 4, 2000)
    x = classes[labels] + offsets[libraries] + 0.1 * rng.normal(size=(2000, dim))
    labels[:50] = -1  # no-instrument windows are left out of the fit
    net.fit_nuisance(x.astype(np.float32), labels, libraries)
    u = net.nuisance.numpy()
    assert np.allclose(u @ u.T, np.eye(3), atol=1e-5)

    def kept(v):  # the share of a standardised direction that survives the projection
        z = v / net.embedding_scale.numpy()
        return np.linalg.norm(z - (z @ u.T) @ u) / np.linalg.norm(z)

    assert all(kept(offsets[i] - offsets[j]) < 0.05 for i in range(4) for j in range(i))
    assert all(kept(classes[i] - classes[j]) > 0.5 for i in range(3) for j in range(i))
    net.eval()
    z = torch.from_numpy(x[:8].astype(np.float32))
    moved = torch.from_numpy((x[:8] + offsets[1] - offsets[libraries[:8]]).astype(np.float32))  # as if from library 1
    other = torch.from_numpy((x[:8] + classes[(labels[:8] + 1) % 3] - classes[labels[:8] % 3]).astype(np.float32))
    with torch.no_grad():
        logits, same, changed = net(embedding=z), net(embedding=moved), net(embedding=other)
    assert logits.shape == (8, 3)
    assert (same - logits).abs().max() < 0.1 * (changed - logits).abs().max()  # the library hardly matters


def test_nuisance_projection_needs_a_frozen_network_and_enough_libraries():
    from instrid.errors import ParameterError
    from instrid.models.musicnn import MusicnnClassifier, MusicnnConfig

    with pytest.raises(ParameterError, match="freeze"):
        MusicnnClassifier(MusicnnConfig(pretrained=False, freeze=False, nuisance_dims=2))
    net = MusicnnClassifier(MusicnnConfig(n_classes=2, pretrained=False, nuisance_dims=2))
    one_library = np.zeros(20, int)
    with pytest.raises(ParameterError, match="nuisance_dims=2"):
        net.fit_nuisance(np.ones((20, net.backbone.pooled_dim), np.float32), np.arange(20) % 2, one_library)


def test_fine_tuning_gives_the_pretrained_network_a_smaller_learning_rate():
    from instrid.models.musicnn import MusicnnClassifier, MusicnnConfig

    frozen = MusicnnClassifier(MusicnnConfig(pretrained=False)).parameter_groups(1e-3)
    assert len(frozen) == 1
    head, backbone = MusicnnClassifier(MusicnnConfig(pretrained=False, freeze=False, backbone_lr=0.1)).parameter_groups(1e-3)
    assert head["lr"] == 1e-3 and backbone["lr"] == pytest.approx(1e-4) and len(backbone["params"]) > len(head["params"])
    net = MusicnnClassifier(MusicnnConfig(pretrained=False, freeze=False)).train()
    assert not net.backbone.training and net.classifier.training  # batch-norm statistics stay the pretrained ones


def test_level_normalisation_makes_a_window_independent_of_its_recording_level():
    """The fixture 20 dB quieter, or 6 dB louder, gives the same normalised log-mel and the same embedding;
    without normalisation the embedding moves; digital silence stays silent."""
    from instrid.models.musicnn import LEVEL_REFERENCE, normalise_level

    y, _ = soundfile.read(DATA / "musicnn-fixture.wav", dtype="float32")
    y = 0.5 * y[: 3 * features.MUSICNN_MEL.sample_rate] / np.abs(y).max()
    gains = (1.0, 0.1, 2.0)
    mels = torch.from_numpy(np.stack([features.log_mel(g * y, features.MUSICNN_MEL)[None, :, :MUSICNN_FRAMES] for g in gains]))
    normalised = normalise_level(mels)  # (3, 1, 96, 187)
    loudest = ((10 ** normalised.double() - 1) / 10_000).sum(dim=2).amax(dim=2)  # (3, 1) mel power
    assert torch.allclose(loudest, torch.full((3, 1), LEVEL_REFERENCE, dtype=torch.float64), rtol=1e-3)
    difference = (normalised[1:] - normalised[0]).abs()  # what is left: the front end's float16 rounding of quiet cells
    assert difference.mean() < 0.005 and difference.max() < 0.1
    assert (mels[1] - mels[0]).abs().max() > 0.5
    net = load_pretrained()
    with torch.inference_mode():
        raw, level = net.pooled(mels), net.pooled(normalised)
    assert (level[1:] - level[0]).abs().max() < 0.05 * level[0].abs().max()
    assert (raw[1] - raw[0]).abs().max() > 0.2 * raw[0].abs().max()
    assert torch.equal(normalise_level(torch.zeros(1, 1, 96, MUSICNN_FRAMES)), torch.zeros(1, 1, 96, MUSICNN_FRAMES))
