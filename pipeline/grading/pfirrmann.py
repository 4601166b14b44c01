"""Pfirrmann grade from the disc's signal features and height: a small calibrated classifier.

Multinomial logistic regression on standardised features (nucleus/CSF ratio, homogeneity, central
cleft, bright fraction, nucleus/annulus contrast, peak nucleus/CSF, height index against the level's
normal, peak against the series' brightest disc). It is
small enough to read: every coefficient says how a feature pushes towards a grade, and its softmax
gives class probabilities that :mod:`pipeline.grading.calibrate` fits on phantom truth. Its weights
live in ``pfirrmann_model.json`` beside this module, with the seeds they were fitted on.

Pfirrmann et al. (Spine 2001) defined the grades on T2-weighted images of lumbar discs; other
contrasts are not graded and non-lumbar discs carry a caveat (see :mod:`pipeline.grading.grade`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pipeline.grading.signal import FEATURE_NAMES, DiscSignal

MODEL_PATH = Path(__file__).with_name("pfirrmann_model.json")
ALL_FEATURES = (*FEATURE_NAMES, "height_index_relative", "peak_relative_to_brightest_disc")
GRADES = ("1", "2", "3", "4", "5")


def features(signal: DiscSignal, height_index_relative: float, brightest_peak: float) -> NDArray[np.float64]:
    """Feature vector in :data:`ALL_FEATURES` order. ``brightest_peak`` is the highest
    ``peak_csf_ratio`` among the series' discs: as a reader compares a disc with the patient's best
    one, this cancels the scanner's and patient's scaling of nucleus signal against CSF."""
    relative = signal.peak_csf_ratio / brightest_peak if brightest_peak > 0 else 1.0
    return np.array([*signal.vector(), height_index_relative, relative], dtype=np.float64)


@dataclass(frozen=True)
class PfirrmannModel:
    """Standardisation and softmax weights of the classifier."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    weights: NDArray[np.float64]
    """Shape (features + 1, 5): last row is the bias."""
    provenance: dict

    def probabilities(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities for one (F,) or many (N, F) feature vectors."""
        x = np.atleast_2d(x)
        z = (x - self.mean) / self.scale
        z = np.hstack([z, np.ones((z.shape[0], 1))])
        logits = z @ self.weights
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_json(self) -> dict:
        return {
            "features": list(ALL_FEATURES),
            "grades": list(GRADES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "provenance": self.provenance,
        }


def fit(
    x: NDArray[np.float64],
    grades: NDArray[np.integer],
    l2: float = 1e-2,
    iterations: int = 3000,
    provenance: dict | None = None,
) -> PfirrmannModel:
    """Fit the softmax regression by full-batch gradient descent with L2 (no dependency beyond numpy).

    ``grades`` are 1..5. Classes are weighted equally by their frequency's inverse square root, so the
    rare grades 1 and 5 are not simply absorbed by their neighbours."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(grades, dtype=np.int64) - 1
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((x.shape[0], 1))])
    onehot = np.eye(5)[y]
    counts = np.bincount(y, minlength=5).astype(np.float64)
    sample_weight = 1.0 / np.sqrt(np.maximum(counts[y], 1.0))
    sample_weight /= sample_weight.mean()
    w = np.zeros((z.shape[1], 5))
    rate = 0.5
    for _ in range(iterations):
        logits = z @ w
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = z.T @ ((p - onehot) * sample_weight[:, None]) / z.shape[0]
        grad[:-1] += l2 * w[:-1]
        w -= rate * grad
    return PfirrmannModel(mean, scale, w, provenance or {})


def save(model: PfirrmannModel, path: Path = MODEL_PATH) -> None:
    path.write_text(json.dumps(model.to_json(), indent=1) + "\n")


@lru_cache(maxsize=1)
def load(path: Path = MODEL_PATH) -> PfirrmannModel | None:
    """The shipped model, or None when it has not been calibrated yet."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if tuple(data["features"]) != ALL_FEATURES:
        raise ValueError(f"{path} was fitted on features {data['features']}, expected {list(ALL_FEATURES)}")
    return PfirrmannModel(
        np.asarray(data["mean"]), np.asarray(data["scale"]), np.asarray(data["weights"]), data.get("provenance", {})
    )


def classify(x: NDArray[np.float64], model: PfirrmannModel | None = None) -> tuple[str, dict[str, float]] | None:
    """``(grade, probabilities)`` for one feature vector, None without a calibrated model."""
    model = model or load()
    if model is None:
        return None
    p = model.probabilities(x)[0]
    probabilities = {g: round(float(v), 4) for g, v in zip(GRADES, p, strict=True)}
    return GRADES[int(np.argmax(p))], probabilities
