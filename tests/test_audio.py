import io
import re
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
import scipy.signal
from conftest import SR, tone

from instrid import audio
from instrid.errors import AudioError, AudioTooLongError, ParameterError, SilentAudioWarning, TruncatedAudioWarning


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3", "aiff"])
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
    """Seeded mutations of real WAV/FLAC/OGG/MP3/M4A/WMA files: every outcome is audio or one AudioError."""
    rng = np.random.default_rng(0)
    seeds = [write_audio(f"seed.{f}", tone(330, 0.5), format=f.upper()).read_bytes() for f in ("wav", "flac", "ogg", "mp3")]
    for ext in ("m4a", "wma"):  # FFmpeg's
        codec, sr, _, settings, _ = CODECS[ext]
        seeds.append(encode(tmp_path / f"seed.{ext}", tone(330, 0.5, sr=sr), sr, codec, **settings).read_bytes())
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "fuzz"
    for i in range(450):
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


def encode(dest, samples, sr, codec, container=None, options=None, **settings):
    """Encode samples (n,) or (n, channels) with PyAV, as other programs write AAC, ALAC, Opus, WMA.
    ``container``: the format when ``dest`` has no name; ``options``: the muxer's; ``settings``: the stream's."""
    planes = np.ascontiguousarray(samples.reshape(len(samples), -1).T)  # (channels, n)
    layout = {1: "mono", 2: "stereo"}.get(len(planes), f"{len(planes)}.0")
    with av.open(dest, "w", format=container, options=options) as out:
        stream = out.add_stream(codec, rate=sr, layout=layout, **settings)
        fmt = next(f for f in stream.codec_context.codec.audio_formats if f.name in ("fltp", "flt", "s16p"))
        x = planes.astype(np.int16 if fmt.name == "s16p" else np.float32)  # ALAC: int16 samples
        x = x if fmt.is_planar else x.T.reshape(1, -1).copy()  # packed: (1, n * channels)
        frame = av.AudioFrame.from_ndarray(x, format=fmt.name, layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)  # pts 0: the codec delay is signalled
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return dest


def sweep(seconds=1.0, sr=SR):
    """A log sweep 200 Hz - 4 kHz: unlike a tone, it matches itself at one lag only."""
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * scipy.signal.chirp(t, 200, seconds, 4_000, method="logarithmic")).astype(np.float32)


def match(decoded, original, max_lag):
    """(correlation, lag): the best Pearson correlation of ``decoded[lag:]`` with ``original``, |lag| <= max_lag
    (the codec's delay), over ``original`` less ``max_lag`` samples at each end."""
    core = original[max_lag : len(original) - max_lag].astype(np.float64)
    core -= core.mean()
    y = np.pad(decoded, (0, len(original)))[: len(original)].astype(np.float64)  # (len(core) + 2 * max_lag,)
    sums, squares = (np.concatenate([[0.0], np.cumsum(v)]) for v in (y, y**2))
    n = len(core)
    spread = (squares[n:] - squares[:-n]) - (sums[n:] - sums[:-n]) ** 2 / n  # n * variance of each window
    corr = scipy.signal.correlate(y, core, mode="valid") / np.sqrt(spread * (core @ core))  # (2 * max_lag + 1,)
    best = int(np.argmax(corr))
    return float(corr[best]), best - max_lag


# extension: codec, its sample rate, frame (samples), encoder settings, the decoder instrid picks
CODECS = {
    "m4a": ("aac", 44_100, 1024, {}, "ffmpeg"),
    "webm": ("libopus", 48_000, 960, {}, "ffmpeg"),
    "wma": ("wmav2", 44_100, 2048, {"bit_rate": 64_000}, "ffmpeg"),
    "opus": ("libopus", 48_000, 960, {}, "libsndfile"),  # libsndfile reads Ogg Opus itself
}


@pytest.mark.parametrize("ext", CODECS)
def test_compressed_formats_decode_to_the_original(tmp_path, ext):
    codec, sr, frame, settings, decoder = CODECS[ext]
    original = sweep(2.0, sr=sr)
    path = encode(tmp_path / f"a.{ext}", original, sr, codec, **settings)
    assert audio.audio_info(path).decoder == decoder
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole file: not "truncated"
        y = audio.load_audio(path, sr=None)
    assert y.dtype == np.float32 and abs(len(y) - len(original)) <= frame  # the encoder's padding: within one frame
    corr, lag = match(y, original, max_lag=frame)
    assert corr > 0.99 and (lag == 0 or ext == "wma")  # MP4 edit lists and Opus pre-skip trim the delay; ASF cannot
    assert np.std(y) == pytest.approx(np.std(original), rel=0.05)


def test_ffmpeg_integers_downmix_and_resampling_match_libsndfile(tmp_path, write_audio):
    """ALAC is lossless: its 16-bit samples decode, average and resample exactly as the same WAV's."""
    stereo = np.stack([tone(440), -tone(440) + 0.2], axis=1)
    ints = np.round(stereo * 32767).astype(np.int16)
    alac, wav = encode(tmp_path / "s.m4a", ints, SR, "alac"), write_audio("s.wav", ints)
    assert audio.audio_info(alac) == audio.AudioInfo(SR, 2, SR, "ffmpeg")
    np.testing.assert_array_equal(audio.load_audio(alac, sr=16_000), audio.load_audio(wav, sr=16_000))
    aac = audio.load_audio(encode(tmp_path / "s-aac.m4a", stereo, SR, "aac"), sr=16_000)
    assert np.allclose(aac[1000:-1000], 0.1, atol=0.02)  # the channels' mean, resampled
    opus = audio.load_audio(encode(tmp_path / "a.webm", sweep(sr=48_000), 48_000, "libopus"), sr=SR)
    assert match(opus, sweep(), max_lag=0)[0] > 0.99


