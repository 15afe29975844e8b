"""Stratified bootstrap weights, percentile intervals, bootstrap p-values and DeLong's test.

Resampling ``m`` rows with replacement is the same as giving each row the number of times it
was drawn as a weight, so a whole bootstrap is a matrix of counts ``(n_boot, n_rows)`` and every
metric is computed for all resamples at once (see :mod:`._metrics`). Rows are resampled within
strata (skin-type group x label), so every resample keeps each group's size and number of
malignant images: a group's AUROC is defined in every resample whenever it is defined at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["stratified_counts", "stratified_count_rows", "cluster_counts", "cluster_count_rows", "percentile_ci",
           "bootstrap_p_value", "delong_variance", "delong_test", "holm"]


def _draw_counts(sizes: list[int], k: int, rng: np.random.Generator) -> Iterator[tuple[int, int, np.ndarray]]:
    """For each stratum (in order) and each of ``k`` resamples, the counts of its ``m`` members when
    ``m`` of them are drawn with replacement: yields ``(stratum, resample, counts (m,))``. The
    draws are ``rng.integers(0, m, size=(k, m))``, one call per stratum, so the same generator
    state gives the same resamples whatever is done with them."""
    for s, m in enumerate(sizes):
        draws = rng.integers(0, m, size=(k, m), dtype=np.int32 if m < 2 ** 31 else np.int64)
        for c in range(k):
            yield s, c, np.bincount(draws[c], minlength=m)


def _targets(where: np.ndarray, strata: np.ndarray) -> list[tuple[slice | np.ndarray, np.ndarray | None]]:
    """Per stratum (in order), where its members' counts go: ``(slice, order)`` when they fill a run
    of consecutive columns (member ``order[j]`` in the run's ``j``-th column; ``None``: in
    order), else ``(columns, None)``."""
    out = []
    for s in np.unique(strata):
        cols = where[strata == s]
        a, b = int(cols.min()), int(cols.max()) + 1
        if b - a == len(cols):
            order = np.argsort(cols)
            out.append((slice(a, b), None if (np.diff(cols) > 0).all() else order))
        else:
            out.append((cols, None))
    return out


def stratified_count_rows(strata: np.ndarray, *, n_boot: int, rng: np.random.Generator, chunk: int = 64,
                          columns: np.ndarray | None = None, reuse: bool = False) -> Iterator[np.ndarray]:
    """The resamples of :func:`stratified_counts` as count *rows*: int32 blocks ``(k, n_rows)``, one
    resample per row (contiguous, so running sums along it vectorise). With ``columns`` (a
    permutation), row ``i``'s count goes to column ``columns[i]`` (e.g. rows grouped by stratum
    and sorted by score, where a group's rows are consecutive columns). With ``reuse``, every
    block is written into the same array (the caller is done with a block when it asks for the
    next): a fresh array of that size costs its page faults again for every block."""
    strata = np.asarray(strata)
    n = len(strata)
    targets = _targets(np.arange(n) if columns is None else np.asarray(columns), strata)
    sizes = [int((strata == s).sum()) for s in np.unique(strata)]
    buffer = np.empty((min(chunk, n_boot), n), np.int32) if reuse else None
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        out = buffer[:k] if reuse else np.empty((k, n), np.int32)
        for s, c, counts in _draw_counts(sizes, k, rng):
            at, order = targets[s]
            if order is not None:
                np.take(counts, order, out=out[c, at])
            else:
                out[c, at] = counts
        done += k
        yield out


def stratified_counts(strata: np.ndarray, *, n_boot: int, rng: np.random.Generator, chunk: int = 64
                      ) -> Iterator[np.ndarray]:
    """Yield count matrices ``(n_rows, k)`` (k <= ``chunk``, ``n_boot`` columns in all): within each
    stratum, rows drawn with replacement as many times as the stratum has rows."""
    for block in stratified_count_rows(strata, n_boot=n_boot, rng=rng, chunk=chunk):
        yield block.T.astype(float)


def cluster_count_rows(clusters: np.ndarray, cluster_strata: np.ndarray, *, n_boot: int, rng: np.random.Generator,
                       chunk: int = 64, columns: np.ndarray | None = None, reuse: bool = False
                       ) -> Iterator[np.ndarray]:
    """The resamples of :func:`cluster_counts` as int32 count rows ``(k, n_rows)``; ``columns`` and
    ``reuse`` as in :func:`stratified_count_rows`."""
    clusters = np.asarray(clusters)
    cluster_strata = np.asarray(cluster_strata)
    n, C = len(clusters), len(cluster_strata)
    at_column = clusters.copy()
    if columns is not None:
        at_column[np.asarray(columns)] = clusters  # the cluster of the row in each column
    members = [np.flatnonzero(cluster_strata == s) for s in np.unique(cluster_strata)]
    buffer = np.empty((min(chunk, n_boot), n), np.int32) if reuse else None
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        ccounts = np.empty((k, C), np.int32)
        for s, c, counts in _draw_counts([len(m) for m in members], k, rng):
            ccounts[c, members[s]] = counts
        done += k
        yield np.take(ccounts, at_column, axis=1, out=buffer[:k] if reuse else None)


def cluster_counts(clusters: np.ndarray, cluster_strata: np.ndarray, *, n_boot: int, rng: np.random.Generator,
                   chunk: int = 64) -> Iterator[np.ndarray]:
    """Like :func:`stratified_counts` for clustered rows (several images of one patient or lesion):
    within each stratum of clusters, clusters are drawn with replacement as many times as the
    stratum has clusters, and every row counts as often as its cluster was drawn.

    ``clusters`` gives each row's cluster code ``0..C-1``; ``cluster_strata`` each cluster's stratum.
    """
    for block in cluster_count_rows(clusters, cluster_strata, n_boot=n_boot, rng=rng, chunk=chunk):
        yield block.T.astype(float)


def holm(p_values) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (``None`` entries are not in the
    family and stay ``None``): the adjusted p-value of the i-th smallest of m is
    ``max_{j <= i} min(1, (m - j + 1) p_(j))`` (Holm 1979), which controls the family-wise error."""
    idx = [i for i, p in enumerate(p_values) if p is not None and not np.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        out[i] = running
    return out


def percentile_ci(samples: np.ndarray, *, level: float = 0.95) -> tuple[float | None, float | None, int]:
    """Percentile interval of the defined (non-NaN) samples: (low, high, number defined)."""
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    if len(s) == 0:
        return None, None, 0
    a = (1 - level) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi), len(s)


