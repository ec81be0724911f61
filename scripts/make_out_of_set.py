"""Sounds that are none of the 11 instruments, labelled with no instrument (an empty ``label``).

The test set, for measuring how often instrid names an instrument anyway: speech (espeak-ng, 4 languages x 3
sentences), digital silence, white/pink/brown noise and General MIDI drum kits of FluidR3 and TimGM6mb.
With ``--training``, negative examples for a sigmoid model's training that share nothing with the test set:
noise from other seeds, the drum kits of the MuseScore, Merlin and sf_GMbank libraries, and English speech of
other sentences from another synthesiser (Flite's five voices, at random pitch and rate).
Writes OUT/*.flac and OUT/labels.csv. Deterministic.

    python scripts/make_out_of_set.py data/out-of-set      # needs espeak-ng (apt-get install espeak-ng)
    INSTRID_SOUNDFONT_DIR=data/soundfonts python scripts/make_out_of_set.py --training data/negatives  # needs flite
"""

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

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


def drums(font: Path, rng: np.random.Generator) -> np.ndarray:
    """A rock beat on the GM drum kit (bank 128): kick, snare, closed hi-hat in eighths, at 90-140 bpm."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=RENDER_SR)
    sfid = synth.sfload(str(font))
    synth.program_select(9, sfid, 128, 0, True)
    eighth = 30.0 / float(rng.uniform(90, 140))
    events = []
    for i in range(int(SECONDS / eighth)):
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
    for name in ("musescore", "merlin", "sfgm"):
        font = find_soundfont(LIBRARIES[name].file)
        for i in range(30 if font is not None else 0):
            sounds[f"drums-{name}-{i}"] = drums(font, rng)
    for voice in FLITE_VOICES:
        for i, text in enumerate(TRAINING_SENTENCES):
            sounds[f"speech-{voice}-{i}"] = flite_speech(voice, text, rng.uniform(90, 220), rng.uniform(0.8, 1.3))
    return sounds


def main(out: Path, training: bool = False):
    sounds = training_sounds() if training else test_sounds()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "source"])
        for name, y in sounds.items():
            soundfile.write(out / f"{name}.flac", np.clip(y, -1, 1), RENDER_SR, subtype="PCM_16")
            writer.writerow([f"{name}.flac", "", name.rsplit("-", 1)[0]])
    print(f"wrote {len(sounds)} sounds to {out}")


def test_sounds() -> dict[str, np.ndarray]:
    if shutil.which("espeak-ng") is None:
        sys.exit("make_out_of_set: espeak-ng not found; apt-get install espeak-ng")
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
    for name in ("fluid", "timgm"):
        font = find_soundfont(LIBRARIES[name].file)
        for i in range(3):
            if font is not None:
                sounds[f"drums-{name}-{i}"] = drums(font, rng)
    return sounds


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--training"]
    main(Path(args[0] if args else "data/out-of-set"), training="--training" in sys.argv)
