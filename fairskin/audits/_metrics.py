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
Undefined values (one-class AUROC, PPV with nothing predicted positive) are ``NaN`` here and
become ``null`` with a reason in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["METRICS", "THRESHOLD_METRICS", "SortedRows", "weighted_metrics", "point_metrics"]

#: metric name -> one-line definition (the report's glossary)
METRICS: dict[str, str] = {
    "auroc": "area under the ROC curve (Mann-Whitney U / (P N), ties count 1/2); sklearn roc_auc_score",
    "auprc": "average precision (step-wise area under the precision-recall curve); sklearn average_precision_score",
    "sensitivity": "TP / (TP + FN): malignant lesions flagged (true positive rate, recall)",
    "specificity": "TN / (TN + FP): benign lesions passed (1 - false positive rate)",
    "ppv": "TP / (TP + FP): flagged lesions that are malignant (precision)",
    "npv": "TN / (TN + FN): passed lesions that are benign",
    "balanced_accuracy": "(sensitivity + specificity) / 2",
    "f1": "2 TP / (2 TP + FP + FN)",
    "ece": "expected calibration error: sum over equal-width score bins of bin share x |mean score - share malignant|",
    "selection_rate": "(TP + FP) / n: share predicted malignant",
}
THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv", "balanced_accuracy", "f1", "selection_rate")


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


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
        b = np.minimum((s * ece_bins).astype(int), ece_bins - 1).clip(0)
        onehot = np.zeros((n, ece_bins))
        onehot[np.arange(n), b] = 1.0
        return cls(index=index[order], pos=y, first_at_threshold=k0, pos_rows=pos_rows, block_start=bs,
                   block_end=be, pos_before_block=cum_pos[bs], pos_through_block=cum_pos[be],
                   pos_before_threshold=int(cum_pos[k0]),
                   bin_gap=np.ascontiguousarray((onehot * (s - y)[:, None]).T))

    @property
    def n(self) -> int:
        return len(self.index)


def weighted_metrics(rows: SortedRows, W: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each column of ``W``.

    ``W`` has shape ``(rows.n, k)``: row ``i`` holds the weights of ``rows.index[i]`` (rows in
    ascending score order) in each of ``k`` weightings. Returns metric name -> ``k`` values.

    With ``C[j]`` the total weight of rows before sorted position ``j`` and ``Cp`` the same over
    positive rows, a positive row ``i`` in a tie block ``[s, e)`` sees ``C[s] - Cp[s]`` negative
    weight below it and ``(C[e] - C[s]) - (Cp[e] - Cp[s])`` tied with it; at its threshold
    everything from ``s`` on is called positive, so precision is ``(P - Cp[s]) / (T - C[s])``.
    """
    W = np.asarray(W, float)
    k = W.shape[1]
    if rows.n == 0:
        return {m: np.full(k, np.nan) for m in METRICS}
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
    ece = _div(np.abs(rows.bin_gap @ W).sum(0), T)
    return {
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
    }


def point_metrics(scores, labels, *, threshold: float = 0.5, ece_bins: int = 10) -> dict[str, float]:
    """Every metric on the rows as given (``nan`` where undefined)."""
    s = np.asarray(scores, float)
    rows = SortedRows.build(np.arange(len(s)), s, labels, threshold=threshold, ece_bins=ece_bins)
    return {m: float(v[0]) for m, v in weighted_metrics(rows, np.ones((rows.n, 1))).items()}
