"""Planning on estimated skin types: what balance knows about the estimator before it counts.

A plan counts real images per skin type. Human types are counted as they are. Estimated types
(from ``fairskin label``) are not counted as if they were true: on real clinical photographs the
ITA estimator can call a third of a data set V-VI where clinicians see 1%. So, for the rows whose
type is estimated (:func:`fairskin.label.resolve_tones` decides which):

* the labeller's confusion with human types is looked for (``label_confusion``, else the summary
  ``fairskin label --json`` wrote beside labels.csv: :func:`fairskin.label.find_label_confusion`);
* without one, where people gave these rows a group (DDI's I-II / III-IV / V-VI) and the
  estimates agree with it (kappa at least :data:`MIN_KAPPA`), the estimates are planned on as
  they are; otherwise the estimator's agreement with people is unknown or poor: balance refuses,
  stating the estimated shares, unless ``accept_estimated_types`` (then it plans on them and
  says so);
* with one, the estimated rows' true-type shares are corrected for it
  (:func:`fairskin.label.corrected_shares`) and each estimated row counts as its posterior over
  true types; when the agreement is poor (quadratic-weighted kappa below
  :data:`MIN_KAPPA`) balance refuses, stating kappa and the corrected share, unless
  ``accept_estimated_types``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import manifest_units
from fairskin.errors import InputError
from fairskin.skintone import FST_GROUPS, FST_TYPES

__all__ = ["MIN_KAPPA", "EstimatedTypes", "check_estimated_types", "confusion_agreement"]

#: below this quadratic-weighted kappa with people, planning on estimated types needs --accept-estimated-types
#: (0.4: the lower edge of "moderate" agreement, Landis & Koch 1977)
MIN_KAPPA = 0.4


def confusion_agreement(counts) -> dict:
    """Exact agreement and quadratic-weighted kappa of a k x k confusion (rows human, columns estimated)."""
    import warnings

    from sklearn.metrics import cohen_kappa_score

    c = np.asarray(counts, float)
    n = c.sum()
    if n <= 0:
        return {"n": 0, "exact": None, "weighted_kappa": None}
    human, estimated = (x.ravel() for x in np.indices(c.shape))
    cell = c.ravel() > 0
    with warnings.catch_warnings():  # one cell only: no disagreement to expect, kappa undefined (None)
        warnings.simplefilter("ignore")  # sklearn: UndefinedMetricWarning, or a 0/0 RuntimeWarning
        kappa = float(cohen_kappa_score(human[cell], estimated[cell], labels=np.arange(c.shape[0]),
                                        weights="quadratic", sample_weight=c.ravel()[cell]))
    return {"n": int(n), "exact": float(np.trace(c) / n), "weighted_kappa": kappa if np.isfinite(kappa) else None}


@dataclass
class EstimatedTypes:
    """How the plan counts the rows whose skin type is estimated."""

    n_estimated: int
    n_human: int
    confusion_source: str | None = None
    agreement: dict | None = None
    shares: object | None = None  # fairskin.label.CorrectedShares of the estimated rows
    weights: np.ndarray | None = None  # per row, the probability over types I-VI the plan counts
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"n_estimated": self.n_estimated, "n_human": self.n_human, "confusion": self.confusion_source,
                "agreement": self.agreement, "corrected_shares": self.shares.to_dict() if self.shares else None,
                "counted_as": "posterior over true types" if self.weights is not None else "estimated type"}


def _raw_shares(fst: np.ndarray, est: np.ndarray) -> str:
    e = fst[est]
    n = max(len(e), 1)
    return ", ".join(f"{g} {np.isin(e, ts).sum() / n:.1%}" for g, ts in FST_GROUPS.items())


def _group_agreement(frame: pd.DataFrame, fst: np.ndarray, est: np.ndarray) -> dict | None:
    """Agreement of the estimated types with the human groups (DDI's 12/34/56) where people gave one."""
    if "fst_group_human" not in frame:
        return None
    g = frame["fst_group_human"].astype("string").fillna("").to_numpy(object)
    idx = {name: i for i, name in enumerate(FST_GROUPS)}
    both = est & np.isin(g, list(FST_GROUPS))
    if not both.any():
        return None
    counts = np.zeros((3, 3))
    for h, t in zip(g[both], fst[both]):
        counts[idx[h], (t - 1) // 2] += 1
    return confusion_agreement(counts)


def check_estimated_types(frame: pd.DataFrame, *, labels: str | Path | None = None, label_confusion=None,
                          accept_estimated_types: bool = False, n_boot: int = 1000, seed: int = 0) -> EstimatedTypes:
    """What the plan counts for ``frame`` (``conditioning.labelled_manifest``'s), by this module's
    rules; raises :class:`InputError` (with the figures and what would work) where it refuses."""
    from fairskin.label import corrected_shares, find_label_confusion, posterior_types

    src = frame["tone_source"].astype(str).to_numpy() if "tone_source" in frame else np.full(len(frame), "human")
    fst = pd.to_numeric(frame["fst"], errors="coerce").fillna(0).astype(int).to_numpy()
    est = (src == "estimated") & (fst > 0)
    info = EstimatedTypes(n_estimated=int(est.sum()), n_human=int(((src == "human") & (fst > 0)).sum()))
    if not est.any():
        return info
    where = f"{int(est.sum())} of {len(frame)} images have estimated skin types" + \
        (f" ({info.n_human} have human types, used as they are)" if info.n_human else "")
    found = None
    if label_confusion is not None:
        from fairskin.audits.classifier import read_label_confusion

        lc = read_label_confusion(label_confusion, arg="label_confusion")
        found = ({"counts": lc.counts.tolist(), "cross_validated": lc.cross_validated}, Path(label_confusion))
    else:
        found = find_label_confusion(labels)
    ways = ("give human types for these images (the data set's fst column, or the reader-study app), measure the "
            "estimator against people (`fairskin label DATA --calibrate --json labels.json` on images that have "
            "human types; or label_confusion=FILE), or pass accept_estimated_types=True to plan on them anyway")
    if found is None:
        groups = _group_agreement(frame, fst, est)
        if groups is not None and groups["weighted_kappa"] is not None and groups["weighted_kappa"] >= MIN_KAPPA:
            info.agreement = {**groups, "level": "group"}
            info.notes.append(f"{where}; planned on them as they are: people gave their group (I-II / III-IV / V-VI) "
                              f"for {groups['n']} of them, and the estimates agree with it (exact group "
                              f"{groups['exact']:.0%}, quadratic-weighted kappa {groups['weighted_kappa']:.2f})")
            return info
        seen = "" if groups is None else (f"; on the {groups['n']} of them whose group people gave, exact group "
                                          f"{groups['exact']:.0%}, kappa "
                                          f"{'n/a' if groups['weighted_kappa'] is None else round(groups['weighted_kappa'], 2)}")
        msg = (f"{where}, from an estimator whose agreement with people is unknown (no labeller's confusion given "
               f"or found beside {labels or 'the labels'}){seen}; their estimated shares: {_raw_shares(fst, est)}")
        if not accept_estimated_types:
            raise InputError(f"labels: {msg}. On real clinical photographs ITA-based types can be far off "
                             f"(docs/label.md); {ways}")
        info.notes.append(f"planned on estimated skin types as they are (--accept-estimated-types): {msg}")
        return info
    doc, path = found
    counts = np.asarray(doc["counts"], float)
    info.confusion_source = str(path)
    info.agreement = {**confusion_agreement(counts), "cross_validated": bool(doc.get("cross_validated"))}
    units = manifest_units(frame)[0][est] if "patient_id" in frame else None
    shares = corrected_shares(fst[est], counts, units=units, cross_validated=bool(doc.get("cross_validated")),
                              n_boot=n_boot, seed=seed)
    info.shares = shares
    a = info.agreement
    kappa = a["weighted_kappa"]
    figures = (f"the estimator's agreement with people, from {a['n']} images with human types in {path.name}"
               f"{' (cross-validated)' if a['cross_validated'] else ''}: exact {a['exact']:.0%}, quadratic-weighted "
               f"kappa {'n/a' if kappa is None else f'{kappa:.2f}'}; {shares.line()}")
    if (kappa is None or kappa < MIN_KAPPA) and not accept_estimated_types:
        raise InputError(f"labels: {where}; {figures}. With agreement this poor (kappa below {MIN_KAPPA:g}) the "
                         f"estimated types are not a basis for a plan: {ways} (the plan then counts the corrected "
                         "shares)")
    weights = np.zeros((len(frame), len(FST_TYPES)))
    known = fst > 0
    weights[known & ~est, fst[known & ~est] - 1] = 1.0
    weights[est] = posterior_types(fst[est], shares.confusion, shares.corrected)
    info.weights = weights
    info.notes.append(f"{where}; they are counted as the true-type shares corrected for the labeller's confusion "
                      f"({figures})" + (" (--accept-estimated-types)" if kappa is None or kappa < MIN_KAPPA else ""))
    return info
