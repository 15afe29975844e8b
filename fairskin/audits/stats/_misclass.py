"""Metrics per *true* skin type when the audited types are estimated by an imperfect labeller.

When types come from ``fairskin label`` (ITA) rather than dermatologists, an image estimated
as type V may truly be IV or VI, and each estimated group's metrics mix the true groups'. With
the labeller's confusion matrix ``M[t, e] = P(estimated e | true t)`` (measured on a calibration
set with human labels, e.g. by ``fairskin label --calibrate``), and assuming the labeller's error
does not depend on the label or the model's score given the true type (non-differential
misclassification), the expected observed counts are ``M^T`` times the true ones:

- threshold cells (true/false positives/negatives): ``E[O] = M^T T``, so ``T = M^-T O``;
- AUROC's concordant pairs between a malignant image of group ``e`` and a benign one of group
  ``f``: ``E[C_obs] = M^T C_true M``, so ``C_true = M^-T C_obs M^-1`` and the true group's
  AUROC is ``C_true[t, t] / (P_t N_t)``.

This is a method-of-moments correction (unbiased counts; ratio estimates consistent). Its
uncertainty has two sources, both resampled in every bootstrap replicate: the audited rows
(within estimated type x label) and the calibration set (each true type's row of counts redrawn
from its multinomial). AUPRC, ECE, the ROC band and the calibration bins are not pair- or
count-based and stay on the estimated groups (flag ``not_corrected``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairskin.errors import InputError
from fairskin.settings import seed_stream
from fairskin.skintone import FST_GROUPS, ROMAN

__all__ = ["CORRECTED_METRICS", "CONFUSION_SCHEMA", "LabelConfusion", "corrected_metrics", "read_label_confusion"]

CONFUSION_SCHEMA = "fairskin.label-confusion/1"

CORRECTED_METRICS = ("auroc", "sensitivity", "specificity", "ppv", "npv", "balanced_accuracy", "f1",
                     "selection_rate")
#: largest condition number of the confusion matrix the correction accepts
MAX_CONDITION = 30.0


@dataclass(frozen=True)
class LabelConfusion:
    """Counts of (true type, estimated type) on a calibration set: ``counts[t - 1][e - 1]``."""

    counts: np.ndarray  # 6 x 6
    source: str = ""
    cross_validated: bool = False

    def __post_init__(self):
        c = np.asarray(self.counts, float)
        if c.shape != (6, 6) or (c < 0).any() or not np.isfinite(c).all():
            raise InputError(f"label confusion{f' ({self.source})' if self.source else ''}: expected a 6 x 6 table "
                             f"of non-negative counts (true type rows I-VI, estimated type columns I-VI), got shape "
                             f"{c.shape}")
        object.__setattr__(self, "counts", c)

    def to_dict(self) -> dict:
        return {"schema": CONFUSION_SCHEMA, "rows": "true (human) type I..VI", "columns": "estimated type I..VI",
                "counts": self.counts.astype(int).tolist() if np.allclose(self.counts, np.round(self.counts))
                else self.counts.tolist(), "cross_validated": self.cross_validated, "source": self.source}

    def for_level(self, level: str) -> tuple[np.ndarray, list[str]]:
        """Counts at the audit's level: types (rows and columns I..VI with calibration data) or
        the groups I-II / III-IV / V-VI (a group's row pools its types' rows: this assumes the
        calibration set's mix of types within a group resembles the audited data's)."""
        if level == "type":
            return self.counts, list(ROMAN)
        idx = [[t - 1 for t in ts] for ts in FST_GROUPS.values()]
        G = np.array([[self.counts[np.ix_(a, b)].sum() for b in idx] for a in idx])
        return G, list(FST_GROUPS)


def read_label_confusion(path, *, arg: str = "label_confusion") -> LabelConfusion:
    """Read the labeller's confusion that ``fairskin label`` writes when the data have human skin
    types (``--confusion FILE``, schema :data:`CONFUSION_SCHEMA`; or its ``--json`` summary, which
    holds it as ``label_confusion``)."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{arg}: file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{arg}: {path} is not a JSON file: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("label_confusion"), dict):  # a label --json summary
        doc = doc["label_confusion"]
    if not isinstance(doc, dict) or doc.get("schema") != CONFUSION_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(f"{arg}: {path} is not a label confusion file (expected schema {CONFUSION_SCHEMA!r}, got "
                         f"{got!r}); `fairskin label DATA --confusion FILE` writes one when the data have human types")
    return LabelConfusion(np.asarray(doc.get("counts"), float), source=str(path),
                          cross_validated=bool(doc.get("cross_validated")))


