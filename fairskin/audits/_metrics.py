"""Binary classification metrics on weighted rows, vectorised over many weightings at once.

A bootstrap resample is a vector of row counts (how often each row was drawn), so every
metric here takes a weight matrix ``W`` of shape ``(n_weightings, n_rows)`` and returns one
value per weighting. ``W = ones((1, n))`` gives the metric on the rows as they are; that is
the code path the point estimates use too, and the tests check it against scikit-learn.

AUROC is the Mann-Whitney statistic computed from weighted rank sums: the rows are sorted by
score once, tied scores are merged into one "unique score" column, and for each weighting

    AUROC = sum_u P_u * (N_<u + N_u / 2) / (P * N)

where ``P_u``/``N_u`` are the weights of positive/negative rows with score ``u`` and ``N_<u``
the weight of negatives below ``u`` (ties count one half, as in ``roc_auc_score``). Average
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

    ``index`` selects the rows from the full arrays (and the columns of a full weight matrix).
    """

    index: np.ndarray  # positions of the rows in the full arrays, in ascending score order
    pos: np.ndarray  # bool, label of each sorted row
    starts: np.ndarray  # first sorted position of each unique score
    first_at_threshold: int  # first sorted position with score >= threshold
    bin_gap: np.ndarray = field(repr=False)  # (n_rows, n_bins): one-hot bin x (score - label)

    @classmethod
    def build(cls, index: np.ndarray, scores: np.ndarray, labels: np.ndarray, *, threshold: float,
              ece_bins: int = 10) -> "SortedRows":
        index = np.asarray(index)
        s = np.asarray(scores, float)[index]
        order = np.argsort(s, kind="mergesort")
        s = s[order]
        y = np.asarray(labels, bool)[index][order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if len(s) else np.zeros(0, int)
        k0 = int(np.searchsorted(s, threshold, side="left"))
        b = np.minimum((s * ece_bins).astype(int), ece_bins - 1).clip(0)
        onehot = np.zeros((len(s), ece_bins))
        onehot[np.arange(len(s)), b] = 1.0
        return cls(index=index[order], pos=y, starts=starts, first_at_threshold=k0, bin_gap=onehot * (s - y)[:, None])

    @property
    def n(self) -> int:
        return len(self.index)


def weighted_metrics(rows: SortedRows, W: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each row of ``W`` (weights of ``rows.index``, in that order).

    ``W`` has shape ``(k, rows.n)``; the result maps metric name -> array of ``k`` values.
    """
    W = np.asarray(W, float)
    k = W.shape[0]
    if rows.n == 0:
        return {m: np.full(k, np.nan) for m in METRICS}
    Wp = W * rows.pos
    Wn = W - Wp
    if len(rows.starts) < rows.n:  # tied scores: merge each run of equal scores into one column
        Pu = np.add.reduceat(Wp, rows.starts, axis=1)
        Nu = np.add.reduceat(Wn, rows.starts, axis=1)
    else:
        Pu, Nu = Wp, Wn
    cumP = np.cumsum(Pu, axis=1)
    cumN = np.cumsum(Nu, axis=1)
    P = cumP[:, -1].copy()
    N = cumN[:, -1].copy()
    n_below = cumN
    n_below -= Nu  # negatives strictly below each unique score
    auroc = _div(np.einsum("ij,ij->i", Pu, n_below) + 0.5 * np.einsum("ij,ij->i", Pu, Nu), P * N)
    # average precision: at unique score u everything scored >= u is called positive
    tp_at = cumP
    np.subtract(P[:, None], cumP, out=tp_at)
    tp_at += Pu  # positives scored >= u
    den = N[:, None] - n_below
    den += tp_at  # all rows scored >= u; zero only where Pu is zero too
    np.maximum(den, 1e-300, out=den)
    np.divide(tp_at, den, out=tp_at)  # precision at u
    auprc = _div(np.einsum("ij,ij->i", Pu, tp_at), P)
    auprc = np.where(N + P > 0, auprc, np.nan)

    k0 = rows.first_at_threshold
    TP = Wp[:, k0:].sum(1)
    FP = Wn[:, k0:].sum(1)
    FN = P - TP
    TN = N - FP
    sens = _div(TP, P)
    spec = _div(TN, N)
    total = P + N
    ece = _div(np.abs(W @ rows.bin_gap).sum(1), total)
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
        "selection_rate": _div(TP + FP, total),
    }


def point_metrics(scores, labels, *, threshold: float = 0.5, ece_bins: int = 10) -> dict[str, float]:
    """Every metric on the rows as given (``nan`` where undefined)."""
    s = np.asarray(scores, float)
    rows = SortedRows.build(np.arange(len(s)), s, labels, threshold=threshold, ece_bins=ece_bins)
    return {m: float(v[0]) for m, v in weighted_metrics(rows, np.ones((1, rows.n))).items()}
