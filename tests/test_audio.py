import io
import warnings

import numpy as np
import pytest
from conftest import SR, tone

from instrid import audio
from instrid.errors import AudioError, AudioTooLongError, ParameterError, SilentAudioWarning, TruncatedAudioWarning


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


def test_normalize_scales_the_peak_and_keeps_zero_mean():
    y = tone(440) * 0.1
    peak = audio.normalize(y)
    assert np.max(np.abs(peak)) == pytest.approx(1.0) and abs(peak.mean()) < 1e-3
    assert not audio.normalize(np.zeros(10, np.float32)).any()


def test_absurd_headers_are_refused_before_decoding(tmp_path, write_audio, monkeypatch):
    bomb = write_audio("bomb.wav", np.zeros(8_000, np.int16), sr=1)  # 16 kB that say "2.2 hours at 1 Hz"
    long = write_audio("long.wav", np.zeros(4 * 8_000, np.int16), sr=8_000)
    monkeypatch.setattr("soundfile.SoundFile.read", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(AudioError, match="1 Hz, outside"):
        audio.load_audio(bomb, sr=SR)
    with pytest.raises(AudioTooLongError, match="longer than the 3 s limit"):
        audio.load_audio(long, sr=SR, max_seconds=3.0)


def test_truncated_files_warn_and_keep_what_was_decoded(tmp_path, write_audio):
    for fmt in ("wav", "mp3"):
        whole = write_audio(f"whole.{fmt}", tone(440, 4.0), format=fmt.upper()).read_bytes()
        cut = tmp_path / f"cut.{fmt}"
        cut.write_bytes(whole[: len(whole) // 2])
        with pytest.warns(TruncatedAudioWarning, match="ends before its header says"):
            y = audio.load_audio(cut, sr=SR)
        assert 1.5 * SR < len(y) < 2.5 * SR


def test_streamed_blocks_are_the_whole_file_in_bounded_pieces(write_audio):
    path = write_audio("s.flac", np.stack([tone(440, 7.0), tone(660, 7.0)], axis=1), sr=48_000)
    blocks = list(audio.stream_audio(path, sr=SR, block_frames=48_000))
    assert len(blocks) >= 7 and max(map(len, blocks)) <= SR + 1_000  # one second of audio at a time
    np.testing.assert_array_equal(np.concatenate(blocks), audio.load_audio(path, sr=SR))  # soxr streams exactly
    with open(path, "rb") as f:  # an open file (an upload) reads the same, named as asked
        np.testing.assert_array_equal(audio.load_audio(f, sr=SR, name="upload.flac"), audio.load_audio(path, sr=SR))
    with pytest.raises(AudioError, match="^upload.wav: unreadable"):
        audio.load_audio(io.BytesIO(b"RIFF junk"), sr=SR, name="upload.wav")


def test_fuzzed_files_load_or_give_an_audio_error(tmp_path, write_audio):
    """Seeded mutations of real WAV/FLAC/OGG/MP3 files: every outcome is audio or one AudioError."""
    rng = np.random.default_rng(0)
    seeds = [write_audio(f"seed.{f}", tone(330, 0.5), format=f.upper()).read_bytes() for f in ("wav", "flac", "ogg", "mp3")]
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "fuzz"
    for i in range(300):
        data = bytearray(seeds[i % len(seeds)])
        for _ in range(rng.integers(1, 8)):
            at = int(rng.integers(0, min(len(data), 256) if rng.random() < 0.7 else len(data)))  # mostly the header
            data[at : at + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        if rng.random() < 0.2:
            data = data[: int(rng.integers(0, len(data)))]
        path.write_bytes(bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = audio.load_audio(path, sr=SR, max_seconds=60)
            assert y.dtype == np.float32 and np.isfinite(y).all()
            outcomes["loaded"] += 1
        except AudioError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
    assert outcomes["loaded"] > 20 and outcomes["refused"] > 20, outcomes
