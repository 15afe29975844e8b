"""Reading ``labels.csv`` (what ``fairskin label`` writes) wherever another stage takes it.

One reader for ``balance``, ``train-conditioning``, ``audit`` and ``experiment``, so that a file
edited by hand or concatenated from two runs is judged the same way everywhere:

* a skin type that is not 1-6 (``7``, ``abc``) is refused, with the count and the first rows;
* an image listed twice with the same skin type is kept once (the count is a warning);
* an image listed twice with different skin types is refused: which one is right cannot be known.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.skintone import parse_fst

__all__ = ["LABELS_REQUIRED", "read_labels_csv"]

#: columns a labels.csv must have (fairskin label writes more: ita, confidence, status, reason, ...)
LABELS_REQUIRED = ("image", "fst")


def _rows(positions, limit: int = 3) -> str:
    shown = ", ".join(str(int(p) + 2) for p in list(positions)[:limit])  # +2: header line, 1-based
    return shown + (", ..." if len(positions) > limit else "")


def read_labels_csv(path: str | Path, *, arg: str = "--labels") -> pd.DataFrame:
    """``labels.csv`` as text cells, one row per image; ``df.attrs["warnings"]`` lists what was resolved.

    Raises :class:`InputError` naming ``arg`` for a missing or unreadable file, missing columns,
    skin types that are not 1-6, or an image given two different skin types.
    """
    path = Path(path)
    df, warnings = read_csv_table(path, arg=arg)
    missing = [c for c in LABELS_REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{arg}: {path} lacks column(s) {', '.join(repr(c) for c in missing)}; found: "
                         f"{', '.join(map(str, df.columns))}; expected a labels.csv written by fairskin label "
                         "(image, ita, fst, confidence, status, reason)")
    df["image"] = df["image"].astype(str).str.strip()
    df["fst"] = df["fst"].astype(str).str.strip()
    types, _, status = parse_fst(df["fst"].tolist(), groups=False)
    bad = [i for i, st in enumerate(status) if st == "bad_fst"]
    if bad:
        examples = ", ".join(repr(df["fst"].iloc[i]) for i in bad[:3])
        raise InputError(f"{arg}: {path}: {len(bad)} row(s) have an fst that is not a skin type 1-6 ({examples}; "
                         f"line(s) {_rows(bad)}); fairskin label writes 1-6, or leaves it empty for an image it "
                         "could not label: fix or empty those cells")
    parsed = pd.Series([int(t) if st is None else 0 for t, st in zip(types, status)], index=df.index)
    dup = df["image"].duplicated(keep=False)
    if dup.any():
        per_image = parsed[dup].groupby(df.loc[dup, "image"]).nunique()
        conflicting = per_image[per_image > 1]
        if len(conflicting):
            first = conflicting.index[0]
            where = df.index[df["image"] == first]
            values = ", ".join(repr(v) for v in df.loc[where, "fst"])
            raise InputError(f"{arg}: {path}: {len(conflicting)} image(s) appear more than once with different "
                             f"skin types (e.g. {first!r} on lines {_rows(where)}: fst {values}); which one is right "
                             "cannot be known: keep one row per image")
        extra = int(df["image"].duplicated(keep="first").sum())
        warnings.append(f"{arg}: {path.name}: {extra} repeated row(s) of {int(per_image.size)} image(s) with the same "
                        "skin type; each image counted once")
        df = df[~df["image"].duplicated(keep="first")].reset_index(drop=True)
    df.attrs["warnings"] = warnings
    return df
