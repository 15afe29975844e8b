"""Reading and checking a table of predictions: one row per image with its score, true label,
skin type and, optionally, diagnosis and patient or lesion id. Bad rows are reported and skipped,
never silently dropped; problems with the whole table raise :class:`InputError`.

The CSV goes through the one reader of :func:`fairskin.data.read_csv_table` (any delimiter, a
byte-order mark, damaged rows reported). An image listed twice would be counted twice and shift
every per-type figure, so duplicates are resolved by a stated rule: rows of one image that agree
(same score, label, skin type and diagnosis) are one prediction, counted once, and the repeats are
reported as skipped rows (``duplicate``); rows of one image that disagree are refused, since which
prediction is the model's cannot be known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.skintone import FITZPATRICK, ToneScale, get_tone_scale, tone_scale_of_columns

__all__ = ["PREDICTION_COLUMNS", "OPTIONAL_COLUMNS", "CLUSTER_COLUMNS", "clean_predictions", "check_predictions", "n_rows_read", "read_predictions_csv",
           "resolve_duplicates"]

#: columns of a predictions table: name -> meaning
PREDICTION_COLUMNS: dict[str, str] = {
    "image": "image path or identifier (one row per image; used to pair models)",
    "score": "predicted probability of malignancy in [0, 1] (or a logit with scores='logits')",
    "label": "true label: 1/0, True/False or malignant/benign",
    "fst": "Fitzpatrick type 1-6 (or I-VI) or group I-II / III-IV / V-VI (or DDI's 12 / 34 / 56); or, instead, "
           "'mst': Monk Skin Tone 1-10 or group 1-3 / 4-7 / 8-10",
}
OPTIONAL_COLUMNS = ("diagnosis", "patient_id", "lesion_id")
#: id columns that make rows a cluster (coarsest first): images of one patient or lesion are not independent
CLUSTER_COLUMNS = ("patient_id", "lesion_id")

_LABELS = {"1": True, "0": False, "true": True, "false": False, "malignant": True, "benign": False,
           "yes": True, "no": False, "1.0": True, "0.0": False}


def _by_distinct(col: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, distinct)``: each value's position among the column's distinct values (missing
    values included), so that a per-value parse runs once per distinct value, not once per row."""
    codes, distinct = pd.factorize(col, use_na_sentinel=False)
    return codes, pd.Series(distinct, dtype=object)


