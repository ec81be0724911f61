import json

import numpy as np
import pytest
from conftest import tone

from instrid import features
from instrid.errors import DataError
from instrid.store import FeatureConfig, FeatureStore


@pytest.fixture
def clips(write_audio):
    return [
        ("a", write_audio("a.wav", tone(440, 1.5))),
        ("b", write_audio("b.wav", tone(220, 0.5))),
        ("broken", write_audio("broken.wav", np.zeros(10, np.float32))),  # shorter than one window
    ]


@pytest.mark.filterwarnings("ignore::instrid.errors.SilentAudioWarning")  # the broken clip is silent, too
def test_extract_pack_and_read_windows(tmp_path, clips):
    store = FeatureStore(tmp_path / "cache")
    errors = store.extract(clips, workers=1, progress=False)
    assert list(errors) == ["broken"] and "shorter than one analysis window" in errors["broken"]
    assert json.loads((store.dir / "errors.json").read_text()) == errors
    store.pack([cid for cid, _ in clips])
    packed = store.open()
    assert packed.clip_ids == ["a", "b"] and "broken" not in packed
    a = packed.clip("a")
    assert a["mel"].shape == (128, 151) and a["f0"].shape == (151,)
    np.testing.assert_allclose(np.nanmedian(a["f0"]), 440, rtol=0.01)
    window = packed.window("b", 0)  # 51 frames: padded to one 100-frame input
    assert {k: v.shape for k, v in window.items()} == {k: (128, 100) for k in ("mel", "mask", "pred_spec")}
    assert (window["mel"][:, 51:] == -100).all() and not window["mask"][:, 51:].any()
    assert window["mask"][features.mel_bin_of(np.array(220.0)), 10] == 1
    assert not list(store.dir.rglob("*.tmp"))


def test_resume_skips_done_clips_and_key_follows_parameters(tmp_path, clips):
    store = FeatureStore(tmp_path / "cache")
    store.extract(clips[:1], workers=1, progress=False)
    done = store.clip_file("a").stat().st_mtime_ns
    store.extract(clips, workers=2, progress=False)  # "a" is not redone
    assert store.clip_file("a").stat().st_mtime_ns == done and store.clip_file("b").exists()
    hssanet = FeatureStore(tmp_path / "cache", FeatureConfig(features.HSSANET_MEL, pitch=False, preprocess=True))
    assert hssanet.dir != store.dir and not hssanet.clip_file("a").exists()
    with pytest.raises(DataError, match="instrid features"):
        hssanet.open()
