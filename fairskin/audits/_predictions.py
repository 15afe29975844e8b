"""Reading a predictions table (``image, score, label, fst[, diagnosis]``) and the rule for images
listed more than once.

The CSV goes through the one reader of :func:`fairskin.data.read_csv_table` (any delimiter, a
byte-order mark, damaged rows reported). An image listed twice would be counted twice and shift
every per-type figure, so duplicates are resolved by a stated rule: rows of one image that agree
(same score, label, skin type and diagnosis) are one prediction, counted once, and the repeats are
reported as skipped rows (``duplicate``); rows of one image that disagree are refused, since which
prediction is the model's cannot be known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError

__all__ = ["read_predictions_csv", "resolve_duplicates"]


def read_predictions_csv(path: str | Path, *, arg: str = "predictions") -> pd.DataFrame:
    """A predictions CSV as text cells; ``df.attrs["warnings"]`` lists rows the reader skipped.

    Raises :class:`InputError` for a missing, empty, header-only or unreadable file."""
    path = Path(path)
    df, warnings = read_csv_table(path, arg=arg)
    if len(df) == 0:
        raise InputError(f"{arg}: {path} has a header but no rows; expected one row per image "
                         f"(columns found: {', '.join(map(str, df.columns))})")
    if "score" in df.columns:  # a decimal comma (0,73), as spreadsheets in many locales write
        score = df["score"].astype(str).str.strip()
        comma = score.str.fullmatch(r"[+-]?\d*,\d+([eE][+-]?\d+)?")
        if comma.any() and (comma | (score == "")).all():
            df["score"] = score.str.replace(",", ".", regex=False)
    df.attrs["warnings"] = warnings
    return df


def _key(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series("", index=df.index)
    if col == "score":  # 0.5 and 0.50 are one score
        s = pd.to_numeric(df[col], errors="coerce")
        return s.map(lambda v: repr(float(v)) if v == v else "").where(s.notna(), df[col].astype(str).str.strip())
    return df[col].astype("string").fillna("").str.strip().str.lower()


def resolve_duplicates(df: pd.DataFrame, *, source: str = "predictions") -> tuple[pd.DataFrame, list[dict]]:
    """Apply the duplicates rule (module docstring). Returns the rows to use (first of each image)
    and the repeats as bad rows ``{image, status: "duplicate", reason}``."""
    images = df["image"].astype("string").fillna("").str.strip()
    dup = images.duplicated(keep=False)
    if not dup.any():
        return df, []
    keys = pd.DataFrame({c: _key(df, c) for c in ("score", "label", "fst", "diagnosis")})
    sub = keys[dup].assign(_image=images[dup])
    per_image = sub.drop_duplicates().groupby("_image").size()
    conflicting = per_image[per_image > 1]
    if len(conflicting):
        first = conflicting.index[0]
        rows = np.flatnonzero(images.to_numpy() == first)[:3]
        shown = "; ".join(f"line {r + 2}: score {df['score'].iloc[r]!r}, label {df['label'].iloc[r]!r}, "
                          f"fst {df['fst'].iloc[r]!r}" for r in rows)
        raise InputError(f"{source}: {len(conflicting)} image(s) appear more than once with different predictions "
                         f"(e.g. {first!r}: {shown}); which one is the model's cannot be known: give one row per "
                         "image")
    repeat = images.duplicated(keep="first").to_numpy()
    bad = [{"image": str(images.iloc[i]), "status": "duplicate",
            "reason": "the same prediction repeated in another row; counted once"} for i in np.flatnonzero(repeat)]
    return df[~repeat].reset_index(drop=True), bad
