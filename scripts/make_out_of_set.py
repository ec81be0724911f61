"""Sounds that are none of the 11 instruments, labelled with no instrument (an empty ``label``).

The test set, for measuring how often instrid names an instrument anyway: speech (espeak-ng, 4 languages x 3
sentences), digital silence, white/pink/brown noise, General MIDI drum kits of FluidR3 and TimGM6mb, and test
signals (sine tones, sweeps, square waves, clicks, mains hum, room noise), and real recorded percussion from
two Hydrogen drum kits (Debian's hydrogen-drumkits: The Black Pearl, a kit with cowbells and bongos, and
circAfrique, djembes and other African drums), played as patterns and as single hits, and AVL Drumkits' Red
Zeppelin (Debian's avldrums.lv2-soundfont), beats and single strokes.
With ``--training``, negative examples for a sigmoid model's training that share nothing with the test set:
noise and test signals from other seeds, the drum kits of the MuseScore, Merlin and sf_GMbank libraries, the
other Hydrogen kits, and English speech of other sentences from another synthesiser (Flite's five voices, at
random pitch and rate).
Writes OUT/*.flac and OUT/labels.csv. Deterministic.

    python scripts/make_out_of_set.py data/out-of-set      # needs espeak-ng, hydrogen-drumkits, avldrums.lv2-soundfont (apt-get)
    INSTRID_SOUNDFONT_DIR=data/soundfonts python scripts/make_out_of_set.py --training data/negatives  # needs flite
    INSTRID_SOUNDFONT_DIR=data/soundfonts python scripts/make_out_of_set.py --training --kinds noise,drums,speech data/backgrounds

``--kinds`` keeps only the sounds of those kinds (the name up to its first ``-``), the same files as without it:
the shipped recipe's mixtures are laid over noise, General MIDI kits and speech only, while its presence head
learns from all the negatives.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

from instrid.data.layouts import write_labels_csv
from instrid.data.render import LIBRARIES, RENDER_SR, find_soundfont

SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog.", "Please call me back when you get this message.",
           "Tomorrow the weather will be cloudy with some rain."],
    "de": ["Guten Morgen, wie geht es dir heute?", "Der Zug nach Berlin hat zehn Minuten Verspätung.",
           "Ich habe das Buch gestern Abend gelesen."],
    "fr": ["Bonjour, je voudrais un café, s'il vous plaît.", "Le musée ferme à dix-huit heures.",
           "Nous partons en vacances la semaine prochaine."],
    "es": ["Buenos días, ¿dónde está la estación?", "Mañana vamos a la playa con mis amigos.",
           "El libro está encima de la mesa."],
}  # fmt: skip
TRAINING_SENTENCES = [
    "She sells sea shells by the sea shore.", "The meeting has been moved to Thursday afternoon.",
    "Could you tell me how to get to the library?", "I think we should leave before the traffic gets bad.",
    "Thank you all for coming here tonight.", "The train to the airport leaves every twenty minutes.",
    "My brother bought a new bicycle last week.", "Turn left at the second traffic light.",
    "Remember to water the plants while I am away.", "The results will be announced on Monday morning.",
    "We ran out of milk, so I went to the shop.", "Open the window, it is getting warm in here.",
]  # fmt: skip
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
SECONDS = 4.0
HYDROGEN_KITS = Path("/usr/share/hydrogen/data/drumkits")  # Debian's hydrogen-drumkits (GPL-2 and CC licences)
TEST_KITS = ("The Black Pearl 1.0", "circAfrique v4")  # held out of training: the out-of-set set's real percussion
# Debian's avldrums.lv2-soundfont: AVL Drumkits' Red Zeppelin, multi-sampled acoustic drums (Glen MacArthur, CC-BY-SA-3.0)
AVL_TEST_KIT = Path("/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2")


def synthesise(command: list[str]) -> np.ndarray:
    """Run a speech synthesiser whose ``command`` names its output file ``{wav}``; the audio at RENDER_SR."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = str(Path(tmp) / "speech.wav")
        subprocess.run([wav if arg == "{wav}" else arg for arg in command], check=True)
        y, sr = soundfile.read(wav, dtype="float32")
    return soxr.resample(y, sr, RENDER_SR).astype(np.float32)


