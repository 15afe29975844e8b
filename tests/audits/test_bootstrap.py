"""Stratified bootstrap, percentile intervals, p-values and DeLong, against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from fairskin.audits.stats._bootstrap import (
    bootstrap_p_value,
    delong_test,
    delong_variance,
    percentile_ci,
    stratified_counts,
)
from fairskin.audits.classifier import audit_predictions


def test_counts_keep_every_stratum_size_and_are_seeded():
    strata = np.array([0] * 7 + [1] * 3 + [2] * 20)
    chunks = list(stratified_counts(strata, n_boot=30, rng=np.random.default_rng(9), chunk=8))
    assert [c.shape for c in chunks] == [(30, 8), (30, 8), (30, 8), (30, 6)]
    W = np.hstack(chunks)
    for s, size in ((0, 7), (1, 3), (2, 20)):
        assert (W[strata == s].sum(0) == size).all()
    again = np.hstack(list(stratified_counts(strata, n_boot=30, rng=np.random.default_rng(9), chunk=8)))
    assert (W == again).all()
    assert not (W == 1).all()  # it does resample


def test_percentile_ci_and_p_value_known_answers():
    s = np.arange(1, 1001) / 1000.0  # 0.001 .. 1.000
    lo, hi, n = percentile_ci(s, level=0.9)
    assert (lo, hi, n) == (pytest.approx(np.quantile(s, 0.05)), pytest.approx(np.quantile(s, 0.95)), 1000)
    assert percentile_ci(np.array([np.nan, 1.0, 3.0]), level=0.5) == (1.5, 2.5, 2)
    assert percentile_ci(np.array([np.nan]), level=0.95) == (None, None, 0)
    # centred test: samples around 0.3 with spread 0.1 -> |s*-0.3| >= 0.3 never happens
    samples = 0.3 + np.linspace(-0.1, 0.1, 99)
    assert bootstrap_p_value(0.3, samples) == pytest.approx(1 / 100)
    # |s* - 0.05| >= 0.05 for the 50 samples at the edges
    samples = 0.05 + np.r_[np.full(50, 0.06), np.full(49, 0.01)]
    assert bootstrap_p_value(0.05, samples) == pytest.approx(51 / 100)
    assert bootstrap_p_value(1.2, 1.2 + np.zeros(9), null=1.0) == pytest.approx(0.1)


def test_delong_variance_equals_structural_components():
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=80), 1)  # ties
    y = rng.random(80) < 0.4
    x, z = s[y], s[~y]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    expected = v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(z)
    auc, var = delong_variance(s, y)
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert var == pytest.approx(expected, rel=1e-12)
    a2 = rng.normal(size=60) + 1.0
    y2 = np.r_[np.ones(30, bool), np.zeros(30, bool)]
    a2[~y2] -= 1.0
    _, v2 = delong_variance(a2, y2)
    z_stat = (auc - roc_auc_score(y2, a2)) / np.sqrt(var + v2)
    assert delong_test(s, y, a2, y2) == pytest.approx(2 * stats.norm.sf(abs(z_stat)))


def test_audit_bootstrap_equals_loop_bootstrap_with_sklearn():
    """The vectorised bootstrap gives, resample by resample, sklearn's AUROC on the drawn rows (the
    samples behind every bootstrap-based interval, here the worst-group AUROC's)."""
    rng = np.random.default_rng(11)
    n = 240
    fst = rng.integers(1, 7, n)
    y = rng.random(n) < 0.4
    score = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y))), 2)
    df = pd.DataFrame({"image": np.arange(n).astype(str), "score": score, "label": y, "fst": fst})
    res = audit_predictions(df, n_boot=200, seed=5)
    # redraw the same resamples: strata are (type, label) in order of first appearance (label_sampling "fixed")
    strata = pd.factorize(np.char.add(np.char.add("t", fst.astype(str)), np.where(y, ":1", ":0")))[0]
    W = np.hstack(list(stratified_counts(strata, n_boot=200, rng=np.random.default_rng(5))))
    rows = fst == 5
    aucs = []
    for b in range(200):
        rep = np.repeat(np.flatnonzero(rows), W[rows, b].astype(int))
        aucs.append(roc_auc_score(y[rep], score[rep]))
    from fairskin.audits.classifier._classifier import audit_frames  # noqa: F401  (the engine below is what it runs)
    from fairskin.audits.stats._engine import Engine
    from fairskin.audits.classifier import AuditConfig, clean_predictions

    clean, _ = clean_predictions(df)
    clean["_score_m"] = clean["score"]
    eng = Engine(clean, {"m": clean["score"].to_numpy()}, {"m": 0.5},
                 AuditConfig(n_boot=200, seed=5, label_sampling="fixed"))
    np.testing.assert_allclose(eng.samples["m"][("type", "V")]["auroc"], aucs, atol=1e-12)
    # seeded: same answer twice, another seed a different one (the worst group's interval is bootstrapped)
    def worst(r):
        return next(f for f in r.model()["fairness"] if f["name"] == "worst_group_auroc")

    m = worst(res)
    again = worst(audit_predictions(df, n_boot=200, seed=5))
    other = worst(audit_predictions(df, n_boot=200, seed=6))
    assert again == m and other["ci_low"] != m["ci_low"]


