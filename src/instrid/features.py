"""Features of both papers: log-mel spectrograms, the binary pYIN pitch mask and its variants.

Cross-attention paper (section 3.2): 44.1 kHz, 50 ms window, 10 ms hop, 128 mel bands in dB; a binary
mask with a 1 in the mel bin holding the pYIN f0 (C2–C7) of each voiced frame; the masked
("predominant") spectrogram ``mel_db * mask``. The paper says a 3 s clip gives "around 100 frames",
but 3 s at a 10 ms hop is 300; its Table 2 (input 1 x 128 x 100) is followed: one model input is
``INPUT_FRAMES`` = 100 frames = 1.0 s, and a 3 s clip yields three of them.

HSSANet (step 3): ``log(mel + eps)`` at its own rate (16 kHz here).

Front ends are small frozen dataclasses (``MelSpec``, ``WaveSpec``, ``DescriptorSpec``): each names the
array it produces (``field``), its rows (``dim``) and computes ``(dim, T)`` frames from mono audio, so the
feature store and the models treat them alike. ``FeatureConfig`` says which front end a model takes and
whether the pYIN track is computed; ``extraction`` computes a clip's arrays from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import librosa
import numpy as np

from .errors import ParameterError
from .melspec import hz_to_mel, mel_frequencies, mel_power


@dataclass(frozen=True)
class MelSpec:
    """A log-mel front end. Every field is part of the feature-store key."""

    sample_rate: int  # Hz
    win_length: int  # samples per STFT window
    hop_length: int  # samples between frames
    n_mels: int  # mel bands
    n_fft: int  # FFT size >= win_length (the window is zero-padded); even, so frames are 1 + n // hop
    fmin: float = 0.0  # Hz, lowest mel band edge
    fmax: float | None = None  # Hz, highest mel band edge (None: Nyquist)
    scale: str = "db"  # "db": 10*log10(power) (cross-attention); "log": log(power + log_eps) (HSSANet); "musicnn"
    log_eps: float = 1e-6  # HSSANet's epsilon, used when scale == "log"

    field = "mel"

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def dim(self) -> int:
        return self.n_mels

    @property
    def min_samples(self) -> int:
        return self.win_length

    def n_frames(self, n_samples: int) -> int:
        """Frames of ``n_samples`` of audio: centred frames, one every hop."""
        return 1 + n_samples // self.hop_length

    @property
    def floor(self) -> float:
        """The value of silence, used to pad windows past a clip's end."""
        return {"db": -100.0, "log": float(np.log(self.log_eps)), "musicnn": 0.0}[self.scale]

    def frames(self, y: np.ndarray) -> np.ndarray:
        return log_mel(y, self)


@dataclass(frozen=True)
class WaveSpec:
    """The waveform itself, cut into rows of ``hop_length`` samples (for WaveNet): frame t holds
    ``y[t*hop : (t+1)*hop]``, the last one zero-padded. A window of n frames is n * hop samples."""

    sample_rate: int
    hop_length: int
    field = "wave"
    floor = 0.0

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def dim(self) -> int:
        return self.hop_length

    @property
    def min_samples(self) -> int:
        return self.hop_length

    def n_frames(self, n_samples: int) -> int:
        return -(-n_samples // self.hop_length)

    def frames(self, y: np.ndarray) -> np.ndarray:
        n_frames = self.n_frames(len(y))
        padded = np.zeros(n_frames * self.hop_length, dtype=np.float32)
        padded[: len(y)] = y
        return padded.reshape(n_frames, self.hop_length).T.copy()  # (hop, T)


@dataclass(frozen=True)
class DescriptorSpec:
    """Frame-wise hand-crafted descriptors of the cross-attention paper's classical baselines:
    13 MFCCs, spectral centroid, bandwidth, RMS, roll-off (85 %) and 12 chroma bins (29 rows)."""

    sample_rate: int = 22_050
    n_fft: int = 2_048
    hop_length: int = 512
    field = "descriptors"
    floor = 0.0
    dim = 29

    @property
    def min_samples(self) -> int:
        return self.n_fft

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop_length

    def frames(self, y: np.ndarray) -> np.ndarray:
        kw = dict(sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length)
        power = np.abs(librosa.stft(y, n_fft=self.n_fft, hop_length=self.hop_length)) ** 2  # (1 + n_fft/2, T)
        mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, **kw))
        rows = [
            librosa.feature.mfcc(S=mel_db, n_mfcc=13),
            librosa.feature.spectral_centroid(S=np.sqrt(power), **kw),
            librosa.feature.spectral_bandwidth(S=np.sqrt(power), **kw),
            librosa.feature.rms(S=np.sqrt(power), frame_length=self.n_fft, hop_length=self.hop_length),
            librosa.feature.spectral_rolloff(S=np.sqrt(power), **kw),
            librosa.feature.chroma_stft(S=power, **kw),
        ]
        return np.concatenate(rows).astype(np.float32)  # (29, T)