def speech(lang: str, text: str) -> np.ndarray:
    return synthesise(["espeak-ng", "-v", lang, "-w", "{wav}", text])


def flite_speech(voice: str, text: str, pitch_hz: float, stretch: float) -> np.ndarray:
    return synthesise(["flite", "-voice", voice, "-t", text, "-o", "{wav}", "--setf", f"int_f0_target_mean={pitch_hz:.0f}",
                       "--setf", f"duration_stretch={stretch:.2f}"])  # fmt: skip


def noise(colour: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise at -20 dBFS RMS."""
    n = int(SECONDS * RENDER_SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / RENDER_SR), 20.0)
    spectrum /= {"white": 1.0, "pink": np.sqrt(f), "brown": f}[colour]
    y = np.fft.irfft(spectrum, n)
    return (y * 0.1 / np.sqrt(np.mean(y**2))).astype(np.float32)


TEST_SIGNALS = ("sine", "sweep", "square", "clicks", "hum", "room")


def test_signal(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A test signal of ``kind`` (one of TEST_SIGNALS), SECONDS long, at a random level: a sine tone (40 Hz-8 kHz),
    a logarithmic sweep, a band-limited square wave (40 Hz-2 kHz), clicks (a metronome or a random train), mains
    hum (50 or 60 Hz and its harmonics) or room noise (low-passed noise at -55 to -35 dBFS RMS)."""
    n = int(SECONDS * RENDER_SR)
    t = np.arange(n) / RENDER_SR
    if kind == "sine":
        y = np.sin(2 * np.pi * 10 ** rng.uniform(np.log10(40), np.log10(8000)) * t)
    elif kind == "sweep":
        lo, hi = sorted(10 ** rng.uniform(np.log10(20), np.log10(16000), 2))
        phase = 2 * np.pi * lo * SECONDS / np.log(hi / lo) * ((hi / lo) ** (t / SECONDS) - 1)
        y = np.sin(phase if rng.random() < 0.5 else phase[::-1])
    elif kind == "square":
        f0 = 10 ** rng.uniform(np.log10(40), np.log10(2000))
        y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, int(RENDER_SR / 2 / f0), 2))
    elif kind == "clicks":
        y = np.zeros(n)
        period = rng.uniform(0.1, 1.0)
        times = np.arange(0, SECONDS, period) if rng.random() < 0.5 else np.sort(rng.uniform(0, SECONDS, int(SECONDS / period)))
        click = np.exp(-np.arange(64) / 8.0) * rng.choice([-1, 1], 64)
        for when in (times * RENDER_SR).astype(int):
            y[when : when + 64] += click[: n - when]
    elif kind == "hum":
        mains = rng.choice([50.0, 60.0])
        y = sum(rng.uniform(0.1, 1) / k * np.sin(2 * np.pi * k * mains * t + rng.uniform(0, 2 * np.pi)) for k in range(1, 9))
        y = y + 0.01 * rng.standard_normal(n)
    elif kind == "room":
        spectrum = np.fft.rfft(rng.standard_normal(n)) / np.maximum(np.fft.rfftfreq(n, 1 / RENDER_SR), 20.0) ** rng.uniform(0.5, 1.5)
        y = np.fft.irfft(spectrum, n)
        return (y * 10 ** (rng.uniform(-55, -35) / 20) / np.sqrt(np.mean(y**2))).astype(np.float32)
    else:
        raise ValueError(f"unknown test signal {kind!r}; one of {TEST_SIGNALS}")
    return (y * 10 ** (rng.uniform(-30, -3) / 20) / np.max(np.abs(y))).astype(np.float32)


