"""Data in: readers for dermatology data sets, one manifest schema, safe image loading, and
the phantom demo data set with a known answer."""

from fairskin.data._csv import read_csv_table
from fairskin.data._hair import HAIR_REMOVAL_METHOD, HairRemovalConfig, hair_mask, remove_hair
from fairskin.data._images import IMAGE_EXTENSIONS, MAX_DECODE_PIXELS, ImageLoadError, LoadedImage, load_mask, load_rgb
from fairskin.data._names import fs_path, text_name
from fairskin.data._manifest import (MANIFEST_COLUMNS, SYNTHETIC_COLUMNS, finalize_manifest, fst_to_group,
                                     manifest_units, resampling_units)
from fairskin.data._phantoms import (DEMO_DIAGNOSES, DemoConfig, PhantomLayers, PhantomSpec, render_phantom,
                                     render_phantom_layers, sample_ita, write_demo_dataset)
from fairskin.data._readers import FORMATS, detect_format, read_dataset
from fairskin.skintone import FST_GROUPS

__all__ = [
    "FORMATS", "FST_GROUPS", "HAIR_REMOVAL_METHOD", "MANIFEST_COLUMNS", "SYNTHETIC_COLUMNS", "IMAGE_EXTENSIONS",
    "DEMO_DIAGNOSES", "MAX_DECODE_PIXELS", "DemoConfig", "HairRemovalConfig", "ImageLoadError", "LoadedImage",
    "PhantomLayers", "PhantomSpec", "detect_format", "finalize_manifest", "fst_to_group", "hair_mask", "load_mask",
    "load_rgb", "read_csv_table", "read_dataset", "remove_hair", "render_phantom", "render_phantom_layers",
    "sample_ita", "write_demo_dataset", "fs_path", "text_name", "resampling_units", "manifest_units",
]
