"""Binary classification metrics on weighted rows, vectorised over many weightings at once.

A bootstrap resample is a vector of row counts (how often each row was drawn), so every
metric here takes a weight matrix ``W`` of shape ``(n_rows, n_weightings)`` and returns one
value per weighting. ``W = ones((n, 1))`` gives the metric on the rows as they are; that is
the code path the point estimates use too, and the tests check it against scikit-learn.

AUROC is the Mann-Whitney statistic computed from weighted rank sums: the rows are sorted by
score once, tied scores are merged into one "unique score" column, and for each weighting

    AUROC = sum_u P_u * (N_<u + N_u / 2) / (P * N)

where ``P_u``/``N_u`` are the weights of positive/negative rows with score ``u`` and ``N_<u``
the weight of negatives below ``u`` (ties count one half, as in ``roc_auc_score``); only the
positive rows' terms are needed, so one running sum over all rows and gathers at the positive
rows suffice. Average
precision follows scikit-learn's step-wise definition (``average_precision_score``).

The ROC curve is evaluated on a fixed FPR grid ``g_i = i / (G - 1)`` as a step function: the TPR
at ``g`` is the largest TPR of any threshold (a distinct score, ``score >= t`` called positive,
so a tie block is all in or all out; ``sklearn.metrics.roc_curve``) whose FPR is ``<= g``. The
threshold that realises it stops just above the tie block of the highest negative row ``r``
whose "negative weight at or above r" exceeds ``g N``; these rows form a prefix of the negative
rows, so per weighting one histogram of the grid index of every negative row (a ``bincount``)
and one gather give all ``G`` points. The ECE and the calibration bins share one binning,
:func:`bin_index` (``edges[b] <= score < edges[b + 1]``, the last bin closed).
Undefined values (one-class AUROC, PPV with nothing predicted positive) are ``NaN`` here and
become ``null`` with a reason in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fairskin.audits._registry import METRICS

__all__ = ["METRICS", "THRESHOLD_METRICS", "ROC_GRID_POINTS", "SortedRows", "bin_edges", "bin_index",
           "calibration_bins", "roc_grid", "weighted_metrics", "weighted_roc", "point_metrics"]

#: points of the fixed FPR grid the ROC curves are given on (0, 0.01, ..., 1)
ROC_GRID_POINTS = 101
#: a FPR within this of a grid point counts as on it (FPRs are ratios of counts, far coarser)
_FPR_TOL = 1e-9
THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "balanced_accuracy", "f1", "selection_rate")


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


@dataclass
class SortedRows:
    """One set of rows (a skin-type group) scored by one model, sorted once for all weightings.

    ``index`` selects the rows from the full arrays (and the rows of a full weight matrix). For
    every positive row the positions that bound its run of tied scores are precomputed, so
    that a weighting needs one running sum over all rows and a few gathers at positive rows.
    """

    index: np.ndarray  # positions of the rows in the full arrays, in ascending score order
    pos: np.ndarray  # bool, label of each sorted row
    first_at_threshold: int  # first sorted position with score >= threshold
    pos_rows: np.ndarray  # sorted positions of the positive rows
    block_start: np.ndarray  # per positive row: first sorted position of its tie block
    block_end: np.ndarray  # per positive row: one past the last sorted position of its tie block
    pos_before_block: np.ndarray  # per positive row: positive rows before its tie block
    pos_through_block: np.ndarray  # per positive row: positive rows up to the end of its tie block
    pos_before_threshold: int  # positive rows scored below the threshold
    bin_gap: np.ndarray = field(repr=False)  # (n_bins, n_rows): one-hot bin x (score - label), C-contiguous
    neg_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)  # sorted positions of negatives
    neg_pos_before: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)  # positives before each
    #: per negative row: positive rows up to the end of its tie block (a threshold just above the block)
    neg_pos_through_block: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)

    @classmethod
    def build(cls, index: np.ndarray, scores: np.ndarray, labels: np.ndarray, *, threshold: float,
              ece_bins: int = 10) -> "SortedRows":
        index = np.asarray(index)
        s = np.asarray(scores, float)[index]
        order = np.argsort(s, kind="mergesort")
        s = s[order]
        y = np.asarray(labels, bool)[index][order]
        n = len(s)
        new_block = np.r_[True, s[1:] != s[:-1]] if n else np.zeros(0, bool)
        block_id = np.cumsum(new_block) - 1
        starts = np.flatnonzero(new_block)
        ends = np.r_[starts[1:], n]
        pos_rows = np.flatnonzero(y)
        cum_pos = np.r_[0, np.cumsum(y)]  # cum_pos[j] = positive rows before sorted position j
        bs, be = starts[block_id[pos_rows]], ends[block_id[pos_rows]]
        k0 = int(np.searchsorted(s, threshold, side="left"))
        b = bin_index(s, ece_bins)
        onehot = np.zeros((n, ece_bins))
        onehot[np.arange(n), b] = 1.0
        neg_rows = np.flatnonzero(~y)
        return cls(index=index[order], pos=y, first_at_threshold=k0, pos_rows=pos_rows, block_start=bs,
                   block_end=be, pos_before_block=cum_pos[bs], pos_through_block=cum_pos[be],
                   pos_before_threshold=int(cum_pos[k0]),
                   bin_gap=np.ascontiguousarray((onehot * (s - y)[:, None]).T),
                   neg_rows=neg_rows, neg_pos_before=cum_pos[neg_rows],
                   neg_pos_through_block=cum_pos[ends[block_id[neg_rows]]])

    @property
    def n(self) -> int:
        return len(self.index)


def weighted_metrics(rows: SortedRows, W: np.ndarray, *, roc_points: int = 0) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each column of ``W``.

    ``W`` has shape ``(rows.n, k)``: row ``i`` holds the weights of ``rows.index[i]`` (rows in
    ascending score order) in each of ``k`` weightings. Returns metric name -> ``k`` values;
    ``"ece_bins"``, shape ``(k, n_bins)``: each bin's ``share x (mean score - share malignant)``
    (the ECE is the sum of their absolute values); with ``roc_points > 0`` also ``"roc_tpr"``, shape ``(k, roc_points)``: the TPR on the grid
    :func:`roc_grid` of each weighting (see :func:`weighted_roc`).

    With ``C[j]`` the total weight of rows before sorted position ``j`` and ``Cp`` the same over
    positive rows, a positive row ``i`` in a tie block ``[s, e)`` sees ``C[s] - Cp[s]`` negative
    weight below it and ``(C[e] - C[s]) - (Cp[e] - Cp[s])`` tied with it; at its threshold
    everything from ``s`` on is called positive, so precision is ``(P - Cp[s]) / (T - C[s])``.
    """
    W = np.asarray(W, float)
    k = W.shape[1]
    if rows.n == 0:
        out = {m: np.full(k, np.nan) for m in METRICS}
        out["ece_bins"] = np.full((k, rows.bin_gap.shape[0]), np.nan)
        if roc_points:
            out["roc_tpr"] = np.full((k, roc_points), np.nan)
        return out
    C = np.empty((rows.n + 1, k))
    C[0] = 0.0
    np.cumsum(W, axis=0, out=C[1:])
    Wpos = W[rows.pos_rows]
    Cp = np.empty((len(rows.pos_rows) + 1, k))
    Cp[0] = 0.0
    np.cumsum(Wpos, axis=0, out=Cp[1:])
    T = C[-1]
    P = Cp[-1]
    N = T - P
    c_start = C[rows.block_start]
    p_start = Cp[rows.pos_before_block]
    n_below = c_start - p_start
    n_tied = (C[rows.block_end] - c_start) - (Cp[rows.pos_through_block] - p_start)
    n_below += 0.5 * n_tied
    auroc = _div(np.einsum("ij,ij->j", Wpos, n_below), P * N)
    precision = _div(P - p_start, T - c_start)
    auprc = _div(np.einsum("ij,ij->j", Wpos, np.nan_to_num(precision)), P)

    k0 = rows.first_at_threshold
    TP = P - Cp[rows.pos_before_threshold]
    FP = (T - C[k0]) - TP
    FN = P - TP
    TN = N - FP
    sens = _div(TP, P)
    spec = _div(TN, N)
    bins = _div(rows.bin_gap @ W, T)  # (n_bins, k): signed share-weighted gap of each bin
    ece = np.abs(bins).sum(0)
    out = {
        "auroc": auroc,
        "auprc": auprc,
        "sensitivity": sens,
        "specificity": spec,
        "ppv": _div(TP, TP + FP),
        "npv": _div(TN, TN + FN),
        "balanced_accuracy": (sens + spec) / 2,
        "f1": _div(2 * TP, 2 * TP + FP + FN),
        "ece": ece,
        "selection_rate": _div(TP + FP, T),
        "ece_bins": bins.T,
    }
    if roc_points:
        out["roc_tpr"] = _roc_tpr(rows, C, Cp, roc_points)
    return out