# Cross-attention network (and the pitch mask): 50 ms / 10 ms at 44.1 kHz.
SAMPLE_RATE = 44_100
WIN_LENGTH = 2_205  # 50 ms
HOP_LENGTH = 441  # 10 ms
N_MELS = 128
N_FFT = 4_096  # 50 ms window zero-padded: an even size keeps centred frames on pYIN's grid
INPUT_SECONDS = 1.0
INPUT_FRAMES = int(INPUT_SECONDS * SAMPLE_RATE / HOP_LENGTH)  # 100: Table 2's 1 x 128 x 100
assert INPUT_FRAMES * HOP_LENGTH == INPUT_SECONDS * SAMPLE_RATE
CROSS_ATTENTION_MEL = MelSpec(SAMPLE_RATE, WIN_LENGTH, HOP_LENGTH, N_MELS, N_FFT)

# HSSANet: 16 kHz, 64 ms window, 16 ms hop, natural log with epsilon.
HSSANET_MEL = MelSpec(16_000, 1_024, 256, 128, 1_024, fmin=30.0, scale="log")

# Han et al. 2017 baseline: 22.05 kHz, 128 mels, 1 s = 43 frames.
HAN_MEL = MelSpec(22_050, 1_024, 512, 128, 1_024)

# VGGish's own front end: 16 kHz, 25 ms window, 10 ms hop, 64 mels 125-7500 Hz, log(mel + 0.01); 96 frames.
VGGISH_MEL = MelSpec(16_000, 400, 160, 64, 512, fmin=125.0, fmax=7_500.0, scale="log", log_eps=0.01)

# WaveNet baseline: the 16 kHz waveform in rows of 256 samples (HSSANet's hop), so 2 s = 125 rows.
WAVENET_WAVE = WaveSpec(16_000, 256)

# musicnn's own front end: 16 kHz, 512-sample window and FFT, 256 hop, 96 mels, log10(1 + 10000 * power);
# 187 frames = 3 s.
MUSICNN_MEL = MelSpec(16_000, 512, 256, 96, 512, scale="musicnn")

# Classical baselines: frame-wise descriptors at 22.05 kHz (43 frames/s).
DESCRIPTORS = DescriptorSpec()

# pYIN search range: C2 to C7 (MIDI 36 and 96), as in the cross-attention paper.
PYIN_FMIN = 440.0 * 2 ** ((36 - 69) / 12)  # 65.4 Hz
PYIN_FMAX = 440.0 * 2 ** ((96 - 69) / 12)  # 2093.0 Hz
PYIN_FRAME_LENGTH = 2_048  # 46 ms at 44.1 kHz: more than one period of C2 (675 samples), as pYIN needs


