import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from instrid import features
from instrid.cli import main
from instrid.data import Clip
from instrid.summary import mel_axis_position, plot_clip


def test_render_features_summary_end_to_end(tiny_dataset, tmp_path, capsys):
    root, clips = tiny_dataset
    assert main(["features", "--data", str(root), "--cache", str(tmp_path / "f"), "--workers", "2"]) == 0
    assert main(["summary", "--data", str(root), "--cache", str(tmp_path / "f"), "--png", str(tmp_path / "x.png")]) == 0
    out = capsys.readouterr().out
    assert f"features of {len(clips)} clips" in out and "voiced mix" in out
    assert (tmp_path / "x.png").stat().st_size > 10_000
    assert main(["summary", "--data", str(root), "--cache", str(tmp_path / "f"), "--png", str(tmp_path / "y.png"), "--clip", "nope"]) == 1
    assert "--clip nope" in capsys.readouterr().err and not (tmp_path / "y.png").exists()


def test_summary_figure_has_hz_ticks_labelled_colour_bars_a_visible_mask_and_names(tmp_path):
    spec = features.CROSS_ATTENTION_MEL
    mel = np.random.default_rng(0).uniform(-80, 0, (spec.n_mels, features.INPUT_FRAMES)).astype(np.float32)
    f0 = np.where(np.arange(features.INPUT_FRAMES) < 60, 440.0, np.nan)  # voiced, then unvoiced
    mask = features.pitch_mask(f0, np.isfinite(f0), spec)
    window = {"mel": mel, "mask": mask, "pred_spec": mel * mask}
    packed = SimpleNamespace(config=SimpleNamespace(frontend=spec), window=lambda clip_id, start: window)
    clip = Clip("mix-00001", Path("x.wav"), ("vio", "cel"), "test", "mix", "fluid")
    fig = plot_clip(packed, clip, tmp_path / "clip.png")
    assert (tmp_path / "clip.png").stat().st_size > 10_000
    assert fig.get_suptitle() == "mix-00001: violin, cello (fluid)"
    mel_ax, mask_ax, masked_ax, *bars = fig.axes
    assert mel_ax.get_ylabel() == "frequency (Hz)" and mel_ax.get_xlabel() == "time (s)"
    ticks = dict(zip([t.get_text() for t in mel_ax.get_yticklabels()], mel_ax.get_yticks()))
    assert list(ticks) == ["0", "500", "1k", "2k", "4k", "8k", "16k"]
    band = features.mel_bin_of(1000.0, spec)  # the 1 kHz tick sits in the band holding 1 kHz, not at index 1000
    assert ticks["0"] == 0 and band < ticks["1k"] < band + 1
    assert [b.get_ylabel() for b in bars] == ["dB", "dB", "dB (0 outside the mask)"]
    line = mask_ax.lines[0]  # the mask, drawn as a thick line over the log-mel rather than one-pixel cells
    assert line.get_linewidth() >= 2
    heights = line.get_ydata()
    assert np.allclose(heights[:60], features.mel_bin_of(440.0, spec) + 0.5) and np.isnan(heights[60:]).all()


def test_mel_axis_positions_put_band_centres_mid_band():
    for spec in (features.CROSS_ATTENTION_MEL, features.VGGISH_MEL):
        centres = features.mel_band_centres(spec)
        assert mel_axis_position(centres, spec) == pytest.approx(np.arange(spec.n_mels) + 0.5)
        assert mel_axis_position([0.0, 1e6], spec).tolist() == [0, spec.n_mels]


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
