"""Sung notes from a source-filter model of the voice, for the ``voi`` class.

No recordings of singing can be had here, and the General MIDI "voice" presets are choir pads: a model
trained on them alone took a quarter of this synthesiser's phrases for a flute, clarinet, cello or organ.
This synthesiser gives the class a singer's timbre:

    f0 contour (a scoop into the first note, legato glides, vibrato, a slow random drift)
      -> glottal source: harmonics k * f0 with a spectral tilt (vocal effort) and a slow random gain
      -> vocal tract: each harmonic weighted by the vowel's five formants (frequency and bandwidth for
         soprano / alto / tenor / bass, the table of the Csound manual's "Formant values" appendix),
         moving from vowel to vowel across a phrase
      + breath noise through the phrase's mean vowel, pulsed with the glottal cycle.

Every harmonic's amplitude is set from the formant envelope at its own frequency (additive synthesis), so
no harmonic aliases and the vowel is exact at any pitch. ``sing_phrase(rng)`` draws a voice type, its range,
1 to 4 legato notes with their vowels, and every expressive setting from ``rng``; ``sing_dataset(OUT,
count=N, seed=S)`` writes ``OUT/audio/NNNNN.flac`` (3 s, 44.1 kHz, peak 0.9) and ``OUT/labels.csv`` (label
``voi``, source ``instrid-singing``, details: voice, pitches, vowels), a labels.csv set to pass to ``instrid
train --extra-data`` or ``instrid mix --from``. Clip ``i`` is drawn from ``(seed, i)`` alone, so a set is
deterministic and an interrupted one resumes; ``OUT/singing.json`` keeps the seed and the synthesiser's
version, and a folder made with others (or by anything else) is refused.
"""

from __future__ import annotations

import os
from itertools import repeat
from pathlib import Path

import numpy as np
import soundfile
from scipy.ndimage import gaussian_filter1d
from scipy.signal import oaconvolve
from tqdm import tqdm

from ..errors import ParameterError
from ..fileio import atomic_write, claim_folder, process_pool
from .layouts import LABELS_FILE, write_labels_csv

SING_SR = 44_100
SING_SECONDS = 3.0
FRAME = 256  # samples between two settings of the harmonics' amplitudes (5.8 ms)
MAX_HARMONIC_HZ = 10_000.0  # above this the formant envelope is negligible, and musicnn hears only 8 kHz
LIBRARY = "instrid-singing"
MAX_COUNT = 99_999
VERSION = 1  # of the synthesis: a change of what a seed sings must change it, so old folders are not resumed
MANIFEST = "singing.json"

