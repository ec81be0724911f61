import numpy as np
import pytest
from conftest import SR, tone

from instrid import audio
from instrid.errors import AudioError, ParameterError, SilentAudioWarning


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_every_format_loads_as_mono_float32(write_audio, fmt):
    path = write_audio(f"a.{fmt}", tone(440), format=fmt.upper())
    y = audio.load_audio(path, sr=None)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - SR) < 2_000  # mp3 adds encoder padding


def test_stereo_is_averaged_and_resampled(write_audio):
    stereo = np.stack([tone(440), -tone(440) + 0.2], axis=1)  # channel mean: constant 0.1
    y = audio.load_audio(write_audio("s.wav", stereo, subtype="FLOAT"), sr=16_000)
    assert len(y) == 16_000
    assert np.allclose(y[100:-100], 0.1, atol=1e-3)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda tmp, w: tmp / "nope.wav", "not found"),
        (lambda tmp, w: (tmp / "bad.wav").write_bytes(b"RIFF not really a wav") and tmp / "bad.wav", "corrupt"),
        (lambda tmp, w: w("empty.wav", np.zeros(0, np.float32)), "no samples"),
        (lambda tmp, w: w("short.wav", tone(440, 0.01)), "shorter than one analysis window"),
        (lambda tmp, w: w("nan.wav", np.full(SR, np.nan, np.float32), subtype="FLOAT"), "NaN"),
        (lambda tmp, w: w("six.wav", np.zeros((SR, 6), np.float32)), "6 channels"),
    ],
    ids=["missing", "corrupt", "empty", "too-short", "nan", "channels"],
)
def test_bad_input_raises_one_error_naming_the_file(tmp_path, write_audio, make, reason):
    path = make(tmp_path, write_audio)
    with pytest.raises(AudioError) as err:
        audio.load_audio(path, sr=SR, min_samples=2_205)
    assert reason in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_silence_warns_but_loads(write_audio):
    with pytest.warns(SilentAudioWarning):
        y = audio.load_audio(write_audio("quiet.wav", np.zeros(SR, np.float32)), sr=SR)
    assert not y.any()


def test_bandpass_keeps_the_band_and_removes_outside():
    sr = 16_000
    passed = audio.bandpass(tone(440, sr=sr), sr=sr)
    rumble = audio.bandpass(tone(10, sr=sr), sr=sr)
    hiss = audio.bandpass(tone(7_600, sr=sr), sr=sr)
    rms = lambda x: np.sqrt(np.mean(x[2000:-2000] ** 2))  # noqa: E731
    assert rms(passed) == pytest.approx(rms(tone(440, sr=sr)), rel=0.02)
    assert rms(rumble) < 0.01 * rms(passed) and rms(hiss) < 0.1 * rms(passed)
    with pytest.raises(ParameterError):
        audio.bandpass(tone(440), sr=SR, low_hz=5_000, high_hz=100)


def test_normalize_peak_keeps_zero_mean_minmax_does_not():
    y = tone(440) * 0.1
    peak = audio.normalize(y)
    assert np.max(np.abs(peak)) == pytest.approx(1.0) and abs(peak.mean()) < 1e-3
    minmax = audio.normalize(y, method="minmax")
    assert minmax.min() == 0 and minmax.max() == 1 and minmax.mean() == pytest.approx(0.5, abs=0.01)
    assert not audio.normalize(np.zeros(10, np.float32)).any()


@pytest.mark.parametrize(
    "seconds, expected",
    [(4.0, 2), (5.0, 3), (4.9, 2), (1.0, 1), (2.0, 1)],  # 5.0: 1 s tail kept; 4.9: 0.9 s tail dropped
)
def test_segment_policy_for_the_last_partial_frame(seconds, expected):
    y = np.ones(int(seconds * 100), np.float32)
    frames = audio.segment(y, sr=100, seconds=2.0)
    assert frames.shape == (expected, 200)
    assert frames.sum() == min(len(y), expected * 200)  # nothing invented, nothing lost but a short tail


def test_segment_with_overlap():
    frames = audio.segment(np.arange(600, dtype=np.float32), sr=100, seconds=2.0, hop_seconds=1.0)
    assert frames.shape == (5, 200) and frames[1, 0] == 100  # 0,1,2,3 s full; 4 s tail (1 s) kept
