"""A threshold chosen on the audited rows (``--target-sensitivity``) is itself an estimate: each
bootstrap resample would have chosen its own. The resamples' threshold-based metrics take that
into account to first order: for resample ``b`` with its own threshold ``t_b``,
``metric_b(t_b) ~ metric_b(t) + [metric(t_b) - metric(t)]``, the bracket evaluated on the audited
rows (a sorted search per group, so it costs little beside the bootstrap itself)."""

from __future__ import annotations

import math

import numpy as np

from fairskin.audits.stats._registry import THRESHOLD_METRICS

__all__ = ["THRESHOLD_METRICS", "resampled_thresholds", "add_threshold_noise"]



def resampled_thresholds(eng, model: str, target: float) -> np.ndarray:
    """``(B,)``: the threshold each resample's rows would give (the largest whose sensitivity on
    them reaches ``target``; the rule of the audit's own choice)."""
    y = eng.y
    pos = np.flatnonzero(y)
    s = eng.scores[model][pos]
    order = np.argsort(-s, kind="mergesort")
    desc, cols = s[order], eng.column[pos[order]]
    out = np.empty(eng.cfg.n_boot)
    done = 0
    for block in eng.count_blocks(reuse=True):
        C = np.cumsum(block[:, cols], axis=1)
        need = np.maximum(1, np.ceil(target * C[:, -1] - 1e-9))
        at = np.argmax(C >= need[:, None], axis=1)
        out[done:done + len(at)] = desc[at]
        done += len(at)
    return out


def _rates(pos: np.ndarray, neg: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """Threshold metrics of rows with sorted malignant scores ``pos`` and benign ``neg`` at each ``t``."""
    P, N = len(pos), len(neg)
    tp = P - np.searchsorted(pos, t, side="left")  # scores >= t
    fp = N - np.searchsorted(neg, t, side="left")
    fn, tn = P - tp, N - fp
    c = {"tp": tp.astype(float), "fp": fp.astype(float), "tn": tn.astype(float), "fn": fn.astype(float)}
    return {name: m.from_counts(c) for name, m in THRESHOLD_METRICS.items()}


def add_threshold_noise(eng, model: str, target: float) -> None:
    """Shift every group's resampled threshold metrics by what its own threshold would change."""
    if not math.isfinite(target):
        return
    t = eng.thresholds[model]
    tb = resampled_thresholds(eng, model, target)
    s = eng.scores[model]
    for key, idx in eng.rows.items():
        yy = eng.y[idx]
        pos, neg = np.sort(s[idx][yy]), np.sort(s[idx][~yy])
        at_t, at_b = _rates(pos, neg, np.array([t])), _rates(pos, neg, tb)
        for m in THRESHOLD_METRICS:
            shift = np.nan_to_num(at_b[m] - at_t[m][0])
            eng.samples[model][key][m] = eng.samples[model][key][m] + shift
