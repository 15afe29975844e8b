"""Scoring estimated skin types against human ones, with the patient as the unit of resampling.

Used by ``benchmarks/bench_real_photos.py`` and by the learned estimator's cross-validation.
Clinician types are skewed (PAD-UFES-20: II 51%, V under 1%), so a constant "II" scores well on
exact and within-one agreement; the measures it cannot win are listed first: quadratic-weighted
kappa (``sklearn.metrics.cohen_kappa_score``) and the error of the estimated share of each type.

Coverage is the share of the photos with a human type that received an estimate; the agreement
figures are over the covered photos, and the shares compare the estimated types of the covered
photos with the human types of the same photos. Intervals are 95% percentile bootstraps over
patients (all photos of a drawn patient enter together), since a patient's photos share skin,
light and photographer.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from fairskin.skintone import FST_TYPES

__all__ = ["score_types", "type_metrics", "patient_bootstrap", "HEADLINE"]

TYPES = np.asarray(FST_TYPES)
#: the metrics in the order the benchmark prints them: the ones a constant predictor cannot win first
HEADLINE = ("kappa", "v_vi_share_error", "coverage", "exact", "within_one", "spearman")


def type_metrics(est: np.ndarray, human: np.ndarray, *, score: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of integer types ``est`` (0 = no estimate) against ``human`` (1-6), one row per photo.

    ``score`` is a continuous reading whose rank correlation with the human type is reported
    (ITA, where higher means lighter, is passed negated; default: the estimated type)."""
    est = np.asarray(est, int)
    human = np.asarray(human, int)
    cov = est > 0
    out = {"n": int(human.size), "coverage": float(cov.mean()) if human.size else math.nan}
    e, h = est[cov], human[cov]
    if e.size == 0:
        return {**out, **{k: math.nan for k in ("exact", "within_one", "kappa", "spearman", "v_vi_share_error")},
                **{f"share_{k}": math.nan for k in TYPES}, **{f"human_share_{k}": math.nan for k in TYPES}}
    out["exact"] = float(np.mean(e == h))
    out["within_one"] = float(np.mean(np.abs(e - h) <= 1))
    both_constant = np.unique(e).size < 2 and np.unique(h).size < 2
    out["kappa"] = 0.0 if both_constant else float(cohen_kappa_score(h, e, weights="quadratic", labels=TYPES))
    s = (np.asarray(score, float)[cov] if score is not None else e.astype(float))
    finite = np.isfinite(s)
    if finite.sum() > 2 and np.unique(s[finite]).size > 1 and np.unique(h[finite]).size > 1:
        out["spearman"] = float(spearmanr(s[finite], h[finite]).statistic)
    else:
        out["spearman"] = math.nan
    for k in TYPES:
        out[f"share_{k}"] = float(np.mean(e == k))
        out[f"human_share_{k}"] = float(np.mean(h == k))
    out["v_vi_share_error"] = float(np.mean(e >= 5) - np.mean(h >= 5))
    return out


def patient_bootstrap(fn, patients: np.ndarray, *, n_boot: int = 500, seed: int = 0) -> list[dict[str, float]]:
    """``fn(rows)`` on ``n_boot`` resamples of the patients (with replacement; each drawn patient
    brings all its rows)."""
    patients = np.asarray(patients, object)
    uniq, inverse = np.unique(patients.astype(str), return_inverse=True)
    rows_of = [np.flatnonzero(inverse == i) for i in range(uniq.size)]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, uniq.size, uniq.size)
        out.append(fn(np.concatenate([rows_of[i] for i in pick])))
    return out


def score_types(est, human, patients, *, score=None, n_boot: int = 500, seed: int = 0) -> dict:
    """:func:`type_metrics` on every photo with a human type, each with a patient-bootstrap 95%
    interval (``<metric>_ci``)."""
    est = np.asarray(est, int)
    human = np.asarray(human, int)
    keep = (human >= 1) & (human <= 6)
    est, human, patients = est[keep], human[keep], np.asarray(patients, object)[keep]
    sc = None if score is None else np.asarray(score, float)[keep]
    point = type_metrics(est, human, score=sc)
    if n_boot <= 0:
        return point
    boots = patient_bootstrap(lambda r: type_metrics(est[r], human[r], score=None if sc is None else sc[r]),
                              patients, n_boot=n_boot, seed=seed)
    for k in HEADLINE:
        v = np.array([b[k] for b in boots], float)
        v = v[np.isfinite(v)]
        point[f"{k}_ci"] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v.size >= n_boot // 2 \
            else None
    point["n_patients"] = int(np.unique(patients.astype(str)).size)
    return point
