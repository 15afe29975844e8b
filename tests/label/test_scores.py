"""The real-photo benchmark's metric helpers (fairskin.label.score_types) against sklearn and scipy,
and the patient bootstrap's unit of resampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

from fairskin.label import score_types, type_metrics
from fairskin.label._scores import patient_bootstrap


def _data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    human = rng.choice(np.arange(1, 7), size=n, p=[0.1, 0.5, 0.25, 0.1, 0.04, 0.01])
    est = np.clip(human + rng.integers(-2, 3, n), 1, 6)
    est[rng.random(n) < 0.2] = 0  # abstained
    return est, human


def test_metrics_match_sklearn_and_scipy():
    est, human = _data()
    m = type_metrics(est, human)
    cov = est > 0
    e, h = est[cov], human[cov]
    assert m["coverage"] == pytest.approx(cov.mean())
    assert m["exact"] == pytest.approx(np.mean(e == h))
    assert m["within_one"] == pytest.approx(np.mean(np.abs(e - h) <= 1))
    assert m["kappa"] == pytest.approx(cohen_kappa_score(h, e, weights="quadratic"))
    assert m["spearman"] == pytest.approx(spearmanr(e, h).statistic)
    for k in range(1, 7):
        assert m[f"share_{k}"] == pytest.approx(np.mean(e == k))
        assert m[f"human_share_{k}"] == pytest.approx(np.mean(h == k))
    assert m["v_vi_share_error"] == pytest.approx(np.mean(e >= 5) - np.mean(h >= 5))


def test_constant_predictor_has_zero_kappa_but_high_exact():
    human = np.array([2] * 60 + [3] * 30 + [1] * 10)
    m = type_metrics(np.full(100, 2), human)
    assert m["kappa"] == 0.0 and m["exact"] == pytest.approx(0.6)
    assert np.isnan(m["spearman"])  # a constant has no rank


def test_score_uses_the_given_continuous_reading():
    est, human = _data(1)
    score = human + np.random.default_rng(2).normal(0, 0.5, human.size)
    m = type_metrics(est, human, score=score)
    cov = est > 0
    assert m["spearman"] == pytest.approx(spearmanr(score[cov], human[cov]).statistic)


def test_patient_bootstrap_draws_whole_patients():
    patients = np.repeat([f"p{i}" for i in range(20)], 3)
    seen = patient_bootstrap(lambda rows: rows, patients, n_boot=50, seed=0)
    for rows in seen:
        assert len(rows) == 60  # 20 patients drawn, 3 photos each
        drawn = patients[rows]
        for p in np.unique(drawn):  # every drawn patient brings all of its photos, as many times as drawn
            assert np.sum(drawn == p) % 3 == 0


def test_score_types_intervals_cover_the_point_and_skip_unlabelled():
    est, human = _data(3, n=300)
    human = human.copy()
    human[:20] = 0  # no human type: not scored
    patients = np.arange(300) // 3
    s = score_types(est, human, patients, n_boot=200)
    assert s["n"] == 280 and s["n_patients"] == 94
    for k in ("kappa", "exact", "coverage"):
        lo, hi = s[f"{k}_ci"]
        assert lo <= s[k] <= hi
