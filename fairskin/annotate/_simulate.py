"""Simulated annotators of known confusion, to measure the consensus against a known truth.

An annotator sees an image of true type ``t`` (1-based, ordinal) and answers
``round(t + bias + e)``, ``e ~ Normal(0, sd)``, clipped to the scale; with probability ``spam``
they answer a uniformly random type instead. Their confusion matrix is this answer distribution
per true type, computed exactly (discretised normal), so the simulation and the model agree on
what "known confusion" means. ``benchmarks/bench_annotate.py`` uses it; so do the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

__all__ = ["Annotator", "SimulatedStudy", "annotator_confusion", "simulate_annotations", "calibration_error",
           "DEFAULT_PANEL", "SKEWED_PRIOR"]

#: a true-type mix with few dark types, roughly that of PAD-UFES-20's clinician labels
SKEWED_PRIOR = (0.15, 0.40, 0.28, 0.10, 0.05, 0.02)


@dataclass(frozen=True)
class Annotator:
    sd: float
    bias: float = 0.0
    spam: float = 0.0


#: a panel like a crowd: two careful annotators, two noisy, one biased towards darker types, one spammer
DEFAULT_PANEL = (Annotator(0.45), Annotator(0.55), Annotator(0.9), Annotator(1.1), Annotator(0.7, bias=0.6),
                 Annotator(0.6, spam=0.7))


def annotator_confusion(a: Annotator, n_classes: int) -> np.ndarray:
    """``C[t, l]`` = P(answer l | true t), 0-based."""
    edges = np.arange(n_classes + 1) - 0.5
    edges[0], edges[-1] = -np.inf, np.inf
    C = np.empty((n_classes, n_classes))
    for t in range(n_classes):
        C[t] = np.diff(norm.cdf((edges - t - a.bias) / max(a.sd, 1e-9)))
    return (1 - a.spam) * C + a.spam / n_classes


@dataclass(frozen=True)
class SimulatedStudy:
    truth: np.ndarray  # (n_items,) 0-based
    items: np.ndarray
    annotators: np.ndarray
    labels: np.ndarray
    confusion: np.ndarray  # (n_annotators, K, K) the true confusions


def simulate_annotations(n_items: int, *, panel=DEFAULT_PANEL, per_image: int = 3, prior=SKEWED_PRIOR,
                         seed: int = 0) -> SimulatedStudy:
    """``n_items`` images with types drawn from ``prior``; each labelled by ``per_image``
    annotators of ``panel`` drawn without replacement."""
    rng = np.random.default_rng(seed)
    prior = np.asarray(prior, float) / np.sum(prior)
    K, A = len(prior), len(panel)
    conf = np.stack([annotator_confusion(a, K) for a in panel])
    truth = rng.choice(K, size=n_items, p=prior)
    k = min(per_image, A) if per_image else A
    items, annotators, labels = [], [], []
    for i, t in enumerate(truth):
        for a in rng.choice(A, size=k, replace=False):
            items.append(i)
            annotators.append(a)
            labels.append(rng.choice(K, p=conf[a, t]))
    return SimulatedStudy(truth=truth, items=np.array(items), annotators=np.array(annotators),
                          labels=np.array(labels), confusion=conf)


def calibration_error(prob: np.ndarray, correct: np.ndarray, *, bins: int = 10) -> float:
    """Expected calibration error of the top-class probability: the count-weighted mean of
    |accuracy - mean probability| over ``bins`` equal-width probability bins."""
    prob, correct = np.asarray(prob, float), np.asarray(correct, float)
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() * abs(correct[m].mean() - prob[m].mean())
    return float(err / max(len(prob), 1))
