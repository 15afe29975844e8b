"""The ITA labeller's measured agreement with clinicians, defined once.

These counts are docs/label.md's PAD-UFES-20 table (61 photographs, fixed code and seed, so they
are exact); ``tests/label/test_pad_agreement.py`` regenerates them from the real sample and fails
when either the code or the documentation drifts. The experiment's caution text is formatted from
them, so no other module repeats the figures.
"""

from __future__ import annotations

__all__ = ["PAD_AGREEMENT", "GROH_WITHIN_ONE", "estimated_types_caution"]

#: setting -> (images with a clinician's type and an estimate, exact agreements, within one type)
PAD_AGREEMENT: dict[str, tuple[int, int, int]] = {
    "default": (46, 9, 25),  # automatic lesion segmentation, default scale
    "masks": (43, 9, 26),  # the sample's lesion masks
    "calibrated_cv": (43, 13, 30),  # --calibrate, 5-fold cross-validated, folds grouped by patient
}
#: within-one-type agreement of ITA-based labels on Fitzpatrick17k (Groh et al. 2021), percent
GROH_WITHIN_ONE: tuple[float, float] = (45.8, 53.0)


def _pct(k: int, n: int) -> int:
    return round(100 * k / n)


def estimated_types_caution() -> str:
    """One paragraph for any result whose skin types were estimated rather than given by clinicians."""
    n0, e0, w0 = PAD_AGREEMENT["default"]
    n1, e1, w1 = PAD_AGREEMENT["masks"]
    nc, ec, wc = PAD_AGREEMENT["calibrated_cv"]
    lo, hi = sorted((_pct(e0, n0), _pct(e1, n1)))
    wlo, whi = sorted((_pct(w0, n0), _pct(w1, n1)))
    return (
        "The test set's skin types are estimated from ITA, not given by dermatologists, and carry the estimator's "
        f"error: exact-type agreement with dermatologists' labels is low ({lo}-{hi}% on the PAD-UFES-20 sample, "
        f"{_pct(ec, nc)}% with cut-points calibrated on its labels, cross-validated); agreement within one "
        f"(adjacent) type is what the estimator supports ({wlo}-{whi}% there, {_pct(wc, nc)}% calibrated; "
        f"{GROH_WITHIN_ONE[0]:.1f}-{GROH_WITHIN_ONE[1]:.1f}% reported on Fitzpatrick17k by Groh et al. 2021). "
        "A difference between neighbouring types may be labelling error; the groups I-II, III-IV and V-VI are "
        "the safer reading (docs/label.md).")
