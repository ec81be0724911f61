import json

import numpy as np
import pytest
import soundfile
from conftest import tone

from instrid.cli import main
from instrid.features import input_windows
from instrid.labels import IRMAS_CLASSES
from instrid.predict import Recognizer
from instrid.tagging import ResultFile


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
    assert d["top"]["name"] and len(d["timeline"]["scores"]) == len(p.timeline.starts)


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
    argv = ["predict", str(tmp_path / "music"), "--run", str(tiny_run), "--out", str(out), "--format", "json"]
    assert main(argv) == 1  # one file failed: non-zero, but the others are done
    captured = capsys.readouterr()
    assert "broken.mp3" in captured.err and "1 of 4 file(s)" in captured.err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(d["path"].rsplit("/", 1)[-1] for d in lines) == ["a.wav", "b.flac", "c.ogg"]
    assert len(captured.out.splitlines()) == 3

    with out.open("a") as f:
        f.write('{"path": "torn')  # as if killed mid-line
    assert main(argv) == 1  # only the broken file is tried again
    assert capsys.readouterr().out == ""
    assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == [d["path"] for d in lines]


def test_csv_output_and_result_file_checks(tiny_run, write_audio, tmp_path, capsys):
    path = write_audio("x.wav", tone(440, 1.0))
    assert main(["predict", str(path), "--run", str(tiny_run), "--format", "csv", "--timeline"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "path,duration,top,top_name,labels,scores" and rows[1].startswith(str(path))
    with pytest.raises(Exception, match=".jsonl or .csv"):
        ResultFile(tmp_path / "tags.txt")
    assert main(["predict", str(tmp_path / "missing.wav"), "--run", str(tiny_run)]) == 1
    assert "missing.wav" in capsys.readouterr().err


def test_the_shipped_model_works_out_of_the_box(tiny_dataset, capsys):
    from instrid.predict import SHIPPED_RUN

    weights = SHIPPED_RUN / "model.safetensors"
    assert weights.stat().st_size <= 5 * 2**20  # <= 5 MB
    recognizer = Recognizer.load(device="cpu")
    assert recognizer.labels == IRMAS_CLASSES and recognizer.entry.name == "cross_attention"
    _, clips = tiny_dataset
    excerpt = next(c for c in clips if c.task == "mix-long")
    assert main(["predict", str(excerpt.path), "--format", "json"]) == 0  # no --run: the shipped model
    d = json.loads(capsys.readouterr().out)
    assert d["top"]["code"] in IRMAS_CLASSES and d["labels"][0] == d["top"]
