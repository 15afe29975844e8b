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

__all__ = ["stratified_counts", "cluster_counts", "percentile_ci", "bootstrap_p_value", "delong_variance",
           "delong_test", "holm"]


def stratified_counts(strata: np.ndarray, *, n_boot: int, rng: np.random.Generator, chunk: int = 64
                      ) -> Iterator[np.ndarray]:
    """Yield count matrices ``(n_rows, k)`` (k <= ``chunk``, ``n_boot`` columns in all): within each
    stratum, rows drawn with replacement as many times as the stratum has rows."""
    strata = np.asarray(strata)
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


def cluster_counts(clusters: np.ndarray, cluster_strata: np.ndarray, *, n_boot: int, rng: np.random.Generator,
                   chunk: int = 64) -> Iterator[np.ndarray]:
    """Like :func:`stratified_counts` for clustered rows (several images of one patient or lesion):
    within each stratum of clusters, clusters are drawn with replacement as many times as the
    stratum has clusters, and every row counts as often as its cluster was drawn.

    ``clusters`` gives each row's cluster code ``0..C-1``; ``cluster_strata`` each cluster's stratum.
    """
    clusters = np.asarray(clusters)
    n = len(clusters)
    C = len(cluster_strata)
    members = [np.flatnonzero(np.asarray(cluster_strata) == s) for s in np.unique(cluster_strata)]
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        ccounts = np.zeros(C * k)
        col = np.arange(k)[:, None]
        for idx in members:
            draws = idx[rng.integers(0, len(idx), size=(k, len(idx)))]
            ccounts += np.bincount((draws * k + col).ravel(), minlength=C * k)
        done += k
        yield ccounts.reshape(C, k)[clusters]


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


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.rankdata(x, method="average")


def delong_variance(scores, labels) -> tuple[float, float]:
    """AUROC and its DeLong (1988) variance, by the midrank formulation of Sun & Xu (2014)."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    x, z = s[y], s[~y]
    m, n = len(x), len(z)
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    tz = _midranks(np.r_[x, z])
    v10 = (tz[:m] - _midranks(x)) / n
    v01 = 1 - (tz[m:] - _midranks(z)) / m
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
