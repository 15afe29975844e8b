"""One manifest schema for every stage.

A manifest is a :class:`pandas.DataFrame` with the columns of :data:`MANIFEST_COLUMNS`
(extra columns are kept). Every reader returns one; ``balance`` appends synthetic rows to
one; ``audit`` reads one. Paths in ``image`` are relative to the data set root, which the
frame carries in ``df.attrs["root"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.skintone import FST_TYPES, group_of

__all__ = [
    "MANIFEST_COLUMNS",
    "SYNTHETIC_COLUMNS",
    "fst_to_group",
    "empty_manifest",
    "finalize_manifest",
    "ManifestRow",
    "resampling_units",
    "manifest_units",
]

#: column -> (dtype, meaning)
MANIFEST_COLUMNS: dict[str, tuple[str, str]] = {
    "image": ("string", "image path relative to the data set root (POSIX separators)"),
    "image_id": ("string", "identifier unique within the data set"),
    "diagnosis": ("string", "diagnosis as the data set names it (may be empty)"),
    "malignant": ("boolean", "True for malignant, False for benign, <NA> when unknown"),
    "fst_human": ("Int64", "Fitzpatrick type 1-6 given by a human, <NA> when unknown"),
    "fst_group_human": ("string", "human Fitzpatrick group 'I-II', 'III-IV' or 'V-VI' (DDI gives only this)"),
    "source": ("string", "data set format the row came from (ddi, fitzpatrick17k, ham10000, isic, pad-ufes-20, folder, synthetic)"),
    "patient_id": ("string", "patient identifier, for patient-level splits (may be empty)"),
    "lesion_id": ("string", "lesion identifier, for lesion-level splits (may be empty)"),
    "status": ("string", "'ok' or why the row cannot be used (missing, bad_metadata, ...)"),
    "reason": ("string", "human-readable explanation for a status other than ok, or a warning"),
}

#: Extra columns of a balanced manifest (written by ``fairskin balance``): every synthetic row
#: carries its provenance; real rows have ``synthetic=False`` and the rest empty.
SYNTHETIC_COLUMNS: dict[str, tuple[str, str]] = {
    "synthetic": ("boolean", "True for a generated image"),
    "fst": ("Int64", "skin type the row counts toward (human, else estimated; requested for synthetic rows)"),
    "fst_source": ("string", "where fst came from: human, estimated (scale name), requested"),
    "fst_requested": ("Int64", "skin type the generator was asked for"),
    "ita_requested": ("Float64", "ITA (degrees) the generator was asked for (tone request; empty without one)"),
    "ita_measured": ("Float64", "ITA of the generated image measured by fairskin label's estimator"),
    "fst_measured": ("Int64", "skin type measured on the generated image"),
    "gate": ("string", "accepted or rejected by the ITA gate"),
    "attempt": ("Int64", "1 for the first try of a plan slot, 2 after one rejection, ..."),
    "prompt": ("string", "full prompt"),
    "negative_prompt": ("string", "negative prompt"),
    "seed": ("Int64", "seed of the torch.Generator for this image"),
    "base_model": ("string", "base model path as given"),
    "base_model_sha256": ("string", "hash of the base model's weight files"),
    "conditioning": ("string", "conditioning file path"),
    "conditioning_sha256": ("string", "hash of the conditioning file"),
    "scheduler": ("string", "scheduler class name"),
    "steps": ("Int64", "inference steps"),
    "guidance": ("Float64", "classifier-free guidance scale"),
    "strength": ("Float64", "image-to-image strength (empty for text-to-image)"),
    "source_image": ("string", "image-to-image source, or the real image the request was made from (path "
                               "relative to the real data root)"),
    "generator": ("string", "generator that made the image: a registered name (stable-diffusion, ddpm, phantom) "
                            "or a user's module:Class"),
    "request": ("string", "why the image was asked for (e.g. 'hard-case round 1'); empty in fairskin balance"),
}

def resampling_units(ids) -> tuple[np.ndarray, str]:
    """The independent unit of each row, for resampling and folds: its patient (or lesion) id where
    one is given, else the row itself (``"row:<position>"``), so an image without an id is its own
    unit and never pooled with another. ``ids`` is one value per row; empty, NA and the strings
    "nan" / "<NA>" / "None" count as missing. Returns ``(units, kind)``, ``kind`` "patient" when any
    row has an id, else "image"."""
    v = pd.Series(np.asarray(ids, object)).astype("string").str.strip().fillna("")
    v = v.mask(v.isin(["nan", "<NA>", "None"]), "").to_numpy(object)
    given = v != ""
    units = np.where(given, v, np.char.add("row:", np.arange(v.size).astype(str))).astype(str).astype(object)
    return units, ("patient" if given.any() else "image")


def manifest_units(manifest: pd.DataFrame, column: str = "patient_id") -> tuple[np.ndarray, str]:
    """:func:`resampling_units` of a manifest's ``column`` (every row its own unit when the column is absent)."""
    if column in manifest:
        return resampling_units(manifest[column])
    return resampling_units([""] * len(manifest))


def fst_to_group(fst) -> object:
    """Map a Fitzpatrick type 1-6 (or an array of them) to its DDI group name; NA stays NA."""
    def one(v):
        return pd.NA if pd.isna(v) or int(v) not in FST_TYPES else group_of(int(v))

    if np.ndim(fst) == 0:
        return one(fst)
    return pd.Series(fst, dtype="Int64").map(one).astype("string")


def empty_manifest(root: str | Path | None = None) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype=t) for c, (t, _) in MANIFEST_COLUMNS.items()})
    df.attrs["root"] = str(root) if root is not None else None
    return df


def finalize_manifest(df: pd.DataFrame, *, root: str | Path, source: str) -> pd.DataFrame:
    """Give a reader's frame the schema's columns and dtypes, in order, extras after."""
    df = df.copy()
    for col, (dtype, _) in MANIFEST_COLUMNS.items():
        if col not in df.columns:
            if col == "source":
                df[col] = source
            elif col == "status":
                df[col] = "ok"
            else:
                df[col] = pd.NA
        df[col] = df[col].astype(dtype)
    # fill the group from the exact type where the reader only had the type
    have_type = df["fst_human"].notna() & df["fst_group_human"].isna()
    if have_type.any():
        df.loc[have_type, "fst_group_human"] = fst_to_group(df.loc[have_type, "fst_human"]).to_numpy()
    df["status"] = df["status"].fillna("ok")
    extras = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    df = df[list(MANIFEST_COLUMNS) + extras].reset_index(drop=True)
    df.attrs["root"] = str(root)
    df.attrs["source"] = source
    return df


@dataclass(frozen=True)
class ManifestRow:
    """Typed view of one manifest row (for code that handles one image at a time)."""

    image: str
    image_id: str
    diagnosis: str | None = None
    malignant: bool | None = None
    fst_human: int | None = None
    fst_group_human: str | None = None
    source: str | None = None