def _roc_tpr(rows: SortedRows, C: np.ndarray, Cp: np.ndarray, points: int) -> np.ndarray:
    """TPR at the grid points for each weighting, ``(k, points)``. ``C[j]`` / ``Cp[j]``: weight of
    the first ``j`` sorted rows / positive rows (the running sums of :func:`weighted_metrics`).

    A negative row ``r`` with ``F_r`` negative weight before it (ascending order) must stay
    below the threshold at grid point ``g`` when ``N - F_r > g N`` (plus a 1e-9 tolerance), i.e.
    for ``i <= G - 2 - q_r`` with ``q_r = floor((G - 1) (F_r / N + tol))``; ``F_r`` grows with
    ``r``, so the rows that must stay out at ``g_i`` are the first ``c_i`` negative rows, and the
    threshold sits just above the tie block of the ``c_i``-th.
    """
    k = C.shape[1]
    nn = len(rows.neg_rows)
    if nn == 0 or len(rows.pos_rows) == 0:
        return np.full((k, points), np.nan)
    P = Cp[-1]
    N = C[-1] - P
    x = C[rows.neg_rows]
    x -= Cp[rows.neg_pos_before]  # negative weight before each negative row
    x *= (points - 1) / np.where(N > 0, N, 1.0)
    x += _FPR_TOL * (points - 1) + np.arange(k) * float(points)  # + column offsets for one bincount
    q = x.astype(np.intp)  # floor: x >= 0
    hist = np.bincount(q.ravel(), minlength=k * points).reshape(k, points)
    below = np.cumsum(hist, axis=1)  # below[:, j] = negative rows with q <= j
    c = np.zeros((k, points), np.intp)
    c[:, :-1] = below[:, points - 2::-1]  # c[:, i] = below[:, G - 2 - i]; c[:, G - 1] = 0 (FPR 1: all in)
    through = np.r_[0, rows.neg_pos_through_block]
    tp = P[:, None] - Cp[through[c], np.arange(k)[:, None]]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(((P > 0) & (N > 0))[:, None], tp / np.where(P > 0, P, 1.0)[:, None], np.nan)