def log_mel(y: np.ndarray, spec: MelSpec = CROSS_ATTENTION_MEL) -> np.ndarray:
    """Log-mel spectrogram of mono audio sampled at ``spec.sample_rate``.

    Frames are centred: frame t covers ``y[t*hop - win/2 : t*hop + win/2]``, so a clip of n samples has
    ``1 + n // hop`` frames, aligned with ``pitch_track``.

    Returns
    -------
    mel : np.ndarray [shape=(spec.n_mels, 1 + n // spec.hop_length), dtype=float32]
        dB re 1.0 (floor -100 dB) when ``spec.scale == "db"``; ``log(power + eps)`` when "log";
        ``log10(1 + 10000 * power)`` when "musicnn".
    """
    power = mel_power(
        y,
        sample_rate=spec.sample_rate,
        n_fft=spec.n_fft,
        win_length=spec.win_length,
        hop_length=spec.hop_length,
        n_mels=spec.n_mels,
        fmin=spec.fmin,
        fmax=spec.fmax,
    )
    if spec.scale == "db":  # librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)
        return (10 * np.log10(np.maximum(power, 1e-10))).astype(np.float32)
    if spec.scale == "log":
        return np.log(power + spec.log_eps).astype(np.float32)
    if spec.scale == "musicnn":  # the mel is rounded to float16 first, as musicnn's training data was
        return np.log10(10_000 * power.astype(np.float16).astype(np.float32) + 1)
    raise ParameterError(f"MelSpec.scale must be 'db', 'log' or 'musicnn', got {spec.scale!r}")


@dataclass(frozen=True)
class PitchTrack:
    f0: np.ndarray  # (T,) Hz, NaN where unvoiced
    voiced: np.ndarray  # (T,) bool
    voiced_prob: np.ndarray  # (T,) in [0, 1]


def pitch_track(y: np.ndarray, spec: MelSpec = CROSS_ATTENTION_MEL) -> PitchTrack:
    """pYIN f0 in C2–C7 on the frame grid of ``log_mel(y, spec)`` (same hop, centred frames).

    Signals of two ``pitch.CHUNK_SECONDS`` (4 s) or more are computed on all cores; the track is the same.
    """
    from .pitch import pyin  # numba and librosa's YIN: imported by the models that use a pitch track only

    f0, voiced, voiced_prob = pyin(
        y,
        fmin=PYIN_FMIN,
        fmax=PYIN_FMAX,
        sr=spec.sample_rate,
        frame_length=PYIN_FRAME_LENGTH,
        hop_length=spec.hop_length,
        workers=None,  # one thread per core
    )
    return PitchTrack(f0.astype(np.float32), voiced, voiced_prob.astype(np.float32))


def mel_band_centres(spec: MelSpec = CROSS_ATTENTION_MEL) -> np.ndarray:
    """Centre frequencies (n_mels,) in Hz of the mel bands, as librosa places them."""
    return mel_frequencies(spec.n_mels + 2, spec.fmin, spec.fmax or spec.sample_rate / 2)[1:-1]


def mel_bin_of(frequency_hz: np.ndarray, spec: MelSpec = CROSS_ATTENTION_MEL) -> np.ndarray:
    """Index of the mel band containing each frequency: the band whose centre is nearest on the mel scale.

    Band b spans the mel-scale midpoints between its centre and its neighbours'. Returns int64, same shape.
    """
    centres = hz_to_mel(mel_band_centres(spec))  # (n_mels,) band centres, mel scale
    boundaries = (centres[1:] + centres[:-1]) / 2
    return np.searchsorted(boundaries, hz_to_mel(frequency_hz))


def pitch_mask(f0: np.ndarray, voiced: np.ndarray, spec: MelSpec = CROSS_ATTENTION_MEL) -> np.ndarray:
    """The paper's binary pitch mask: in each voiced frame, 1 in the mel band holding f0.

    Returns
    -------
    mask : np.ndarray [shape=(spec.n_mels, T), dtype=float32], one or zero 1s per column
    """
    mask = np.zeros((spec.n_mels, len(f0)), dtype=np.float32)
    frames = np.flatnonzero(voiced & np.isfinite(f0))
    mask[mel_bin_of(f0[frames], spec), frames] = 1.0
    return mask


