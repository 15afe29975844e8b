"""Confidence intervals that keep their stated coverage at the sample sizes dermatology audits have.

Each function returns ``(low, high)`` (``None`` where no interval exists) and is named in the
audit JSON by the key of :data:`METHODS`. Which statistic uses which method is decided in
:mod:`._registry`; ``benchmarks/bench_coverage.py`` measures every choice by simulation with a
known truth.

Why not the percentile bootstrap everywhere:

- A proportion on 20 malignant images (a sensitivity) takes ~15 distinct values, and its
  percentile interval covers the truth ~83% of the time; Wilson's score interval ~95%.
- A group's AUROC at 20 positives: percentile ~92%; the logit-transformed DeLong interval ~95%.
- A gap between groups (max - min of group rates), the worst group, the ECE (a sum of absolute
  bin gaps) are extrema: the maximum of noisy estimates exceeds the maximum of the truths, so
  the bootstrap distribution sits above the truth and its percentile interval covered a zero gap
  0% of the time. :func:`extremum` builds the interval from the *centred* bootstrap noise of the
  candidates instead: a lower bound from the largest noise among the candidates that may be the
  maximum (which bounds the estimator's upward bias), an upper bound from the lowest noise among
  the candidates close enough to the observed maximum to be the true maximiser.
"""

from __future__ import annotations

from collections.abc import Sequence

import math

import numpy as np
from scipy import stats

__all__ = ["METHODS", "z_value", "wilson", "effective_size", "clopper_pearson", "FEW_EVENTS",
           "min_of_intervals", "mover_mean", "mover_difference", "mover_ratio",
           "logit_wald", "hanley_mcneil_variance", "logit_bootstrap", "logit_floored", "logit_auprc", "percentile", "extremum", "extremum_noise", "extremum_bounds", "pairwise",
           "EXTREMUM_KAPPA", "EXTREMUM_KAPPA_UP"]

#: interval method key -> one-line description with its reference (written to ``meta.ci_methods``)
METHODS: dict[str, str] = {
    "wilson": "Wilson score interval on the metric's count and denominator (Wilson 1927; Brown, Cai & DasGupta "
              "2001)",
    "wilson_effective": "Wilson score interval on an effective denominator n * binomial variance / bootstrap "
                        "variance (Kish design effect of the cluster bootstrap)",
    "clopper_pearson": "Clopper-Pearson exact interval (beta quantiles) on the metric's count and denominator, "
                       "used under 10 units in the denominator (independent rows, or the effective size of "
                       "clustered ones), where Wilson's coverage falls to 84-93% (Clopper & Pearson 1934; Brown, Cai & "
                       "DasGupta 2001 sec. 4); conservative, flagged few_events or few_clusters",
    "mover": "MOVER: the components' own intervals recovered into one for their mean, difference or ratio "
             "(Zou & Donner 2008; Donner & Zou 2012)",
    "logit_delong": "Wald interval on the logit scale with DeLong's variance (DeLong 1988; Pepe 2003 sec. 5.2); "
                    "with perfect separation, the Wilson lower bound on min(positives, negatives) pairs",
    "logit_bootstrap": "Wald interval on the logit scale with the bootstrap standard deviation of the logit; on "
                       "clustered rows times sqrt(C / (C - 1)) with a t on C - 1 df (C clusters of the smaller "
                       "class), and for an AUROC at least Hanley & McNeil's (1982) SD on the clusters of each class",
    "logit_auprc": "Wald interval on the logit scale with the bootstrap SD of the logit; under 30 positives, "
                   "the larger of that and the binomial SD 1 / sqrt(P AP (1 - AP)) (Boyd, Eng & Page 2013: the "
                   "bootstrap alone under-covers with few positives)",
    "logit_f1": "Wald interval on the logit scale with the bootstrap SD of the logit, at least the binomial SD "
                "1 / sqrt(d F1 (1 - F1)) on d = TP + (FP + FN) / 2 (F1 = TP / d); Wilson on d at F1 = 0 or 1",
    "percentile": "percentile bootstrap",
    "extremum": "recentred bootstrap for an extremum (max - min, min, sum of absolute values): lower bound from "
                "the largest centred noise among near-extreme candidates (within kappa bootstrap SDs of the "
                "observed extreme), upper bound from the lowest noise among those within 1 SD; each at (1 - level) / 2 "
                "(Hall & Miller 2010; Andrews & Soares 2010 for the candidate selection)",
}

