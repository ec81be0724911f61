import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
from conftest import SR, tone

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


def test_predict_imports_neither_torch_nor_librosa(tmp_path):
    # the cold start: the default runtime needs NumPy, ONNX Runtime and the decoders, not the training stack
    # (``import librosa`` alone loads nothing: librosa's modules load on first use)
    soundfile.write(tmp_path / "a.wav", tone(440, seconds=1.0), SR)
    heavy = ("torch", "librosa.core", "scipy.signal", "numba")
    code = (f"import sys; from instrid.predict import Recognizer\n"
            f"Recognizer.load().predict({str(tmp_path / 'a.wav')!r})\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_a_missing_extra_is_named_in_one_line(tmp_path):
    (tmp_path / "list.txt").write_text("a.wav\n")
    code = f"""import sys
class NotInstalled:  # as if fastapi, scikit-learn and ray were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("fastapi", "sklearn", "ray"):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NotInstalled())
from instrid.cli import main
for argv in (["serve"], ["evaluate", "--run", "x", "--data", "x"], ["predict", "--manifest", {str(tmp_path / "list.txt")!r}, "--out", "o"]):
    print(main(argv))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.split() == ["1", "1", "1"], result.stderr
    assert result.stderr.splitlines() == [
        "instrid: error: instrid serve needs fastapi: pip install 'instrid[serve]'",
        "instrid: error: instrid evaluate needs sklearn: pip install 'instrid[train]'",
        "instrid: error: instrid predict needs ray: pip install 'instrid[cluster]'",
    ]


def test_predict_needs_nothing_of_the_extras_and_names_bad_devices(tmp_path):
    """Tagging a file, M4A included, imports no optional package, PyTorch included, and works without it; --device gpu is one line."""
    import av

    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44_100, layout="mono")
        t = np.arange(44_100 * 4) / 44_100
        frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono")
        frame.sample_rate = 44_100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    no_torch = ("class NoTorch:\n"
                "    def find_spec(self, name, *_):\n"
                "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name, name=name)\n"
                "sys.meta_path.insert(0, NoTorch()); ")  # fmt: skip
    for prelude in ("", no_torch):  # PyTorch installed but not needed; not installed at all
        code = (f"import sys\n{prelude}from instrid.cli import main; code = main(['predict', {str(path)!r}, '--format', 'jsonl'])\n"
                "extras = ('torch', 'onnx', 'sklearn', 'skops', 'pytorch_optimizer', 'matplotlib', 'fastapi', 'pretty_midi', 'ray', 'pyarrow')\n"
                "print(code, [m for m in extras if sys.modules.get(m) is not None])")  # fmt: skip
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr
        assert '"duration": 4.0' in result.stdout
    result = subprocess.run([sys.executable, "-m", "instrid", "predict", str(path), "--device", "gpu"], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == "instrid: error: --device gpu: not a device; use cpu, cuda, cuda:N or auto\n"


def test_models_lines_up_and_a_closed_pipe_is_quiet():
    listing = subprocess.run([sys.executable, "-m", "instrid", "models"], capture_output=True, text=True).stdout.splitlines()
    task, end_of_parameters = listing[0].index("task"), listing[0].index("parameters") + len("parameters")
    assert len(listing) > 10 and all(row[task - 2 : task] == "  " and row[task] != " " for row in listing)
    assert all(row[end_of_parameters - 1] != " " and row[end_of_parameters] == " " for row in listing)  # right-aligned
    head = subprocess.run(f"{sys.executable} -m instrid models | head -1", shell=True, capture_output=True, text=True)
    assert head.stdout.startswith("model") and head.stderr == ""
