"""The cross-attention paper's classical baselines: statistics of hand-crafted descriptors (MFCC-13, spectral
centroid, bandwidth, RMS, roll-off, chroma-STFT) over a 1 s window, fed to an SVM or a small MLP
(scikit-learn). They take the same windows from the feature store as the networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import features
from ..features import FeatureConfig
from .registry import register

FEATURES = FeatureConfig(features.DESCRIPTORS, pitch=False)
WINDOW = round(features.DESCRIPTORS.frames_per_second)  # 43 frames = 1 s


def window_statistics(descriptors: np.ndarray) -> np.ndarray:
    """(B, 29, T) frame-wise descriptors -> (B, 58): their mean and standard deviation over the window."""
    return np.concatenate([descriptors.mean(axis=2), descriptors.std(axis=2)], axis=1)


@dataclass(frozen=True)
class SVMConfig:
    n_classes: int = 11
    C: float = 10.0
    gamma: str = "scale"


@dataclass(frozen=True)
class MLPConfig:
    n_classes: int = 11
    hidden: tuple[int, ...] = (256, 128)
    max_iter: int = 300
    alpha: float = 1e-3  # L2 penalty


COMMON = dict(features=FEATURES, window=WINDOW, inputs=("descriptors",), task="mix", kind="sklearn")


@register("svm", config=SVMConfig(), summary="RBF SVM on descriptor statistics (cross-attention paper baseline)", **COMMON)
def svm(config: SVMConfig):
    from sklearn.calibration import CalibratedClassifierCV  # scikit-learn is in instrid[train], not needed to predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svc = SVC(C=config.C, gamma=config.gamma, random_state=0)
    return make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, ensemble=False))  # Platt-scaled probabilities


@register("mlp", config=MLPConfig(), summary="MLP on descriptor statistics (the paper's DNN baseline)", **COMMON)
def mlp(config: MLPConfig):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        MLPClassifier(config.hidden, alpha=config.alpha, max_iter=config.max_iter, early_stopping=True, random_state=0),
    )