# Formant frequency and bandwidth (Hz) of F1..F5 per voice and vowel.
FORMANTS = {
    "soprano": {
        "a": ((800, 1150, 2900, 3900, 4950), (80, 90, 120, 130, 140)),
        "e": ((350, 2000, 2800, 3600, 4950), (60, 100, 120, 150, 200)),
        "i": ((270, 2140, 2950, 3900, 4950), (60, 90, 100, 120, 120)),
        "o": ((450, 800, 2830, 3800, 4950), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2700, 3800, 4950), (50, 60, 170, 180, 200)),
    },
    "alto": {
        "a": ((800, 1150, 2800, 3500, 4950), (80, 90, 120, 130, 140)),
        "e": ((400, 1600, 2700, 3300, 4950), (60, 80, 120, 150, 200)),
        "i": ((350, 1700, 2700, 3700, 4950), (50, 100, 120, 150, 200)),
        "o": ((450, 800, 2830, 3500, 4950), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2530, 3500, 4950), (50, 60, 170, 180, 200)),
    },
    "tenor": {
        "a": ((650, 1080, 2650, 2900, 3250), (80, 90, 120, 130, 140)),
        "e": ((400, 1700, 2600, 3200, 3580), (70, 80, 100, 120, 120)),
        "i": ((290, 1870, 2800, 3250, 3540), (40, 90, 100, 120, 120)),
        "o": ((400, 800, 2600, 2800, 3000), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2700, 2900, 3300), (40, 60, 100, 120, 120)),
    },
    "bass": {
        "a": ((600, 1040, 2250, 2450, 2750), (60, 70, 110, 120, 130)),
        "e": ((400, 1620, 2400, 2800, 3100), (40, 80, 100, 120, 120)),
        "i": ((250, 1750, 2600, 3050, 3340), (60, 90, 100, 120, 120)),
        "o": ((400, 750, 2400, 2600, 2900), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2400, 2675, 2950), (40, 80, 100, 120, 120)),
    },
}  # fmt: skip
RANGES = {"soprano": (60, 81), "alto": (53, 74), "tenor": (48, 69), "bass": (40, 62)}  # MIDI notes sung comfortably


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(x, sigma)`` (same kernel, same mirrored edges) as an FFT convolution:
    for the pitch curves' sigmas of 400 to 2,700 samples it takes 0.01 s instead of 0.1 to 0.8 s per phrase."""
    radius = int(4.0 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return oaconvolve(np.pad(x, radius, mode="symmetric"), kernel / kernel.sum(), mode="valid")


def formant_envelope(freqs: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Linear gain of the vocal tract at ``freqs`` (..., K) Hz, for ``formants`` (..., 2, 5): the frequency and
    bandwidth of each formant, as a cascade of two-pole resonances with unit gain at 0 Hz (Klatt 1980), so
    the fundamental keeps its strength and each formant peaks at frequency / bandwidth."""
    f, bandwidth = formants[..., 0, None, :], formants[..., 1, None, :]  # (..., 1, 5)
    x = freqs[..., None]  # (..., K, 1)
    return np.prod(f**2 / np.sqrt((f**2 - x**2) ** 2 + (bandwidth * x) ** 2), axis=-1)


def sing(
    f0: np.ndarray, formants: np.ndarray, *, tilt: float, breath_db: float, rng: np.random.Generator, sr: int = SING_SR
) -> np.ndarray:
    """One voice: ``f0`` (N,) Hz per sample and ``formants`` (N // FRAME + 1, 2, 5) per frame -> audio (N,).
    ``tilt`` is the source's slope in dB per octave (about -6 for full voice, -12 for soft), ``breath_db`` the
    level of the breath noise under the voiced sound. Loudness wanders by a slow random gain (8 %)."""
    n = len(f0)
    phase = 2 * np.pi * np.cumsum(f0) / sr  # (N,)
    frames = np.arange(0, n, FRAME)  # (T,)
    f0_frames = f0[frames]  # (T,)
    k = np.arange(1, int(MAX_HARMONIC_HZ / f0.min()) + 1)  # (K,)
    freqs = f0_frames[:, None] * k  # (T, K)
    shimmer = 1 + 0.08 * gaussian_filter1d(rng.standard_normal((len(frames), 1)), 3, axis=0)  # (T, 1): a slow gain
    amp = k ** (tilt / 6.02) * formant_envelope(freqs, formants[: len(frames)]) * shimmer  # (T, K)
    amp[freqs > MAX_HARMONIC_HZ] = 0
    y = np.zeros(n)
    position = np.arange(n) / FRAME  # each sample's place between frames, for linear interpolation
    for j in range(len(k)):
        if amp[:, j].any():
            y += np.interp(position, np.arange(len(frames)), amp[:, j]) * np.sin(k[j] * phase)
    y /= np.sqrt(np.mean(y**2)) + 1e-12
    # breath: noise through the mean vowel's formants, louder in the open phase of each glottal cycle
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= formant_envelope(np.fft.rfftfreq(n, 1 / sr), formants.mean(axis=0))
    noise = np.fft.irfft(spectrum, n) * (0.6 + 0.4 * np.cos(phase))
    noise /= np.sqrt(np.mean(noise**2)) + 1e-12
    return (y + 10 ** (breath_db / 20) * noise).astype(np.float32)


def phrase_notes(rng: np.random.Generator) -> dict:
    """The first draws of a phrase: a voice type, 1 to 4 MIDI pitches in its range (mostly steps and small
    leaps) and a vowel per note."""
    voice = str(rng.choice(list(FORMANTS)))
    low, high = RANGES[voice]
    count = int(rng.integers(1, 5))
    pitches = [int(rng.integers(low, high + 1))]
    for _ in range(count - 1):
        pitches.append(int(np.clip(pitches[-1] + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7]), low, high)))
    return {"voice": voice, "pitches": pitches, "vowels": [str(v) for v in rng.choice(list("aeiou"), size=count)]}


def sing_phrase(rng: np.random.Generator, seconds: float = SING_SECONDS, sr: int = SING_SR) -> tuple[np.ndarray, dict]:
    """A sung phrase of 1 to 4 legato notes drawn from ``rng``: audio (seconds * sr,) peak 0.9, and its
    ``phrase_notes``."""
    if seconds < 1:
        raise ParameterError(f"a sung phrase lasts 1 s or more, got {seconds} s")
    n = int(seconds * sr)
    notes = phrase_notes(rng)
    voice, pitches, vowels = notes["voice"], notes["pitches"], notes["vowels"]
    count = len(pitches)
    onset, release = rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.4)
    bounds = np.linspace(onset * sr, n - release * sr, count + 1).astype(int)  # note boundaries (samples)
    # pitch: the notes as a step curve, smoothed into glides; a scoop up into the first note
    cents = np.zeros(n)
    for i, pitch in enumerate(pitches):
        cents[bounds[i] : bounds[i + 1]] = 100 * pitch
    cents[: bounds[0]], cents[bounds[-1] :] = 100 * pitches[0], 100 * pitches[-1]
    cents = smooth(cents, rng.uniform(0.02, 0.06) * sr)
    scoop = rng.uniform(30, 150) * np.exp(-np.maximum(np.arange(n) - bounds[0], 0) / (rng.uniform(0.03, 0.1) * sr))
    cents -= scoop
    rate, depth, delay = rng.uniform(4.5, 6.5), rng.uniform(15, 70), rng.uniform(0.1, 0.6)
    t = np.arange(n) / sr
    vibrato = depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)) * np.clip((t - onset - delay) / 0.3, 0, 1)
    drift = smooth(rng.standard_normal(n), 0.01 * sr) * 40 * rng.uniform(0.5, 1.5)  # 0.5-1.5 cents RMS, slow
    f0 = 440 * 2 ** ((cents + vibrato + drift - 6900) / 1200)
    # vowels: each note's formants, changing over 60 ms at the note boundaries
    table = np.array([FORMANTS[voice][v] for v in vowels], dtype=float)  # (count, 2, 5)
    frames = np.arange(0, n, FRAME)
    which = np.clip(np.searchsorted(bounds[1:-1], frames, side="right"), 0, count - 1)
    formants = gaussian_filter1d(table[which], 0.06 * sr / FRAME, axis=0)  # (T, 2, 5)
    y = sing(f0, formants, tilt=rng.uniform(-12, -5), breath_db=rng.uniform(-40, -22), rng=rng, sr=sr)
    # loudness: attack and release of the phrase, a swell or fade over it
    envelope = np.clip((np.arange(n) - bounds[0]) / (rng.uniform(0.04, 0.15) * sr), 0, 1)
    envelope *= np.clip((bounds[-1] - np.arange(n)) / (rng.uniform(0.05, 0.3) * sr), 0, 1)
    envelope *= 10 ** (np.linspace(0, rng.uniform(-6, 6), n) / 20)
    y *= envelope
    y *= 0.9 / np.abs(y).max()
    return y.astype(np.float32), notes


def _sing_clip(out: Path, seed: int, index: int) -> tuple[str, str, str, str]:
    """Write clip ``index`` unless it is there; its labels.csv row."""
    file = f"audio/{index:05d}.flac"
    if (out / file).exists():  # resume: the notes are the phrase's first draws, no need to sing it again
        notes = phrase_notes(np.random.default_rng([seed, index]))
    else:
        y, notes = sing_phrase(np.random.default_rng([seed, index]))
        atomic_write(out / file, lambda f: soundfile.write(f, y, SING_SR, format="FLAC", subtype="PCM_16"))
    return file, "voi", LIBRARY, f"{notes['voice']} {' '.join(map(str, notes['pitches']))} {''.join(notes['vowels'])} seed {seed}"


def sing_dataset(out: str | Path, *, count: int = 300, seed: int = 0, workers: int | None = None) -> int:
    """Write ``count`` sung phrases into ``out`` (see the module's docstring) with ``workers`` processes;
    existing ones are kept. Returns the number of clips in ``out/labels.csv``."""
    out = Path(out)
    if not 1 <= count <= MAX_COUNT:
        raise ParameterError(f"--count {count}: give 1 to {MAX_COUNT} clips")
    if seed < 0 or (workers is not None and workers < 1):
        raise ParameterError(f"--seed {seed} / --workers {workers}: give a seed >= 0 and 1 or more workers")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} is a file: give a folder")
    if not (out / MANIFEST).exists() and ((out / LABELS_FILE).exists() or any((out / "audio").glob("*"))):
        raise ParameterError(f"{out} holds files that instrid sing did not make: choose another --out")
    claim_folder(out / MANIFEST, {"seed": seed, "synthesiser": VERSION}, "sung phrases")
    with process_pool(workers or os.cpu_count() or 1) as pool:
        rows = list(tqdm(pool.map(_sing_clip, repeat(out), repeat(seed), range(count)), total=count, desc="sing", unit="clip"))
    write_labels_csv(out, rows)
    return len(rows)