def clean_f0(
    f0: np.ndarray,
    voiced_prob: np.ndarray,
    spec: MelSpec = CROSS_ATTENTION_MEL,
    *,
    median_frames: int = 5,
    voicing_threshold: float = 0.5,
    min_run_frames: int = 5,
) -> np.ndarray:
    """The pYIN track after the paper's three repairs of its typical errors (Table 5's "clean" mask).

    1. threshold smoothing: a frame stays voiced when pYIN called it voiced (finite ``f0``) and the voiced
       probability, averaged over ``median_frames`` frames, reaches ``voicing_threshold``;
    2. median filtering: the mel band of f0 is median-filtered over ``median_frames`` frames within each
       voiced run, removing octave jumps and one-frame glitches;
    3. isolated activations — voiced runs shorter than ``min_run_frames`` (50 ms) — are removed.

    Returns f0 (T,) float32: NaN where unvoiced, else the centre frequency of the filtered mel band, so
    that ``pitch_mask`` of it is the clean mask.
    """
    import scipy.ndimage  # a quarter of a second to import: only the clean-mask models need it

    smooth_prob = scipy.ndimage.uniform_filter1d(voiced_prob, median_frames, mode="nearest")
    voiced = np.isfinite(f0) & (smooth_prob >= voicing_threshold)
    out = np.full(len(f0), np.nan, dtype=np.float32)
    centres = mel_band_centres(spec)
    for (run,) in scipy.ndimage.find_objects(scipy.ndimage.label(voiced)[0]):
        if run.stop - run.start >= min_run_frames:
            bins = scipy.ndimage.median_filter(mel_bin_of(f0[run], spec), size=median_frames, mode="nearest")
            out[run] = centres[bins]
    return out


def masked_spectrogram(mel_db: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The paper's predominant spectrogram: ``mel_db * mask``, element-wise in the dB domain.

    Note the paper's choice: unmasked cells become 0 dB, which is *louder* than the typically negative
    dB values of the masked-in cells; the network learns with that convention.
    """
    return mel_db * mask


MASKS = ("pyin", "clean")
STORE_VERSION = 2  # bump when the extraction code changes its output
FrontEnd = MelSpec | WaveSpec | DescriptorSpec


@dataclass(frozen=True)
class FeatureConfig:
    frontend: FrontEnd = CROSS_ATTENTION_MEL
    pitch: bool = True  # compute the pYIN track (needed for the mask)
    preprocess: bool = False  # HSSANet step 2: band-pass 40 Hz-10 kHz and peak normalisation before the front end
    mask: str = "pyin"  # the pitch mask from the raw pYIN track, or "clean" (``clean_f0``; Table 5)

    def __post_init__(self):
        if self.mask not in MASKS:
            raise ParameterError(f"unknown pitch mask {self.mask!r}; choose one of: {', '.join(MASKS)}")

    def to_dict(self) -> dict:
        return {"frontend": {"type": type(self.frontend).__name__, **dataclasses.asdict(self.frontend)},
                "pitch": self.pitch, "preprocess": self.preprocess, "mask": self.mask}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        kinds = {k.__name__: k for k in FrontEnd.__args__}
        params = dict(d["frontend"])
        frontend = kinds[params.pop("type")](**params)
        return cls(frontend, d["pitch"], d["preprocess"], d.get("mask", "pyin"))

    def stored(self) -> dict:
        """``to_dict`` without the mask, which is derived when windows are cut, not stored."""
        return {k: v for k, v in self.to_dict().items() if k != "mask"}

    @property
    def key(self) -> str:
        """The store folder's name: what is extracted (the mask is derived when windows are cut, so not in it)."""
        text = json.dumps({"version": STORE_VERSION, **self.stored()}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def mask_track(arrays: dict[str, np.ndarray], config: FeatureConfig) -> dict[str, np.ndarray]:
    """A clip's arrays with ``f0`` replaced by the track its mask is drawn from: the raw pYIN f0, or with
    ``config.mask == "clean"`` the repaired ``clean_f0`` (computed over the arrays given: a whole clip,
    or a block of a long recording with its context)."""
    if not config.pitch or config.mask == "pyin":
        return arrays
    return {**arrays, "f0": clean_f0(arrays["f0"], arrays["voiced_prob"], config.frontend)}
