"""Fitting ITA cut-points to human skin-type labels.

Model: a cumulative-logit (proportional odds) model on ITA,
``P(type <= k | ITA) = sigmoid((ITA - c_k) / s)`` with ordered cuts ``c_1 > ... > c_5``.
Labels may be intervals (DDI gives only I-II / III-IV / V-VI), which enter the likelihood as
``P(lo <= type <= hi)``. The cuts get a weak normal prior (sd ``prior_sd`` degrees) centred on
a published scale, so a type with no human labels keeps the published boundary instead of
drifting to infinity. The fitted cuts are where a type becomes more likely than not to be
exceeded, so every ITA still maps to exactly one type.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from fairskin.errors import InputError
from fairskin.skintone import ROMAN, ItaScale

__all__ = ["fit_scale"]


def _cuts_from(theta):
    c1 = theta[0]
    gaps = np.exp(theta[1:5])
    return c1 - np.concatenate([[0.0], np.cumsum(gaps)])


def fit_scale(ita, lo, hi, *, prior: ItaScale, prior_sd: float = 10.0, name: str = "calibrated",
              source: str = "") -> ItaScale:
    """Fit cut-points to ITA values and human labels given as intervals ``[lo, hi]`` of types."""
    ita = np.asarray(ita, float)
    lo = np.asarray(lo, int)
    hi = np.asarray(hi, int)
    ok = np.isfinite(ita) & (lo >= 1) & (hi <= 6) & (lo <= hi)
    ita, lo, hi = ita[ok], lo[ok], hi[ok]
    if ita.size < 10:
        raise InputError(f"calibrate=True needs at least 10 images with both an ITA and a human skin type, got {ita.size}")
    prior_cuts = np.asarray(prior.cuts, float)
    theta0 = np.concatenate([[prior_cuts[0]], np.log(-np.diff(prior_cuts)), [math.log(6.0)]])

    def nll(theta):
        cuts = _cuts_from(theta)
        s = math.exp(theta[5])
        # P(type <= k), k = 0..6 with P(<=0) = 0, P(<=6) = 1
        cdf = np.ones((ita.size, 7))
        cdf[:, 0] = 0.0
        cdf[:, 1:6] = expit((ita[:, None] - cuts[None, :]) / s)
        p = cdf[np.arange(ita.size), hi] - cdf[np.arange(ita.size), lo - 1]
        ll = np.log(np.clip(p, 1e-12, None)).sum()
        lp = -0.5 * (((cuts - prior_cuts) / prior_sd) ** 2).sum() - 0.5 * ((theta[5] - math.log(6.0)) / 1.0) ** 2
        return -(ll + lp)

    res = minimize(nll, theta0, method="L-BFGS-B")
    cuts = _cuts_from(res.x)
    # A cut between types k and k+1 is identified only if some label ends at k or starts at
    # k+1 (DDI's groups never separate I from II). Place the others at the published scale's
    # offset from the nearest identified cut.
    known = [k for k in range(1, 6) if np.any(hi == k) or np.any(lo == k + 1)]
    if known:
        for k in range(1, 6):
            if k not in known:
                ref = min(known, key=lambda j: abs(j - k))
                cuts[k - 1] = cuts[ref - 1] + (prior_cuts[k - 1] - prior_cuts[ref - 1])
    for k in range(1, 5):  # keep the order strict after placement and rounding
        cuts[k] = min(cuts[k], cuts[k - 1] - 0.01)
    return ItaScale(name=name, categories=ROMAN,
                    cuts=tuple(float(round(c, 4)) for c in cuts),
                    source=source or f"fitted by fairskin to {ita.size} human labels (prior: {prior.name}, sd {prior_sd} deg)")


