"""Skin tone of real images: healthy-skin mask -> CIELAB -> a registered estimator (ITA ->
Fitzpatrick type by default; nearest Monk Skin Tone reference colour with ``monk``)."""

from fairskin.label._config import LabelConfig
from fairskin.label._estimate import (
    ItaEstimate,
    SkinMask,
    SkinPixels,
    estimate_image,
    estimate_rgb,
    healthy_skin_mask,
    skin_pixels,
)
from fairskin.label._estimators import DEFAULT_ESTIMATOR, ItaEstimator, estimate_tone_image, measure_tone
from fairskin.label._labels import HUMAN_CONSENSUS, read_labels_csv, with_human_labels
from fairskin.label._masks import LesionMasks
from fairskin.label._monk import MonkEstimator
from fairskin.label._run import LABEL_COLUMNS, LabelResult, label_dataset
from fairskin.skintone import (
    DEFAULT_SCALE,
    ItaScale,
    SkinToneEstimator,
    ToneEstimate,
    get_estimator,
    get_scale,
    ita_degrees,
    lab_to_srgb,
    list_estimators,
    list_scales,
    register_estimator,
    srgb_to_lab,
)

from fairskin.label._backbone import BackboneSpec, embed_images, load_backbone_model
from fairskin.label._calibrate import fit_scale
from fairskin.label._features import FEATURE_NAMES, image_features
from fairskin.label._fit import (
    FitDefaults, cross_validate_learned, dataset_features, fit_estimator, fit_learned, group_folds, patient_groups,
    readable_rows,
)
from fairskin.label._learned import LearnedEstimator, exposure_problem, load_learned_estimator
from fairskin.label._ordinal import OrdinalModel, fit_ordinal
from fairskin.label._scores import score_types, type_metrics
from fairskin.label._shares import CorrectedShares, corrected_shares, em_shares, posterior_types, shares_line
from fairskin.label._resolve import ToneResolution, find_label_confusion, resolve_tones
from fairskin.label._published import GROH_WITHIN_ONE, PAD_AGREEMENT, estimated_types_caution

__all__ = [
    "GROH_WITHIN_ONE", "HUMAN_CONSENSUS", "PAD_AGREEMENT", "estimated_types_caution", "with_human_labels",
    "ToneResolution", "find_label_confusion", "resolve_tones", "CorrectedShares", "corrected_shares", "em_shares",
    "posterior_types", "shares_line",
    "FEATURE_NAMES", "FitDefaults", "image_features", "cross_validate_learned", "dataset_features", "fit_estimator",
    "fit_learned",
    "group_folds", "patient_groups", "readable_rows", "LearnedEstimator", "exposure_problem", "load_learned_estimator",
    "BackboneSpec", "embed_images", "load_backbone_model",
    "OrdinalModel", "fit_ordinal", "fit_scale", "score_types", "type_metrics",
    "DEFAULT_SCALE", "LABEL_COLUMNS", "ItaEstimate", "LabelResult", "ItaScale", "LabelConfig", "LesionMasks",
    "SkinMask",
    "estimate_image", "estimate_rgb", "get_scale", "healthy_skin_mask", "ita_degrees", "label_dataset",
    "lab_to_srgb", "list_scales", "read_labels_csv", "srgb_to_lab",
    "DEFAULT_ESTIMATOR", "ItaEstimator", "MonkEstimator", "SkinPixels", "SkinToneEstimator", "ToneEstimate",
    "estimate_tone_image", "get_estimator", "list_estimators", "measure_tone", "register_estimator", "skin_pixels",
]

from fairskin.notebook import callable_module as _callable_module  # noqa: E402

_callable_module(__name__, label_dataset)  # `fairskin.label(data, out="labels.csv", ...)` is `label_dataset` (the notebook API)
