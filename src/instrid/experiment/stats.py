"""Numbers over seeds: the runs of a model, mean ± standard deviation, and a verdict on each claim that
says whether a significance test over the seeds settles it."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

NAMES = {
    "hssanet": "HSSANet", "vggish": "VGGish", "resnet18": "ResNet-18", "wavenet": "WaveNet", "han2017": "Han et al.",
    "mel_cnn": "MelCNN-only", "mask_cnn": "MaskCNN-only", "concat": "Mel + Mask (Concat)",
    "cross_attention": "Cross-Attention", "cross_attention_clean": "Cross-Attention, clean mask", "svm": "SVM", "mlp": "MLP",
    "hssanet_no_harmonics": "HSSANet without harmonic stacking", "hssanet_no_attention": "HSSANet without spectral attention",
    "musicnn": "musicnn, pretrained and frozen, + head",
}  # fmt: skip


def runs_of(results: dict, model: str, optimizer: str = "adam") -> list[dict]:
    return [
        r
        for r in results.values()
        if r["job"]["train"]["model"] == model and r["job"]["train"]["optimizer"] == optimizer
    ]


def collect(runs: list[dict], get) -> list[float]:
    """``get(result)`` of each run that has it (missing measurements are skipped)."""
    out = []
    for r in runs:
        try:
            out.append(float(get(r)))
        except (KeyError, TypeError, IndexError):
            continue
    return out


def mean_std(xs: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    return (float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0) if xs else (float("nan"), 0.0)


def pm(xs: list[float], scale: float = 100, digits: int = 1) -> str:
    """'43.6 ± 2.1' (``scale`` 100: fractions as percentages); '–' when nothing was measured."""
    if not xs:
        return "–"
    m, s = mean_std(xs)
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}" if len(xs) > 1 else f"{m * scale:.{digits}f}"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


SIGNIFICANCE = 0.05  # a claim holds (or is refuted) when Welch's t-test over the seeds gives p below this


def verdict(a: list[float], b: list[float]) -> str:
    """Whether ``a`` exceeds ``b`` over the seeds: Welch's t-test (two-sided, unequal variances) with p below
    ``SIGNIFICANCE`` settles it, in the direction of the difference; otherwise the seeds do not settle it. The
    difference in units of the seed spread sqrt(std_a² + std_b²) and p follow in brackets."""
    if not a or not b:
        return "not measured"
    diff = mean_std(a)[0] - mean_std(b)[0]
    if len(a) < 2 or len(b) < 2:
        return "**not settled** (1 seed, no spread)"
    spread = float(np.hypot(mean_std(a)[1], mean_std(b)[1]))
    if spread == 0:
        return (
            "**holds**" if diff > 0 else "**does not hold**" if diff < 0 else "**not settled**"
        ) + " (the seeds agree exactly)"
    with warnings.catch_warnings():  # nearly equal seeds: scipy warns of lost precision, p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    word = "**not settled**" if not p < SIGNIFICANCE else "**holds**" if diff > 0 else "**does not hold**"
    return f"{word} (difference {diff / spread:+.1f} spreads, Welch p = {p:.3f})"


def accuracy(r):
    return r["test"]["single_label"]["accuracy"]


def macro(metric):
    return lambda r: r["test"]["single_label"]["macro"][metric]


def single(average):
    return lambda r: r["test"]["single_label"][average]["f1"]


def excerpt(average):
    return lambda r: r["test"]["multi_label"][average]["f1"]
