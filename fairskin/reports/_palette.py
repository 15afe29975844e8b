"""Colours, line styles and markers per skin type, and a real skin-colour swatch per type.

Plot colours are Okabe & Ito's colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
Design"); every type also has its own dash pattern and marker shape and is labelled in text,
so no meaning is carried by colour alone. The swatch is the skin colour of a representative ITA:
L* = 50 + b* tan(ITA) with b* fixed, converted to sRGB with the same CIELAB code that labels
the images (``fairskin.skintone.lab_to_srgb``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fairskin import skintone
from fairskin.skintone import FST_TYPES, GROUP_NAMES, lab_to_srgb

__all__ = ["TYPE_KEYS", "GROUPS", "monk_tone", "style_for", "SeriesStyle", "skin_swatch", "representative_ita",
           "type_of_group", "DEFAULT_CUTS", "OKABE_ITO"]

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}

#: skin types as the JSON documents key them ("1".."6") and the groups (numerals:
#: :func:`fairskin.skintone.type_label`)
TYPE_KEYS = tuple(str(t) for t in FST_TYPES)
GROUPS = GROUP_NAMES
#: Kinyanjui et al. 2020 cut-points (fairskin's default scale), used only when a dict has none
DEFAULT_CUTS = (55.0, 41.0, 28.0, 19.0, 10.0)

#: b* of the swatch colour (typical of skin, in 12-20)
SWATCH_B = 16.0
SWATCH_A = 10.0


@dataclass(frozen=True)
class SeriesStyle:
    colour: str
    dash: str  # SVG stroke-dasharray ("" = solid)
    marker: str  # circle, square, triangle, diamond, cross, star, ...
    pattern: str  # fill pattern id for bars ("" = solid)


_TYPE_STYLE = {
    "1": SeriesStyle(OKABE_ITO["orange"], "", "circle", ""),
    "2": SeriesStyle(OKABE_ITO["sky"], "8 4", "square", ""),
    "3": SeriesStyle(OKABE_ITO["green"], "2 3", "triangle", ""),
    "4": SeriesStyle(OKABE_ITO["blue"], "10 3 2 3", "diamond", ""),
    "5": SeriesStyle(OKABE_ITO["vermillion"], "5 2", "cross", ""),
    "6": SeriesStyle(OKABE_ITO["purple"], "1 2", "star", ""),
}
_GROUP_STYLE = {**dict(zip(GROUP_NAMES, (  # lightest group first
    SeriesStyle(OKABE_ITO["orange"], "", "circle", ""),
    SeriesStyle(OKABE_ITO["green"], "8 4", "triangle", ""),
    SeriesStyle(OKABE_ITO["vermillion"], "2 3", "cross", ""),
))), "all": SeriesStyle(OKABE_ITO["black"], "12 3 2 3", "square", "")}
_FALLBACK = [SeriesStyle(c, d, m, "") for c, d, m in zip(
    (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["green"], OKABE_ITO["purple"], OKABE_ITO["sky"],
     OKABE_ITO["vermillion"], OKABE_ITO["black"]),
    ("", "8 4", "2 3", "10 3 2 3", "5 2", "1 2", "12 3"),
    ("circle", "square", "triangle", "diamond", "cross", "star", "circle"))]

def type_of_group(name) -> str | None:
    """'5', 'V', 5 -> '5'; groups and anything else -> None."""
    s = str(name).strip()
    if s in TYPE_KEYS:
        return s
    t = skintone.from_roman(s)
    return None if t is None else str(t)


#: Monk Skin Tone groups take the Fitzpatrick groups' styles in order (light, medium, dark)
_MONK_GROUP_STYLE = dict(zip(skintone.MST_GROUPS, (_GROUP_STYLE["I-II"], _GROUP_STYLE["III-IV"],
                                                   _GROUP_STYLE["V-VI"])))


_MONK_LABELS = dict(zip(skintone.MONK.labels, skintone.MONK.tones))


def monk_tone(name) -> int | None:
    """A Monk tone's label as the audit names it, 'MST 5' -> 5; anything else -> None."""
    return _MONK_LABELS.get(str(name).strip())


def style_for(name, index: int = 0) -> SeriesStyle:
    """Style of a skin type ('1'..'6' or 'I'..'VI'), a group ('I-II', ..., 'all'), a Monk tone
    ('MST 1'..'MST 10', each its own style) or group ('1-3', '4-7', '8-10'), or the ``index``-th
    other series."""
    t = type_of_group(name)
    if t is not None:
        return _TYPE_STYLE[t]
    if str(name) in _GROUP_STYLE:
        return _GROUP_STYLE[str(name)]
    if str(name) in _MONK_GROUP_STYLE:
        return _MONK_GROUP_STYLE[str(name)]
    m = monk_tone(name)
    if m is not None:  # 10 tones: the six type styles, then four fallbacks
        styles = list(_TYPE_STYLE.values()) + _FALLBACK[:4]
        return styles[m - 1]
    return _FALLBACK[index % len(_FALLBACK)]


def representative_ita(fst: str, cuts=DEFAULT_CUTS) -> float:
    """Middle of the type's ITA interval; for the open ends, 10 degrees above the first cut
    (type I) and 40 below the last (type VI: dark skin reaches far below the last cut)."""
    k = int(type_of_group(fst) or 0)
    if k not in FST_TYPES:
        raise ValueError(f"skin type must be 1-6 or I-VI, got {fst!r}")
    cuts = [float(c) for c in cuts]
    if k == 1:
        return cuts[0] + 10.0
    if k == 6:
        return cuts[-1] - 40.0
    return (cuts[k - 2] + cuts[k - 1]) / 2


def skin_swatch(ita: float) -> str:
    """'#rrggbb' of skin with this ITA (b* fixed at 16, a* at 10), L* clipped to 28-95."""
    L = 50.0 + SWATCH_B * math.tan(math.radians(max(-80.0, min(80.0, float(ita)))))
    L = min(95.0, max(28.0, L))
    rgb = lab_to_srgb(np.array([L, SWATCH_A, SWATCH_B]))
    r, g, b = (int(round(float(v) * 255)) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"
