"""Real images with a skin type: the manifest plus ``fst``, ``fst_source`` and the tone columns.

Which type a row has is decided by :func:`fairskin.label.resolve_tones`, the rule audit and
experiment use too: a human type where people gave one, else the labels.csv estimate, else (no
labels.csv) the label estimator run on the image here, so that the loop also runs before
``fairskin label``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairskin.errors import InputError

__all__ = ["labelled_manifest", "labels_scale"]


def labelled_manifest(data: str | Path | pd.DataFrame, *, labels: str | Path | None = None,
                      format: str | None = None, estimate_missing: bool = True) -> pd.DataFrame:
    """The manifest of ``data`` with, per usable row, ``fst`` (Int64 Fitzpatrick type), ``fst_source``
    (``human``, ``estimated (<scale>)``), ``tone_source``, ``tone_reason`` and ``p_fst1`` ..
    ``p_fst6`` (:meth:`fairskin.label.ToneResolution.frame`).

    Rows whose status is not ``ok`` (missing or unreadable images) are dropped.
    """
    from fairskin.data import read_dataset
    from fairskin.label import HUMAN_CONSENSUS, resolve_tones

    if isinstance(data, pd.DataFrame):
        df = data.copy()
        root = df.attrs.get("root")
    else:
        df = read_dataset(data, format=format)
        root = df.attrs["root"]
    attrs = dict(df.attrs)
    df = df[df["status"] == "ok"].reset_index(drop=True)
    res = resolve_tones(df, labels=labels, source="auto", estimate_missing=estimate_missing, root=root)
    typed = res.tone > 0
    df["fst"] = pd.array([int(t) if t else pd.NA for t in res.tone], dtype="Int64")
    df["fst_source"] = pd.array([("estimated" + (f" ({m})" if m else "")) if s == "estimated" else
                                 HUMAN_CONSENSUS if m == HUMAN_CONSENSUS else (s if t else pd.NA)
                                 for s, m, t in zip(res.source, res.method, typed)],
                                dtype="string")
    tones = res.frame().drop(columns=["image", "tone", "tone_scale"])
    for c in tones.columns:
        df[c] = tones[c].to_numpy()
    df.attrs.update(attrs)
    df.attrs["root"] = root
    df.attrs["label_warnings"] = res.warnings  # what reading labels.csv resolved (repeated rows), to be shown
    return df


def labels_scale(labels: str | Path | None, *, scale=None, arg: str = "labels"):
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
        raise InputError(f"{arg}={labels}: rows were labelled with different ITA scales ({', '.join(names)}); label "
                         "the whole data set with one scale so that the gate measures generated images the same way")
    if not names:
        return given or get_scale()
    name = names[0]
    if given is not None:
        if given.name != name:
            raise InputError(f"scale={scale}: is scale {given.name!r}, but {labels} was labelled with {name!r}; "
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
    raise InputError(f"{arg}={labels}: was labelled with the ITA scale {name!r}, which is not built in "
                     f"({', '.join(list_scales())}) and no *_scale.csv beside it defines it; pass scale=FILE, "
                     "the scale CSV it was labelled with")