def _matrix(counts: np.ndarray, names: list[str], present: list[str], where: str) -> np.ndarray:
    """Row-normalised confusion restricted to the audited groups; refuses what cannot be inverted."""
    sel = [names.index(g) for g in present]
    C = counts[np.ix_(sel, sel)]
    missing = [g for g, r in zip(present, C.sum(1)) if r <= 0]
    if missing:
        raise InputError(f"{where}: the calibration set has no image of true type {', '.join(missing)} estimated as "
                         f"one of the audited types ({', '.join(present)}); the labeller's error cannot be corrected")
    M = C / C.sum(1, keepdims=True)
    cond = np.linalg.cond(M)
    if not np.isfinite(cond) or cond > MAX_CONDITION:
        raise InputError(f"{where}: the labeller's confusion over {', '.join(present)} is too close to singular "
                         f"(condition number {cond:.3g} > {MAX_CONDITION:g}): its estimates cannot be told apart")
    return M


def _redraw(counts: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` redraws of the calibration counts, row by row multinomial: (k, G, G)."""
    out = np.empty((k, *counts.shape))
    for i, row in enumerate(counts):
        n = int(round(row.sum()))
        out[:, i, :] = rng.multinomial(n, row / n, size=k) if n > 0 else 0
    return out


def _concordance(scores: np.ndarray, y: np.ndarray, est: np.ndarray, G: int, W: np.ndarray) -> np.ndarray:
    """``C[b, e, f]``: weighted concordant pairs (ties 1/2) of malignant rows of estimated group e
    against benign rows of group f, for each weighting column ``b`` of ``W`` (n, k)."""
    order = np.argsort(scores, kind="mergesort")
    s, yy, ee, Wo = scores[order], y[order], est[order], W[order]
    n, k = Wo.shape
    new = np.r_[True, s[1:] != s[:-1]] if n else np.zeros(0, bool)
    bid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    pos = np.flatnonzero(yy)
    bs, be = starts[bid[pos]], ends[bid[pos]]
    C = np.zeros((k, G, G))
    for f in range(G):
        wneg = Wo * ((~yy) & (ee == f))[:, None]
        cum = np.zeros((n + 1, k))
        np.cumsum(wneg, axis=0, out=cum[1:])
        below = cum[bs] + 0.5 * (cum[be] - cum[bs])  # (n_pos, k)
        contrib = Wo[pos] * below
        for e in range(G):
            sel = ee[pos] == e
            C[:, e, f] = contrib[sel].sum(0)
    return C


def _cells(pred: np.ndarray, y: np.ndarray, est: np.ndarray, G: int, W: np.ndarray) -> np.ndarray:
    """``O[b, e, c]``: weighted counts of estimated group e in cell c = (TP, FN, FP, TN)."""
    cell = np.where(y, np.where(pred, 0, 1), np.where(pred, 2, 3))
    O = np.zeros((W.shape[1], G, 4))
    for e in range(G):
        for c in range(4):
            m = (est == e) & (cell == c)
            if m.any():
                O[:, e, c] = W[m].sum(0)
    return O


def _metrics_from(T: np.ndarray, Ct: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from true-group cell counts ``T[..., g, (TP, FN, FP, TN)]`` and concordances
    ``Ct[..., g]`` (diagonal): arrays ``[..., g]``; NaN where a denominator is not positive."""
    TP, FN, FP, TN = (T[..., i] for i in range(4))
    P, N = TP + FN, FP + TN

    def div(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

    sens, spec = div(TP, P), div(TN, N)
    return {"auroc": div(Ct, P * N), "sensitivity": sens, "specificity": spec, "ppv": div(TP, TP + FP),
            "npv": div(TN, TN + FN), "balanced_accuracy": (sens + spec) / 2, "f1": div(2 * TP, 2 * TP + FP + FN),
            "selection_rate": div(TP + FP, P + N)}


def corrected_metrics(scores: np.ndarray, y: np.ndarray, threshold: float, est: np.ndarray, M: np.ndarray,
                      W: np.ndarray, *, M_draws: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Corrected metrics of each true group for each weighting column of ``W`` (n, k): arrays
    ``(k, G)``. ``est`` is each row's estimated group index (``-1``: none of the audited groups);
    ``M`` the row-normalised confusion, or ``M_draws`` (k, G, G) one per column."""
    G = M.shape[0]
    pred = scores >= threshold
    O = _cells(pred, y, est, G, W)
    Cobs = _concordance(scores, y, est, G, W)
    Ms = np.broadcast_to(M, (W.shape[1], G, G)) if M_draws is None else M_draws
    inv = np.linalg.inv(Ms)  # (k, G, G)
    invT = np.transpose(inv, (0, 2, 1))
    T = invT @ O  # (k, G, 4)
    Ct = invT @ Cobs @ inv
    return _metrics_from(T, np.diagonal(Ct, axis1=1, axis2=2))


def correct_engine(eng, confusion: LabelConfusion) -> None:
    """Replace the engine's per-group values and bootstrap samples of :data:`CORRECTED_METRICS` by
    their misclassification-corrected versions, level by level (types, then groups)."""
    cfg = eng.cfg
    eng.corrected = {}
    eng.correction_failed = {}
    eng.uncorrected = {}
    eng.unstable = set()  # (model, key, metric) whose corrected estimate left [0, 1]
    rng = np.random.default_rng(seed_stream(cfg.seed, 7))
    for level in ("type", "group"):
        keys = [(lvl, g) for lvl, g, _ in eng.keys if lvl == level]
        if not keys:
            continue
        counts, names = confusion.for_level(level)
        present = [g for _, g in keys]
        try:
            M = _matrix(counts, names, present, "label_confusion")
        except InputError as exc:
            # this level cannot be corrected (too few or too confused types): audited uncorrected, flagged
            # not_corrected, with what would work (never a refusal of data that can be audited)
            n_cal = int(round(counts.sum() / max(len(names), 1)))
            eng.correction_failed[level] = (
                str(exc).removeprefix("label_confusion: ") + f". Shown uncorrected (flag not_corrected); what would "
                f"work: a calibration set with more images per type (about {n_cal} now), fewer, coarser groups, or "
                "human skin types")
            continue
        sel = [names.index(g) for g in present]
        est = np.full(len(eng.y), -1)
        for gi, k in enumerate(keys):
            est[eng.rows[k]] = gi
        draws = _redraw(counts[np.ix_(sel, sel)], rng, cfg.n_boot)
        with np.errstate(invalid="ignore", divide="ignore"):
            Md = draws / draws.sum(2, keepdims=True)
        bad = ~np.isfinite(Md).all((1, 2)) | (np.abs(np.linalg.det(np.nan_to_num(Md))) < 1e-12)
        Md[bad] = M
        for model, s in eng.scores.items():
            thr = eng.thresholds[model]
            point = corrected_metrics(s, eng.y, thr, est, M, np.ones((len(s), 1)))
            samples = {m: np.empty((cfg.n_boot, len(keys))) for m in CORRECTED_METRICS}
            done = 0
            for W in eng.weight_blocks():
                k = W.shape[1]
                out = corrected_metrics(s, eng.y, thr, est, M, W, M_draws=Md[done:done + k])
                for m in CORRECTED_METRICS:
                    samples[m][done:done + k] = out[m]
                done += k
            from fairskin.audits.stats._groups import metric_interval

            for gi, key in enumerate(keys):
                before = eng.uncorrected.setdefault(model, {}).setdefault(key, {})
                for m in CORRECTED_METRICS:
                    if not np.isnan(eng.values[model][key][m]):
                        lo, hi, _ = metric_interval(eng, model, key, m)
                        before[m] = {"value": eng.values[model][key][m], "ci_low": lo, "ci_high": hi}
                for m in CORRECTED_METRICS:
                    # a moment estimate can leave [0, 1]; the metric cannot. Where it does (point, or over a
                    # tenth of the resamples), or is undefined in over a tenth, the correction is unstable
                    raw, S = float(point[m][0, gi]), samples[m][:, gi]
                    with np.errstate(invalid="ignore"):
                        off = np.mean(np.isnan(S) | (S < 0) | (S > 1))
                    if not 0 <= raw <= 1 or off > 0.1:
                        eng.unstable.add((model, key, m))
                    eng.values[model][key][m] = float(np.clip(raw, 0.0, 1.0))
                    eng.samples[model][key][m] = np.clip(S, 0.0, 1.0)
        eng.corrected[level] = {"matrix": M.tolist(), "groups": present}