def kit_samples(kit: Path) -> list[Path]:
    return sorted(f for f in kit.iterdir() if f.suffix.lower() in (".wav", ".flac", ".aiff", ".aif"))


def kit_sound(samples: list[Path], rng: np.random.Generator, hit: bool) -> np.ndarray:
    """A real drum kit's samples: one hit (at 0-0.5 s), or a pattern of 3 to 6 of them on a sixteenth-note grid
    at 70-160 bpm, each sounding on a random share of the steps at random strength; peak -20 to -1 dBFS."""
    n = int(SECONDS * RENDER_SR)
    y = np.zeros(n)
    chosen = rng.choice(len(samples), 1 if hit else min(len(samples), int(rng.integers(3, 7))), replace=False)
    step = 15.0 / rng.uniform(70, 160)
    for k in chosen:
        x, sr = soundfile.read(samples[k], dtype="float32", always_2d=True)
        x = soxr.resample(x.mean(axis=1), sr, RENDER_SR)[: n // 2]
        starts = [rng.uniform(0, 0.5)] if hit else np.arange(0, SECONDS, step)[rng.random(int(np.ceil(SECONDS / step))) < rng.uniform(0.1, 0.6)]
        for when in (np.asarray(starts) * RENDER_SR).astype(int):
            y[when : when + len(x)] += x[: n - when] * rng.uniform(0.3, 1.0)
    return (y * 10 ** (rng.uniform(-20, -1) / 20) / max(np.max(np.abs(y)), 1e-9)).astype(np.float32)


def kit_sounds(kits: list[Path], count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``count`` patterns and ``count`` single hits of each kit, named after it."""
    sounds = {}
    for kit in kits:
        name = "".join(ch for ch in kit.name if ch.isalnum())
        for i in range(2 * count):
            sounds[f"kit-{name}-{'hit' if i % 2 else 'pattern'}-{i // 2}"] = kit_sound(kit_samples(kit), rng, hit=bool(i % 2))
    return sounds


def hydrogen_kits(test: bool) -> list[Path]:
    if not HYDROGEN_KITS.is_dir():
        sys.exit(f"make_out_of_set: {HYDROGEN_KITS} not found; apt-get install hydrogen-drumkits")
    kits = [k for k in sorted(HYDROGEN_KITS.iterdir()) if kit_samples(k)]
    return [k for k in kits if (k.name in TEST_KITS) == test]


def drums(font: Path, rng: np.random.Generator, bank: int = 128, hit: bool = False) -> np.ndarray:
    """A rock beat on a SoundFont's drum kit (GM's is bank 128, preset 0): kick, snare, closed hi-hat in eighths,
    at 90-140 bpm; with ``hit``, one stroke of a random drum or cymbal (GM notes 35-59) at 0-0.5 s."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=RENDER_SR)
    sfid = synth.sfload(str(font))
    synth.program_select(9, sfid, bank, 0, True)
    eighth = 30.0 / float(rng.uniform(90, 140))
    events = [(float(rng.uniform(0, 0.5)), int(rng.integers(35, 60)))] if hit else []
    for i in range(0 if hit else int(SECONDS / eighth)):
        events += [(i * eighth, 42)] + [(i * eighth, 36)] * (i % 4 == 0) + [(i * eighth, 38)] * (i % 4 == 2)
    out = []
    block = 441
    for start in range(0, int(SECONDS * RENDER_SR), block):
        for when, note in [e for e in events if start <= e[0] * RENDER_SR < start + block]:
            synth.noteon(9, note, int(rng.integers(80, 127)))
        out.append(np.frombuffer(synth.generate(block), dtype=np.float32).reshape(-1, 2).mean(axis=1))
    return np.concatenate(out)


def training_sounds() -> dict[str, np.ndarray]:
    if shutil.which("flite") is None:
        sys.exit("make_out_of_set: flite not found; apt-get install flite")
    rng = np.random.default_rng(1)
    sounds = {}
    for colour in ("white", "pink", "brown"):
        for i in range(20):
            sounds[f"noise-{colour}-{i}"] = noise(colour, rng) * float(10 ** rng.uniform(-1.5, 0.5))
    for kind in TEST_SIGNALS:
        for i in range(15):
            sounds[f"{kind}-{i}"] = test_signal(kind, rng)
    for name in ("musescore", "merlin", "sfgm"):
        font = find_soundfont(LIBRARIES[name].file)
        for i in range(30 if font is not None else 0):
            sounds[f"drums-{name}-{i}"] = drums(font, rng)
    sounds.update(kit_sounds(hydrogen_kits(test=False), 10, rng))
    for voice in FLITE_VOICES:
        for i, text in enumerate(TRAINING_SENTENCES):
            sounds[f"speech-{voice}-{i}"] = flite_speech(voice, text, rng.uniform(90, 220), rng.uniform(0.8, 1.3))
    return sounds


def main(out: Path, training: bool = False, kinds: set[str] | None = None):
    sounds = training_sounds() if training else test_sounds()
    if kinds is not None:
        sounds = {name: y for name, y in sounds.items() if name.split("-", 1)[0] in kinds}
        if not sounds:
            sys.exit(f"make_out_of_set: no sounds of the kinds {','.join(sorted(kinds))}; kinds are e.g. noise, drums, speech, kit, sine")
    out.mkdir(parents=True, exist_ok=True)
    for name, y in sounds.items():
        soundfile.write(out / f"{name}.flac", np.clip(y, -1, 1), RENDER_SR, subtype="PCM_16")
    write_labels_csv(out, [(f"{name}.flac", "", name.rsplit("-", 1)[0], "{}") for name in sounds])
    print(f"wrote {len(sounds)} sounds to {out}")


def test_sounds() -> dict[str, np.ndarray]:
    if shutil.which("espeak-ng") is None:
        sys.exit("make_out_of_set: espeak-ng not found; apt-get install espeak-ng")
    if not AVL_TEST_KIT.is_file():
        sys.exit(f"make_out_of_set: {AVL_TEST_KIT} not found; apt-get install avldrums.lv2-soundfont")
    rng = np.random.default_rng(0)
    sounds = {}
    for lang, texts in SENTENCES.items():
        for i, text in enumerate(texts):
            sounds[f"speech-{lang}-{i}"] = speech(lang, text)
    for i in range(2):
        sounds[f"silence-{i}"] = np.zeros(int(SECONDS * RENDER_SR), np.float32)
    for colour in ("white", "pink", "brown"):
        for i in range(2):
            sounds[f"noise-{colour}-{i}"] = noise(colour, rng)
    for kind in TEST_SIGNALS:
        for i in range(5):
            sounds[f"{kind}-{i}"] = test_signal(kind, rng)
    for name in ("fluid", "timgm"):
        font = find_soundfont(LIBRARIES[name].file)
        for i in range(3):
            if font is not None:
                sounds[f"drums-{name}-{i}"] = drums(font, rng)
    sounds.update(kit_sounds(hydrogen_kits(test=True), 6, rng))
    for i in range(12):  # a real recorded kit from outside Hydrogen, in no training set
        sounds[f"kit-avlRedZeppelin-{'hit' if i % 2 else 'pattern'}-{i // 2}"] = drums(AVL_TEST_KIT, rng, bank=0, hit=bool(i % 2))
    return sounds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("data/out-of-set"))
    parser.add_argument("--training", action="store_true", help="negative examples for training instead of the test set")
    parser.add_argument("--kinds", default=None, help="comma-separated kinds to keep (e.g. noise,drums,speech)")
    args = parser.parse_args()
    main(args.out, training=args.training, kinds=set(args.kinds.split(",")) if args.kinds else None)
