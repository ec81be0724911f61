"""Numbers over seeds: the runs of a model, mean ± standard deviation, and a verdict on each claim that
says whether the seed-to-seed spread settles it."""

from __future__ import annotations

import numpy as np

NAMES = {
    "hssanet": "HSSANet", "vggish": "VGGish", "resnet18": "ResNet-18", "wavenet": "WaveNet", "han2017": "Han et al.",
    "mel_cnn": "MelCNN-only", "mask_cnn": "MaskCNN-only", "concat": "Mel + Mask (Concat)",
    "cross_attention": "Cross-Attention", "cross_attention_clean": "Cross-Attention, clean mask", "svm": "SVM", "mlp": "MLP",
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
    """Whether ``a`` exceeds ``b``: by more than the seed spread (sqrt(var a + var b)) it holds; by less
    than minus that spread it does not; between, the seeds do not settle it."""
    if not a or not b:
        return "not measured"
    diff = mean_std(a)[0] - mean_std(b)[0]
    spread = float(np.hypot(mean_std(a)[1], mean_std(b)[1]))
    if len(a) < 2 or len(b) < 2:
        return "**holds** (1 seed, no spread)" if diff > 0 else "**does not hold** (1 seed, no spread)"
    if diff > spread:
        return "**holds**"
    if diff < -spread:
        return "**does not hold**"
    return "**not settled**: the difference is within the seed-to-seed spread"


def accuracy(r):
    return r["test"]["single_label"]["accuracy"]


def macro(metric):
    return lambda r: r["test"]["single_label"]["macro"][metric]


def single(average):
    return lambda r: r["test"]["single_label"][average]["f1"]


def excerpt(average):
    return lambda r: r["test"]["multi_label"][average]["f1"]
