"""The built-in skin-tone estimators and the one way every stage runs one.

``ita`` (the default) reads the Fitzpatrick type from the ITA of the healthy skin through a
published cut-point scale (``_estimate``); ``monk`` reads the Monk Skin Tone from the nearest
reference colour (``_monk``). Both are registered here in :mod:`fairskin.skintone`'s registry;
a new estimator is a module with a class that satisfies
:class:`fairskin.skintone.SkinToneEstimator` plus one ``register_estimator`` line below (or,
outside fairskin, ``--estimator package.module:Class``).

:func:`estimate_tone_image` (a file) is what ``fairskin label`` and ``fairskin audit-synthetic``
call, :func:`measure_tone` the same for an array; the balance gate takes its estimator from the
registry too (``fairskin.balance.gate_estimator``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from fairskin.data import ImageLoadError
from fairskin.label._config import LabelConfig
from fairskin.label._estimate import ItaEstimate, estimate_rgb, read_for_estimate
from fairskin.label._features import frame_features
from fairskin.label._learned import exposure_problem, load_learned_estimator
from fairskin.label._monk import MonkEstimator
from fairskin.skintone import (
    FITZPATRICK,
    ItaScale,
    SkinToneEstimator,
    ToneEstimate,
    get_estimator,
    get_scale,
    register_estimator,
    register_estimator_loader,
)

__all__ = ["ItaEstimator", "estimate_tone_image", "measure_tone", "DEFAULT_ESTIMATOR"]

DEFAULT_ESTIMATOR = "ita"


@dataclass(frozen=True)
class ItaEstimator:
    """Fitzpatrick type from the ITA of the healthy skin's median L*, b* (``docs/label.md``)."""

    name: ClassVar[str] = "ita"
    tone_scale: ClassVar = FITZPATRICK
    columns: ClassVar[tuple[str, ...]] = ("ita", "fst", "confidence", "status", "reason", "scale", "L", "a", "b",
                                          "ita_spread", "skin_fraction")
    config: LabelConfig | None = None
    scale: ItaScale | str | os.PathLike | None = None
    #: give no type to a photo whose frame is mostly clipped white or near-black, or whose skin is
    #: far too dark or bright (a cut-out lesion, a figure, a failed exposure): status
    #: ``unreliable`` and the reason. ``fairskin label`` turns it on (``--no-abstain`` off); off
    #: for the library's other callers (the balance gate measures generated images).
    abstain: bool = False

    def __post_init__(self):
        config = self.config or LabelConfig()
        scale = get_scale(self.scale if self.scale is not None else config.scale)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "config", replace(config, scale=scale.name) if config.scale != scale.name else config)

    @property
    def work_side(self) -> int:
        return self.config.work_side

    @property
    def scale_name(self) -> str:
        return self.scale.name

    def settings(self) -> dict:
        out = {"config": self.config.fingerprint(), "scale": [self.scale.name, list(self.scale.cuts)]}
        return {**out, "abstain": True} if self.abstain else out

    def estimate_rgb(self, rgb: np.ndarray, *, valid: np.ndarray | None = None,
                     lesion_mask: np.ndarray | None = None) -> ToneEstimate:
        est = self.from_ita(estimate_rgb(rgb, valid=valid, lesion_mask=lesion_mask, config=self.config,
                                         scale=self.scale))
        if not self.abstain or est.status != "ok":
            return est
        why = exposure_problem({**frame_features(rgb, valid, side=self.config.work_side), "L_q50": est.values["L"]})
        if why:
            est.tone, est.status = None, "unreliable"
            est.reason = why + (f"; {est.reason}" if est.reason else "")
        return est

    @staticmethod
    def from_ita(est: ItaEstimate) -> ToneEstimate:
        return ToneEstimate(FITZPATRICK, tone=est.fst, confidence=est.confidence, status=est.status,
                            reason=est.reason, scale=est.scale,
                            values={"ita": est.ita, "L": est.L, "a": est.a, "b": est.b, "ita_spread": est.ita_spread,
                                    "skin_fraction": est.skin_fraction})


register_estimator("ita", ItaEstimator)
register_estimator("monk", MonkEstimator)
register_estimator_loader(".json", load_learned_estimator)

def estimate_tone_image(path, estimator: SkinToneEstimator, *, lesion_mask=None) -> ToneEstimate:
    """Run ``estimator`` on one image file (read at its ``work_side``, with the lesion mask file
    or array when given); an unreadable image becomes a status and reason."""
    try:
        img, mask, note = read_for_estimate(path, lesion_mask=lesion_mask, work_side=estimator.work_side)
    except ImageLoadError as exc:
        fixed = {estimator.tone_scale.column, "confidence", "status", "reason", "scale"}
        return ToneEstimate(estimator.tone_scale, status=exc.status, reason=exc.reason, scale=estimator.scale_name,
                            values={c: math.nan for c in estimator.columns if c not in fixed})
    est = estimator.estimate_rgb(img.rgb, valid=img.valid, lesion_mask=mask)
    if note:
        est.reason = (est.reason + "; " if est.reason else "") + note
    return est


def measure_tone(rgb: np.ndarray, *, estimator: str | SkinToneEstimator = DEFAULT_ESTIMATOR,
                 config: LabelConfig | None = None) -> ToneEstimate:
    """The tone of one 8-bit sRGB array by a registered estimator."""
    return get_estimator(estimator, config=config).estimate_rgb(rgb) if isinstance(estimator, str) \
        else estimator.estimate_rgb(rgb)
