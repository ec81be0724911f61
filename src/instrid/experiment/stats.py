"""Numbers over seeds: the runs of a model, mean ± standard deviation, and a verdict on each claim that
says whether a significance test over the seeds settles it."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import ttest_ind

SIGNIFICANCE = 0.05  # a claim holds (or is refuted) when Welch's t-test over the seeds gives p below this

NAMES = {
    "hssanet": "HSSANet", "vggish": "VGGish", "resnet18": "ResNet-18", "wavenet": "WaveNet", "han2017": "Han et al.",
    "mel_cnn": "MelCNN-only", "mask_cnn": "MaskCNN-only", "concat": "Mel + Mask (Concat)",
    "cross_attention": "Cross-Attention", "cross_attention_clean": "Cross-Attention, clean mask", "svm": "SVM", "mlp": "MLP",
    "hssanet_no_harmonics": "HSSANet without harmonic stacking",
    "hssanet_no_attention": "HSSANet without spectral attention", "musicnn": "musicnn, pretrained and frozen, + head",
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
    p = welch_p(a, b)
    word = "**not settled**" if not p < SIGNIFICANCE else "**holds**" if diff > 0 else "**does not hold**"
    return f"{word} (difference {diff / spread:+.1f} spreads, Welch p = {p:.3f})"


def equivalent(a: list[float], b: list[float], margin: float) -> str:
    """Whether ``a`` and ``b`` differ by less than ``margin``: two one-sided Welch tests (TOST) that the
    difference is above -margin and below +margin, both with p below ``SIGNIFICANCE``, and it holds; one-sided
    tests that it is beyond a margin, and it does not hold; otherwise not settled. p of the first in brackets."""
    if not a or not b:
        return "not measured"
    if len(a) < 2 or len(b) < 2:
        return "**not settled** (1 seed, no spread)"
    if np.hypot(mean_std(a)[1], mean_std(b)[1]) == 0:
        close = abs(mean_std(a)[0] - mean_std(b)[0]) < margin
        return ("**holds**" if close else "**does not hold**") + " (the seeds agree exactly)"
    within = max(welch_p(np.add(a, margin), b, "greater"), welch_p(np.subtract(a, margin), b, "less"))
    beyond = min(welch_p(np.subtract(a, margin), b, "greater"), welch_p(np.add(a, margin), b, "less"))
    word = "**holds**" if within < SIGNIFICANCE else "**does not hold**" if beyond < SIGNIFICANCE else "**not settled**"
    return f"{word} (equivalence test, TOST p = {within:.3f})"


def welch_p(a, b, alternative: str = "two-sided") -> float:
    """p of Welch's t-test of ``a`` against ``b`` (unequal variances)."""
    with warnings.catch_warnings():  # nearly equal seeds: scipy warns of lost precision, p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)


def accuracy(r):
    return r["test"]["single_label"]["accuracy"]


def macro(metric):
    return lambda r: r["test"]["single_label"]["macro"][metric]


def single(average):
    return lambda r: r["test"]["single_label"][average]["f1"]


def excerpt(average):
    return lambda r: r["test"]["multi_label"][average]["f1"]