#: a proportion on fewer units than this (its denominator, or the effective size of clustered rows) takes the
#: exact interval: Wilson's coverage at 1-6 units dips to 84-93% (sensitivity 0.84 on 1 or 3 malignant images)
FEW_EVENTS = 10

#: candidates within this many bootstrap SDs of the observed extreme may be the true extreme
EXTREMUM_KAPPA = 3.0
#: candidates within this many SDs of the observed extreme lend their noise to the upper bound
EXTREMUM_KAPPA_UP = 1.0


def z_value(level: float, df: float | None = None) -> float:
    """Two-sided critical value: normal, or Student's t with ``df`` degrees of freedom (few clusters)."""
    if df is not None and df >= 1:
        return float(stats.t.ppf(0.5 + level / 2, df))
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson(k, n, *, level: float = 0.95, df: float | None = None) -> tuple[float | None, float | None]:
    """Wilson score interval for ``k`` successes of ``n`` (``n`` may be fractional: an effective
    size; then ``df``, the number of clusters less one, takes a t critical value)."""
    k, n = float(k), float(n)
    if not n > 0:
        return None, None
    z = z_value(level, df)
    p = min(max(k / n, 0.0), 1.0)
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, float(c - h)), min(1.0, float(c + h))


def effective_size(value: float, n: float, samples: np.ndarray, *, clusters: int | None = None) -> float:
    """A proportion's effective denominator (the audit's ``wilson_effective`` interval is
    :func:`wilson` on it, with a t on ``clusters - 1`` df for clustered rows): ``n`` shrunk by the design effect
    ``var* / (p (1 - p) / n)`` of a (cluster) bootstrap (clustered rows carry less information
    than ``n`` independent ones); with ``clusters``, the bootstrap variance of a mean of C units
    is first scaled by ``C / (C - 1)`` (it is that much too small). When the value is 0 or 1 the
    bootstrap shows no variance to measure a design effect with: ``n`` for independent rows, and
    the ``clusters`` themselves for clustered ones (three lesions all detected are three
    observations, not the 20 images they were photographed in)."""
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    n_eff = float(n)
    if clusters is not None and not 0 < value < 1:
        return float(min(n, max(clusters, 1)))
    if len(s) > 1 and 0 < value < 1:
        var = s.var(ddof=1)
        if clusters is not None and clusters > 1:
            var *= clusters / (clusters - 1)
        deff = var / (value * (1 - value) / n)
        n_eff = n / max(deff, 1.0)
    return n_eff


