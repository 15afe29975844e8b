"""Skin tone of real images: healthy-skin mask -> CIELAB -> ITA -> Fitzpatrick type."""

from fairskin.label._config import LabelConfig
from fairskin.label._estimate import ItaEstimate, SkinMask, estimate_image, estimate_rgb, healthy_skin_mask
from fairskin.label._labels import read_labels_csv
from fairskin.label._masks import LesionMasks
from fairskin.label._run import LABEL_COLUMNS, LabelResult, label_dataset
from fairskin.skintone import DEFAULT_SCALE, ItaScale, get_scale, ita_degrees, lab_to_srgb, list_scales, srgb_to_lab

__all__ = [
    "DEFAULT_SCALE", "LABEL_COLUMNS", "ItaEstimate", "LabelResult", "ItaScale", "LabelConfig", "LesionMasks",
    "SkinMask",
    "estimate_image", "estimate_rgb", "get_scale", "healthy_skin_mask", "ita_degrees", "label_dataset",
    "lab_to_srgb", "list_scales", "read_labels_csv", "srgb_to_lab",
]
