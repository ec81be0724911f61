import librosa
import numpy as np
import pytest
from conftest import SR, tone

from instrid.audio import load_audio
from instrid.features import PYIN_FMAX, PYIN_FMIN, PYIN_FRAME_LENGTH, pitch_track
from instrid.pitch import pyin

PARAMS = dict(fmin=PYIN_FMIN, fmax=PYIN_FMAX, sr=SR, frame_length=PYIN_FRAME_LENGTH, hop_length=441)


def signals():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    yield "vibrato+noise", 0.5 * np.sin(2 * np.pi * 220 * t * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) + 0.05 * rng.standard_normal(SR)
    yield "noise", 0.1 * rng.standard_normal(SR)
    yield "silence", np.zeros(SR)
    yield "glide", np.sin(2 * np.pi * np.cumsum(np.geomspace(70, 2000, SR)) / SR)
    yield "chord", sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) / 3


@pytest.mark.parametrize("name, y", list(signals()), ids=[n for n, _ in signals()])
def test_identical_to_librosa(name, y):
    y = y.astype(np.float32)
    expected = librosa.pyin(y, **PARAMS)
    got = pyin(y, **PARAMS)
    np.testing.assert_array_equal(got[0], expected[0])  # f0, NaN where unvoiced
    np.testing.assert_array_equal(got[1], expected[1])  # voicing
    np.testing.assert_allclose(got[2], expected[2], rtol=0, atol=1e-12)  # voiced probability


def test_identical_to_librosa_with_other_parameters():
    y = tone(330, sr=22_050)
    params = dict(fmin=100.0, fmax=1000.0, sr=22_050, hop_length=256, resolution=0.05, switch_prob=0.05)
    np.testing.assert_array_equal(pyin(y, **params)[0], librosa.pyin(y, **params)[0])


def test_tone_known_answer():
    f0, voiced, _ = pyin(tone(440), **PARAMS)
    assert voiced[5:-5].all()
    assert np.all(np.abs(np.log2(f0[5:-5] / 440)) < 0.01)  # within 0.01 octave


def test_rejects_bad_parameters():
    with pytest.raises(librosa.ParameterError):
        pyin(tone(440), fmin=500.0, fmax=100.0, sr=SR)
    with pytest.raises(librosa.ParameterError):
        pyin(np.zeros((2, SR)), **PARAMS)


def assert_same_track(got, expected):
    for g, e in zip(got, expected):  # f0 (NaN where unvoiced), voiced_flag, voiced_prob
        assert np.array_equal(g, e, equal_nan=True)


def test_threads_give_the_whole_signal_track_on_a_minute_of_music(tiny_dataset):
    _, clips = tiny_dataset
    y = np.concatenate([load_audio(c.path, sr=SR) for c in clips if c.task in ("mix", "solo")])[: 60 * SR]
    whole = pyin(y, **PARAMS)
    assert_same_track(pyin(y, **PARAMS, workers=2), whole)  # 2 s chunks
    assert_same_track(pyin(y, **PARAMS, workers=3, chunk_seconds=0.37), whole)  # 37 frames: boundaries everywhere
    track = pitch_track(y)  # all cores
    assert_same_track((track.f0, track.voiced, track.voiced_prob), (whole[0].astype(np.float32), whole[1], whole[2].astype(np.float32)))  # fmt: skip


def test_threads_give_the_whole_signal_track_on_a_glide():
    rng = np.random.default_rng(1)
    n = 12 * SR
    up = np.geomspace(70, 2000, n // 2)
    y = np.sin(2 * np.pi * np.cumsum(np.concatenate([up, up[::-1]])) / SR) + 0.05 * rng.standard_normal(n)
    y[5 * SR : 6 * SR] = 0  # a silence inside
    whole = pyin(y, **PARAMS)
    assert whole[1].mean() > 0.5
    for chunk_seconds in (0.02, 1.0):  # two-frame chunks: the shortest allowed
        assert_same_track(pyin(y, **PARAMS, workers=2, chunk_seconds=chunk_seconds), whole)
