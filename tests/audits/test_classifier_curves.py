"""ROC and calibration curves of the classifier audit (the ``roc`` / ``calibration`` keys of every
GROUP entry) against scikit-learn and hand-computed binning, and drawn by the audit report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from fairskin.audits.stats._bootstrap import stratified_counts
from fairskin.audits.stats._metrics import SortedRows, calibration_bins, point_metrics, roc_grid, weighted_roc
from fairskin.audits.classifier import Design, audit_predictions, simulate_predictions

GRID = np.arange(101) / 100


def _sk_step(y, s, w=None) -> np.ndarray:
    """sklearn's ROC read as a step function: the largest TPR with FPR <= each grid point. Every
    threshold is kept (drop_intermediate=False): the default drops collinear corner points, which
    changes a step function (not a linear interpolation)."""
    fpr, tpr, _ = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    return np.array([tpr[fpr <= g + 1e-9].max() for g in GRID])


def _df(n=1500, seed=0, decimals=2, one_class_type=None):
    """``n`` images in random order, about n / 6 of each type, labels drawn with prevalence 0.35 (none
    malignant on ``one_class_type``), binormal scores less separated on V-VI (the package's simulator)."""
    sizes = tuple(n // 6 + (t < n % 6) for t in range(6))
    positives = tuple(0 if t + 1 == one_class_type else round(k * 0.35) for t, k in enumerate(sizes))
    design = Design(sizes=sizes, positives=positives, cohort=True,
                    mu_pos=(0.9,) * 4 + (0.4,) * 2, mu_neg=(-0.9,) * 4 + (-0.4,) * 2)
    df = simulate_predictions(design, seed).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df["score"] = np.round(df["score"], decimals)  # many tied scores, within and across the classes
    df["image"] = [f"i{k}.png" for k in range(len(df))]
    return df


@pytest.fixture(scope="module")
def audit():
    df = _df(one_class_type=6)
    return df, audit_predictions(df, n_boot=300, seed=3)


def _entries(res):
    m = res.to_dict()["models"][0]
    return m["groups"] + [m["overall"]]


def _rows(df, g):
    fst = df["fst"].to_numpy()
    if g["group"] == "all":
        return np.ones(len(df), bool)
    return np.isin(fst, g["types"])


# --- ROC -----------------------------------------------------------------------------------

def test_roc_points_equal_sklearn_step_function_with_ties(audit):
    df, res = audit
    s, y = df["score"].to_numpy(float), df["label"].to_numpy(bool)
    assert len(np.unique(s)) < len(s) / 5  # ties are really there
    checked = 0
    for g in _entries(res):
        if g["roc"] is None:
            continue
        rows = _rows(df, g)
        assert g["roc"]["fpr"] == GRID.tolist()
        np.testing.assert_allclose(g["roc"]["tpr"], _sk_step(y[rows], s[rows]), rtol=0, atol=1e-12,
                                   err_msg=g["group"])
        checked += 1
    assert checked == 9  # types I-V, three groups, all (type VI has one class)


def test_weighted_roc_equals_sklearn_with_sample_weights():
    """The bootstrap path: a count matrix per resample (zeros included, fractional weights too)."""
    rng = np.random.default_rng(7)
    n_checked = 0
    for trial in range(60):
        n = int(rng.integers(2, 90))
        s = np.round(rng.random(n), int(rng.integers(1, 3)))
        y = rng.random(n) < rng.uniform(0.1, 0.9)
        W = rng.integers(0, 4, (n, 6)).astype(float)
        W[:, 0] = 1.0
        W[:, 1] = rng.random(n)
        rows = SortedRows.build(np.arange(n), s, y, threshold=0.5)
        tpr = weighted_roc(rows, W[rows.index])
        assert tpr.shape == (6, 101)
        for j in range(6):
            w = W[:, j]
            if w[y].sum() == 0 or w[~y].sum() == 0:
                assert np.isnan(tpr[j]).all()
                continue
            np.testing.assert_allclose(tpr[j], _sk_step(y, s, w), rtol=0, atol=1e-12)
            n_checked += 1
    assert n_checked > 200


def test_roc_step_function_by_hand():
    # descending: 0.9 P | 0.8 N | 0.7 N,P tied | 0.6 N | 0.2 P
    s = np.array([0.9, 0.8, 0.7, 0.7, 0.6, 0.2])
    y = np.array([1, 0, 0, 1, 0, 1], bool)
    rows = SortedRows.build(np.arange(6), s, y, threshold=0.5)
    tpr = weighted_roc(rows, np.ones((6, 1)))[0]
    # FPR 0 -> TPR 1/3; FPR 1/3 -> 1/3; the tie block brings (2/3, 2/3) at once; FPR 1 -> 1
    exp = np.where(GRID < 2 / 3 - 1e-12, 1 / 3, np.where(GRID < 1, 2 / 3, 1.0))
    np.testing.assert_allclose(tpr, exp, atol=1e-12)
    np.testing.assert_array_equal(roc_grid(), GRID)


@pytest.mark.parametrize("n_neg", [194, 195, 305, 385])
def test_roc_fpr_exactly_on_a_grid_point(n_neg):
    """FPR = k / n_neg equal to a grid point (97/194 = 0.5) where k * (100 / n_neg) rounds below
    the integer (49.99999999999999): the threshold at that FPR still counts as <= the grid point."""
    n = 2 * n_neg
    s = np.linspace(1, 0, n, endpoint=False)  # distinct, descending
    y = np.arange(n) % 2 == 1  # N P N P ...: every negative is followed by a positive
    rows = SortedRows.build(np.arange(n), s, y, threshold=0.5)
    np.testing.assert_allclose(weighted_roc(rows, np.ones((n, 1)))[0], _sk_step(y, s), rtol=0, atol=1e-12)


def test_roc_band_from_the_audit_resamples_and_contains_the_curve():
    n, B, seed = 2000, 400, 11
    df = _df(n, seed=1, decimals=3).assign(fst=5)  # one stratum per label: the audit's resampling is known
    res = audit_predictions(df, n_boot=B, seed=seed, label_sampling="fixed")
    g = res.group("V")
    roc = g["roc"]
    lo, hi, tpr = (np.array(roc[k]) for k in ("tpr_ci_low", "tpr_ci_high", "tpr"))
    assert (lo <= hi + 1e-12).all()
    inside = (lo - 1e-12 <= tpr) & (tpr <= hi + 1e-12)
    assert inside.mean() >= 0.9, inside.mean()
    assert ((hi - lo)[5:95] > 0).all()  # a real band, not the curve twice
    # the same stratified resamples as every other CI of the audit (group x label strata: label_sampling fixed)
    y, s = df["label"].to_numpy(bool), df["score"].to_numpy(float)
    strata = pd.factorize(np.where(y, "t5:1", "t5:0"))[0]
    rows = SortedRows.build(np.arange(n), s, y, threshold=0.5)
    samples = np.vstack([weighted_roc(rows, W[rows.index])
                         for W in stratified_counts(strata, n_boot=B, rng=np.random.default_rng(seed))])
    exp_lo, exp_hi = np.quantile(samples, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(lo, exp_lo, atol=1e-12)
    np.testing.assert_allclose(hi, exp_hi, atol=1e-12)
    assert res.group("all")["roc"] == roc  # same rows, same resamples


def test_roc_null_for_one_class_and_no_band_for_unreliable(audit):
    df, res = audit
    vi = res.group("VI")
    assert vi["roc"] is None
    assert vi["roc_reason"] == vi["metrics"]["auroc"]["reason"] and "no malignant images" in vi["roc_reason"]
    small = audit_predictions(_df(300, seed=2).iloc[:60], n_boot=50, seed=0)  # ~10 rows per type: small_n
    g = small.group("I")
    assert "small_n" in g["flags"] and "one_class" not in g["flags"]
    assert g["roc"] is not None and len(g["roc"]["tpr"]) == 101
    assert g["roc"]["tpr_ci_low"] is None and g["roc"]["tpr_ci_high"] is None and "unreliable" in g["roc_reason"]
    ok = small.group("all")
    assert ok["reliable"] and ok["roc_reason"] is None
    assert len(ok["roc"]["tpr_ci_low"]) == len(ok["roc"]["tpr_ci_high"]) == 101


# --- calibration ---------------------------------------------------------------------------

def _hand_bins(s, y, k=10):
    """edges[b] <= s < edges[b + 1] with edges = b / k, the last bin closed; plain Python."""
    n, tot, pos = [0] * k, [0.0] * k, [0] * k
    for si, yi in zip(s.tolist(), y.tolist()):
        b = next(b for b in range(k) if b / k <= si < (b + 1) / k) if si < 1 else k - 1
        n[b] += 1
        tot[b] += si
        pos[b] += bool(yi)
    return n, [t / c if c else None for t, c in zip(tot, n)], [p / c if c else None for p, c in zip(pos, n)]


def test_calibration_bins_by_hand_on_the_edges():
    # 0.8999999999999999 * 10 rounds to 9.0: a floor(10 s) binning would put it in [0.9, 1]
    s = np.array([0.0, 0.05, 0.1, 0.3, 0.3, 0.35, 0.7, 0.99, 1.0, 0.6999999999999999, 0.8999999999999999])
    y = np.array([0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0], bool)
    c = calibration_bins(s, y, 10)
    assert c["bin_edges"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert c["n"] == [2, 1, 0, 3, 0, 0, 1, 1, 1, 2]
    assert c["frac_positive"] == pytest.approx([0, 1, None, 2 / 3, None, None, 0, 1, 0, 1])
    assert point_metrics(s, y)["ece"] == pytest.approx(
        sum(nb / len(s) * abs(f - m) for nb, f, m in zip(c["n"], c["frac_positive"], c["mean_score"]) if nb))
    assert c["mean_score"][3] == pytest.approx((0.3 + 0.3 + 0.35) / 3)
    assert c["mean_score"][2] is None and c["mean_score"][9] == pytest.approx(0.995)


def test_calibration_of_every_group_matches_hand_binning_and_ece(audit):
    df, res = audit
    s, y = df["score"].to_numpy(float), df["label"].to_numpy(bool)
    assert np.isin(s, np.arange(11) / 10).sum() > 50  # many scores lie on bin edges (rounded to 2 decimals)
    for g in _entries(res):
        rows = _rows(df, g)
        c = g["calibration"]
        n, mean, frac = _hand_bins(s[rows], y[rows])
        assert c["n"] == n, g["group"]
        assert sum(c["n"]) == g["n"] == rows.sum()
        for got, exp in ((c["mean_score"], mean), (c["frac_positive"], frac)):
            assert [v is None for v in got] == [v is None for v in exp]
            np.testing.assert_allclose([v for v in got if v is not None], [v for v in exp if v is not None],
                                       rtol=1e-12, atol=1e-12)
        N = sum(c["n"])
        ece = sum(nb / N * abs(f - m) for nb, f, m in zip(c["n"], c["frac_positive"], c["mean_score"]) if nb)
        assert g["metrics"]["ece"]["value"] == pytest.approx(ece, abs=1e-12), g["group"]


# --- JSON and report -----------------------------------------------------------------------

def test_curves_in_json_and_drawn_by_the_report(audit, tmp_path):
    from fairskin.reports import render_audit_report

    _, res = audit
    d = json.loads(res.to_json(tmp_path / "a.json").read_text())
    g = d["models"][0]["groups"][0]
    assert list(g["roc"]) == ["fpr", "tpr", "tpr_ci_low", "tpr_ci_high"]
    assert list(g["calibration"]) == ["bin_edges", "mean_score", "frac_positive", "n"]
    render_audit_report(res.to_dict(), tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    kinds = re.findall(r'data-kind="([^"]+)"', html)
    assert kinds.count("roc") == 2 and kinds.count("calibration") == 2  # type and group level
    assert "has no &#x27;roc&#x27; key" not in html and "has no &#x27;calibration&#x27; key" not in html
    roc_svg = html.split('data-kind="roc"')[1].split("</svg>")[0]
    assert 'class="band"' in roc_svg  # the bootstrap band is drawn
