"""The Ray Data path on a local cluster: the same answers as the single-process path, resumable."""

import numpy as np
import pytest
from conftest import tone

pytest.importorskip("ray")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_a_manifest_on_ray_gives_the_single_process_answers_and_resumes(local_ray, tiny_dataset, write_audio, tmp_path, capsys):
    from instrid.cli import main
    from instrid.cluster import read_results
    from instrid.predict import Recognizer

    _, clips = tiny_dataset
    rng = np.random.default_rng(0)
    files = [str(c.path) for c in clips if c.split == "test"][:20]  # rendered solos, mixes and excerpts
    files += [str(write_audio(f"t{i}.wav", tone(110 * (i + 2), 0.5 + i, amp=0.3))) for i in range(4)]  # 0.5-3.5 s
    files.append(str(write_audio("hiss.wav", rng.normal(0, 1e-5, 44_100).astype(np.float32))))  # silence
    bad = write_audio("bad.wav", np.zeros(10, np.float32))
    bad.write_bytes(b"not audio")
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("\n".join(["# a comment", *files[:12], str(bad), "", *files[12:], str(tmp_path / "missing.flac")]))
    out = tmp_path / "results"

    assert main(["predict", "--manifest", str(manifest), "--out", str(out)]) == 1  # two files could not be read
    assert f"{len(files)} file(s) tagged, 0 already in" in capsys.readouterr().out
    table = read_results(out).to_pylist()
    rows = {r["path"]: r for r in table}
    assert len(table) == len(rows) == len(files) + 2
    assert "not audio" not in rows[str(bad)]["error"] and rows[str(bad)]["error"].startswith(str(bad))
    assert "cannot be opened" in rows[str(tmp_path / "missing.flac")]["error"]

    recognizer = Recognizer.load()
    for path in files:
        want, got = recognizer.predict(path), rows[path]
        assert got["error"] == "" and got["silence"] == want.silence and got["top"] == ("" if want.top is None else want.top.code)
        assert got["labels"] == " ".join(x.code for x in want.labels) and got["duration"] == pytest.approx(want.duration, abs=1e-3)
        np.testing.assert_allclose([got[x.code] for x in want.scores], [x.score for x in want.scores], atol=2e-4)
    assert rows[files[-1]]["silence"]

    assert main(["predict", "--manifest", str(manifest), "--out", str(out)]) == 1  # the two failures are tried again
    assert f"0 file(s) tagged, {len(files)} already in {out}, 2 could not be read" in capsys.readouterr().out
    parts = sorted(out.glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns)
    parts[0].write_bytes(parts[0].read_bytes()[:100])  # as if killed while writing it
    assert main(["predict", "--manifest", str(manifest), "--out", str(out)]) == 1
    assert (out / (parts[0].name + ".torn")).exists() and "could not be read" in capsys.readouterr().out
    again = read_results(out).to_pylist()
    assert sorted(r["path"] for r in again) == sorted(rows)  # the torn rows redone; one row per file
    assert {r["path"]: r["top"] for r in again} == {p: r["top"] for p, r in rows.items()}


def test_manifest_errors_are_one_line(tmp_path, capsys):
    from instrid.cli import main

    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    assert main(["predict", "--manifest", str(empty), "--out", str(tmp_path / "o")]) == 1
    assert "lists no files" in capsys.readouterr().err
    assert main(["predict", "--manifest", str(empty)]) == 1
    assert "needs --out FOLDER" in capsys.readouterr().err
    assert main(["predict"]) == 1
    assert "give audio files or folders" in capsys.readouterr().err
    assert main(["predict", "--manifest", str(empty), "--out", str(tmp_path / "o"), "--format", "csv"]) == 1
    assert "--format: not used with --manifest" in capsys.readouterr().err
    assert main(["predict", "--manifest", str(empty), "--out", str(tmp_path / "o.csv")]) == 1
    assert "no file suffix" in capsys.readouterr().err