def bootstrap_p_value(observed: float, samples: np.ndarray, *, null: float = 0.0) -> float | None:
    """Two-sided bootstrap test of ``statistic = null`` (Hall & Wilson 1991): centre the bootstrap
    distribution on the observed value and count resamples at least as far from it as the
    observed value is from the null. ``p = (1 + #{|s* - obs| >= |obs - null|}) / (1 + B)``."""
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    if len(s) == 0 or observed is None or np.isnan(observed):
        return None
    extreme = np.count_nonzero(np.abs(s - observed) >= abs(observed - null) - 1e-12)
    return float((1 + extreme) / (1 + len(s)))


def _midranks_of_sorted(v: np.ndarray) -> np.ndarray:
    """Midranks (1-based, ties share their mean rank: ``scipy.stats.rankdata(method="average")``) of
    values already in ascending order."""
    n = len(v)
    new = np.r_[True, v[1:] != v[:-1]] if n else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    return ((starts + ends + 1) / 2)[np.cumsum(new) - 1]


def delong_variance(scores, labels) -> tuple[float, float]:
    """AUROC and its DeLong (1988) variance, by the midrank formulation of Sun & Xu (2014). One sort
    gives all three midrankings (all rows, positives, negatives)."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    order = np.argsort(s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    ranks = np.empty(len(s))
    ranks[order] = _midranks_of_sorted(s_sorted)
    within = np.empty(len(s))  # each row's midrank among the rows of its own label
    within[order[y_sorted]] = _midranks_of_sorted(s_sorted[y_sorted])
    within[order[~y_sorted]] = _midranks_of_sorted(s_sorted[~y_sorted])
    v10 = (ranks[y] - within[y]) / n
    v01 = 1 - (ranks[~y] - within[~y]) / m
    auc = float(v10.mean())
    return auc, float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)


def delong_test(scores_a, labels_a, scores_b, labels_b) -> float | None:
    """Two-sided p-value of AUROC(a) = AUROC(b) for two independent samples (DeLong)."""
    a, va = delong_variance(scores_a, labels_a)
    b, vb = delong_variance(scores_b, labels_b)
    if np.isnan(va) or np.isnan(vb) or va + vb <= 0:
        return None
    from scipy import stats

    z = (a - b) / np.sqrt(va + vb)
    return float(2 * stats.norm.sf(abs(z)))
