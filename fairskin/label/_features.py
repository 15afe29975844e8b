"""What an estimator can see of one photograph: colour statistics of its healthy skin and of the
whole frame, as one flat vector of named numbers.

The learned estimator (``label/_learned.py``) reads its type from these, the reliability check
reads exposure and cast from them, and ``benchmarks/bench_real_photos.py`` computes them once per
image so that every estimator and setting it compares is scored on the same pass over the photos.

Skin statistics come from :func:`fairskin.label.skin_pixels` (the healthy skin's core):
quantiles of L*, a*, b* and of per-pixel ITA, the ITA of the median L*, b*, chroma and hue.
Frame statistics describe the photograph rather than the skin: the share of clipped
(over-exposed) and near-black pixels, the median lightness, and the grey-world cast (the mean
a*, b* of the whole frame: a warm lamp shifts every pixel, skin included).
"""

from __future__ import annotations

import math

import numpy as np

from fairskin.label._config import LabelConfig
from fairskin.label._estimate import skin_pixels
from fairskin.skintone import ita_degrees, srgb_to_lab

__all__ = ["FEATURE_NAMES", "image_features", "frame_features", "skin_features"]

_Q = (10, 25, 50, 75, 90)
SKIN_FEATURES = (
    *(f"L_q{q}" for q in _Q), *(f"a_q{q}" for q in _Q), *(f"b_q{q}" for q in _Q),
    "ita_q10", "ita_q50", "ita_q90", "ita_of_medians", "ita_iqr", "chroma_q50", "hue_q50", "skin_fraction",
    "log_skin_pixels",
)
FRAME_FEATURES = ("frame_L_q50", "frame_clipped", "frame_dark", "frame_cast_a", "frame_cast_b", "frame_ita")
#: every feature, in the order of the learned estimator's vector
FEATURE_NAMES: tuple[str, ...] = (*SKIN_FEATURES, *FRAME_FEATURES)


def frame_features(rgb: np.ndarray, valid: np.ndarray | None = None, *, side: int | None = None) -> dict[str, float]:
    """Exposure and colour cast of the whole frame (8-bit sRGB, H x W x 3): the share of clipped white
    (all three channels >= 250) and near-black (L* < 15) pixels, median L*, mean a*, b*; with ``side``, from
    every other pixel until the long side is at most twice ``side`` (the statistics need no more,
    and a 4,000 px photo would otherwise cost more than its skin mask)."""
    if side:
        rgb = _work(rgb, side)
        valid = None if valid is None else _work(valid, side)
    px = rgb.reshape(-1, 3) if valid is None else rgb[valid.astype(bool)]
    if px.size == 0:
        return {k: math.nan for k in FRAME_FEATURES}
    lab = srgb_to_lab(px.reshape(-1, 1, 3)).reshape(-1, 3)
    L_med, b_med = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    return {
        "frame_L_q50": L_med,
        "frame_clipped": float(np.mean(px.min(axis=1) >= 250)),  # white: pale skin saturates red alone
        "frame_dark": float(np.mean(lab[:, 0] < 15.0)),
        "frame_cast_a": float(lab[:, 1].mean()),
        "frame_cast_b": float(lab[:, 2].mean()),
        "frame_ita": float(ita_degrees(L_med, b_med)),  # naive whole-image ITA (no mask)
    }


def skin_features(lab: np.ndarray | None, skin_fraction: float, n_skin: int) -> dict[str, float]:
    """Colour statistics of healthy-skin CIELAB pixels ``lab`` (n x 3); NaN where there is none."""
    if lab is None or len(lab) == 0:
        out = {k: math.nan for k in SKIN_FEATURES}
        out["skin_fraction"] = float(skin_fraction)
        out["log_skin_pixels"] = math.log10(max(n_skin, 1))
        return out
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    out: dict[str, float] = {}
    for name, v in (("L", L), ("a", a), ("b", b)):
        for q, x in zip(_Q, np.percentile(v, _Q)):
            out[f"{name}_q{q}"] = float(x)
    ita = ita_degrees(L, b)
    q10, q25, q50, q75, q90 = np.percentile(ita, _Q)
    out.update(ita_q10=float(q10), ita_q50=float(q50), ita_q90=float(q90),
               ita_of_medians=float(ita_degrees(out["L_q50"], out["b_q50"])), ita_iqr=float(q75 - q25),
               chroma_q50=float(np.median(np.hypot(a, b))),
               hue_q50=float(np.degrees(np.arctan2(out["b_q50"], out["a_q50"]))),
               skin_fraction=float(skin_fraction), log_skin_pixels=math.log10(max(n_skin, 1)))
    return out


def image_features(rgb: np.ndarray, *, valid: np.ndarray | None = None, lesion_mask: np.ndarray | None = None,
                   config: LabelConfig = LabelConfig()) -> tuple[dict[str, float], str]:
    """``(features, reason)``: :data:`FEATURE_NAMES` of one 8-bit sRGB image, and why no skin was
    found ("" when some was; the skin features are then NaN)."""
    sp = skin_pixels(rgb, valid=valid, lesion_mask=lesion_mask, config=config)
    feats = skin_features(sp.lab, sp.skin_fraction, sp.n_skin_pixels)
    feats.update(frame_features(rgb, valid, side=config.work_side))
    return feats, sp.reason


def _work(arr: np.ndarray, side: int) -> np.ndarray:
    while max(arr.shape[:2]) > 2 * side:
        arr = arr[::2, ::2]
    return arr
