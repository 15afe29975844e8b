"""The share of each true skin type in a data set whose types an imperfect labeller estimated.

An estimator that calls 24% of photos type VI where clinicians see none does not say that a
quarter of the data set is type VI: it says how that estimator errs. With its confusion
``M[t, e] = P(estimated e | true t)``, measured on images with human types (``fairskin label``'s
``label_confusion``: cross-validated when the cut-points were calibrated), the expected share of
estimated types is ``q = M^T pi``. The true shares ``pi`` are estimated by maximum likelihood on
the simplex with the EM algorithm (iterative Bayesian unfolding; Buonaccorsi 2010,
*Measurement Error*, ch. 3), which keeps every share in [0, 1] and summing to 1 where inverting
``M`` would not.

Two assumptions, stated wherever the figures are shown: the labeller errs on these images as it
did on the calibration images (transportability), and a true type with no calibration image is
estimated near itself (a smoothing prior: each row of ``M`` gets one pseudo-image spread as
``exp(-|t - e|)``; such types are listed in ``unseen``, their shares rest on that prior alone).

Intervals: percentile bootstrap over both sources of uncertainty in every replicate: the labelled
rows (resampled by patient where ids exist, else by image) and the confusion (each row of ``M``
redrawn from its Dirichlet posterior).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fairskin.data import manifest_units, resampling_units
from fairskin.skintone import FITZPATRICK, FST_GROUPS, FST_TYPES, ROMAN

__all__ = ["CorrectedShares", "confusion_probabilities", "corrected_shares", "em_shares", "posterior_types", "shares_line", "shares_summary"]

#: pseudo-images each row of the confusion gets, spread as exp(-|t - e|) (see the module docstring)
PRIOR_WEIGHT = 1.0
METHOD = ("maximum likelihood on the simplex (EM) of the true-type shares given the labeller's confusion; "
          "percentile bootstrap over {unit}s and over the confusion (Dirichlet posterior per true type)")


def _kernel(k: int = 6) -> np.ndarray:
    d = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    w = np.exp(-d.astype(float))
    return w / w.sum(1, keepdims=True)


def confusion_probabilities(counts, *, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """``P(estimated e | true t)`` from a 6 x 6 table of counts (rows true, columns estimated),
    each row smoothed with ``prior_weight`` pseudo-images near its own type."""
    c = np.asarray(counts, float)
    m = c + prior_weight * _kernel(c.shape[0])
    return m / m.sum(1, keepdims=True)


def em_shares(observed, M, *, iters: int = 2000, tol: float = 1e-9) -> np.ndarray:
    """Maximum-likelihood true shares ``pi`` (on the simplex) from counts of estimated types
    ``observed`` (..., K) and confusions ``M`` (..., K, K); broadcasts over leading axes. EM
    steps, accelerated with SQUAREM (Varadhan & Roland 2008), projected back onto the simplex."""
    n = np.asarray(observed, float)
    M = np.asarray(M, float)
    total = np.maximum(n.sum(-1, keepdims=True), 1e-300)

    def step(pi):
        q = np.einsum("...t,...te->...e", pi, M)
        ratio = np.divide(n, q, out=np.zeros_like(q), where=q > 0)
        return pi * np.einsum("...te,...e->...t", M, ratio) / total

    pi = np.full(np.broadcast_shapes(n.shape, M.shape[:-1]), 1.0 / M.shape[-1])
    for _ in range(iters // 3):
        p1 = step(pi)
        p2 = step(p1)
        r, v = p1 - pi, p2 - 2 * p1 + pi
        nv = np.linalg.norm(v, axis=-1, keepdims=True)
        a = -np.linalg.norm(r, axis=-1, keepdims=True) / np.where(nv > 0, nv, 1.0)
        a = np.minimum(np.where(nv > 0, a, -1.0), -1.0)
        jump = np.clip(pi - 2 * a * r + a * a * v, 0.0, None)
        jump = step(jump / np.maximum(jump.sum(-1, keepdims=True), 1e-300))
        new = np.where(np.isfinite(jump).all(-1, keepdims=True), jump, p2)
        if np.max(np.abs(new - pi)) < tol:
            return new
        pi = new
    return pi


def posterior_types(estimated, M, pi) -> np.ndarray:
    """``P(true t | estimated e)`` for each row (n, 6): ``pi_t M[t, e]`` normalised; rows without an
    estimated type (0) get ``pi`` itself."""
    est = np.asarray(estimated, int)
    joint = np.asarray(pi, float)[:, None] * np.asarray(M, float)  # (t, e)
    post = (joint / np.maximum(joint.sum(0, keepdims=True), 1e-300)).T  # (e, t)
    out = np.tile(np.asarray(pi, float), (est.size, 1))
    ok = (est >= 1) & (est <= 6)
    out[ok] = post[est[ok] - 1]
    return out


@dataclass(frozen=True)
class CorrectedShares:
    """Estimated and corrected share of each type I-VI (and of the groups), with intervals."""

    observed: np.ndarray  # share of each estimated type (6,)
    corrected: np.ndarray  # estimated share of each true type (6,)
    low: np.ndarray
    high: np.ndarray
    n: int  # rows with an estimated type
    n_units: int
    unit: str  # "patient" or "image"
    n_calibration: int
    cross_validated: bool
    unseen: tuple[int, ...]  # true types without any calibration image
    confusion: np.ndarray = field(repr=False)  # the smoothed P(estimated | true) the point estimate used
    n_boot: int = 0
    ci_level: float = 0.95
    groups: dict = field(default_factory=dict)  # name -> (observed, corrected, low, high)

    def group(self, name: str) -> tuple[float, float, float, float]:
        return self.groups[name]

    def to_dict(self) -> dict:
        def ci(lo, hi):
            return [float(lo), float(hi)] if np.isfinite(lo) and np.isfinite(hi) else None

        per = {ROMAN[t - 1]: {"estimated": float(self.observed[t - 1]), "corrected": float(self.corrected[t - 1]),
                              "ci": ci(self.low[t - 1], self.high[t - 1])} for t in FST_TYPES}
        grp = {g: {"estimated": o, "corrected": c, "ci": ci(lo, hi)} for g, (o, c, lo, hi) in self.groups.items()}
        return {"types": per, "groups": grp, "n": self.n, "n_units": self.n_units, "resampling_unit": self.unit,
                "n_calibration": self.n_calibration, "confusion_cross_validated": self.cross_validated,
                "unseen_types": [ROMAN[t - 1] for t in self.unseen], "n_boot": self.n_boot,
                "ci_level": self.ci_level, "ci_method": METHOD.format(unit=self.unit),
                "assumptions": "the labeller errs on these images as on the calibration images; a true type with no "
                               "calibration image is assumed to be estimated near itself"}

    def line(self, group: str = FITZPATRICK.darkest_group) -> str:
        """One line for a terminal: ``V-VI: estimated 32.3%, corrected 1.1% (0.2-4.0%)``."""
        o, c, lo, hi = self.groups[group]
        return shares_line(group, o, c, [lo, hi], n=self.n, n_calibration=self.n_calibration, ci_level=self.ci_level)


def corrected_shares(estimated, confusion_counts, *, units=None, cross_validated: bool = False, n_boot: int = 1000,
                     seed: int = 0, ci_level: float = 0.95, prior_weight: float = PRIOR_WEIGHT) -> CorrectedShares:
    """The true-type shares of rows whose estimated types are ``estimated`` (1-6; 0 or NaN =
    none, left out), given the labeller's ``confusion_counts`` (6 x 6, rows true, columns
    estimated). ``units`` (one id per row, e.g. patient ids; '' = its own unit) are what the
    bootstrap resamples."""
    est = np.nan_to_num(np.asarray(estimated, float), nan=0).astype(int)
    ok = (est >= 1) & (est <= 6)
    est = est[ok]
    counts = np.asarray(confusion_counts, float)
    ids, unit = resampling_units(np.full(est.size, "", object) if units is None else np.asarray(units, object)[ok])
    uniq, inv = np.unique(ids, return_inverse=True)
    per_unit = np.zeros((uniq.size, 6))
    np.add.at(per_unit, (inv, est - 1), 1)
    observed = per_unit.sum(0)
    M = confusion_probabilities(counts, prior_weight=prior_weight)
    pi = em_shares(observed, M)
    rng = np.random.default_rng(seed)
    low, high = np.full(6, np.nan), np.full(6, np.nan)
    boots = None
    if n_boot and est.size:
        draw = rng.integers(0, uniq.size, (n_boot, uniq.size))
        obs_b = per_unit[draw].sum(1)  # (B, 6)
        alpha = counts + prior_weight * _kernel()
        M_b = np.stack([rng.dirichlet(a, size=n_boot) for a in alpha], axis=1)  # (B, t, e)
        boots = em_shares(obs_b, M_b, tol=1e-7)
        a = (1 - ci_level) / 2
        low, high = np.quantile(boots, a, axis=0), np.quantile(boots, 1 - a, axis=0)
    share_obs = observed / max(observed.sum(), 1)
    groups = {}
    for g, ts in FST_GROUPS.items():
        idx = [t - 1 for t in ts]
        gb = boots[:, idx].sum(1) if boots is not None else None
        a = (1 - ci_level) / 2
        groups[g] = (float(share_obs[idx].sum()), float(pi[idx].sum()),
                     float(np.quantile(gb, a)) if gb is not None else float("nan"),
                     float(np.quantile(gb, 1 - a)) if gb is not None else float("nan"))
    unseen = tuple(t for t in FST_TYPES if counts[t - 1].sum() == 0)
    return CorrectedShares(observed=share_obs, corrected=pi, low=low, high=high, n=int(est.size),
                           n_units=int(uniq.size), unit=unit, n_calibration=int(counts.sum()),
                           cross_validated=cross_validated, unseen=unseen, confusion=M, n_boot=n_boot,
                           ci_level=ci_level, groups=groups)


def shares_summary(labels, confusion: dict | None, *, manifest=None, n_boot: int = 1000) -> dict:
    """The label summary's ``corrected_shares``: the labelled rows' estimated types corrected
    with the run's ``label_confusion`` (None without human types: then only a note says why)."""
    import pandas as pd

    if confusion is None or "fst" not in labels:
        return {"available": False, "note": "no image has a human Fitzpatrick type, so the labeller's confusion is "
                "unknown and the estimated shares cannot be corrected; label some images by hand (or use the "
                "reader-study app) and run fairskin label --calibrate"}
    ok = labels["status"].eq("ok").to_numpy() if "status" in labels else np.ones(len(labels), bool)
    est = pd.to_numeric(labels["fst"], errors="coerce").fillna(0).astype(int).to_numpy() * ok
    units = manifest_units(manifest)[0] if manifest is not None and "patient_id" in manifest else None
    s = corrected_shares(est, confusion["counts"], units=units, cross_validated=bool(confusion.get("cross_validated")),
                         n_boot=n_boot)
    return {"available": True, **s.to_dict()}


def shares_line(group: str, estimated: float, corrected: float, ci, *, n: int, n_calibration: int,
                ci_level: float = 0.95) -> str:
    """``V-VI: estimated 32.3%, corrected for the labeller's confusion 1.1% (0.2%-4.0%, ...)``."""
    iv = (f"{ci[0]:.1%}-{ci[1]:.1%}, {ci_level:.0%} interval, " if ci is not None and np.all(np.isfinite(ci))
          else "no interval, ")
    return (f"{group}: estimated {estimated:.1%}, corrected for the labeller's confusion {corrected:.1%} "
            f"({iv}n={n}, confusion from {n_calibration} images with human types)")
