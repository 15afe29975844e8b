"""Reading ``labels.csv`` (what ``fairskin label`` writes) wherever another stage takes it.

One reader for ``balance``, ``train-conditioning``, ``audit`` and ``experiment``, so that a file
edited by hand or concatenated from two runs is judged the same way everywhere:

* a skin type that is not 1-6 (``7``, ``abc``) is refused, with the count and the first rows (a
  Monk Skin Tone labels.csv, column ``mst``, is read by the stages that group on it: tones 1-10);
* an image listed twice with the same skin type is kept once (the count is a warning);
* an image listed twice with different skin types is refused: which one is right cannot be known.

A labels.csv whose every labelled row has ``source`` = ``human consensus`` (what ``fairskin
annotate analyze`` writes) holds human labels: ``df.attrs["human"]`` says so, and the stages read
it as human skin types rather than estimates (``audit``, ``balance``; ``label --human-labels``
calibrates to it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.skintone import FITZPATRICK, MONK, group_of, tone_scale_of_columns

__all__ = ["HUMAN_CONSENSUS", "LABELS_REQUIRED", "read_labels_csv", "with_human_labels"]

#: the ``source`` of a labels.csv row that is a consensus of human annotators (fairskin annotate)
HUMAN_CONSENSUS = "human consensus"

#: columns a labels.csv must have (fairskin label writes more: ita, confidence, status, reason, ...)
LABELS_REQUIRED = ("image", "fst")


def _rows(positions, limit: int = 3) -> str:
    shown = ", ".join(str(int(p) + 2) for p in list(positions)[:limit])  # +2: header line, 1-based
    return shown + (", ..." if len(positions) > limit else "")


def read_labels_csv(path: str | Path, *, arg: str = "labels", tone_scales: tuple[str, ...] = ("fitzpatrick",)
                    ) -> pd.DataFrame:
    """``labels.csv`` as text cells, one row per image; ``df.attrs["warnings"]`` lists what was
    resolved and ``df.attrs["tone_scale"]`` the scale its tones are on.

    ``tone_scales`` are the scales the calling stage can group on: ``"monk"`` among them reads a
    Monk Skin Tone labels.csv (``fairskin label --estimator monk``: column ``mst``, tones 1-10).
    Raises :class:`InputError` naming ``arg`` for a missing or unreadable file, missing columns,
    tones that are not on the scale, or an image given two different tones.
    """
    path = Path(path)
    df, warnings = read_csv_table(path, arg=arg)
    scale = tone_scale_of_columns(df.columns)
    if scale is MONK:
        if MONK.name not in tone_scales:
            raise InputError(f"{arg}: {path} holds Monk Skin Tone labels (column 'mst', from `fairskin label "
                             "--estimator monk`); this stage groups images by Fitzpatrick type: give it a labels.csv "
                             "from `fairskin label --estimator ita` (the default)")
    col = scale.column
    missing = [c for c in ("image", col) if c not in df.columns]
    if missing:
        raise InputError(f"{arg}: {path} lacks column(s) {', '.join(repr(c) for c in missing)}; found: "
                         f"{', '.join(map(str, df.columns))}; expected a labels.csv written by fairskin label "
                         "(image, ita, fst, confidence, status, reason)")
    df["image"] = df["image"].astype(str).str.strip()
    df[col] = df[col].astype(str).str.strip()
    types, _, status = scale.parse(df[col].tolist(), groups=False)
    bad = [i for i, st in enumerate(status) if st == "bad_fst"]
    if bad:
        examples = ", ".join(repr(df[col].iloc[i]) for i in bad[:3])
        lo, hi = scale.tones[0], scale.tones[-1]
        raise InputError(f"{arg}: {path}: {len(bad)} row(s) have an {col} that is not a skin "
                         f"{'type' if scale is FITZPATRICK else 'tone'} {lo}-{hi} ({examples}; line(s) {_rows(bad)}); "
                         f"fairskin label writes {lo}-{hi}, or leaves it empty for an image it could not label: fix or "
                         "empty those cells")
    parsed = pd.Series([int(t) if st is None else 0 for t, st in zip(types, status)], index=df.index)
    dup = df["image"].duplicated(keep=False)
    if dup.any():
        per_image = parsed[dup].groupby(df.loc[dup, "image"]).nunique()
        conflicting = per_image[per_image > 1]
        if len(conflicting):
            first = conflicting.index[0]
            where = df.index[df["image"] == first]
            values = ", ".join(repr(v) for v in df.loc[where, col])
            raise InputError(f"{arg}: {path}: {len(conflicting)} image(s) appear more than once with different "
                             f"skin types (e.g. {first!r} on lines {_rows(where)}: {col} {values}); which one is right "
                             "cannot be known: keep one row per image")
        extra = int(df["image"].duplicated(keep="first").sum())
        warnings.append(f"{arg}: {path.name}: {extra} repeated row(s) of {int(per_image.size)} image(s) with the same "
                        "skin type; each image counted once")
        df = df[~df["image"].duplicated(keep="first")].reset_index(drop=True)
    df.attrs["warnings"] = warnings
    df.attrs["tone_scale"] = scale.name
    typed = df[col] != ""
    df.attrs["human"] = bool("source" in df.columns and typed.any()
                             and (df.loc[typed, "source"].astype(str).str.strip() == HUMAN_CONSENSUS).all())
    return df


def with_human_labels(manifest: pd.DataFrame, path: str | Path, *, arg: str = "human_labels") -> pd.DataFrame:
    """The manifest with ``fst_human`` (and its group) filled from a human-consensus labels.csv
    (``fairskin annotate analyze``) where the data set itself has no human type; the data set's own
    human types are kept. ``attrs["human_labels_filled"]`` counts the images filled."""
    lab = read_labels_csv(path, arg=arg)
    if not lab.attrs["human"]:
        raise InputError(f"{arg}: {path} is not a human-consensus labels.csv (its 'source' column is not "
                         f"{HUMAN_CONSENSUS!r} on every labelled row); `fairskin annotate analyze` writes one")
    got = pd.to_numeric(lab.set_index("image")["fst"], errors="coerce")
    vals = got.reindex(manifest["image"].astype(str)).to_numpy(dtype=float)
    if not np.isfinite(vals).any():
        raise InputError(f"{arg}: no image of {path} with a type matches an image of the data set (paths relative "
                         f"to the data root, e.g. {manifest['image'].iloc[0]!r})")
    out = manifest.copy()
    fill = out["fst_human"].isna().to_numpy() & np.isfinite(vals)
    out.loc[fill, "fst_human"] = vals[fill].astype(int)
    out.loc[fill, "fst_group_human"] = [group_of(int(v)) for v in vals[fill]]
    out.attrs = {**manifest.attrs, "human_labels_filled": int(fill.sum())}
    return out