def weighted_roc(rows: SortedRows, W: np.ndarray, *, points: int = ROC_GRID_POINTS) -> np.ndarray:
    """TPR on the FPR grid :func:`roc_grid` for each column of ``W`` (shape ``(k, points)``; NaN
    for a weighting without positive or negative weight). The TPR at grid point ``g`` is the
    ROC step function's value: the largest TPR of a threshold whose FPR is ``<= g`` (what
    ``sklearn.metrics.roc_curve`` gives, read as a step function)."""
    W = np.asarray(W, float)
    k = W.shape[1]
    if rows.n == 0:
        return np.full((k, points), np.nan)
    C = np.empty((rows.n + 1, k))
    C[0] = 0.0
    np.cumsum(W, axis=0, out=C[1:])
    Cp = np.empty((len(rows.pos_rows) + 1, k))
    Cp[0] = 0.0
    np.cumsum(W[rows.pos_rows], axis=0, out=Cp[1:])
    return _roc_tpr(rows, C, Cp, points)


def point_metrics(scores, labels, *, threshold: float = 0.5, ece_bins: int = 10) -> dict[str, float]:
    """Every metric on the rows as given (``nan`` where undefined)."""
    s = np.asarray(scores, float)
    rows = SortedRows.build(np.arange(len(s)), s, labels, threshold=threshold, ece_bins=ece_bins)
    out = weighted_metrics(rows, np.ones((rows.n, 1)))
    return {m: float(out[m][0]) for m in METRICS}