def clopper_pearson(k, n, *, level: float = 0.95) -> tuple[float | None, float | None]:
    """Clopper & Pearson's exact interval for ``k`` successes of ``n``: the beta quantiles
    ``B_{a}(k, n - k + 1)`` and ``B_{1-a}(k + 1, n - k)``, ``a = (1 - level) / 2``, which cover at
    least ``level`` for every true proportion and every ``n`` (Wilson's does on average only, and
    falls to 84% at one malignant image of a sensitivity 0.84). ``k`` and ``n`` may be fractional
    (an effective size)."""
    k, n = float(k), float(n)
    if not n > 0:
        return None, None
    k = min(max(k, 0.0), n)
    a = (1 - level) / 2
    lo = 0.0 if k <= 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k >= n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def mover_mean(values: Sequence[float], intervals: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Interval for the mean of independent estimates from their own intervals (MOVER)."""
    if any(None in i for i in intervals):
        return None, None
    v = np.asarray(values, float)
    lo = np.array([i[0] for i in intervals], float)
    hi = np.array([i[1] for i in intervals], float)
    m = v.mean()
    k = len(v)
    return float(m - np.sqrt(((v - lo) ** 2).sum()) / k), float(m + np.sqrt(((hi - v) ** 2).sum()) / k)


def mover_difference(a: float, ia: tuple[float, float], b: float, ib: tuple[float, float]) -> tuple[float, float]:
    """Interval for ``a - b`` of independent estimates from their intervals (MOVER-D)."""
    d = a - b
    if None in (*ia, *ib):
        return None, None
    return (float(d - np.sqrt((a - ia[0]) ** 2 + (ib[1] - b) ** 2)),
            float(d + np.sqrt((ia[1] - a) ** 2 + (b - ib[0]) ** 2)))


def mover_ratio(a: float, ia: tuple[float, float], b: float, ib: tuple[float, float]
                ) -> tuple[float | None, float | None]:
    """Interval for ``a / b`` of independent positive estimates (MOVER-R, Donner & Zou 2012);
    ``None`` bounds where ``b``'s interval reaches 0."""
    l1, u1 = ia
    l2, u2 = ib
    if None in (l1, u1, l2, u2) or not (b > 0 and l2 > 0 and a >= 0):
        return None, None
    ab = a * b
    disc_lo = ab * ab - l1 * u2 * (2 * a - l1) * (2 * b - u2)
    disc_hi = ab * ab - u1 * l2 * (2 * a - u1) * (2 * b - l2)
    den_lo = u2 * (2 * b - u2)
    den_hi = l2 * (2 * b - l2)
    lo = (ab - np.sqrt(max(disc_lo, 0.0))) / den_lo if den_lo > 0 else None
    hi = (ab + np.sqrt(max(disc_hi, 0.0))) / den_hi if den_hi > 0 else None
    return (None if lo is None else max(0.0, float(lo))), (None if hi is None else float(hi))


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit_wald(value: float, se: float, *, level: float = 0.95, df: float | None = None) -> tuple[float, float]:
    """``expit(logit(v) +- z se_logit)`` for ``0 < v < 1`` (``se`` on the logit scale; ``z`` from
    Student's t on ``df`` degrees of freedom when the variance rests on few units)."""
    z = z_value(level, df)
    lv = np.log(value / (1 - value))
    return float(_expit(lv - z * se)), float(_expit(lv + z * se))


def logit_delong(auc: float, var: float, positives: int, negatives: int, *, level: float = 0.95
                 ) -> tuple[float | None, float | None]:
    """AUROC interval: logit-scale Wald with DeLong's variance (times ``m / (m - 1)``,
    ``m = min(P, N)``) and a t critical value on ``m - 1`` degrees of freedom (the variance's smaller component is estimated from that
    many placement values: with 10-20 positives against hundreds of negatives the normal one
    covered 89-92%); at AUROC 1 (0) the Wilson bound of ``min(P, N)`` concordant (discordant)
    comparisons, since the variance vanishes there."""
    if np.isnan(auc):
        return None, None
    if not np.isfinite(var):  # one malignant or one benign image: DeLong's variance needs two of each
        var = hanley_mcneil_variance(auc, positives, negatives)
    if 0 < auc < 1 and var > 0:
        df = min(positives, negatives) - 1
        if df >= 1:  # the smaller class's placement variance, ddof 1 of m values, is still biased low
            var *= (df + 1) / df
        return logit_wald(auc, np.sqrt(var) / (auc * (1 - auc)), level=level, df=df if df >= 1 else None)
    m = min(positives, negatives)
    lo, hi = wilson(m if auc >= 0.5 else 0, m, level=level)
    return (lo, 1.0) if auc >= 0.5 else (0.0, hi)


def hanley_mcneil_variance(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil's (1982) AUROC variance from the AUROC and the class sizes alone:
    defined for a single malignant (or benign) image, where DeLong's needs two of each class."""
    a, m, n = float(auc), int(positives), int(negatives)
    if m < 1 or n < 1:
        return float("nan")
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return float((a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n))


def logit_bootstrap(value: float, samples: np.ndarray, *, level: float = 0.95, clusters: int | None = None,
                    min_sd: float | None = None) -> tuple[float | None, float | None]:
    """Logit-scale Wald interval with the bootstrap SD of ``logit(samples)`` (estimated from their
    16th-84th percentiles, robust to resamples at 0 or 1); the percentile interval when the
    value sits at 0 or 1 (no logit). With ``clusters`` (the independent units behind a cluster
    bootstrap), the small-sample correction of a bootstrap over few units: the SD scaled by
    ``sqrt(C / (C - 1))`` and a t critical value on ``C - 1`` degrees of freedom. ``min_sd``: a
    floor on the logit SD (a bootstrap over a handful of clusters can show far less noise than
    the statistic has)."""
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    if np.isnan(value) or len(s) < 2:
        return None, None
    if not 0 < value < 1:
        return percentile(s, level=level)
    with np.errstate(divide="ignore"):
        L = np.log(s / (1 - s))  # +-inf at 0 and 1: they fall in the tails, which the SD below ignores
    q16, q84 = np.quantile(L, [0.158655, 0.841345], method="inverted_cdf")  # no interpolation between infs
    sd = (q84 - q16) / 2  # robust: a few resamples at 0 or 1 (logit +-inf) would swamp the plain SD
    if not np.isfinite(sd):
        return percentile(s, level=level)
    df = None
    if clusters is not None and clusters > 1:
        sd, df = float(sd) * math.sqrt(clusters / (clusters - 1)), clusters - 1
    if min_sd is not None and np.isfinite(min_sd):
        sd = max(float(sd), float(min_sd))
    return logit_wald(value, float(sd), level=level, df=df)


#: under this many positives the bootstrap SD of average precision is floored (:func:`logit_auprc`):
#: at AUROC 0.99 with 30 positives the bootstrap alone covered 74-83%
AUPRC_FEW_POSITIVES = 100


def logit_floored(value: float, samples: np.ndarray, n: float, *, level: float = 0.95
                  ) -> tuple[float | None, float | None]:
    """:func:`logit_bootstrap` with its logit SD at least the binomial one, ``1 / sqrt(n v (1 - v))``,
    of a proportion ``v`` on ``n`` units; at ``v`` = 0 or 1 (where the resamples may not move at
    all) the Wilson interval on ``n``. For statistics that behave like a proportion of a few
    units but take too few distinct bootstrap values to show it (AP on a dozen positives; F1 on
    a handful of malignant images)."""
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    if np.isnan(value) or not n > 0:
        return logit_bootstrap(value, samples, level=level)
    if value >= 1 or value <= 0:
        return wilson(value * n, n, level=level)
    if len(s) < 2:
        return None, None
    with np.errstate(divide="ignore"):
        L = np.log(s / (1 - s))
    q16, q84 = np.quantile(L, [0.158655, 0.841345], method="inverted_cdf")
    sd = (q84 - q16) / 2
    floor = 1.0 / math.sqrt(n * value * (1 - value))
    return logit_wald(value, float(max(sd, floor)) if np.isfinite(sd) else floor, level=level)


def logit_auprc(value: float, samples: np.ndarray, positives: float, *, level: float = 0.95
                ) -> tuple[float | None, float | None]:
    """Average precision's interval: :func:`logit_floored` on the ``positives`` (Boyd, Eng &
    Page 2013) when they are fewer than :data:`AUPRC_FEW_POSITIVES`, else :func:`logit_bootstrap`:
    a step-wise AP over a dozen positives has too few distinct bootstrap values, and the bootstrap
    alone covered 90% there, 74-83% at AUROC 0.99 with 30 positives (docs/audit-json.md). At
    AP = 1, the Wilson lower bound on P of P (a resampled AP is 1 too)."""
    if not np.isnan(value) and value >= 1 and positives > 0:
        return wilson(positives, positives, level=level)[0], 1.0
    if not 0 < positives < AUPRC_FEW_POSITIVES:
        return logit_bootstrap(value, samples, level=level)
    return logit_floored(value, samples, positives, level=level)


def percentile(samples: np.ndarray, *, level: float = 0.95) -> tuple[float | None, float | None]:
    """Percentile interval of the defined (non-NaN) samples."""
    s = np.asarray(samples, float)
    s = s[~np.isnan(s)]
    if len(s) == 0:
        return None, None
    a = (1 - level) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)


def extremum_noise(v: np.ndarray, S: np.ndarray, *, kappa: float = EXTREMUM_KAPPA
                   ) -> tuple[float, np.ndarray, np.ndarray] | None:
    """One term of :func:`extremum`: ``(max_p v_p, lower-bound noise, upper-bound noise)``, the
    noises per resample (``B``): the largest centred noise among the near-maximal candidates, and
    the observed maximiser's centred noise. None when no candidate is defined."""
    v = np.asarray(v, float)
    S = np.asarray(S, float).reshape(-1, len(v))
    ok = ~np.isnan(v)
    if not ok.any():
        return None
    v, S = v[ok], S[:, ok]
    m = int(np.argmax(v))
    E = S - v
    with np.errstate(invalid="ignore"):
        sd = np.nanstd(S[:, [m]] - S, axis=0, ddof=1) if len(S) > 1 else np.zeros(len(v))
    slack = v[m] - v
    sd = np.where(sd > 0, sd, 0.0)
    near = (slack <= 0) | (slack <= kappa * sd)
    # the upper bound needs the noise of the *true* maximiser, which may be a small noisy group that
    # came out just below the observed one: the lowest noise among the candidates within
    # EXTREMUM_KAPPA_UP SDs (the observed maximiser alone missed from both sides with a group of 5)
    likely = (slack <= 0) | (slack <= EXTREMUM_KAPPA_UP * sd)
    return float(v[m]), E[:, near].max(1), E[:, likely].min(1)


def extremum_bounds(est: float, low_noise: np.ndarray, up_noise: np.ndarray, *, level: float = 0.95,
                    bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float | None, float | None]:
    """``(est - q_{1-a}(low_noise), est - q_a(up_noise))`` clipped to ``bounds``; resamples with an
    undefined noise are dropped."""
    a = (1 - level) / 2
    low_noise = np.asarray(low_noise, float)
    up_noise = np.asarray(up_noise, float)
    keep = ~(np.isnan(low_noise) | np.isnan(up_noise))
    if keep.sum() < 2:
        return None, None
    lo = est - float(np.quantile(low_noise[keep], 1 - a))
    hi = est - float(np.quantile(up_noise[keep], a))
    lo_b, hi_b = bounds
    return float(min(max(lo, lo_b), hi_b)), float(max(min(hi, hi_b), lo_b))


def extremum(terms: Sequence[tuple[np.ndarray, np.ndarray]], *, level: float = 0.95,
             kappa: float = EXTREMUM_KAPPA, weights: Sequence[float] | None = None,
             bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float | None, float | None]:
    """Interval for ``sum_j w_j max_p theta_jp`` from point values and bootstrap samples.

    ``terms`` holds, per term ``j``, the candidates' point values ``v`` (``p``) and bootstrap
    samples ``S`` (``B x p``); a max-minus-min gap is one term whose candidates are the ordered
    pairwise differences, a minimum is ``-max(-theta)``, an ECE is one term per bin with the
    candidates ``(g, -g)``. With ``e*_p = S_p - v_p`` the centred noise,

    - lower bound: ``est - q_{1-a}(sum_j w_j max_{p in C_j} e*_p)``, ``C_j`` the candidates within
      ``kappa`` bootstrap SDs of the observed maximum (``est - true <= sum_j max_p e_p`` always);
    - upper bound: ``est - q_a(sum_j w_j min_{p in L_j} e*_p)``, ``L_j`` the candidates within
      :data:`EXTREMUM_KAPPA_UP` SDs of the observed maximum, which hold the true maximiser ``p*``
      unless it came out far below (``est >= sum_j w_j (theta_{p*} + e_{p*})``).

    Both are one-sided at ``a = (1 - level) / 2``; the result is clipped to ``bounds``.
    Candidates with NaN values are ignored; resamples where a used candidate is undefined are
    dropped.
    """
    w = np.ones(len(terms)) if weights is None else np.asarray(weights, float)
    est, low, up = 0.0, 0.0, 0.0
    for wj, (v, S) in zip(w, terms):
        t = extremum_noise(v, S, kappa=kappa)
        if t is None:
            return None, None
        est += wj * t[0]
        low = low + wj * t[1]
        up = up + wj * t[2]
    return extremum_bounds(est, low, up, level=level, bounds=bounds)


def pairwise(v: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairwise differences ``theta_i - theta_j`` (i != j) of point values and samples:
    the candidates of a max-minus-min gap."""
    k = len(v)
    i, j = np.where(~np.eye(k, dtype=bool))
    return np.asarray(v)[i] - np.asarray(v)[j], np.asarray(S)[:, i] - np.asarray(S)[:, j]


def min_of_intervals(lows: Sequence[float], highs: Sequence[float]) -> tuple[float | None, float | None]:
    """Interval for ``min_g theta_g`` of independent groups from their own intervals: ``(min_g lo_g,
    min_g hi_g)``. With each ``lo_g`` a one-sided ``a`` lower bound and each ``hi_g`` a one-sided
    ``a / k`` upper bound (Bonferroni over the ``k`` groups), it misses with probability at most
    ``2 a``: the lower bound only if the minimising group's own bound misses, the upper only if some
    group's upper bound falls below its truth. For a worst group whose groups' estimates are
    biased (moment-corrected types), where the recentred :func:`extremum` assumes they are not."""
    lo = [x for x in lows if x is not None]
    hi = [x for x in highs if x is not None]
    if not lo or len(hi) < len(lo):
        return None, None
    return float(min(lo)), float(min(hi))