def _parse_labels(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """-> (label, missing). Raises InputError for values that are not binary."""
    codes, distinct = _by_distinct(col)
    raw = distinct.astype("string").str.strip().str.lower()
    missing = (raw.isna() | (raw == "") | raw.isin(["nan", "<na>", "none"])).to_numpy(bool)
    mapped = raw.map(_LABELS)
    bad = (mapped.isna().to_numpy(bool) & ~missing)[codes]
    missing = missing[codes]
    if bad.any():
        distinct = sorted(pd.unique(col[~missing].astype(str).str.strip()))
        shown = ", ".join(distinct[:8]) + (", ..." if len(distinct) > 8 else "")
        raise InputError(
            f"label: expected binary labels (1/0, True/False, malignant/benign), found {len(distinct)} distinct "
            f"values: {shown}. For multi-class data choose a positive class (positive_class=...)"
            " or map diagnoses to malignant first")
    return mapped.fillna(False).to_numpy(bool)[codes], missing


def _parse_fst_column(col: pd.Series, scale: ToneScale = FITZPATRICK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``scale.parse`` of a column, once per distinct value: ``(types, groups, status)`` with
    ``status`` an object array (``None`` where parsed). A column that mixes kinds of values
    (``True`` beside ``1`` would count as one distinct value) is parsed value by value."""
    if pd.api.types.infer_dtype(col, skipna=True) in ("integer", "floating", "mixed-integer-float", "string",
                                                      "empty"):
        codes, distinct = _by_distinct(col)
        types, groups, status = scale.parse(distinct.tolist())
        return types[codes], groups[codes], np.asarray(status, dtype=object)[codes]
    types, groups, status = scale.parse(col.tolist())
    return types, groups, np.asarray(status, dtype=object)


def n_rows_read(predictions: pd.DataFrame) -> int:
    """Rows of a predictions file: those read and those the reader skipped (too many cells)."""
    return len(predictions) + len(predictions.attrs.get("skipped_rows", ()))


def clean_predictions(predictions: pd.DataFrame, *, scores: Literal["probabilities", "logits"] = "probabilities",
                      source: str = "predictions", tone_scale: str | ToneScale | None = None
                      ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """:func:`check_predictions`, with the rows the CSV reader skipped (``attrs["skipped_rows"]``)
    first among the bad rows and the reader's warnings (an encoding fallback, ...) kept in the
    clean frame's ``attrs["warnings"]``: nothing the reader met is lost on the way to the audit."""
    skipped = [{"image": r.get("image", ""), "status": r["status"], "reason": r["reason"]}
               for r in predictions.attrs.get("skipped_rows", ())]
    warnings = list(predictions.attrs.get("warnings", ()))
    clean, bad = check_predictions(predictions, scores=scores, source=source, tone_scale=tone_scale)
    clean.attrs["warnings"] = warnings
    return clean, skipped + bad


def check_predictions(predictions: pd.DataFrame, *, scores: Literal["probabilities", "logits"] = "probabilities",
                      source: str = "predictions", tone_scale: str | ToneScale | None = None
                      ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Check a predictions table and split it into usable rows and bad rows.

    Returns the usable rows (columns ``image, score, label, tone, tone_group, diagnosis,
    cluster``; ``tone`` 0 where only the group is known; ``cluster`` the patient id, else the
    lesion id, else the image, so that images of one patient resample together) and the bad rows as
    ``{"image", "status", "reason"}``. Raises :class:`InputError` for problems with the whole
    table: missing columns, non-binary labels, probabilities outside [0, 1].

    The skin tone is the ``fst`` column (Fitzpatrick), or the ``mst`` column (Monk Skin Tone,
    grouped 1-3 / 4-7 / 8-10) where the table has no ``fst`` (``tone_scale`` chooses); the rows'
    ``tone`` and ``tone_group`` hold the tone and group on that scale, whose name is
    ``clean.attrs["tone_scale"]`` (scale-neutral names, so a Monk tone never sits in an ``fst`` column).
    """
    if scores not in ("probabilities", "logits"):
        raise InputError(f"scores: expected 'probabilities' or 'logits', got {scores!r}")
    scale = (tone_scale_of_columns(predictions.columns) if tone_scale is None else
             tone_scale if isinstance(tone_scale, ToneScale) else get_tone_scale(tone_scale))
    tone_col = scale.column  # the input column the tones are read from: 'fst' or 'mst'
    needed = [tone_col if c == "fst" else c for c in PREDICTION_COLUMNS]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(repr(c) for c in missing)}; found: "
            f"{', '.join(map(str, predictions.columns))}; expected: {', '.join(PREDICTION_COLUMNS)} "
            f"(optional: {', '.join(OPTIONAL_COLUMNS)})")
    if len(predictions) == 0:
        raise InputError(f"{source}: the predictions table has no rows; expected one row per image")
    df, dup_bad = resolve_duplicates(predictions.reset_index(drop=True), source=source, tone_column=tone_col)
    images = df["image"].astype(str).to_numpy()
    status = np.full(len(df), None, dtype=object)
    reason = np.full(len(df), "", dtype=object)

    s = pd.to_numeric(df["score"], errors="coerce").to_numpy(float)
    for i in np.flatnonzero(~np.isfinite(s)):
        status[i], reason[i] = "bad_score", f"score={df['score'].iloc[i]!r} is not a finite number"
    finite = np.isfinite(s)
    if scores == "probabilities":
        out = finite & ((s < 0) | (s > 1))
        if out.any():
            raise InputError(
                f"score: {int(out.sum())} of {len(s)} values are outside [0, 1] (min {np.nanmin(s[finite]):.4g}, max "
                f"{np.nanmax(s[finite]):.4g}); these look like logits. Pass scores='logits' to apply a "
                "sigmoid, or give probabilities")
    else:
        with np.errstate(over="ignore"):
            s = np.where(finite, 1.0 / (1.0 + np.exp(-np.where(finite, s, 0.0))), s)

    y, no_label = _parse_labels(df["label"])
    for i in np.flatnonzero(no_label):
        if status[i] is None:
            status[i], reason[i] = "no_label", "label is empty"

    types, groups, fst_status = _parse_fst_column(df[tone_col], scale)
    expected = ("a Fitzpatrick type (1-6, I-VI) or group (I-II, III-IV, V-VI, 12, 34, 56)" if scale is FITZPATRICK
                else f"a {scale.name} tone ({scale.tones[0]}-{scale.tones[-1]}) or group ({', '.join(scale.groups)})")
    for i in np.flatnonzero(pd.notna(fst_status)):
        if status[i] is None:
            status[i] = fst_status[i]
            reason[i] = f"{tone_col} is empty" if fst_status[i] == "no_fst" else \
                f"{tone_col}={df[tone_col].iloc[i]!r} is not {expected}"
    ok = pd.isna(status)
    diagnosis = (df["diagnosis"].astype("string").fillna("").to_numpy(str) if "diagnosis" in df
                 else np.full(len(df), "", dtype=object))
    cluster, cluster_by = images.astype(object).copy(), None
    for col in reversed(CLUSTER_COLUMNS):  # the coarsest id present wins; a row without one is its own cluster
        if col in df:
            ids = df[col].astype("string").fillna("").str.strip().to_numpy(object)
            has = ids != ""
            if has.any():
                cluster = np.where(has, col + ":" + ids.astype(str), cluster)
                cluster_by = col
    clean = pd.DataFrame({"image": images[ok], "score": s[ok], "label": y[ok], "tone": types[ok],
                          "tone_group": groups[ok].astype(str), "diagnosis": np.asarray(diagnosis)[ok].astype(str),
                          "cluster": np.asarray(cluster, dtype=object)[ok].astype(str)})
    clean.attrs["cluster_by"] = cluster_by
    clean.attrs["tone_scale"] = scale.name
    bad = dup_bad + [{"image": images[i], "status": status[i], "reason": reason[i]} for i in np.flatnonzero(~ok)]
    return clean, bad


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


def resolve_duplicates(df: pd.DataFrame, *, source: str = "predictions", tone_column: str = "fst"
                       ) -> tuple[pd.DataFrame, list[dict]]:
    """Apply the duplicates rule (module docstring). Returns the rows to use (first of each image)
    and the repeats as bad rows ``{image, status: "duplicate", reason}``. ``tone_column``: the
    table's skin-tone column (``fst`` or ``mst``), part of what makes two rows one prediction."""
    images = df["image"].astype("string").fillna("").str.strip()
    dup = images.duplicated(keep=False)
    if not dup.any():
        return df, []
    keys = pd.DataFrame({c: _key(df, c) for c in ("score", "label", tone_column, "diagnosis")})
    sub = keys[dup].assign(_image=images[dup])
    per_image = sub.drop_duplicates().groupby("_image").size()
    conflicting = per_image[per_image > 1]
    if len(conflicting):
        first = conflicting.index[0]
        rows = np.flatnonzero(images.to_numpy() == first)[:3]
        shown = "; ".join(f"line {r + 2}: score {df['score'].iloc[r]!r}, label {df['label'].iloc[r]!r}, "
                          f"{tone_column} {df[tone_column].iloc[r]!r}" for r in rows)
        raise InputError(f"{source}: {len(conflicting)} image(s) appear more than once with different predictions "
                         f"(e.g. {first!r}: {shown}); which one is the model's cannot be known: give one row per "
                         "image")
    repeat = images.duplicated(keep="first").to_numpy()
    bad = [{"image": str(images.iloc[i]), "status": "duplicate",
            "reason": "the same prediction repeated in another row; counted once"} for i in np.flatnonzero(repeat)]
    return df[~repeat].reset_index(drop=True), bad
