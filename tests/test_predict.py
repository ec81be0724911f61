import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from conftest import tone

from instrid.cli import main
from instrid.labels import IRMAS_CLASSES
from instrid.predict import Recognizer
from instrid.tagging import ResultFile, tag
from instrid.windows import input_windows


@pytest.fixture(scope="module")
def recognizer(tiny_run):
    return Recognizer.load(tiny_run, device="cpu")


def test_predict_a_rendered_excerpt(recognizer, tiny_dataset):
    _, clips = tiny_dataset
    excerpt = next(c for c in clips if c.task == "mix-long" and c.split == "test")
    p = recognizer.predict(excerpt.path, timeline=True)
    assert p.duration == pytest.approx(soundfile.info(excerpt.path).duration, abs=1e-3)
    assert p.top.score == 1.0 and p.top == p.labels[0]
    assert [x.score for x in p.labels] == sorted((x.score for x in p.labels), reverse=True)
    assert all(x.score >= p.threshold for x in p.labels) and [x.code for x in p.scores] == list(IRMAS_CLASSES)
    n_frames = 1 + round(p.duration * 44_100) // 441
    assert len(p.timeline.starts) == len(input_windows(n_frames, size=100, hop=50))
    assert p.timeline.starts[1] == pytest.approx(0.5) and p.timeline.probabilities.shape[1] == 11
    sums = p.timeline.probabilities.sum(axis=1)
    np.testing.assert_allclose(sums[~p.timeline.silent], 1, rtol=1e-5)
    assert not sums[p.timeline.silent].any()  # windows of silence (the excerpt's fade-out): no instrument
    d = json.loads(json.dumps(p.to_dict()))
    assert d["top"]["name"] and len(d["timeline"]["probabilities"]) == len(p.timeline.starts)


def test_audio_shorter_than_a_window_and_long_audio(recognizer):
    short = recognizer.predict_audio(tone(440, 0.3), timeline=True)
    assert len(short.timeline.starts) == 1 and short.duration == pytest.approx(0.3)
    long = recognizer.predict_audio(np.tile(tone(440, 1.0), 70), timeline=True)  # 70 s: two window batches
    assert len(long.timeline.starts) == len(input_windows(1 + 70 * 100, size=100, hop=50))
    assert np.isfinite(long.timeline.probabilities).all()


def test_predict_folder_streams_results_skips_bad_files_and_resumes(tiny_run, write_audio, tmp_path, capsys):
    write_audio("music/a.wav", tone(440, 1.5))
    write_audio("music/sub/b.flac", np.stack([tone(220, 2.0), tone(330, 2.0)], axis=1), sr=22_050)  # stereo, other rate
    write_audio("music/sub/c.ogg", tone(523, 1.2), sr=48_000, format="OGG", subtype="VORBIS")
    (tmp_path / "music" / "broken.mp3").write_bytes(b"not audio")
    out = tmp_path / "tags.jsonl"
    argv = ["predict", str(tmp_path / "music"), "--run", str(tiny_run), "--out", str(out), "--format", "jsonl"]
    assert main(argv) == 1  # one file failed: non-zero, but the others are done
    captured = capsys.readouterr()
    assert "broken.mp3" in captured.err and "1 path(s) could not be read (listed above); 3 file(s) tagged" in captured.err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(d["path"].rsplit("/", 1)[-1] for d in lines) == ["a.wav", "b.flac", "c.ogg"]
    assert [json.loads(line) for line in captured.out.splitlines()] == lines  # streamed to stdout as well

    with out.open("a") as f:
        f.write('{"path": "torn')  # as if killed mid-line
    assert main(argv) == 1  # only the broken file is tried again
    assert capsys.readouterr().out == ""
    assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == [d["path"] for d in lines]


def test_workers_give_the_same_answers_in_the_same_order(recognizer, write_audio, tmp_path):
    paths = [write_audio(f"w/{i}.wav", tone(220 * (i + 1), 1.0 + 0.3 * i)) for i in range(4)]
    (tmp_path / "w" / "2.wav").write_bytes(b"not audio")
    seen = []
    one, one_errors = tag([tmp_path / "w"], recognizer, workers=1, progress=False)
    two, two_errors = tag([tmp_path / "w"], recognizer, workers=2, progress=False, on_result=seen.append)
    assert [p.path for p in two] == [p.path for p in one] == [str(paths[i]) for i in (0, 1, 3)] and seen == two
    assert [p.scores for p in two] == [p.scores for p in one] and one_errors.keys() == two_errors.keys() == {str(paths[2])}


