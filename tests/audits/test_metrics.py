"""Per-group metrics and fairness gaps against independent references (scikit-learn, fairlearn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from fairskin.audits.stats._metrics import SortedRows, point_metrics, weighted_metrics
from fairskin.audits.classifier import audit_predictions

ROMAN = ["I", "II", "III", "IV", "V", "VI"]


def _predictions(n=1200, seed=0, decimals=2):
    """Scores rounded to 2 decimals, so there are many ties; skill falls with skin type."""
    rng = np.random.default_rng(seed)
    fst = rng.integers(1, 7, n)
    y = rng.random(n) < 0.35
    logit = rng.normal(0, 1, n) + y * (2.0 - 0.25 * fst)
    score = np.round(1 / (1 + np.exp(-logit)), decimals)
    return pd.DataFrame({"image": [f"img{i}.png" for i in range(n)], "score": score, "label": y.astype(int),
                         "fst": fst})


def _ece_loop(s, y, bins=10):
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (s >= lo) & ((s < hi) if b < bins - 1 else (s <= hi))
        if m.any():
            total += m.sum() / len(s) * abs(s[m].mean() - y[m].mean())
    return total


def test_point_metrics_equal_sklearn_with_ties():
    df = _predictions()
    s, y = df["score"].to_numpy(), df["label"].to_numpy().astype(bool)
    assert len(np.unique(s)) < len(s) / 5  # heavily tied
    m = point_metrics(s, y, threshold=0.5)
    pred = s >= 0.5
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert m["sensitivity"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["specificity"] == pytest.approx(tn / (tn + fp), abs=1e-12)
    assert m["ppv"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert m["npv"] == pytest.approx(tn / (tn + fn), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert m["selection_rate"] == pytest.approx(pred.mean(), abs=1e-12)
    assert m["ece"] == pytest.approx(_ece_loop(s, y), abs=1e-12)


def test_weights_are_repeated_rows():
    """A bootstrap weight vector (counts) gives the metric of the resample with rows repeated."""
    df = _predictions(n=300, seed=3)
    s, y = df["score"].to_numpy(), df["label"].to_numpy().astype(bool)
    rng = np.random.default_rng(1)
    counts = rng.multinomial(len(s), np.full(len(s), 1 / len(s)), size=5).astype(float)
    rows = SortedRows.build(np.arange(len(s)), s, y, threshold=0.4)
    got = weighted_metrics(rows, counts[:, rows.index].T)
    for b in range(5):
        rep = np.repeat(np.arange(len(s)), counts[b].astype(int))
        ref = point_metrics(s[rep], y[rep], threshold=0.4)
        for name, v in ref.items():
            assert got[name][b] == pytest.approx(v, abs=1e-12), name
        assert got["auroc"][b] == pytest.approx(skm.roc_auc_score(y[rep], s[rep]), abs=1e-12)


def test_per_group_auroc_equals_sklearn_on_the_same_rows():
    df = _predictions()
    res = audit_predictions(df, n_boot=50, seed=0)
    y = df["label"].to_numpy().astype(bool)
    for t in range(1, 7):
        rows = df["fst"].to_numpy() == t
        g = res.group(ROMAN[t - 1])
        assert g["n"] == rows.sum() and g["positives"] == y[rows].sum()
        assert g["metrics"]["auroc"]["value"] == pytest.approx(skm.roc_auc_score(y[rows], df["score"][rows]), abs=1e-12)
        assert g["metrics"]["auprc"]["value"] == pytest.approx(
            skm.average_precision_score(y[rows], df["score"][rows]), abs=1e-12)
    for name, types in {"I-II": (1, 2), "III-IV": (3, 4), "V-VI": (5, 6)}.items():
        rows = df["fst"].isin(types).to_numpy()
        assert res.group(name)["metrics"]["auroc"]["value"] == pytest.approx(
            skm.roc_auc_score(y[rows], df["score"][rows]), abs=1e-12)
    assert res.group("all")["metrics"]["auroc"]["value"] == pytest.approx(skm.roc_auc_score(y, df["score"]), abs=1e-12)
    # skill falls with skin type by construction
    assert res.group("I")["metrics"]["auroc"]["value"] > res.group("VI")["metrics"]["auroc"]["value"]


@pytest.mark.parametrize("level", ["type", "group"])
def test_fairness_gaps_equal_fairlearn(level):
    from fairlearn import metrics as flm

    df = _predictions(n=2000, seed=5)
    res = audit_predictions(df, threshold=0.45, n_boot=20, group_level=level)
    y = df["label"].to_numpy().astype(int)
    pred = (df["score"].to_numpy() >= 0.45).astype(int)
    sf = df["fst"].map(lambda t: ROMAN[t - 1]) if level == "type" else df["fst"].map(
        {1: "I-II", 2: "I-II", 3: "III-IV", 4: "III-IV", 5: "V-VI", 6: "V-VI"})
    gaps = {(g["name"], g["method"], g["agg"]): g for g in res.model()["fairness"]}
    for method in ("between_groups", "to_overall"):
        assert gaps[("equalized_odds_difference", method, "worst_case")]["value"] == pytest.approx(
            flm.equalized_odds_difference(y, pred, sensitive_features=sf, method=method, agg="worst_case"), abs=1e-12)
    assert gaps[("equalized_odds_difference", "between_groups", "mean")]["value"] == pytest.approx(
        flm.equalized_odds_difference(y, pred, sensitive_features=sf, agg="mean"), abs=1e-12)
    assert gaps[("equal_opportunity_difference", "between_groups", None)]["value"] == pytest.approx(
        flm.equal_opportunity_difference(y, pred, sensitive_features=sf), abs=1e-12)
    assert gaps[("demographic_parity_difference", "between_groups", None)]["value"] == pytest.approx(
        flm.demographic_parity_difference(y, pred, sensitive_features=sf), abs=1e-12)
    # AUROC gap: best minus worst group, each group's AUROC from sklearn
    aurocs = {g: skm.roc_auc_score(y[sf == g], df["score"][sf == g]) for g in sorted(set(sf))}
    gap = gaps[("auroc_gap", "between_groups", None)]
    assert gap["value"] == pytest.approx(max(aurocs.values()) - min(aurocs.values()), abs=1e-12)
    assert gap["groups"] == [max(aurocs, key=aurocs.get), min(aurocs, key=aurocs.get)]
    worst = gaps[("worst_group_auroc", "min", None)]
    assert worst["value"] == pytest.approx(min(aurocs.values()), abs=1e-12) and worst["p_value"] is None


def test_one_class_group_has_null_auroc_with_reason():
    df = _predictions(n=600, seed=2)
    df.loc[df["fst"] == 6, "label"] = 0  # type VI: benign only
    res = audit_predictions(df, n_boot=30)
    vi = res.group("VI")
    assert vi["metrics"]["auroc"]["value"] is None
    assert vi["metrics"]["auroc"]["ci_low"] is None
    assert vi["metrics"]["auroc"]["flags"] == ["undefined", "unreliable_group"]
    n_benign = vi["negatives"]
    assert vi["metrics"]["auroc"]["reason"] == f"group VI has no malignant images (0 malignant, {n_benign} benign); AUROC is undefined"
    assert vi["metrics"]["sensitivity"]["reason"] == "group VI has no malignant images; sensitivity is undefined"
    assert vi["flags"] == ["few_positives", "one_class"] and vi["reliable"] is False
    assert vi["metrics"]["specificity"]["value"] is not None
    gap = next(g for g in res.model()["fairness"] if g["name"] == "auroc_gap" and g["method"] == "between_groups")
    assert "groups_excluded" in gap["flags"] and gap["reason"] == "left out (metric undefined): VI"
    d = res.to_dict()  # JSON-safe: null, never NaN or 0
    assert d["models"][0]["groups"][5]["metrics"]["auroc"]["value"] is None


def test_small_groups_flagged_unreliable():
    df = _predictions(n=400, seed=4)
    keep = (df["fst"] != 6) | (df.index % 10 == 0)  # ~7 type-VI rows
    res = audit_predictions(df[keep], n_boot=20)
    vi = res.group("VI")
    assert vi["n"] < 30 and "small_n" in vi["flags"] and not vi["reliable"]
    assert "unreliable_group" in vi["metrics"]["specificity"]["flags"]
    assert res.group("I")["reliable"] is True
