"""Binary classification metrics on weighted rows, vectorised over many weightings at once.

A bootstrap resample is a vector of row counts (how often each row was drawn), so every
metric here takes weights for many weightings at once and returns one value per weighting.
:func:`weighted_metrics` takes a weight matrix ``W`` of shape ``(n_rows, n_weightings)``;
``W = ones((n, 1))`` gives the metric on the rows as they are, and the tests check it against
scikit-learn. The audit's engine calls the same computation on count *rows* ``(k, n)`` (one
resample per row, contiguous), split by label: :meth:`SortedRows.split`, then
:func:`count_sums` (everything that adds up over disjoint sets of rows: totals, the threshold
cells, the calibration bins' sums), :func:`rank_metrics` (what needs the rows' score order:
AUROC, AUPRC, the ROC curve) and :func:`rate_metrics` (the rates from the sums).

Rows are sorted by score once and split into the negative and the positive rows, each in
ascending score order. With ``Cn[j]`` the weight of the first ``j`` negative rows and ``Cp[j]``
that of the first ``j`` positive rows (running sums; integer counts keep them exact and fast),

    AUROC = sum_i Wp_i (Cn[lo_i] + Cn[hi_i]) / 2 / (P N)

where ``lo_i`` / ``hi_i`` count the negative rows scored below / at or below positive row ``i``
(ties count one half, as in ``roc_auc_score``): one gather at the positive rows and one dot
product per weighting. Average precision follows scikit-learn's step-wise definition
(``average_precision_score``): each positive row's weight times the precision at the threshold
of its tie block, ``(P - Cp[first_i]) / (P - Cp[first_i] + N - Cn[lo_i])``.

The ROC curve is evaluated on a fixed FPR grid ``g_i = i / (G - 1)`` as a step function: the TPR
at ``g`` is the largest TPR of any threshold (a distinct score, ``score >= t`` called positive,
so a tie block is all in or all out; ``sklearn.metrics.roc_curve``) whose FPR is ``<= g``. The
threshold that realises it stops just above the tie block of the highest negative row ``r``
whose "negative weight at or above r" exceeds ``g N``; these rows form a prefix of the negative
rows, whose length a binary search on ``Cn`` finds (``G`` searches per weighting, not a pass
over the rows). The ECE and the calibration bins share one binning, :func:`bin_index`
(``edges[b] <= score < edges[b + 1]``, the last bin closed); the rows of a bin are a run of
each sorted label's rows, so a bin's weighted score sum is one dot product per run.
Undefined values (one-class AUROC, PPV with nothing predicted positive) are ``NaN`` here and
become ``null`` with a reason in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fairskin.audits.stats._registry import METRICS, THRESHOLD_METRICS

__all__ = ["METRICS", "THRESHOLD_METRICS", "ROC_GRID_POINTS", "SortedRows", "add_sums", "bin_edges", "bin_index",
           "calibration_bins", "count_rows", "count_sums", "metrics_from_counts", "rank_metrics", "rate_metrics",
           "roc_grid", "running_sums", "weighted_metrics", "weighted_roc", "point_metrics"]

#: points of the fixed FPR grid the ROC curves are given on (0, 0.01, ..., 1)
ROC_GRID_POINTS = 101
#: a FPR within this of a grid point counts as on it (FPRs are ratios of counts, far coarser)
_FPR_TOL = 1e-9


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def bin_edges(n_bins: int) -> np.ndarray:
    """Edges of ``n_bins`` equal-width bins on [0, 1]: ``k / n_bins`` (exact decimals, 0.3 not
    0.30000000000000004)."""
    return np.arange(n_bins + 1) / n_bins


def bin_index(scores, n_bins: int) -> np.ndarray:
    """Bin of each score: ``b`` with ``edges[b] <= score < edges[b + 1]``, the last bin closed
    (scores outside [0, 1] go to the first / last bin). The one binning of the ECE and the
    calibration bins."""
    s = np.asarray(scores, float)
    return np.clip(np.searchsorted(bin_edges(n_bins), s, side="right") - 1, 0, n_bins - 1)


def calibration_bins(scores, labels, n_bins: int = 10) -> dict[str, list]:
    """Reliability diagram on ``n_bins`` equal-width bins: ``bin_edges``, and per bin the mean
    score, the share of positive rows and the number of rows (``None`` means for empty bins).
    ``sum(n_b / n * abs(frac_positive_b - mean_score_b))`` is the ECE of :data:`METRICS`."""
    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    b = bin_index(s, n_bins)
    n = np.bincount(b, minlength=n_bins)
    tot = np.bincount(b, weights=s, minlength=n_bins)
    pos = np.bincount(b, weights=y.astype(float), minlength=n_bins)
    return {"bin_edges": [float(e) for e in bin_edges(n_bins)],
            "mean_score": [float(t / c) if c else None for t, c in zip(tot, n)],
            "frac_positive": [float(p / c) if c else None for p, c in zip(pos, n)],
            "n": [int(c) for c in n]}


def roc_grid(points: int = ROC_GRID_POINTS) -> np.ndarray:
    """The fixed FPR grid of the ROC curves: ``i / (points - 1)``."""
    return np.arange(points) / (points - 1)


def _columns(idx: np.ndarray) -> np.ndarray | slice:
    """``idx`` as a slice when it is a run of consecutive positions (a view instead of a gather)."""
    if len(idx) == 0:
        return slice(0, 0)
    if idx[-1] - idx[0] == len(idx) - 1 and (len(idx) == 1 or bool((np.diff(idx) == 1).all())):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


@dataclass
class SortedRows:
    """One set of rows (a skin-type group) scored by one model, sorted once for all weightings.

    ``index`` selects the rows from the full arrays (and the columns of a full count matrix), in
    ascending score order; the negative and the positive rows are kept apart, each in ascending
    score order, with what the metrics need to know of their interleaving.
    """

    index: np.ndarray  # positions of the rows in the full arrays, in ascending score order
    neg_rows: np.ndarray  # positions in ``index`` of the negative rows
    pos_rows: np.ndarray  # positions in ``index`` of the positive rows
    neg_scores: np.ndarray = field(repr=False)  # scores of the negative rows (ascending)
    pos_scores: np.ndarray = field(repr=False)  # scores of the positive rows (ascending)
    lo: np.ndarray = field(repr=False)  # per positive row: negative rows scored below it
    tied: np.ndarray = field(repr=False)  # positive rows that tie with a negative row
    hi_tied: np.ndarray = field(repr=False)  # for those: negative rows scored at or below them
    #: per positive row: positive rows scored below it (its tie block's start); None when no two positives tie
    pos_first: np.ndarray | None = field(repr=False)
    neg_through: np.ndarray = field(repr=False)  # per negative row: positive rows scored at or below it
    neg_below_threshold: int  # negative rows scored below the threshold
    pos_below_threshold: int  # positive rows scored below the threshold
    neg_bins: np.ndarray = field(repr=False)  # (n_bins + 1,): first negative row of each calibration bin, then the end
    pos_bins: np.ndarray = field(repr=False)  # the same for the positive rows
    neg_at: np.ndarray | slice = field(repr=False)  # columns of the negative rows in a full count matrix
    pos_at: np.ndarray | slice = field(repr=False)  # columns of the positive rows

    @classmethod
    def build(cls, index: np.ndarray, scores: np.ndarray, labels: np.ndarray, *, threshold: float,
              ece_bins: int = 10) -> "SortedRows":
        index = np.asarray(index, np.intp)
        s = np.asarray(scores, float)[index]
        order = np.argsort(s, kind="mergesort")
        s = s[order]
        y = np.asarray(labels, bool)[index][order]
        index = index[order]
        neg_rows, pos_rows = np.flatnonzero(~y), np.flatnonzero(y)
        sn, sp = s[neg_rows], s[pos_rows]
        lo = np.searchsorted(sn, sp, side="left")
        hi = np.searchsorted(sn, sp, side="right")
        tied = np.flatnonzero(hi != lo)
        first = np.searchsorted(sp, sp, side="left")
        edges = np.arange(ece_bins + 1)
        return cls(index=index, neg_rows=neg_rows, pos_rows=pos_rows, neg_scores=sn, pos_scores=sp, lo=lo,
                   tied=tied, hi_tied=hi[tied],
                   pos_first=None if bool((first == np.arange(len(sp))).all()) else first,
                   neg_through=np.searchsorted(sp, sn, side="right"),
                   neg_below_threshold=int(np.searchsorted(sn, threshold, side="left")),
                   pos_below_threshold=int(np.searchsorted(sp, threshold, side="left")),
                   neg_bins=np.searchsorted(bin_index(sn, ece_bins), edges, side="left"),
                   pos_bins=np.searchsorted(bin_index(sp, ece_bins), edges, side="left"),
                   neg_at=_columns(index[neg_rows]), pos_at=_columns(index[pos_rows]))

    @property
    def n(self) -> int:
        return len(self.index)

    def split(self, counts: np.ndarray, *, scratch: "Scratch | None" = None) -> tuple[np.ndarray, np.ndarray]:
        """The negative and the positive rows' columns of a full count matrix ``(k, n_all)`` (one
        weighting per row), each in ascending score order: views where the rows are consecutive
        columns, else gathered (into ``scratch``'s arrays when given)."""
        scratch = scratch or _fresh
        return tuple(counts[:, at] if isinstance(at, slice) else
                     np.take(counts, at, axis=1, out=scratch(role, (counts.shape[0], len(at)), counts.dtype))
                     for role, at in (("neg", self.neg_at), ("pos", self.pos_at)))


class Scratch:
    """Work arrays reused from one bootstrap block to the next: the blocks have the same shapes, and
    a fresh large array costs its page faults again every time (first touch), which at a million
    rows takes longer than the arithmetic done in it. ``scratch(role, shape, dtype)`` returns an
    array that stays valid until the same role is asked for again."""

    def __init__(self):
        self._buffers: dict = {}

    def __call__(self, role: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = int(np.prod(shape))
        buf = self._buffers.get((role, dtype))
        if buf is None or buf.size < size:
            buf = self._buffers[(role, dtype)] = np.empty(size, dtype)
        return buf[:size].reshape(shape)


def _fresh(role: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.empty(shape, dtype)


def count_rows(W: np.ndarray) -> np.ndarray:
    """A weight matrix ``(n_rows, k)`` as count rows ``(k, n_rows)``: int32 when every weight is a
    whole number >= 0 and every weighting's total fits (running sums of integers are exact and
    vectorise), else float64."""
    W = np.asarray(W)
    if W.dtype.kind in "iub" or (W.size and np.array_equal(W, np.floor(W))):
        if W.size == 0 or (W.min() >= 0 and W.sum(0, dtype=np.float64).max() < 2 ** 31):
            return np.ascontiguousarray(W.T, dtype=np.int32)
        if W.min() >= 0 and W.sum(0, dtype=np.float64).max() < 2 ** 62:
            return np.ascontiguousarray(W.T, dtype=np.int64)
    return np.ascontiguousarray(W.T, dtype=np.float64)


def running_sums(W: np.ndarray, *, scratch: Scratch | None = None, role: str = "sums") -> np.ndarray:
    """``C[:, j]``: weight of the first ``j`` columns of each row of ``W`` ``(k, m)``; ``(k, m + 1)``
    (in ``scratch``'s array for ``role`` when given)."""
    k, m = W.shape
    dt = W.dtype if W.dtype.kind == "i" else np.dtype(np.float64)
    C = (scratch or _fresh)(role, (k, m + 1), dt)
    C[:, 0] = 0
    np.cumsum(W, axis=1, dtype=dt, out=C[:, 1:])
    return C


def count_sums(rows: SortedRows, Wn: np.ndarray, Wp: np.ndarray, Cn: np.ndarray, Cp: np.ndarray
               ) -> dict[str, np.ndarray]:
    """What adds up over disjoint sets of rows, per weighting: the weight of the positive (``P``)
    and negative (``N``) rows, of the true and false positives (``TP``, ``FP``) and each
    calibration bin's ``sum w (score - label)`` (``bin_gap``, ``(k, n_bins)``). ``Wn``/``Wp``: the
    negative / positive rows' weights (:meth:`SortedRows.split`), ``Cn``/``Cp`` their
    :func:`running_sums`."""
    P, N = Cp[:, -1], Cn[:, -1]
    n_bins = len(rows.neg_bins) - 1
    gap = np.zeros((Cn.shape[0], n_bins))
    for b in range(n_bins):
        a, e = rows.neg_bins[b], rows.neg_bins[b + 1]
        if e > a:
            gap[:, b] += np.einsum("ij,j->i", Wn[:, a:e], rows.neg_scores[a:e])
        a, e = rows.pos_bins[b], rows.pos_bins[b + 1]
        if e > a:
            gap[:, b] += np.einsum("ij,j->i", Wp[:, a:e], rows.pos_scores[a:e]) - (Cp[:, e] - Cp[:, a])
    return {"P": P.copy(), "N": N.copy(), "TP": P - Cp[:, rows.pos_below_threshold],
            "FP": N - Cn[:, rows.neg_below_threshold], "bin_gap": gap}


def add_sums(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """:func:`count_sums` of the union of disjoint sets of rows."""
    out = dict(parts[0])
    for p in parts[1:]:
        out = {name: out[name] + v for name, v in p.items()}
    return out


def rate_metrics(sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The threshold metrics (each registered metric's ``from_counts``), the ECE and the calibration
    bins' signed gaps (``ece_bins``, ``(k, n_bins)``: each bin's share x (mean score - share
    malignant)) from :func:`count_sums`."""
    P, N, TP, FP = (np.asarray(sums[x], float) for x in ("P", "N", "TP", "FP"))
    counts = {"tp": TP, "fp": FP, "tn": N - FP, "fn": P - TP}
    bins = _div(sums["bin_gap"], (P + N)[:, None])
    out = {name: m.from_counts(counts) for name, m in THRESHOLD_METRICS.items()}
    out.update(ece=np.abs(bins).sum(1), ece_bins=bins)
    return out


def rank_metrics(rows: SortedRows, Wp: np.ndarray, Cn: np.ndarray, Cp: np.ndarray, *, roc_points: int = 0,
                 scratch: Scratch | None = None) -> dict[str, np.ndarray]:
    """AUROC, AUPRC and (with ``roc_points``) the TPR on the FPR grid (``roc_tpr``, ``(k, points)``)
    of each weighting, from the positive rows' weights and both labels' :func:`running_sums`
    (work arrays from ``scratch`` when given)."""
    scratch = scratch or _fresh
    exact = Cn.dtype.kind == "i"
    acc = np.int64 if exact else np.float64
    P, N = Cp[:, -1], Cn[:, -1]
    Pf, Nf = P.astype(float), N.astype(float)
    shape = Wp.shape
    g = np.take(Cn, rows.lo, axis=1, out=scratch("below", shape, Cn.dtype))  # negative weight below each positive
    twice = 2 * np.einsum("ij,ij->i", Wp, g, dtype=acc)
    if len(rows.tied):  # a tied negative counts one half
        twice += np.einsum("ij,ij->i", Wp[:, rows.tied], np.take(Cn, rows.hi_tied, axis=1) - g[:, rows.tied],
                           dtype=acc)
    auroc = _div(twice / 2, Pf * Nf)
    # precision at each positive row's threshold (its tie block and everything above called positive)
    num = np.subtract(P[:, None], Cp[:, :-1] if rows.pos_first is None else np.take(Cp, rows.pos_first, axis=1),
                      out=scratch("at_or_above", shape, Cn.dtype))
    den = np.subtract(N[:, None], g, out=g)
    den += num
    precision = scratch("precision", shape, np.float64)
    if exact:  # den is 0 only where num is: a weightless tail, precision 0 as in nan_to_num
        np.maximum(den, 1, out=den)
        np.divide(num, den, out=precision)
    else:
        precision[...] = 0.0
        np.divide(num, den, out=precision, where=den > 0)
    # no benign image: every precision is 1 whatever the scores, so the AUPRC says nothing (undefined, as the AUROC)
    auprc = np.where(Nf > 0, _div(np.einsum("ij,ij->i", precision, Wp), Pf), np.nan)
    out = {"auroc": auroc, "auprc": auprc}
    if roc_points:
        out["roc_tpr"] = _roc_tpr(rows, Cn, Cp, roc_points)
    return out


def metrics_from_counts(rows: SortedRows, Wn: np.ndarray, Wp: np.ndarray, *, roc_points: int = 0
                        ) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` (and ``ece_bins``, ``roc_tpr``) from the negative and positive
    rows' weights ``(k, m)`` (:meth:`SortedRows.split`)."""
    Cn, Cp = running_sums(Wn), running_sums(Wp)
    rates = rate_metrics(count_sums(rows, Wn, Wp, Cn, Cp))
    ranks = rank_metrics(rows, Wp, Cn, Cp, roc_points=roc_points)
    out = {m: ranks[m] if m in ranks else rates[m] for m in METRICS}
    out["ece_bins"] = rates["ece_bins"]
    if roc_points:
        out["roc_tpr"] = ranks["roc_tpr"]
    return out


def weighted_metrics(rows: SortedRows, W: np.ndarray, *, roc_points: int = 0) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each column of ``W``.

    ``W`` has shape ``(rows.n, k)``: row ``i`` holds the weights of ``rows.index[i]`` (rows in
    ascending score order) in each of ``k`` weightings. Returns metric name -> ``k`` values;
    ``"ece_bins"``, shape ``(k, n_bins)``: each bin's ``share x (mean score - share malignant)``
    (the ECE is the sum of their absolute values); with ``roc_points > 0`` also ``"roc_tpr"``,
    shape ``(k, roc_points)``: the TPR on the grid :func:`roc_grid` of each weighting (see
    :func:`weighted_roc`).
    """
    Wt = count_rows(W)
    return metrics_from_counts(rows, Wt[:, rows.neg_rows], Wt[:, rows.pos_rows], roc_points=roc_points)


def _roc_tpr(rows: SortedRows, Cn: np.ndarray, Cp: np.ndarray, points: int) -> np.ndarray:
    """TPR at the grid points for each weighting, ``(k, points)``, from the :func:`running_sums` of the
    negative (``Cn``) and positive (``Cp``) rows' weights.

    A negative row ``j`` with ``F_j = Cn[j]`` negative weight before it must stay below the
    threshold at grid point ``g_i`` when ``N - F_j > g_i N`` (plus a 1e-9 tolerance), i.e. for
    ``i <= G - 2 - q_j`` with ``q_j = floor((G - 1) (F_j / N + tol))``; ``F_j`` grows with ``j``,
    so the rows that must stay out at ``g_i`` are the first ``c_i = #{j: q_j <= G - 2 - i}``
    negative rows (a binary search per grid point), and the threshold sits just above the tie
    block of the ``c_i``-th.
    """
    k, nn = Cn.shape[0], Cn.shape[1] - 1
    if nn == 0 or Cp.shape[1] == 1:
        return np.full((k, points), np.nan)
    P, N = Cp[:, -1], Cn[:, -1]
    scale = ((points - 1) / np.where(N > 0, N, 1.0))[:, None]
    tol = _FPR_TOL * (points - 1)
    bound = np.arange(1, points, dtype=float)  # q_j <= m  <=>  x_j < m + 1
    r = np.arange(k)[:, None]
    lo = np.zeros((k, points - 1), np.intp)
    hi = np.full((k, points - 1), nn, np.intp)
    for _ in range(int(nn).bit_length() + 1):  # bisection: the first j with x_j >= m + 1
        mid = (lo + hi) >> 1
        stays_out = (Cn[r, mid] * scale + tol) < bound
        open_ = lo < hi
        np.copyto(lo, mid + 1, where=stays_out & open_)
        np.copyto(hi, mid, where=~stays_out & open_)
    c = np.zeros((k, points), np.intp)
    c[:, :-1] = lo[:, ::-1]  # c_i = count for m = G - 2 - i; c_{G-1} = 0 (FPR 1: all in)
    through = np.r_[0, rows.neg_through]
    tp = P[:, None] - Cp[r, through[c]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(((P > 0) & (N > 0))[:, None], tp / np.where(P > 0, P, 1.0)[:, None], np.nan)


def weighted_roc(rows: SortedRows, W: np.ndarray, *, points: int = ROC_GRID_POINTS) -> np.ndarray:
    """TPR on the FPR grid :func:`roc_grid` for each column of ``W`` (shape ``(k, points)``; NaN
    for a weighting without positive or negative weight). The TPR at grid point ``g`` is the
    ROC step function's value: the largest TPR of a threshold whose FPR is ``<= g`` (what
    ``sklearn.metrics.roc_curve`` gives, read as a step function)."""
    Wt = count_rows(W)
    return _roc_tpr(rows, running_sums(Wt[:, rows.neg_rows]), running_sums(Wt[:, rows.pos_rows]), points)


def point_metrics(scores, labels, *, threshold: float = 0.5, ece_bins: int = 10) -> dict[str, float]:
    """Every metric on the rows as given (``nan`` where undefined)."""
    s = np.asarray(scores, float)
    rows = SortedRows.build(np.arange(len(s)), s, labels, threshold=threshold, ece_bins=ece_bins)
    out = weighted_metrics(rows, np.ones((rows.n, 1)))
    return {m: float(out[m][0]) for m in METRICS}
