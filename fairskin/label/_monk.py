"""The Monk Skin Tone estimator: the healthy skin's colour mapped to the nearest of the ten MST
reference colours in CIELAB.

The skin colour is the median L*, a*, b* of the healthy skin's core, found exactly as for ITA
(``skin_pixels``: same mask, same core, same working size), so the two estimators differ only
in how one colour becomes a tone. The tone is the swatch nearest in Delta E 1976; the
confidence is the probability that the measured colour, with a normal error per CIELAB axis,
stays nearest to that swatch (``MonkSwatches.nearest``). The error's standard deviation
combines ``systematic_sd`` (1 Delta E unit: on typical skin one L* unit is about 2.4 degrees of
ITA, so this matches the ITA estimator's 2-degree systematic term) with the spread of the skin's
colour shrunk by the number of independent 32 x 32 patches, as the ITA confidence does.

The mask's chroma floor is lowered from 4 to 2 for this estimator: the darkest reference
colour, MST 10 (#292420), has chroma 3.8 and would otherwise not count as skin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fairskin.errors import InputError
from fairskin.label._config import LabelConfig
from fairskin.label._estimate import skin_pixels
from fairskin.skintone import MONK, MONK_SWATCHES, ToneEstimate

__all__ = ["MonkEstimator"]


@dataclass(frozen=True)
class MonkEstimator:
    """Monk Skin Tone (1-10) of the healthy skin, with groups 1-3 / 4-7 / 8-10."""

    name: ClassVar[str] = "monk"
    scale_name: ClassVar[str] = "monk_skin_tone"
    tone_scale: ClassVar = MONK
    columns: ClassVar[tuple[str, ...]] = ("mst", "mst_group", "confidence", "status", "reason", "scale", "L", "a", "b",
                                          "delta_e", "skin_fraction")
    config: LabelConfig | None = None
    scale: None = None  # ITA cut-points do not apply; given only to refuse one clearly
    #: systematic colour uncertainty of a photograph, Delta E units per CIELAB axis
    systematic_sd: float = 1.0
    #: the healthy-skin gamut's chroma floor (4 for ITA; MST 10 has chroma 3.8)
    min_chroma: float = 2.0

    def __post_init__(self):
        if self.scale is not None:
            raise InputError(f"scale={self.scale!r}: ITA cut-point scales apply to estimator='ita'; the monk "
                             "estimator labels by the nearest Monk Skin Tone reference colour")
        if not self.systematic_sd > 0:
            raise InputError(f"systematic_sd must be positive, got {self.systematic_sd!r}")
        object.__setattr__(self, "config", self.config or LabelConfig())

    @property
    def work_side(self) -> int:
        return self.config.work_side

    def settings(self) -> dict:
        return {"config": self.config.fingerprint(), "scale": [self.scale_name, list(MONK_SWATCHES.hex)],
                "systematic_sd": self.systematic_sd, "min_chroma": self.min_chroma}

    def describe(self) -> dict:
        """The scale as the label summary states it: tones, reference colours and their source."""
        return {"name": self.scale_name, "categories": list(MONK.labels), "swatches": list(MONK_SWATCHES.hex),
                "swatches_lab": np.round(MONK_SWATCHES.lab, 3).tolist(), "distance": "Delta E 1976 (CIELAB, D65)",
                "source": MONK_SWATCHES.source, "calibrated": False}

    def estimate_rgb(self, rgb: np.ndarray, *, valid: np.ndarray | None = None,
                     lesion_mask: np.ndarray | None = None) -> ToneEstimate:
        sp = skin_pixels(rgb, valid=valid, lesion_mask=lesion_mask, config=self.config, min_chroma=self.min_chroma)
        est = ToneEstimate(MONK, scale=self.scale_name,
                           values={"mst_group": "", "L": math.nan, "a": math.nan, "b": math.nan, "delta_e": math.nan,
                                   "skin_fraction": sp.skin_fraction})
        if sp.lab is None:
            est.status, est.reason = "no_skin", sp.reason
            return est
        lab = np.median(sp.lab, axis=0).astype(np.float64)
        n_eff = max(1.0, len(sp.lab) / 1024.0)  # neighbouring pixels are far from independent: 32x32 patches
        iqr = np.subtract(*np.percentile(sp.lab, [75, 25], axis=0))
        spread = float(np.sqrt(np.mean((iqr / 1.349) ** 2)))  # per-axis sd of the skin's colour
        sd = math.sqrt(self.systematic_sd ** 2 + spread ** 2 / n_eff)
        sd /= math.sqrt(min(1.0, max(sp.skin_fraction, 1e-3) / 0.25))  # little skin visible: less sure
        tone, delta_e, confidence = MONK_SWATCHES.nearest(lab, sd=sd)
        est.tone, est.confidence = tone, confidence
        est.values.update(mst_group=MONK.group_of(tone), L=float(lab[0]), a=float(lab[1]), b=float(lab[2]),
                          delta_e=delta_e)
        return est
