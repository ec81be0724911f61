import json
import re
import shutil

import numpy as np
import pytest

from instrid import cli
from instrid.data import Clip, load_dataset
from instrid.dataset import task_clips
from instrid.errors import CheckpointError, ParameterError
from instrid.experiment import measures, run_experiment
from instrid.experiment import runner as experiment_runner
from instrid.experiment.measures import noise_accuracy
from instrid.experiment.plan import FIGURE5_OPTIMIZERS, PROFILES, jobs_of, profile_with
from instrid.experiment.report import write_report
from instrid.experiment.stats import equivalent, mean_std, pm, verdict
from instrid.extraction import extract_audio
from instrid.models.hssanet import FEATURES as HSSANET_FEATURES


def test_mean_std_and_verdicts_by_hand():
    assert mean_std([0.5, 0.7]) == pytest.approx((0.6, 0.1414213), abs=1e-6)  # sample std: sqrt(0.02 / 1)
    assert pm([0.5, 0.7]) == "60.0 ± 14.1" and pm([]) == "–" and pm([0.25]) == "25.0"
    # Welch's t-test: 0.85 ± 0.05 vs 0.55 ± 0.05 over 3 seeds, t = 7.35 on 4 degrees of freedom, p = 0.0018
    assert verdict([0.9, 0.8, 0.85], [0.5, 0.6, 0.55]) == "**holds** (difference +4.2 spreads, Welch p = 0.002)"
    assert verdict([0.5, 0.6, 0.55], [0.9, 0.8, 0.85]).startswith("**does not hold**")
    assert verdict([0.9, 0.8], [0.5, 0.6]).startswith("**not settled**")  # 3 spreads apart, but 2 seeds: p = 0.051
    assert verdict([0.6, 0.8], [0.6, 0.7]).startswith("**not settled**")
    assert verdict([0.25], [0.5]).startswith("**not settled** (1 seed") and verdict([], [0.5]) == "not measured"
    # equivalence within 2 points (TOST): three seeds a point apart hold; 10 points apart do not; a spread too
    # wide for 3 seeds to tell settles nothing
    assert equivalent([0.20, 0.22, 0.21], [0.21, 0.20, 0.22], 0.02).startswith("**holds**")
    assert equivalent([0.30, 0.32, 0.31], [0.21, 0.20, 0.22], 0.02).startswith("**does not hold**")
    assert equivalent([0.206, 0.18, 0.23], [0.224, 0.20, 0.25], 0.02).startswith("**not settled**")


def test_plan_names_every_run_once_and_caps_epochs():
    profile = profile_with("full", epochs=10)
    assert profile.epochs == 10 and profile.snapshot_epochs == (1, 5, 10) and profile.optimizer_epochs == 10
    jobs = jobs_of("cross-attention", profile, seeds=2)
    names = [j.name for j in jobs]
    assert len(names) == len(set(names)) == 2 * (9 + len(FIGURE5_OPTIMIZERS) - 1)
    sgd = next(j for j in jobs if j.name == "cross_attention-sgd-seed1")
    assert sgd.config.epochs == 10 and sgd.config.patience == 0 and sgd.config.seed == 1 and sgd.measures == ()
    main = next(j for j in jobs if j.name == "cross_attention-seed0")
    assert main.config.snapshot_epochs == [1, 5, 10] and "embeddings" in main.measures
    assert [j.config.model for j in jobs_of("hssanet", PROFILES["quick"], 1)] == [
        "hssanet",
        "vggish",
        "resnet18",
        "wavenet",
        "hssanet_no_harmonics",
        "hssanet_no_attention",
        "musicnn",
    ]
    # --models keeps only the runs named (Adam runs by model; Figure 5's by model-optimizer), every seed of them
    some = jobs_of("cross-attention", profile, 2, models=("mel_cnn", "cross_attention-sgd"))
    assert [j.name for j in some] == [
        "mel_cnn-seed0",
        "cross_attention-sgd-seed0",
        "mel_cnn-seed1",
        "cross_attention-sgd-seed1",
    ]
    with pytest.raises(ParameterError, match="no run hssanet; choose from: han2017, mel_cnn"):
        jobs_of("cross-attention", profile, 1, models=("hssanet",))
    with pytest.raises(ParameterError, match="unknown experiment"):
        jobs_of("openl3", profile, 1)
    with pytest.raises(ParameterError, match="--seeds"):
        jobs_of("hssanet", profile, 0)


