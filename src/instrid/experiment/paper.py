"""The papers' published figures, as printed (``../shared/papers``), to set beside ours in the report.

HSSANet reports NSynth-style single-instrument accuracy; the cross-attention paper reports IRMAS: Tables 3-5
on its own split (micro F1 0.79), Table 6 on the IRMAS test set (micro F1 0.64).
"""

from __future__ import annotations

# HSSANet paper, Table 1: accuracy, precision, recall, F1 (fractions)
TABLE1 = {
    "hssanet": (0.952, 0.948, 0.955, 0.951),
    "vggish": (0.916, 0.904, 0.911, 0.908),
    "openl3": (0.925, 0.913, 0.921, 0.917),
    "resnet18": (0.931, 0.922, 0.927, 0.924),
    "wavenet": (0.898, 0.884, 0.890, 0.887),
}

_TABLE3_ROWS = """
cel 0.76 0.68 0.72 0.85 0.39 0.54 0.40 0.29 0.34 0.46 0.43 0.44
cla 0.34 0.84 0.48 0.62 0.60 0.61 0.62 0.60 0.61 0.69 0.72 0.71
flu 0.55 0.54 0.54 0.70 0.78 0.74 0.75 0.87 0.81 0.97 0.74 0.84
gac 0.62 0.53 0.57 0.78 0.80 0.79 0.72 0.53 0.61 0.79 0.79 0.79
gel 0.70 0.51 0.59 0.76 0.84 0.80 0.60 0.75 0.67 0.81 0.85 0.83
org 0.25 0.49 0.33 0.64 0.67 0.65 0.66 0.71 0.68 0.92 0.87 0.90
pia 0.74 0.69 0.71 0.82 0.79 0.81 0.83 0.80 0.82 0.81 0.89 0.85
sax 0.14 0.60 0.23 0.15 0.60 0.24 0.15 0.60 0.24 0.29 0.70 0.41
tru 0.52 0.79 0.63 0.25 0.50 0.33 0.30 0.64 0.41 0.62 0.71 0.67
vio 0.39 0.62 0.48 0.55 0.81 0.66 0.55 0.81 0.66 0.72 0.96 0.83
voi 0.69 0.58 0.63 0.87 0.72 0.78 0.90 0.70 0.79 0.86 0.71 0.78
micro 0.65 0.60 0.61 0.78 0.75 0.75 0.73 0.70 0.71 0.80 0.79 0.79
macro 0.52 0.62 0.54 0.64 0.68 0.63 0.59 0.67 0.60 0.72 0.76 0.73
weighted 0.65 0.60 0.61 0.78 0.75 0.75 0.73 0.70 0.71 0.80 0.79 0.79
"""
_TABLE3_MODELS = ("han2017", "mel_cnn", "mask_cnn", "cross_attention")


def _table3() -> dict[str, dict[str, tuple[float, float, float]]]:
    """{model: {class or average: (P, R, F1)}} from the rows above (Han, MelCNN, MaskCNN, Cross-Attention)."""
    out: dict[str, dict] = {m: {} for m in _TABLE3_MODELS}
    for line in _TABLE3_ROWS.strip().splitlines():
        name, *values = line.split()
        for i, model in enumerate(_TABLE3_MODELS):
            out[model][name] = tuple(float(v) for v in values[3 * i : 3 * i + 3])
    return out


TABLE3 = _table3()
# Table 4 (ablation) and Table 5 (mask quality): micro F1, macro F1
TABLE4 = {"mel_cnn": (0.75, 0.63), "mask_cnn": (0.70, 0.60), "concat": (0.75, 0.70), "cross_attention": (0.79, 0.73)}
TABLE5 = {"cross_attention": (0.77, 0.73), "cross_attention_clean": (0.79, 0.73)}  # noisy (pYIN) mask, clean mask
# Table 6 (IRMAS test, multi-label): parameters, inference ms, micro F1, macro F1; our counterparts by name
TABLE6 = {
    "svm": ("MTF-SVM", None, None, 0.25, 0.23),
    "mlp": ("MTF-DNN", None, None, 0.32, 0.28),
    "han2017": ("Han et al.", 1_446_000, None, 0.60, 0.50),
    "cross_attention": ("Proposed Cross-Attention", 878_000, 0.076, 0.64, 0.57),
}
