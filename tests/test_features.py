import warnings

import librosa
import numpy as np
import pytest
from conftest import SR, tone

from instrid import features
from instrid.melspec import mel_power
from instrid.windows import input_windows


def test_mel_shape_and_frame_grid():
    mel = features.log_mel(tone(440, seconds=3.0))
    assert mel.shape == (128, 301) and mel.dtype == np.float32  # 1 + 3 s / 10 ms
    assert features.INPUT_FRAMES == 100
    assert list(input_windows(mel.shape[1])) == [0, 100, 200]  # a 3 s clip gives three 1 s inputs
    assert list(input_windows(mel.shape[1], hop=50)) == [0, 50, 100, 150, 200]
    assert list(input_windows(40)) == [0]  # shorter than one input: one, padded later
    for n in (44_100, 44_100 + 440, 12_345):  # mel and pitch frames share one grid: 1 + n // hop
        assert features.log_mel(tone(440, n / SR)).shape[1] == len(features.pitch_track(tone(440, n / SR)).f0) == 1 + n // 441


@pytest.mark.parametrize(
    "spec", [features.CROSS_ATTENTION_MEL, features.HSSANET_MEL, features.VGGISH_MEL, features.MUSICNN_MEL]
)
def test_mel_power_is_librosas_melspectrogram(spec):
    # instrid's NumPy mel (no librosa import on the predict path) against librosa's, from shorter than one FFT up
    rng = np.random.default_rng(0)
    for n in (100, spec.n_fft - 1, spec.n_fft, spec.n_fft + 1, 3 * spec.sample_rate + 17):
        y = (0.1 * rng.standard_normal(n)).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # librosa: n_fft too large for a short signal
            expected = librosa.feature.melspectrogram(
                y=y, sr=spec.sample_rate, n_fft=spec.n_fft, win_length=spec.win_length, hop_length=spec.hop_length,
                n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax,
            )  # fmt: skip
        power = mel_power(y, sample_rate=spec.sample_rate, n_fft=spec.n_fft, win_length=spec.win_length,
                          hop_length=spec.hop_length, n_mels=spec.n_mels, fmin=spec.fmin, fmax=spec.fmax)  # fmt: skip
        assert power.dtype == np.float32
        np.testing.assert_allclose(power, expected, rtol=2e-6, atol=1e-9 * expected.max())
    if spec.scale == "db":
        np.testing.assert_allclose(
            features.log_mel(y, spec), librosa.power_to_db(expected, ref=1.0, amin=1e-10, top_db=None), atol=1e-4
        )


def test_440_hz_lights_the_mel_band_holding_440_hz():
    y = tone(440)
    track = features.pitch_track(y)
    mask = features.pitch_mask(track.f0, track.voiced)
    band = int(features.mel_bin_of(np.array(440.0)))
    centres = librosa.mel_frequencies(130, fmin=0, fmax=SR / 2)[1:-1]
    assert band == np.argmin(np.abs(librosa.hz_to_mel(centres) - librosa.hz_to_mel(440)))
    assert band == int(np.argmax(features.log_mel(y)[:, 50]))  # the loudest band of a pure tone
    lit = mask[:, 5:-5]
    assert (lit.sum(axis=0) == 1).all() and (lit[band] == 1).all()


def clean_track(track: features.PitchTrack) -> tuple[np.ndarray, np.ndarray]:
    """The repaired f0 of a track and where it is voiced: what ``pitch_mask`` draws the clean mask from."""
    f0 = features.clean_f0(np.where(track.voiced, track.f0, np.nan), track.voiced_prob)
    return f0, np.isfinite(f0)


def test_silence_gives_an_empty_mask():
    track = features.pitch_track(np.zeros(SR, np.float32))
    assert not features.pitch_mask(track.f0, track.voiced).any()
    assert not features.pitch_mask(*clean_track(track)).any()
    np.testing.assert_allclose(features.log_mel(np.zeros(SR, np.float32)), -100.0)


def test_masked_spectrogram_keeps_only_masked_cells():
    mel = features.log_mel(tone(220))
    track = features.pitch_track(tone(220))
    mask = features.pitch_mask(track.f0, track.voiced)
    pred = features.masked_spectrogram(mel, mask)
    assert np.array_equal(pred[mask == 1], mel[mask == 1]) and not pred[mask == 0].any()


def test_clean_mask_removes_isolated_activations_and_glitches():
    f0 = np.full(60, 440.0, np.float32)
    voiced = np.ones(60, bool)
    voiced[20:23] = False  # a gap
    voiced[40:] = False
    voiced[50:52] = True  # an isolated 2-frame activation
    f0[10] = 880.0  # a one-frame octave error
    track = features.PitchTrack(np.where(voiced, f0, np.nan).astype(np.float32), voiced, voiced.astype(np.float32))
    clean = features.pitch_mask(*clean_track(track))
    band = features.mel_bin_of(np.array(440.0))
    assert clean[:, 50:52].sum() == 0  # isolated activation removed
    assert clean[band, 10] == 1 and clean[:, 10].sum() == 1  # octave glitch median-filtered away
    assert clean[:, 20:23].sum() == 0 and clean[band, 30] == 1
    raw = features.pitch_mask(track.f0, track.voiced)
    assert raw[:, 50:52].sum() == 2 and raw[band, 10] == 0


def test_hssanet_log_mel():
    y = tone(440, sr=16_000)
    mel = features.log_mel(y, features.HSSANET_MEL)
    assert mel.shape == (128, 1 + 16_000 // 256)
    assert mel.min() >= np.log(features.HSSANET_MEL.log_eps) - 1e-4
