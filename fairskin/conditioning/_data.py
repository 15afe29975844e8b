"""Real images with a skin type: the manifest plus ``fst`` and ``fst_source`` per row.

``fst`` comes from ``labels.csv`` (written by ``fairskin label``) where it has one, else from the
data set's human type. Without ``labels``, images with no human type are measured here with the
label estimator (same estimator, default scale), so that the loop also runs before ``fairskin label``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairskin.errors import InputError

__all__ = ["labelled_manifest", "labels_scale"]


def labelled_manifest(data: str | Path | pd.DataFrame, *, labels: str | Path | None = None,
                      format: str | None = None, estimate_missing: bool = True) -> pd.DataFrame:
    """The manifest of ``data`` with ``fst`` (Int64) and ``fst_source`` for every usable row.

    Rows whose status is not ``ok`` (missing or unreadable images) are dropped.
    """
    from fairskin.data import read_dataset

    if isinstance(data, pd.DataFrame):
        df = data.copy()
        root = df.attrs.get("root")
    else:
        df = read_dataset(data, format=format)
        root = df.attrs["root"]
    df = df[df["status"] == "ok"].reset_index(drop=True)
    df.attrs["root"] = root
    fst = pd.Series(pd.NA, index=df.index, dtype="Int64")
    source = pd.Series(pd.NA, index=df.index, dtype="string")
    warnings: list[str] = []
    if labels is not None:
        from fairskin.label import HUMAN_CONSENSUS, read_labels_csv

        path = Path(labels)
        lab = read_labels_csv(path, arg="--labels")  # refuses conflicting duplicates and types outside 1-6
        warnings += lab.attrs["warnings"]
        lab = lab.set_index("image")
        got = pd.to_numeric(lab["fst"], errors="coerce").reindex(df["image"].astype(str)).to_numpy()
        got = pd.array([int(v) if v == v else pd.NA for v in got], dtype="Int64")
        scale = ""
        named = lab["scale"].astype(str).str.strip() if "scale" in lab.columns else pd.Series(dtype=str)
        if (named != "").any():
            scale = f" ({named[named != ''].iloc[0]})"
        have = ~pd.isna(got)
        fst[have] = got[have]
        source[have] = HUMAN_CONSENSUS if lab.attrs["human"] else "estimated" + scale
        unmatched = int(df["image"].astype(str).isin(lab.index).sum() == 0)
        if unmatched and len(df):
            raise InputError(f"--labels {path}: no 'image' value matches an image of the data set (paths must be "
                             f"relative to the data root, e.g. {df['image'].iloc[0]!r})")
    human = df["fst_human"].astype("Int64")
    use_human = pd.isna(fst) & ~pd.isna(human)
    fst[use_human] = human[use_human]
    source[use_human] = "human"
    if estimate_missing and labels is None and pd.isna(fst).any() and root is not None:
        from fairskin.label import LabelConfig, estimate_image

        cfg = LabelConfig()
        for i in df.index[pd.isna(fst)]:
            est = estimate_image(Path(root) / df.at[i, "image"], config=cfg)
            if est.fst:
                fst[i] = int(est.fst)
                source[i] = f"estimated ({est.scale})"
    df["fst"] = fst
    df["fst_source"] = source
    df.attrs["label_warnings"] = warnings  # what reading labels.csv resolved (repeated rows), to be shown
    return df


def labels_scale(labels: str | Path | None, *, scale=None, arg: str = "--labels"):
    """The ITA scale the skin types of ``labels`` were read with, for the ITA gate to use too.

    ``fairskin label`` writes the scale's name in each row (``--scale NAME|CSV``, or the scale that
    ``--calibrate`` fitted and saved as ``<labels stem>_scale.csv``). A built-in name is looked up;
    another one is read from ``scale`` (a scale CSV) when given, else from a ``*_scale.csv`` beside
    ``labels`` that defines it. Without labels (or without a scale column): ``scale``, else the default.
    """
    from fairskin.skintone import get_scale, list_scales, load_scale_file

    given = None if scale is None else get_scale(scale)
    names: list[str] = []
    if labels is not None and Path(labels).is_file():
        from fairskin.data import read_csv_table

        lab = read_csv_table(Path(labels), arg=arg)[0]  # the one CSV reader (BOM, ';', damaged rows)
        if "scale" in lab.columns:
            names = sorted({str(s).strip() for s in lab["scale"].fillna("") if str(s).strip()})
    if len(names) > 1:
        raise InputError(f"{arg} {labels}: rows were labelled with different ITA scales ({', '.join(names)}); label "
                         "the whole data set with one scale so that the gate measures generated images the same way")
    if not names:
        return given or get_scale()
    name = names[0]
    if given is not None:
        if given.name != name:
            raise InputError(f"--scale {scale}: is scale {given.name!r}, but {labels} was labelled with {name!r}; "
                             "the gate must use the scale the labels were read with")
        return given
    if name in list_scales():
        return get_scale(name)
    path = Path(labels)
    candidates = [path.with_name(path.stem + "_scale.csv")] + sorted(path.parent.glob("*_scale.csv"))
    for c in dict.fromkeys(candidates):
        if c.is_file():
            try:
                found = load_scale_file(c)
            except InputError:
                continue
            if found.name == name:
                return found
    raise InputError(f"{arg} {labels}: was labelled with the ITA scale {name!r}, which is not built in "
                     f"({', '.join(list_scales())}) and no *_scale.csv beside it defines it; pass --scale FILE, "
                     "the scale CSV it was labelled with")
