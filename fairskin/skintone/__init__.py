"""Skin tone, the foundation every stage shares: the Fitzpatrick vocabulary (types, roman
numerals, groups, one parser), sRGB <-> CIELAB and the Individual Typology Angle, the registry
of published ITA -> type scales, the tone scales estimators label on (Fitzpatrick; Monk Skin
Tone with its reference colours) and the estimator seam (protocol and registry). It imports
nothing else of fairskin's but its errors, so ``data``, ``label``, ``audits``, ``reports`` and
``conditioning`` can all build on it."""

from fairskin.skintone._color import D65_WHITE, ita_degrees, lab_to_srgb, srgb_to_lab
from fairskin.skintone._estimators import (
    SkinToneEstimator,
    ToneEstimate,
    get_estimator,
    list_estimators,
    register_estimator,
    register_estimator_loader,
)
from fairskin.skintone._scales import DEFAULT_SCALE, ItaScale, get_scale, list_scales, load_scale_file
from fairskin.skintone._tones import (
    FITZPATRICK,
    MONK,
    MONK_SWATCHES,
    MST_GROUPS,
    MST_TONES,
    MonkSwatches,
    ToneScale,
    get_tone_scale,
    tone_scale_of_columns,
)
from fairskin.skintone._vocab import (
    DDI_CODE_TO_GROUP,
    FST_GROUPS,
    FST_TYPES,
    GROUP_NAMES,
    ROMAN,
    from_roman,
    group_of,
    parse_fst,
    roman,
    type_label,
    types_of,
)

__all__ = [
    "D65_WHITE", "DDI_CODE_TO_GROUP", "DEFAULT_SCALE", "FST_GROUPS", "FST_TYPES", "GROUP_NAMES", "ROMAN",
    "ItaScale", "from_roman", "get_scale", "group_of", "ita_degrees", "lab_to_srgb", "list_scales",
    "load_scale_file", "parse_fst", "roman", "srgb_to_lab", "type_label", "types_of",
    "FITZPATRICK", "MONK", "MONK_SWATCHES", "MST_GROUPS", "MST_TONES", "MonkSwatches", "ToneScale", "get_tone_scale",
    "tone_scale_of_columns",
    "SkinToneEstimator", "ToneEstimate", "get_estimator", "list_estimators", "register_estimator", "register_estimator_loader",
]
