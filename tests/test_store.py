import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tone

from instrid import features
from instrid.errors import DataError
from instrid.features import FeatureConfig
from instrid.store import FeatureStore


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


def test_clean_mask_is_derived_from_the_stored_track_when_windows_are_cut():
    from instrid.models import get_entry
    from instrid.windows import clip_windows

    noisy, clean = get_entry("cross_attention"), get_entry("cross_attention_clean")
    assert noisy.features.key == clean.features.key  # one feature store serves both
    f0 = np.full(100, 440.0, np.float32)
    f0[50:52] = 220.0  # a two-frame octave glitch
    f0[80:90] = np.nan
    f0[90:92] = 330.0  # isolated after the gap
    f0[92:] = np.nan
    arrays = {"mel": np.zeros((128, 100), np.float32), "f0": f0, "voiced_prob": np.ones(100, np.float32)}
    track = features.PitchTrack(f0, np.isfinite(f0), arrays["voiced_prob"])
    clean_mask = clip_windows(arrays, clean, hop=100)["mask"][0, 0]
    repaired = features.clean_f0(track.f0, track.voiced_prob)
    assert np.array_equal(clean_mask, features.pitch_mask(repaired, np.isfinite(repaired)))
    assert np.array_equal(clip_windows(arrays, noisy, hop=100)["mask"][0, 0], features.pitch_mask(f0, np.isfinite(f0)))
    assert clean_mask[:, 90:92].sum() == 0 and clean_mask[:, 50].argmax() == features.mel_bin_of(np.array(440.0))


def test_pack_holds_no_more_files_open_than_one_clip(tmp_path, clips):
    """Packing 40 clips with only 8 more files allowed open than the process has: each clip's file is closed once
    read, and the packed arrays are the clip's."""
    resource = pytest.importorskip("resource")
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd to count the open files")
    store = FeatureStore(tmp_path / "cache")
    store.extract(clips[:1], workers=1, progress=False)
    for i in range(40):
        store.clip_file(f"copy{i}").write_bytes(store.clip_file("a").read_bytes())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(list(fds.iterdir())) + 8, hard))
    try:
        store.pack([f"copy{i}" for i in range(40)])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    packed = store.open()
    with np.load(store.clip_file("a")) as a:
        for field in ("mel", "f0", "voiced_prob"):
            np.testing.assert_array_equal(packed.clip("copy39")[field], a[field])
    assert len(packed) == 40
