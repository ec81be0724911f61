import librosa
import numpy as np
from conftest import SR, tone

from instrid import features
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
