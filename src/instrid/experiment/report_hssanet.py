"""The HSSANet paper's report: Table 1 (HSSANet against VGGish, ResNet-18, WaveNet) and accuracy under noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot, no global backend

from . import paper
from .plan import HSSANET_ABLATIONS, PRETRAINED_MODEL, TABLE1_MODELS
from .stats import NAMES, accuracy, collect, macro, mean_std, pct, pm, runs_of, verdict


def hssanet_sections(results: dict, figures: Path) -> list[str]:
    rows = []
    for model in (*TABLE1_MODELS, PRETRAINED_MODEL):
        rs = runs_of(results, model)
        pub = " / ".join(pct(x) for x in paper.TABLE1[model]) if model in paper.TABLE1 else "–"
        params = collect(rs, lambda r: r["run"]["parameters"])
        rows.append(f"| {NAMES[model]} | {pm(collect(rs, accuracy))} | {pm(collect(rs, macro('precision')))} | "
                    f"{pm(collect(rs, macro('recall')))} | {pm(collect(rs, macro('f1')))} | {pub} | {int(params[0]):,} |"
                    if params else f"| {NAMES[model]} | – | – | – | – | {pub} | – |")  # fmt: skip
    openl3 = " / ".join(pct(x) for x in paper.TABLE1["openl3"])
    rows.append(f"| OpenL3 | not reproduced: its pretrained weights must be downloaded | | | | {openl3} | – |")
    table1 = "\n".join(rows)

    snrs = _snr_levels(results)

    def noisy(r):  # mean accuracy over the noise levels
        if not snrs:
            raise KeyError("noise")
        return np.mean([r["noise"][s] for s in snrs])

    ablation_rows = [f"| {NAMES[m]} | {pm(collect(runs_of(results, m), accuracy))} | "
                     f"{pm(collect(runs_of(results, m), macro('f1')))} | {pm(collect(runs_of(results, m), noisy))} |"
                     for m in ("hssanet", *HSSANET_ABLATIONS)]  # fmt: skip
    noise_rows = []
    for model in (*TABLE1_MODELS, *HSSANET_ABLATIONS):
        rs = runs_of(results, model)
        cells = [pm(collect(rs, lambda r, s=s: r["noise"][s])) for s in snrs]
        noise_rows.append(f"| {NAMES[model]} | {pm(collect(rs, accuracy))} | " + " | ".join(cells) + " |")
    plot_noise(results, snrs, figures / "noise.png")

    h = runs_of(results, "hssanet")
    acc_h = collect(h, accuracy)
    claims = [f"- HSSANet is more accurate than {NAMES[m]} (paper: {pct(paper.TABLE1['hssanet'][0])} vs "
              f"{pct(paper.TABLE1[m][0])}): ours {pm(acc_h)} vs {pm(collect(runs_of(results, m), accuracy))} → "
              f"{verdict(acc_h, collect(runs_of(results, m), accuracy))}" for m in TABLE1_MODELS[1:]]  # fmt: skip
    claims += [f"- HSSANet's {part} raises its accuracy (the paper credits its gain to it without an ablation): ours "
               f"{pm(acc_h)} vs {pm(collect(runs_of(results, m), accuracy))} without → "
               f"{verdict(acc_h, collect(runs_of(results, m), accuracy))}"
               for m, part in zip(HSSANET_ABLATIONS, ("harmonic stacking", "spectral attention"))]  # fmt: skip
    if snrs:
        lost = lambda r: accuracy(r) - noisy(r)  # noqa: E731
        levels = f"{snrs[0]}…{snrs[-1]} dB SNR"
        for m in TABLE1_MODELS[1:]:
            other = runs_of(results, m)
            claims.append(f"- HSSANet is more accurate under noise than {NAMES[m]} (mean accuracy over {levels}; the "
                          f"paper claims robustness without measuring it): ours {pm(collect(h, noisy))} vs "
                          f"{pm(collect(other, noisy))} → {verdict(collect(h, noisy), collect(other, noisy))}")  # fmt: skip
            claims.append(f"- HSSANet loses less accuracy to noise than {NAMES[m]} (clean minus the mean over {levels}, "
                          f"points): ours {pm(collect(h, lost))} vs {pm(collect(other, lost))} → "
                          f"{verdict(collect(other, lost), collect(h, lost))}")  # fmt: skip
    return [
        "## Table 1: HSSANet vs other architectures (solo notes)",
        "",
        "All models are trained from scratch on the same data (the paper does not say whether its VGGish, "
        "ResNet-18 and WaveNet were pretrained). The musicnn row, not in the paper, is the exception: musicnn "
        "pretrained on MagnaTagATune, frozen, with only its head trained on these clips (its parameters are the "
        "head's). Accuracy, and precision / recall / F1 averaged over classes (macro), in %, on the "
        "single-instrument `test` clips.",
        "",
        "| Model | Accuracy | Precision | Recall | F1 | Paper (A / P / R / F1) | Trained parameters |",
        "|---|---:|---:|---:|---:|---:|---:|",
        table1,
        "",
        "## HSSANet without its parts (not measured in the paper)",
        "",
        "The same network with one of the two parts the paper credits for its accuracy left out: harmonic "
        "stacking (K = 1, the log-frequency spectrum alone) or the spectral attention module. Accuracy and macro "
        "F1 on the `test` clips, and the mean accuracy under the noise levels below, in %.",
        "",
        "| Model | Accuracy | F1 | mean accuracy under noise |",
        "|---|---:|---:|---:|",
        *ablation_rows,
        "",
        "## Noise robustness (not measured in the paper)",
        "",
        "Accuracy (%) on the same `test` clips with white Gaussian noise added to the audio before each model's "
        "front end, at each signal-to-noise ratio; every model hears the same noisy clips.",
        "",
        "| Model | clean | " + " | ".join(f"{s} dB" for s in snrs) + " |",
        "|---|" + "---:|" * (len(snrs) + 1),
        *noise_rows,
        "",
        "![accuracy versus SNR](figures/noise.png)",
        "",
        "## The paper's claims on this data",
        "",
        *claims,
    ]


def _snr_levels(results: dict) -> list[str]:
    levels = {s for r in results.values() for s in r.get("noise", {})}
    return sorted(levels, key=float, reverse=True)


def plot_noise(results: dict, snrs: list[str], path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    x = [float(s) for s in snrs]
    for model in TABLE1_MODELS:
        rs = runs_of(results, model)
        stats = [mean_std(collect(rs, lambda r, s=s: r["noise"][s])) for s in snrs]
        if not rs or not stats:
            continue
        m, sd = (np.array(v) * 100 for v in zip(*stats))
        ax.errorbar(x, m, yerr=sd, marker="o", capsize=3, label=NAMES[model])
    ax.set(xlabel="SNR (dB)", ylabel="test accuracy (%)", title="Accuracy under added white noise")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
