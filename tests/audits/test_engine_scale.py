"""The fast paths of the audit's engine against plain reference computations: the resampler's count
rows against index draws + bincount, the label-split metrics and the skin-type cells' additive sums
against the metrics of each group's rows computed on their own, and the parse of a predictions
table once per distinct value against the parse of every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fairskin.audits.stats._engine as engine_module
from fairskin.audits.stats._bootstrap import (
    cluster_count_rows,
    cluster_counts,
    stratified_count_rows,
    stratified_counts,
)
from fairskin.audits.stats._engine import Engine
from fairskin.audits.stats._metrics import SortedRows, count_rows, weighted_metrics
from fairskin.audits.classifier import AuditConfig, clean_predictions
from fairskin.skintone import parse_fst


def _reference_stratified(strata, n_boot, rng, chunk):
    """The resampler as first written: within each stratum, row indices drawn with replacement and
    counted with one bincount over the whole block."""
    n = len(strata)
    members = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        counts = np.zeros(n * k)
        col = np.arange(k)[:, None]
        for idx in members:
            draws = idx[rng.integers(0, len(idx), size=(k, len(idx)))]
            counts += np.bincount((draws * k + col).ravel(), minlength=n * k)
        done += k
        yield counts.reshape(n, k)


def _reference_cluster(clusters, cluster_strata, n_boot, rng, chunk):
    """Clusters resampled as the rows of :func:`_reference_stratified`; each row counts as its cluster."""
    for ccounts in _reference_stratified(cluster_strata, n_boot, rng, chunk):
        yield ccounts[clusters]


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_count_rows_are_the_reference_resamples(chunk):
    """Same seed, same counts: the count rows, and the count matrices, equal index draws + bincount,
    row by row and resample by resample, whatever the column layout."""
    rng = np.random.default_rng(3)
    strata = rng.integers(0, 5, 257)
    strata[:3] = 5  # a stratum of 3 rows
    ref = np.hstack(list(_reference_stratified(strata, 40, np.random.default_rng(8), chunk)))
    got = np.hstack(list(stratified_counts(strata, n_boot=40, rng=np.random.default_rng(8), chunk=chunk)))
    np.testing.assert_array_equal(got, ref)
    columns = rng.permutation(len(strata))  # row i's count in column columns[i]
    rows = np.vstack(list(stratified_count_rows(strata, n_boot=40, rng=np.random.default_rng(8), chunk=chunk,
                                                columns=columns)))
    assert rows.dtype == np.int32
    np.testing.assert_array_equal(rows[:, columns], ref.T)
    # grouped by stratum, shuffled within (the engine's layout: runs of consecutive columns)
    grouped = np.empty(len(strata), np.intp)
    grouped[np.lexsort((rng.random(len(strata)), strata))] = np.arange(len(strata))
    reused = [b.copy() for b in stratified_count_rows(strata, n_boot=40, rng=np.random.default_rng(8), chunk=chunk,
                                                      columns=grouped, reuse=True)]
    np.testing.assert_array_equal(np.vstack(reused)[:, grouped], ref.T)


def test_cluster_count_rows_are_the_reference_resamples():
    rng = np.random.default_rng(4)
    clusters = rng.integers(0, 40, 300)
    clusters[:40] = np.arange(40)  # every cluster has a row
    cluster_strata = rng.integers(0, 3, 40)
    ref = np.hstack(list(_reference_cluster(clusters, cluster_strata, 30, np.random.default_rng(2), 8)))
    got = np.hstack(list(cluster_counts(clusters, cluster_strata, n_boot=30, rng=np.random.default_rng(2), chunk=8)))
    np.testing.assert_array_equal(got, ref)
    columns = rng.permutation(len(clusters))
    rows = np.vstack([b.copy() for b in cluster_count_rows(clusters, cluster_strata, n_boot=30,
                                                           rng=np.random.default_rng(2), chunk=8, columns=columns,
                                                           reuse=True)])
    np.testing.assert_array_equal(rows[:, columns], ref.T)


def test_count_rows_draw_the_multinomial():
    """Each stratum's counts of one resample are Multinomial(m; 1/m, ..., 1/m): mean 1, variance
    1 - 1/m, covariance -1/m between two rows (5,000 resamples of a 4-row stratum)."""
    strata = np.array([0, 0, 0, 0, 1, 1])
    W = np.vstack(list(stratified_count_rows(strata, n_boot=5000, rng=np.random.default_rng(1))))
    four = W[:, :4].astype(float)
    assert (four.sum(1) == 4).all() and (W[:, 4:].sum(1) == 2).all()
    np.testing.assert_allclose(four.mean(0), 1.0, atol=0.05)
    np.testing.assert_allclose(four.var(0), 0.75, atol=0.06)
    np.testing.assert_allclose(np.cov(four.T)[0, 1:], -0.25, atol=0.05)


def test_integer_and_float_weights_give_the_same_metrics():
    """Count rows take the exact integer path; the same weights as fractions of 1 (x 1.0 + a
    non-integer column) take the float path: the metrics agree."""
    rng = np.random.default_rng(5)
    n = 400
    s = np.round(rng.random(n), 2)
    y = rng.random(n) < 0.35
    rows = SortedRows.build(np.arange(n), s, y, threshold=0.5)
    W = rng.integers(0, 4, (n, 5)).astype(float)
    assert count_rows(W).dtype == np.int32
    exact = weighted_metrics(rows, W, roc_points=101)
    with_fraction = np.c_[W, np.full(n, 0.5)]  # one non-integer column sends all to float64
    assert count_rows(with_fraction).dtype == np.float64
    approx = weighted_metrics(rows, with_fraction, roc_points=101)
    for name, v in exact.items():
        np.testing.assert_allclose(approx[name][:5], v, rtol=0, atol=1e-12, err_msg=name)
    half = weighted_metrics(rows, np.full((n, 1), 0.5), roc_points=101)  # half of every row: same metrics
    ones = weighted_metrics(rows, np.ones((n, 1)), roc_points=101)
    for name, v in ones.items():
        np.testing.assert_allclose(half[name], v, rtol=0, atol=1e-12, err_msg=name)


def _frame(n=900, seed=0):
    rng = np.random.default_rng(seed)
    fst = rng.integers(1, 7, n).astype(object)
    fst[:120] = np.where(rng.random(120) < 0.5, "12", "56")  # some rows know only their group
    y = rng.random(n) < 0.3
    score = np.round(1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.4 * y))), 2)  # ties across labels
    df = pd.DataFrame({"image": [f"i{k}" for k in range(n)], "score": score, "label": y.astype(int), "fst": fst})
    clean, _ = clean_predictions(df)
    clean["_score_b"] = np.round(rng.random(n), 3)  # a second model: cells out of its score order
    return clean


@pytest.mark.parametrize("clustered", [False, True])
def test_engine_samples_equal_each_groups_own_metrics(clustered, monkeypatch):
    """Every group's bootstrap samples (types, groups mixing typed and group-only rows, all; two
    models) equal :func:`weighted_metrics` on that group's rows and the same resamples, and do not
    depend on how many resamples one pass of the metrics takes."""
    frame = _frame()
    scores = {"a": frame["score"].to_numpy(float), "b": frame["_score_b"].to_numpy(float)}
    clusters = (frame.index.to_numpy() // 3).astype(str) if clustered else None
    cfg = AuditConfig(n_boot=45, seed=2)
    eng = Engine(frame, scores, {"a": 0.5, "b": 0.4}, cfg, clusters=clusters)
    assert eng.clustered == clustered
    W = np.hstack(list(eng.weight_blocks()))  # (n_rows, n_boot), rows in the frame's order
    y = frame["label"].to_numpy(bool)
    for m, s in scores.items():
        for key, idx in eng.rows.items():
            rows = SortedRows.build(idx, s, y, threshold=eng.thresholds[m], ece_bins=cfg.ece_bins)
            ref = weighted_metrics(rows, W[rows.index], roc_points=101)
            point = weighted_metrics(rows, np.ones((rows.n, 1)), roc_points=101)
            np.testing.assert_allclose(eng.roc_samples[m][key], ref.pop("roc_tpr"), rtol=0, atol=1e-12)
            np.testing.assert_allclose(eng.roc[m][key], point.pop("roc_tpr")[0], rtol=0, atol=1e-12)
            for name, v in ref.items():
                np.testing.assert_allclose(eng.samples[m][key][name], v, rtol=0, atol=1e-12, err_msg=(m, key, name))
                np.testing.assert_allclose(eng.values[m][key][name], point[name][0], rtol=0, atol=1e-12)
    monkeypatch.setattr(engine_module, "_pass_rows", lambda n: 1)  # one resample per pass
    again = Engine(frame, scores, {"a": 0.5, "b": 0.4}, cfg, clusters=clusters)
    for m in scores:
        for key in eng.rows:
            for name, v in eng.samples[m][key].items():
                np.testing.assert_array_equal(again.samples[m][key][name], v)


def test_fst_parsed_once_per_distinct_value_as_row_by_row():
    """A column of many repeated values is parsed per distinct value; a column that mixes True
    with 1 (equal as keys) is parsed row by row, so True stays a bad skin type."""
    values = [1, "III", None, "12", 7, "V-VI", np.nan, "unknown", "3.0", 6.0] * 30
    df = pd.DataFrame({"image": [f"i{k}" for k in range(len(values))], "score": 0.5, "label": 1,
                       "fst": pd.Series(values, dtype=object)})
    clean, bad = clean_predictions(df)
    types, groups, status = parse_fst(values)
    ok = [st is None for st in status]
    assert clean["tone"].tolist() == types[ok].tolist()
    assert clean["tone_group"].tolist() == groups[ok].astype(str).tolist()
    assert [b["status"] for b in bad] == [st for st in status if st is not None]
    mixed = pd.DataFrame({"image": ["a", "b", "c"], "score": 0.5, "label": [1, 0, 1],
                          "fst": pd.Series([1, True, "II"], dtype=object)})
    clean, bad = clean_predictions(mixed)
    assert clean["tone"].tolist() == [1, 2]
    assert [(b["image"], b["status"]) for b in bad] == [("b", "bad_fst")]
