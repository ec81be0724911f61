import subprocess
import sys

from instrid.cli import main


def test_render_features_summary_end_to_end(tiny_dataset, tmp_path, capsys):
    root, clips = tiny_dataset
    assert main(["features", "--data", str(root), "--cache", str(tmp_path / "f"), "--workers", "2"]) == 0
    assert main(["summary", "--data", str(root), "--cache", str(tmp_path / "f"), "--png", str(tmp_path / "x.png")]) == 0
    out = capsys.readouterr().out
    assert f"features of {len(clips)} clips" in out and "voiced mix" in out
    assert (tmp_path / "x.png").stat().st_size > 10_000
    assert main(["summary", "--data", str(root), "--cache", str(tmp_path / "f"), "--png", str(tmp_path / "y.png"), "--clip", "nope"]) == 1
    assert "--clip nope" in capsys.readouterr().err and not (tmp_path / "y.png").exists()


def test_bad_input_exits_nonzero_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "instrid", "features", "--data", str(tmp_path / "missing")], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "instrid render" in result.stderr


def test_help_and_version_start_without_torch():
    code = ("import sys; from instrid.cli import main\n"
            "for argv in (['--version'], ['--help']):\n    try: main(argv)\n    except SystemExit: pass\n"
            "print('torch' in sys.modules)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.startswith("instrid 0.") and "predict" in result.stdout
    assert result.stdout.strip().endswith("False")  # --help and --version never import torch