def test_output_formats_and_result_file_checks(tiny_run, write_audio, tmp_path, capsys):
    import csv

    paths = [str(write_audio("x.wav", tone(440, 1.0))), str(write_audio("y.wav", tone(330, 1.5)))]
    assert main(["predict", *paths, "--run", str(tiny_run), "--format", "csv", "--out", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert list(rows[0]) == ["path", "duration", "silence", "top", "top_name", "labels", "threshold", *IRMAS_CLASSES]
    assert [r["path"] for r in rows] == paths and (tmp_path / "t.csv").read_text().count("\n") == 3
    assert float(rows[0][rows[0]["top"]]) == max(float(rows[0][c]) for c in IRMAS_CLASSES)  # one column per class

    assert main(["predict", *paths, "--run", str(tiny_run), "--format", "json", "--timeline"]) == 0
    document = json.loads(capsys.readouterr().out)  # one JSON document: a list of results
    assert [d["path"] for d in document] == paths and len(document[1]["timeline"]["probabilities"]) == 2
    assert main(["predict", *paths, "--run", str(tiny_run), "--format", "jsonl"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {k: v for k, v in d.items() if k != "timeline"} for d in document
    ]
    assert main(["predict", paths[0], "--run", str(tiny_run), "--format", "table", "--timeline"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "1 s windows" in table[1] and "(p = " in table[2] and all(code not in table[2].split() for code in IRMAS_CLASSES)

    assert main(["predict", paths[0], "--run", str(tiny_run), "--format", "csv", "--timeline"]) == 1
    assert "--timeline with --format csv" in capsys.readouterr().err
    for name in ("tags.txt", "tags.json"):
        with pytest.raises(Exception, match=".jsonl or .csv"):
            ResultFile(tmp_path / name, IRMAS_CLASSES)
    assert main(["predict", str(tmp_path / "missing.wav"), "--run", str(tiny_run)]) == 1
    assert "missing.wav" in capsys.readouterr().err


def test_the_shipped_model_works_out_of_the_box(tiny_dataset, capsys):
    from instrid.runtime import SHIPPED_RUN

    weights = SHIPPED_RUN / "model.safetensors"
    assert weights.stat().st_size <= 5 * 2**20  # <= 5 MB
    assert "optimizer_state" not in json.loads((SHIPPED_RUN / "run.json").read_text())  # its file is not shipped
    recognizer = Recognizer.load(device="cpu")
    assert recognizer.labels == IRMAS_CLASSES and recognizer.entry.name == "musicnn"
    assert recognizer.scorer.activation == "sigmoid"
    _, clips = tiny_dataset
    excerpt = next(c for c in clips if c.task == "mix-long")
    assert main(["predict", str(excerpt.path), "--format", "json"]) == 0  # no --run: the shipped model
    (d,) = json.loads(capsys.readouterr().out)
    assert d["top"]["code"] in IRMAS_CLASSES and all(x["score"] >= recognizer.thresholds[x["code"]] for x in d["labels"])
    assert max(d["scores"].values()) == d["top"]["score"] < 1.0  # each class's own probability: not rescaled to 1


def test_the_shipped_model_names_no_instrument_for_test_signals(write_audio):
    """The shipped model's presence head: a sine tone, a sweep and white noise, none of them in its training
    (its negatives are of other seeds), get no instrument (the model before it called a sine tone voice at 0.98)."""
    sr = 44_100
    t = np.arange(4 * sr) / sr
    signals = {
        "sine.wav": 0.3 * np.sin(2 * np.pi * 523.25 * t),
        "sweep.wav": 0.3 * np.sin(2 * np.pi * 100 * (20 ** (t / 4) - 1) * 4 / np.log(20)),  # 100 Hz to 2 kHz
        "noise.wav": np.random.default_rng(7).normal(0, 0.1, t.size),
    }
    recognizer = Recognizer.load(device="cpu")
    for name, y in signals.items():
        p = recognizer.predict(write_audio(name, y.astype(np.float32), sr=sr))
        assert p.labels == () and p.top.score < p.threshold == recognizer.thresholds[p.top.code], (name, p.top)


def test_the_naming_rule_and_a_threshold_given_in_its_place(recognizer, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / "run")
    rule = {"value": 0.5, "per_class": {c: 0.5 for c in recognizer.labels} | {"cla": 0.3}, "relative": 0.8}
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**run, "threshold": rule}))
    named = Recognizer.load(tmp_path / "run", device="cpu")
    assert named.thresholds["cla"] == 0.3 and named.relative == 0.8
    scores = dict.fromkeys(recognizer.labels, 0.0) | {"cel": 0.9, "vio": 0.6, "cla": 0.4, "pia": 0.2}
    probs, silent = np.array([[scores[c] for c in recognizer.labels]] * 3), np.zeros(3, bool)  # (W, C)

    def codes(threshold=None):
        return [x.code for x in named.prediction(probs, silent, 4.5, path="x", threshold=threshold).labels]

    assert codes() == ["cel"]  # violin and clarinet reach their own θ but not 0.8 x the cello's score
    assert codes(threshold=0.3) == ["cel", "vio", "cla"]  # one θ for every class, and no predominance rule
    assert codes(threshold=0.5) == ["cel", "vio"]  # the clarinet is under it (its own θ was 0.3)


def test_silence_is_reported_as_silence(recognizer, write_audio, capsys):
    digital = write_audio("digital.wav", np.zeros(3 * 44_100, np.float32))
    hiss = write_audio("hiss.wav", np.random.default_rng(0).normal(0, 1e-4, 3 * 44_100).astype(np.float32))  # -80 dBFS
    for path in (digital, hiss):
        p = recognizer.predict(path, timeline=True)
        assert p.silence and p.labels == () and p.top is None and not any(x.score for x in p.scores)
        assert p.timeline.silent.all()
    assert main(["predict", str(digital), str(hiss), "--run", str(recognizer.run_dir)]) == 0
    assert [line.rsplit("  ", 1)[-1] for line in capsys.readouterr().out.splitlines()] == ["silence", "silence"]

    y = np.concatenate([np.zeros(3 * 44_100, np.float32), tone(440, 3.0)])  # silence, then a tone
    p = recognizer.predict(write_audio("intro.wav", y), timeline=True)
    assert not p.silence and p.top is not None and p.labels
    assert p.timeline.silent[:4].all() and not p.timeline.silent[-4:].any()
    tone_only = recognizer.predict_audio(tone(440, 3.0))
    assert [x.code for x in p.labels] == [x.code for x in tone_only.labels]  # the silent intro does not dilute the scores


def test_memory_does_not_grow_with_the_length_of_the_file(recognizer, write_audio):
    """Peak numpy memory (tracemalloc sees numpy's buffers) of a 40 s and a 160 s file: the same blocks."""
    import tracemalloc

    notes = np.concatenate([tone(f, 0.5) for f in (220, 330, 440, 550)] * 20)  # 40 s of changing notes
    peaks = []
    for repeats in (1, 4):
        path = write_audio(f"long{repeats}.flac", np.tile(notes, repeats))
        tracemalloc.start()
        p = recognizer.predict(path)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert p.duration == pytest.approx(40 * repeats)
    assert peaks[1] < 1.25 * peaks[0], [f"{x / 2**20:.0f} MiB" for x in peaks]


def test_the_default_runtime_holds_its_memory_bound(write_audio):
    """Peak resident memory of `instrid predict` with the shipped model on ONNX Runtime (the default): a 4x
    longer file takes no more, and both stay under the 1.1 GB the docs promise (benchmarks/memory.py)."""
    notes = np.concatenate([tone(f, 0.5) for f in (220, 330, 440, 550)] * 20)  # 40 s of changing notes
    peaks = []
    for repeats in (1, 4):
        path = write_audio(f"rss{repeats}.flac", np.tile(notes, repeats))
        # through a small launcher: a child started straight from this large process would count its size in its peak
        launcher = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
        argv = [sys.executable, "-c", launcher, sys.executable, "-m", "instrid", "predict", str(path)]
        peaks.append(int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout) / 1024)  # MB
    assert peaks[1] < peaks[0] + 64 and max(peaks) < 1100, [f"{x:.0f} MB" for x in peaks]


@pytest.mark.parametrize("frontend", ["mel+pitch", "wave"])
def test_blocks_give_the_whole_file_features(tiny_dataset, frontend):
    """Streamed extraction (here 10 s blocks with 2 s of context) equals extracting the whole recording at once."""
    from instrid.audio import load_audio
    from instrid.extraction import extract_audio, extract_stream
    from instrid.features import WAVENET_WAVE, FeatureConfig

    _, clips = tiny_dataset
    config = {"mel+pitch": FeatureConfig(), "wave": FeatureConfig(WAVENET_WAVE, pitch=False)}[frontend]
    sr = config.frontend.sample_rate
    y = np.concatenate([load_audio(c.path, sr=sr) for c in clips if c.task == "mix-long"] * 2)  # ~70 s
    whole = extract_audio(y, config)
    blocks = list(extract_stream([y[i : i + 100_003] for i in range(0, len(y), 100_003)], config, block_seconds=10))
    assert len(blocks) > 5
    for k, v in whole.items():  # mel, f0 and voiced_prob (the Viterbi paths have merged within 2 s), or wave
        # equal up to float32 rounding: the FFT of a block may take another SIMD path than the whole file's (seen:
        # 1.5e-5 on some CPUs); a block boundary done wrong moves values by whole units
        np.testing.assert_allclose(np.concatenate([b[k] for b in blocks], axis=-1), v, rtol=1e-5, atol=1e-4)


def run_without_root_powers(args, cwd):
    """The CLI as an ordinary user would run it: root keeps its uid but loses the power to ignore permissions."""
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("needs setpriv to drop root's permission override")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    return subprocess.run([*prefix, sys.executable, "-m", "instrid", *args], capture_output=True, text=True, cwd=cwd)


def test_batch_edges_are_reported_not_fatal(tiny_run, write_audio, tmp_path):
    write_audio("music/ok.wav", tone(440, 1.0))
    write_audio("music/locked/hidden.wav", tone(440, 1.0))
    write_audio("music/unreadable.wav", tone(440, 1.0))
    write_audio("blocked/inside.wav", tone(440, 1.0))
    (tmp_path / "music" / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    for path, mode in [("music/locked", 0o000), ("music/unreadable.wav", 0o000), ("blocked", 0o000)]:
        os.chmod(tmp_path / path, mode)
    try:
        result = run_without_root_powers(["predict", "music", "blocked/inside.wav", "--run", str(tiny_run)], cwd=tmp_path)
    finally:
        for path in ("music/locked", "music/unreadable.wav", "blocked"):
            os.chmod(tmp_path / path, 0o755)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith("music/ok.wav") and result.stdout.count("\n") == 1  # the readable file is tagged
    err = result.stderr
    assert "music/locked: folder skipped: Permission denied" in err and "dangling.wav: skipped: a link to a missing file" in err
    assert "unreadable.wav: permission denied" in err and "blocked/inside.wav: permission denied" in err
    assert "System error" not in err and "4 path(s) could not be read (listed above); 1 file(s) tagged" in err


def test_empty_folders_and_odd_names_and_bad_out_files(tiny_run, write_audio, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--run", str(tiny_run)]) == 1
    assert "no audio files in" in capsys.readouterr().err

    forged = write_audio("a\nfake.wav  [1.0 s]  violin (1.00).wav", tone(440, 1.0))
    assert main(["predict", str(forged), "--run", str(tiny_run)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # the newline is shown as \n, not printed

    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    assert main(["predict", str(tmp_path / "loop.wav"), "--run", str(tiny_run)]) == 1
    assert "loop.wav: cannot be opened (Too many levels of symbolic links)" in capsys.readouterr().err

    foreign = tmp_path / "mine.csv"
    foreign.write_text("name,age\nann,41\nbob,3")  # someone's CSV, no newline at the end: nothing of it is lost
    assert main(["predict", str(forged), "--run", str(tiny_run), "--out", str(foreign)]) == 1
    assert "not instrid results" in capsys.readouterr().err and foreign.read_text() == "name,age\nann,41\nbob,3"

    (tmp_path / "bad.jsonl").write_text("not json\n")
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "file").write_text("")
    for out in ("bad.jsonl", "dir.jsonl", "file/sub/out.jsonl"):
        assert main(["predict", str(forged), "--run", str(tiny_run), "--out", str(tmp_path / out)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"instrid: error: --out {tmp_path / out}") and err.count("\n") == 1, err


def test_the_same_file_given_twice_is_done_once(tiny_run, write_audio, tmp_path, monkeypatch, capsys):
    write_audio("music/a.wav", tone(440, 1.0))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "tags.jsonl"
    assert main(["predict", "music", str(tmp_path / "music"), "--run", str(tiny_run), "--out", str(out)]) == 0
    assert main(["predict", str(tmp_path / "music" / "a.wav"), "--run", str(tiny_run), "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 1


def test_predict_and_evaluate_score_the_same_windows_identically(recognizer, tiny_dataset, tmp_path):
    """The one scorer: `evaluate`'s windows (from the feature cache) and `predict`'s (streamed from the file)
    get identical probabilities, with the same precision, normalisation and batching."""
    from instrid.runtime import load_scorer
    from instrid.store import ensure_features
    from instrid.windows import evaluation_hop, load_windows

    _, clips = tiny_dataset
    excerpts = [c for c in clips if c.task == "mix-long" and c.split == "test"]
    scorer, _ = load_scorer(recognizer.run_dir, device="cpu")
    assert scorer.precision == recognizer.scorer.precision
    packed = ensure_features(excerpts, scorer.entry, tmp_path / "cache", progress=False)
    inputs, clip_index = load_windows(packed, [c.clip_id for c in excerpts], scorer.entry, hop=evaluation_hop(scorer.entry))
    evaluated = scorer.probabilities(inputs)
    for i, clip in enumerate(excerpts):
        timeline = recognizer.predict(clip.path, timeline=True).timeline
        audible = ~timeline.silent
        assert audible.sum() > 10
        np.testing.assert_array_equal(timeline.probabilities[audible], evaluated[clip_index == i][audible])