def _binormal(rng, n_pos, n_neg, d):
    return np.r_[rng.normal(d, 1, n_pos), rng.normal(0, 1, n_neg)], np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]


def ci_coverage(n_sets=200, n_boot=1000, d=1.0, n_pos=60, n_neg=140, seed=0) -> float:
    """Share of simulated data sets whose 95% bootstrap CI of AUROC covers the true AUROC
    Phi(d / sqrt(2)) of a binormal model (positives N(d, 1), negatives N(0, 1))."""
    true_auc = stats.norm.cdf(d / np.sqrt(2))
    rng = np.random.default_rng(seed)
    hits = 0
    for k in range(n_sets):
        s, y = _binormal(rng, n_pos, n_neg, d)
        prob = 1 / (1 + np.exp(-s))
        df = pd.DataFrame({"image": np.arange(len(s)).astype(str), "score": prob, "label": y, "fst": 5})
        m = audit_predictions(df, n_boot=n_boot, seed=k).group("V")["metrics"]["auroc"]
        hits += m["ci_low"] <= true_auc <= m["ci_high"]
    return hits / n_sets


@pytest.mark.slow
def test_ci_covers_true_auroc_95_percent_of_the_time():
    cov = ci_coverage()
    print(f"95% CI coverage of the true AUROC on 200 simulated data sets: {cov:.1%}")
    assert 0.93 <= cov <= 0.97


def test_permutation_p_values_equal_exact_enumeration():
    """Two skin types, 4 malignant + 10 benign each; the model flags all 4 malignant of type I and
    nothing else. Exact permutation p-values: equal opportunity, P(all 4 flagged positives land in
    one type) = 2 / C(8, 4); demographic parity (shuffled over all 28 rows) = 2 C(14, 4) / C(28, 4)."""
    from math import comb

    rows = []
    for t in (1, 6):
        rows += [{"score": 0.9 if t == 1 else 0.1, "label": 1, "fst": t}] * 4
        rows += [{"score": 0.2, "label": 0, "fst": t}] * 10
    df = pd.DataFrame(rows).assign(image=lambda d: np.arange(len(d)).astype(str))
    res = audit_predictions(df, n_boot=40_000, seed=3)
    gaps = {(g["name"], g["method"], g["agg"]): g for g in res.model()["fairness"]}
    eopp = gaps[("equal_opportunity_difference", "between_groups", None)]
    assert eopp["value"] == 1.0
    assert eopp["p_value"] == pytest.approx(2 / comb(8, 4), abs=0.003)
    assert gaps[("equalized_odds_difference", "between_groups", "worst_case")]["p_value"] == pytest.approx(
        2 / comb(8, 4), abs=0.003)
    dp = gaps[("demographic_parity_difference", "between_groups", None)]
    assert dp["value"] == pytest.approx(4 / 14)
    assert dp["p_value"] == pytest.approx(2 * comb(14, 4) / comb(28, 4), abs=0.006)


def test_auroc_homogeneity_with_two_groups_is_delong():
    """With two groups, Cochran's Q equals the squared DeLong z: the same p-value."""
    rng = np.random.default_rng(4)
    n = 400
    grp = rng.choice(["12", "56"], n)
    y = rng.random(n) < 0.4
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + y * np.where(grp == "12", 1.5, 0.8))))
    df = pd.DataFrame({"image": np.arange(n).astype(str), "score": score, "label": y, "fst": grp})
    gaps = audit_predictions(df, n_boot=20).model()["fairness"]
    between = next(g for g in gaps if g["name"] == "auroc_gap" and g["method"] == "between_groups")
    pair = next(g for g in gaps if g["name"] == "auroc_gap" and g["method"] == "pair")
    assert between["p_value_method"] == "delong_chi2"
    a, b = (grp == "12"), (grp == "56")
    assert between["p_value"] == pytest.approx(delong_test(score[a], y[a], score[b], y[b]), rel=1e-9)
    assert pair["p_value_delong"] == pytest.approx(between["p_value"], rel=1e-9)