def _cell(report: str, row: str, column: int) -> str:
    line = next(x for x in report.splitlines() if x.startswith(f"| {row} |"))
    return line.split("|")[column + 1].strip()


def test_cross_attention_quick_profile_writes_every_table_and_figure_and_resumes(tiny_dataset, tmp_path, monkeypatch):
    data, _ = tiny_dataset
    out = tmp_path / "report"
    path = run_experiment("cross-attention", data, out, profile="quick", seeds=1, progress=False)
    report = path.read_text()
    for heading in (
        "Table 3",
        "Figure 4",
        "Table 4",
        "Table 5",
        "Table 6",
        "Figure 3",
        "Figure 5",
        "The paper's claims",
    ):
        assert f"## {heading}" in report
    for figure in ("instruments", "tsne", "optimizers"):
        assert (out / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
    results = json.loads((out / "results.json").read_text())["jobs"]
    assert len(results) == 9 + len(FIGURE5_OPTIMIZERS) - 1  # Tables 3-6 and the musicnn head, Figure 5
    # the tables show what the runs measured: Table 4's micro F1 is the test accuracy, Table 6 the excerpt F1
    xattn = results["cross_attention-seed0"]
    assert _cell(report, "Cross-Attention", 1) == f"{100 * xattn['test']['single_label']['accuracy']:.1f}"
    assert _cell(report, "Han et al.", 4) == f"{results['han2017-seed0']['test']['multi_label']['micro']['f1']:.2f}"
    assert set(xattn["embeddings"]["epochs"]) == {"1", "2"} and "tsne" in xattn["embeddings"]["epochs"]["2"]
    assert len(results["cross_attention-sgd-seed0"]["run"]["history"]) == PROFILES["quick"].optimizer_epochs

    # a second call finds every run finished: nothing is trained again and the tables are the same
    monkeypatch.setattr(experiment_runner, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    (out / "runs" / "cross_attention-sgd-seed0" / experiment_runner.RESULT_FILE).unlink()  # killed before it was saved
    again = run_experiment("cross-attention", data, out, profile="quick", seeds=1, progress=False).read_text()
    assert re.sub(r"- \*\*Time\*\*.*?\n.*?\n", "", again) == re.sub(r"- \*\*Time\*\*.*?\n.*?\n", "", report)

    # the report is re-written from results.json alone, byte for byte, with nothing trained
    written = {p: p.read_bytes() for p in [out / "report.md", *sorted((out / "figures").iterdir())]}
    for p in written:
        p.unlink()
    assert cli.main(["experiment", "cross-attention", "--out", str(out), "--report-only"]) == 0
    assert {p: p.read_bytes() for p in written} == written

    # a report of some of the runs (what `--models` leaves before the rest is trained) says which are missing
    context = json.loads((out / "results.json").read_text())["context"]
    some = {k: v for k, v in results.items() if k.startswith(("mel_cnn", "mask_cnn"))}
    partial = write_report(tmp_path / "partial", {**context, "missing": ["cross_attention-sgd-seed0"]}, some)
    assert "not trained yet" in partial.read_text() and "`cross_attention-sgd`" in partial.read_text()

    # a run folder trained with other settings is refused, not silently reused
    with pytest.raises(CheckpointError, match="other settings"):
        run_experiment("cross-attention", data, out, profile="quick", seeds=1, epochs=1, progress=False)

    # with only the committed report and none of its run folders (another machine), the jobs it records on the
    # same data count as finished: nothing is trained and the report is the same; on other data they are not used
    shutil.rmtree(out / "runs")
    fresh = run_experiment("cross-attention", data, out, profile="quick", seeds=1, progress=False).read_text()
    assert re.sub(r"- \*\*Time\*\*.*?\n.*?\n", "", fresh) == re.sub(r"- \*\*Time\*\*.*?\n.*?\n", "", report)
    splits = json.loads((out / "results.json").read_text())["context"]["splits"]
    assert experiment_runner.recorded_results(out, "cross-attention", splits).keys() == results.keys()
    assert experiment_runner.recorded_results(out, "cross-attention", splits[1:]) == {}
    assert experiment_runner.recorded_results(out, "hssanet", splits) == {}


def test_hssanet_quick_profile_and_noise_at_negligible_level_matches_evaluate(tiny_dataset, tmp_path, monkeypatch):
    data, _ = tiny_dataset
    out = tmp_path / "report"
    report = run_experiment("hssanet", data, out, profile="quick", seeds=1, progress=False).read_text()
    assert "## Table 1" in report and "| OpenL3 | not reproduced" in report
    assert "| Model | clean | 30 dB | 10 dB | 0 dB |" in report
    assert (out / "figures" / "noise.png").exists()
    for ablation in ("HSSANet without harmonic stacking", "HSSANet without spectral attention"):
        assert _cell(report, ablation, 1) != "–" and f"vs {_cell(report, ablation, 1)} without" in report
    assert _cell(report, "musicnn, pretrained and frozen, + head", 1) != "–"
    results = json.loads((out / "results.json").read_text())["jobs"]
    clips = task_clips(load_dataset(data), "solo", "test")
    run = results["hssanet-seed0"]
    assert set(run["noise"]) == {"30", "10", "0"}
    # noise 300 dB below the signal leaves the float32 audio unchanged: the accuracy must be evaluate's
    quiet = noise_accuracy(out / "runs" / "hssanet-seed0", clips, (300,))
    assert quiet["300"] == run["test"]["single_label"]["accuracy"]
    # the experiment kept the noisy features of its front end; another run with that front end reads them
    noisy = sorted((data / "features" / f"noisy{measures.NOISE_VERSION}-{HSSANET_FEATURES.key}").glob("*.npz"))
    assert [p.name for p in noisy] == ["snr0-seed0.npz", "snr10-seed0.npz", "snr30-seed0.npz"]
    with monkeypatch.context() as m:
        m.setattr(measures, "extract_audio", lambda *a, **k: pytest.fail("extracted again"))
        again = noise_accuracy(out / "runs" / "hssanet_no_attention-seed0", clips, (30, 10, 0), cache=data / "features")
    assert again == results["hssanet_no_attention-seed0"]["noise"]


def test_noisy_features_read_from_the_cache_are_those_extracted(tmp_path, monkeypatch):
    from instrid.models.cross_attention import FEATURES as PITCH_FEATURES  # mel, f0 (NaN where unvoiced), voiced_prob

    sr = PITCH_FEATURES.frontend.sample_rate
    t = np.arange(int(2.5 * sr)) / sr
    audio = [np.sin(2 * np.pi * 220 * t[:n]).astype(np.float32) for n in (len(t), sr, sr // 2)]
    clips = [Clip(f"c{i}", tmp_path / f"c{i}.flac", ("vio",), "test") for i in range(3)]
    extracted = []
    monkeypatch.setattr(measures, "extract_audio", lambda *a: extracted.append(1) or extract_audio(*a))
    fresh = measures.noisy_features(clips, lambda: audio, PITCH_FEATURES, 20, seed=0)
    written = measures.noisy_features(clips, lambda: audio, PITCH_FEATURES, 20, seed=0, cache=tmp_path)
    assert len(extracted) == 6
    read = measures.noisy_features(clips, lambda: pytest.fail("decoded again"), PITCH_FEATURES, 20, seed=0, cache=tmp_path)
    assert len(extracted) == 6  # read, not extracted
    for a, b, c in zip(fresh, written, read):
        assert a.keys() == c.keys() == {"mel", "f0", "voiced_prob"}
        for field in a:
            np.testing.assert_array_equal(a[field], b[field])
            np.testing.assert_array_equal(a[field], c[field])
    assert [r["mel"].shape[-1] for r in read] == [r["mel"].shape[-1] for r in fresh] and len({r["mel"].shape[-1] for r in read}) == 3
    # a cache written for other clips is not used for these, nor one of another SNR
    measures.noisy_features(clips[1:], lambda: audio[1:], PITCH_FEATURES, 20, seed=0, cache=tmp_path)
    assert len(extracted) == 8
    measures.noisy_features(clips, lambda: audio, PITCH_FEATURES, 10, seed=0, cache=tmp_path)
    assert len(extracted) == 11


def test_experiment_cli_rejects_bad_settings(tiny_dataset, tmp_path, capsys):
    data, _ = tiny_dataset
    assert cli.main(["experiment", "hssanet", "--data", str(data), "--out", str(tmp_path), "--seeds", "0"]) == 1
    assert "--seeds must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["experiment", "openl3", "--data", str(data), "--out", str(tmp_path)])