def test_ffmpeg_streams_blocks_from_paths_and_open_files(tmp_path):
    path = encode(tmp_path / "long.m4a", sweep(7.0), SR, "aac")
    blocks = list(audio.stream_audio(path, sr=16_000, block_frames=SR))
    assert len(blocks) >= 7 and max(map(len, blocks)) <= 16_000 + 1_000  # a second and a packet at a time
    whole = audio.load_audio(path, sr=16_000)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    with open(path, "rb") as f:  # an upload: its name is only for messages, the contents say what it is
        np.testing.assert_array_equal(audio.load_audio(f, sr=16_000, name="upload"), whole)


def test_ffmpeg_headers_are_checked_before_decoding(tmp_path, monkeypatch):
    six = encode(tmp_path / "six.m4a", np.tile(tone(440)[:, None], (1, 6)), SR, "aac")
    long = encode(tmp_path / "long.m4a", tone(440, 3.0), SR, "aac")

    class Unseekable:  # what a live stream writes: Matroska with no duration
        def __init__(self):
            self.data = b""

        def write(self, data):
            self.data += data

    live = tmp_path / "live.mka"
    live.write_bytes(encode(Unseekable(), tone(440, 3.0), SR, "aac", container="matroska").data)
    assert audio.audio_info(live).frames is None
    with pytest.raises(AudioTooLongError, match="longer than the 2 s limit \\(cut"):
        audio.load_audio(live, sr=SR, max_seconds=2.0)  # counted while decoding
    monkeypatch.setattr(audio, "_ffmpeg_blocks", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(AudioError, match="6 channels"):
        audio.load_audio(six, sr=SR)
    with pytest.raises(AudioTooLongError, match="longer than the 2 s limit \\(3 s\\)"):
        audio.load_audio(long, sr=SR, max_seconds=2.0)


def test_damaged_ffmpeg_files_give_one_line_or_warn(tmp_path):
    tail_index = encode(tmp_path / "a.m4a", tone(440, 4.0), SR, "aac").read_bytes()  # FFmpeg's default: index last
    head_index = encode(tmp_path / "b.m4a", tone(440, 4.0), SR, "aac", options={"movflags": "+faststart"}).read_bytes()
    unreadable = {"cut.m4a": tail_index[: len(tail_index) // 2], "junk.m4a": head_index[:32] + bytes(range(256)) * 8}
    for name, data in unreadable.items():
        (tmp_path / name).write_bytes(data)
        one_line = f"^{re.escape(str(tmp_path / name))}: unreadable or corrupt audio \\(.+\\) \\(re-encode it as WAV"
        with pytest.raises(AudioError, match=one_line) as err:
            audio.load_audio(tmp_path / name, sr=SR)
        assert "\n" not in str(err.value) and "Errno" not in str(err.value) and "'" not in str(err.value)
    (tmp_path / "cut.m4a").write_bytes(head_index[: len(head_index) // 2])  # the index first: the first half decodes
    with pytest.warns(TruncatedAudioWarning, match="ends before its header says"):
        assert 1.5 * SR < len(audio.load_audio(tmp_path / "cut.m4a", sr=SR)) < 2.5 * SR
    middle = len(head_index) // 2
    (tmp_path / "hole.m4a").write_bytes(head_index[:middle] + bytes(400) + head_index[middle + 400 :])
    with pytest.warns(TruncatedAudioWarning, match=r"\d damaged packet\(s\) could not be decoded; the 3.9 s"):
        assert len(audio.load_audio(tmp_path / "hole.m4a", sr=SR)) > 3.9 * SR  # the rest is decoded
    video = tmp_path / "video.mp4"
    with av.open(video, "w") as out:
        stream = out.add_stream("mpeg4", rate=10, width=16, height=16)
        black = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8))
        for packet in [*stream.encode(black), *stream.encode(None)]:
            out.mux(packet)
    with pytest.raises(AudioError, match="video.mp4: has no audio track"):
        audio.load_audio(video, sr=SR)


def test_folders_are_searched_for_every_readable_format(tmp_path, write_audio):
    write_audio("music/a.aiff", tone(440), format="AIFF")
    encode(tmp_path / "music/b.m4a", tone(440), SR, "aac")
    encode(tmp_path / "music/c.OPUS", tone(440, sr=48_000), 48_000, "libopus")
    (tmp_path / "music/cover.jpg").write_bytes(b"\xff\xd8")
    skipped = {}
    found, errors = audio.audio_files([tmp_path / "music"], skipped=skipped)
    assert [f.name for f in found] == ["a.aiff", "b.m4a", "c.OPUS"] and not errors
    cover = str(tmp_path / "music/cover.jpg")
    assert list(skipped) == [cover] and skipped[cover].startswith(f"{cover}: skipped: not an audio file name")
    assert audio.audio_files([tmp_path / "music"]) == (found, {})  # reported only to those who ask
    assert all(len(audio.load_audio(f, sr=16_000)) > 15_000 for f in found)


def test_ffmpeg_opens_no_other_file_than_the_one_given(tmp_path, write_audio):
    """A text file in FFmpeg's concat format would make it read files beside it (or beside the server)."""
    write_audio("secret.wav", tone(440))
    playlist = tmp_path / "upload.txt"
    playlist.write_text("ffconcat version 1.0\nfile secret.wav\n")
    with pytest.raises(AudioError, match="unreadable or corrupt audio \\(Format not recognised.\\)"):
        audio.load_audio(playlist, sr=SR)
    with open(playlist, "rb") as f, pytest.raises(AudioError, match="^upload: unreadable"):
        audio.load_audio(f, sr=SR, name="upload")
