"""Readers: DDI, Fitzpatrick17k, HAM10000 / ISIC, PAD-UFES-20 and plain folders -> one manifest.

Every reader returns the schema of :mod:`fairskin.data._manifest`. Rows whose file is missing,
whose skin type is out of range or whose fields cannot be parsed are kept with a ``status``
and a ``reason``; nothing is dropped silently. Columns the schema does not name are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pandas as pd

from fairskin.data._csv import _delimiter, read_metadata_csv, require_columns
from fairskin.data._images import IMAGE_EXTENSIONS
from fairskin.data._manifest import finalize_manifest
from fairskin.data._names import text_name
from fairskin.errors import InputError
from fairskin.skintone import DDI_CODE_TO_GROUP, parse_fst

__all__ = ["read_dataset", "detect_format", "FORMATS", "DatasetFormat"]

DatasetFormat = Literal["ddi", "fitzpatrick17k", "ham10000", "isic", "pad-ufes-20", "folder"]

#: diagnoses counted as malignant by default
HAM_MALIGNANT = frozenset({"mel", "bcc", "akiec"})
PAD_MALIGNANT = frozenset({"BCC", "MEL", "SCC"})


#: files that live beside images without being data: not reported as skipped
_NOT_DATA = frozenset({".csv", ".tsv", ".json", ".md", ".txt", ".toml", ".yaml", ".yml", ".html", ".pdf", ".xlsx",
                       ".py", ".zip", ".db", ".sqlite", ".lock", ".tmp"})


def _list_images(root: Path, warns: list[str] | None = None) -> list[str]:
    """Every image below ``root`` (hidden folders skipped), as POSIX paths relative to it, sorted.

    Symlinked folders are followed, each real folder once (a link back to a folder already
    walked, a loop, is reported in ``warns`` and not followed again). Names that are not UTF-8
    are carried escaped (:func:`fairskin.data._names.text_name`). Files in a format fairskin does
    not read are counted by extension in ``warns``, not dropped silently."""
    found, skipped, loops = [], {}, []
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            full = os.path.join(dirpath, d)
            real = os.path.realpath(full)
            if real in seen:
                loops.append((text_name(os.path.relpath(full, root)), text_name(real)))
                continue
            seen.add(real)
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            ext = Path(f).suffix.lower()
            rel = text_name(Path(dirpath, f).relative_to(root).as_posix())
            if ext in IMAGE_EXTENSIONS:
                found.append(rel)
            elif ext not in _NOT_DATA:
                skipped.setdefault(ext or "(no extension)", []).append(rel)
    if warns is not None:
        for link, real in loops:
            warns.append(f"folder {link} leads to {real}, a folder already read (a symlink loop or a second link); "
                         "not read again")
        if skipped:
            n = sum(map(len, skipped.values()))
            kinds = ", ".join(f"{k} {len(v)}" for k, v in sorted(skipped.items()))
            example = next(iter(sorted(skipped.values())))[0]
            warns.append(f"{n} file(s) below {root} are not in a format fairskin reads ({kinds}; e.g. {example}) and "
                         f"are not in the manifest; readable: {', '.join(sorted(IMAGE_EXTENSIONS))}")
    return found


def _index_images(root: Path, warns: list[str] | None = None) -> dict[str, list[str]]:
    """file name (and stem) -> paths relative to root of every image below root with that name."""
    index: dict[str, list[str]] = {}
    for rel in _list_images(root, warns):
        name = rel.rsplit("/", 1)[-1]
        for key in dict.fromkeys((name, Path(name).stem)):
            index.setdefault(key, []).append(rel)
    return index


def _locate(df: pd.DataFrame, names: pd.Series, index: dict[str, list[str]]) -> None:
    """Fill df['image'] from file names (or stems); mark rows whose file is not there, and rows whose
    name matches images in several folders (which one is meant cannot be known)."""
    images, missing, ambiguous, outside, elsewhere = [], [], [], [], []
    for n in names:
        n = str(n).strip()
        hits = index.get(n) or index.get(Path(n).name) or index.get(Path(n).stem) or []
        rel = n.replace("\\", "/")
        bad_path = rel.startswith("/") or ".." in rel.split("/") or (len(rel) > 1 and rel[1] == ":")
        moved = None
        if "/" in rel and not bad_path:  # the metadata gives a relative path: the image at that path only
            exact = [h for h in hits if h == rel or h.endswith("/" + rel)]
            if hits and not exact:
                moved = hits
            hits = exact
        if bad_path:
            hits = []
        images.append(hits[0] if len(hits) == 1 else None)
        missing.append(not hits)
        ambiguous.append(hits if len(hits) > 1 else None)
        outside.append(bad_path)
        elsewhere.append(moved)
    _mark(df, pd.Series(outside, index=df.index), "bad_metadata",
          lambda i: f"{names.iloc[i]!r} is a path outside the data folder; give a path inside it")
    _mark(df, pd.Series([m is not None for m in elsewhere], index=df.index), "missing",
          lambda i: f"no image at {names.iloc[i]!r}; an image of that name is at {', '.join(elsewhere[i][:3])}, "
                    "not the path the metadata gives")
    # a missing file is reported where its siblings are (e.g. images/x.png), as listed
    found_dirs = pd.Series([str(Path(r).parent) for r in images if r is not None])
    home = found_dirs.mode().iloc[0] if len(found_dirs) else "."
    df["image"] = [r if r is not None else (Path(home) / str(n).strip()).as_posix() for r, n in zip(images, names)]
    miss = pd.Series(missing, index=df.index)
    _mark(df, miss, "missing", lambda i: f"listed in the metadata but no image file named {names.iloc[i]!r} was found")
    amb = pd.Series([a is not None for a in ambiguous], index=df.index)
    _mark(df, amb, "ambiguous", lambda i: f"{names.iloc[i]!r} matches {len(ambiguous[i])} images in different folders "
                                          f"({', '.join(ambiguous[i][:3])}); give the relative path in the metadata")
    first: dict[str, int] = {}
    twice = []
    for pos, r in enumerate(images):
        twice.append(r is not None and r in first)
        if r is not None:
            first.setdefault(r, pos)
    _mark(df, pd.Series(twice, index=df.index), "duplicate",
          lambda i: f"the image {images[i]} is already listed in metadata row {first[images[i]] + 1} (under another "
                    "name or id); counted once")


def _mark(df: pd.DataFrame, rows: pd.Series, status: str, reason: Callable[[int], str]) -> None:
    if "status" not in df:
        df["status"] = "ok"
        df["reason"] = ""
    for pos in range(len(df)):
        if rows.iloc[pos] and df["status"].iloc[pos] == "ok":
            df.iloc[pos, df.columns.get_loc("status")] = status
            df.iloc[pos, df.columns.get_loc("reason")] = reason(pos)


def _warn(df: pd.DataFrame, rows: pd.Series, msg: Callable[[int], str]) -> None:
    """A problem with a row's metadata that still lets the image be used."""
    if "reason" not in df:
        df["status"] = "ok"
        df["reason"] = ""
    for pos in range(len(df)):
        if rows.iloc[pos]:
            cur = df["reason"].iloc[pos]
            df.iloc[pos, df.columns.get_loc("reason")] = (cur + "; " if cur else "") + msg(pos)


def _parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    m = {"true": True, "1": True, "yes": True, "malignant": True,
         "false": False, "0": False, "no": False, "benign": False}
    s = values.astype(str).str.strip().str.lower()
    out = s.map(m)
    bad = out.isna() & (s != "")
    return out.astype("boolean"), bad


def _parse_fst(df: pd.DataFrame, values: pd.Series, *, column: str, unknown: set[str] = frozenset()) -> pd.Series:
    """Parse 1-6 (also '3.0', 'III'); empty/unknown -> NA; anything else -> NA with a warning."""
    types, _, status = parse_fst(values.tolist(), groups=False, unknown=unknown)
    bad_s = pd.Series([st == "bad_fst" for st in status], index=df.index)
    raw = values.reset_index(drop=True)
    _warn(df, bad_s, lambda i: f"{column}={raw.iloc[i]!r} is not a Fitzpatrick type 1-6; human label ignored")
    return pd.Series(types, index=df.index, dtype="Int64").where(types > 0, pd.NA)


def _dupes(df: pd.DataFrame) -> None:
    dup = df["image_id"].duplicated(keep="first") & df["image_id"].notna()
    _mark(df, dup, "duplicate", lambda i: f"image_id {df['image_id'].iloc[i]!r} already appears in an earlier row")


# --- readers -------------------------------------------------------------------------------

def read_ddi(root: Path, *, metadata: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    path = metadata or root / "ddi_metadata.csv"
    raw, warns = read_metadata_csv(path)
    require_columns(raw, ["DDI_file", "skin_tone", "malignant", "disease"], path=path, fmt="DDI")
    df = raw.copy()
    df["status"], df["reason"] = "ok", ""
    _locate(df, raw["DDI_file"], _index_images(root, warns))
    df["image_id"] = raw["DDI_ID"] if "DDI_ID" in raw else raw["DDI_file"].map(lambda s: Path(s).stem)
    df["diagnosis"] = raw["disease"]
    df["malignant"], bad = _parse_bool(raw["malignant"])
    _warn(df, bad, lambda i: f"malignant={raw['malignant'].iloc[i]!r} is not True/False; treated as unknown")
    codes = raw["skin_tone"].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    df["fst_group_human"] = codes.map(DDI_CODE_TO_GROUP)
    bad_tone = df["fst_group_human"].isna() & (codes != "")
    _warn(df, bad_tone, lambda i: f"skin_tone={raw['skin_tone'].iloc[i]!r} is not 12, 34 or 56; human label ignored")
    return df, warns


def read_fitzpatrick17k(root: Path, *, metadata: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    path = metadata or _find_csv(root, ["fitzpatrick17k.csv"], needs={"md5hash", "fitzpatrick_scale"})
    raw, warns = read_metadata_csv(path)
    require_columns(raw, ["md5hash", "fitzpatrick_scale", "label"], path=path, fmt="Fitzpatrick17k")
    df = raw.copy()
    df["status"], df["reason"] = "ok", ""
    _locate(df, raw["md5hash"], _index_images(root, warns))
    df["image_id"] = raw["md5hash"]
    df["diagnosis"] = raw["label"]
    if "three_partition_label" in raw:
        part = raw["three_partition_label"].str.strip().str.lower()
        df["malignant"] = part.map({"malignant": True, "benign": False, "non-neoplastic": False}).astype("boolean")
    df["fst_human"] = _parse_fst(df, raw["fitzpatrick_scale"], column="fitzpatrick_scale", unknown={"-1"})
    return df, warns


def read_ham10000(root: Path, *, metadata: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    path = metadata or _find_csv(root, ["HAM10000_metadata.csv", "HAM10000_metadata"], needs={"image_id", "dx"})
    raw, warns = read_metadata_csv(path)
    require_columns(raw, ["image_id", "dx"], path=path, fmt="HAM10000")
    df = raw.copy()
    df["status"], df["reason"] = "ok", ""
    _locate(df, raw["image_id"], _index_images(root, warns))
    df["image_id"] = raw["image_id"]
    df["diagnosis"] = raw["dx"]
    dx = raw["dx"].str.strip().str.lower()
    df["malignant"] = dx.map(lambda d: d in HAM_MALIGNANT if d else pd.NA).astype("boolean")
    if "lesion_id" in raw:
        df["lesion_id"] = raw["lesion_id"]
    return df, warns


def read_isic(root: Path, *, metadata: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """ISIC 2020 style ground truth (``image_name``, ``target`` or ``benign_malignant``)."""
    path = metadata or _find_csv(root, [], needs={"image_name"})
    raw, warns = read_metadata_csv(path)
    require_columns(raw, ["image_name"], path=path, fmt="ISIC")
    df = raw.copy()
    df["status"], df["reason"] = "ok", ""
    _locate(df, raw["image_name"], _index_images(root, warns))
    df["image_id"] = raw["image_name"]
    if "diagnosis" in raw:
        df["diagnosis"] = raw["diagnosis"]
    col = "target" if "target" in raw else "benign_malignant" if "benign_malignant" in raw else None
    if col:
        df["malignant"], bad = _parse_bool(raw[col])
        _warn(df, bad, lambda i: f"{col}={raw[col].iloc[i]!r} is not benign/malignant; treated as unknown")
    for c in ("patient_id", "lesion_id"):
        if c in raw:
            df[c] = raw[c]
    return df, warns


def read_pad_ufes(root: Path, *, metadata: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    path = metadata or root / "metadata.csv"
    raw, warns = read_metadata_csv(path)
    require_columns(raw, ["img_id", "diagnostic", "fitspatrick"], path=path, fmt="PAD-UFES-20")
    df = raw.copy()
    df["status"], df["reason"] = "ok", ""
    _locate(df, raw["img_id"], _index_images(root, warns))
    df["image_id"] = raw["img_id"]
    df["diagnosis"] = raw["diagnostic"]
    dx = raw["diagnostic"].str.strip().str.upper()
    df["malignant"] = dx.map(lambda d: d in PAD_MALIGNANT if d else pd.NA).astype("boolean")
    df["fst_human"] = _parse_fst(df, raw["fitspatrick"], column="fitspatrick")
    df["patient_id"] = raw.get("patient_id", pd.NA)
    df["lesion_id"] = raw.get("lesion_id", pd.NA)
    return df, warns


def read_folder(root: Path, *, metadata: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A folder of images, optionally with a Hugging Face imagefolder ``metadata.csv``
    (``file_name`` plus any of ``diagnosis``/``label``, ``malignant``, ``fst``)."""
    path = metadata or (root / "metadata.csv" if (root / "metadata.csv").is_file() else None)
    warns: list[str] = []
    if path is None:  # every image, keyed by its path relative to root (two x.png in two folders: two rows)
        df = pd.DataFrame({"image": _list_images(root, warns)}, dtype=object)
        df["image_id"] = df["image"]
        df["status"], df["reason"] = "ok", ""
        return df, warns
    raw, warns = read_metadata_csv(path)
    require_columns(raw, ["file_name"], path=path, fmt="image-folder (Hugging Face imagefolder)")
    df = raw.copy()
    df["status"], df["reason"] = "ok", ""
    base = path.parent.resolve()
    top = root.resolve()
    images, problems = [], []
    for f in raw["file_name"]:
        f = str(f).strip()
        try:
            p = (base / f).resolve()
        except (OSError, ValueError):  # a name the file system cannot hold (NUL, too long)
            p = None
        if not f or p is None or (p != top and top not in p.parents):
            images.append(f)
            problems.append(("bad_metadata", "file_name is empty" if not f else
                             f"file_name {f!r} is not a path inside the data folder {root}"))
        else:
            images.append(p.relative_to(top).as_posix())
            problems.append(("missing", f"listed in the metadata but no file {f!r}") if not p.is_file() else None)
    df["image"] = images
    for status in ("bad_metadata", "missing"):
        _mark(df, pd.Series([bool(x) and x[0] == status for x in problems], index=df.index), status,
              lambda i: problems[i][1])
    df["image_id"] = raw["image_id"] if "image_id" in raw else raw["file_name"]
    for c in ("diagnosis", "label", "dx"):
        if c in raw:
            df["diagnosis"] = raw[c]
            break
    if "malignant" in raw:
        df["malignant"], bad = _parse_bool(raw["malignant"])
        _warn(df, bad, lambda i: f"malignant={raw['malignant'].iloc[i]!r} is not True/False; treated as unknown")
    for c in ("fst", "fitzpatrick", "fst_human", "fitzpatrick_scale"):
        if c in raw:
            df["fst_human"] = _parse_fst(df, raw[c], column=c, unknown={"-1"})
            break
    for c in ("patient_id", "lesion_id", "source"):
        if c in raw:
            df[c] = raw[c]
    return df, warns


def _find_csv(root: Path, names: list[str], *, needs: set[str]) -> Path:
    for n in names:
        if (root / n).is_file():
            return root / n
    for p, header in _csv_headers(root).items():
        if needs <= header:
            return p
    raise InputError(f"{root}: no metadata CSV with columns {sorted(needs)} found")


FORMATS: dict[str, Callable[..., tuple[pd.DataFrame, list[str]]]] = {
    "ddi": read_ddi,
    "fitzpatrick17k": read_fitzpatrick17k,
    "ham10000": read_ham10000,
    "isic": read_isic,
    "pad-ufes-20": read_pad_ufes,
    "folder": read_folder,
}


def _csv_headers(root: Path) -> dict[Path, set[str]]:
    out = {}
    for p in sorted(root.glob("*.csv")):
        try:
            with open(p, encoding="utf-8-sig", errors="replace") as fh:
                line = fh.readline()
        except OSError:
            continue
        out[p] = {c.strip().strip('"') for c in line.strip().split(_delimiter(line))}
    return out


def detect_format(root: str | Path) -> str:
    """Guess a data set's format from its metadata file names and columns."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"DATA: directory not found: {root}")
    if root.is_file():
        raise InputError(f"DATA: expected a directory of images (with its metadata CSV), got the file {root}")
    headers = _csv_headers(root)
    for path, cols in headers.items():
        if {"DDI_file", "skin_tone"} <= cols:
            return "ddi"
    for path, cols in headers.items():
        if {"md5hash", "fitzpatrick_scale"} <= cols:
            return "fitzpatrick17k"
        if {"img_id", "fitspatrick"} <= cols or {"img_id", "diagnostic"} <= cols:
            return "pad-ufes-20"
        if {"image_id", "dx"} <= cols:
            return "ham10000"
        if "image_name" in cols:
            return "isic"
    return "folder"


def read_dataset(root: str | Path, *, format: DatasetFormat | None = None, metadata: str | Path | None = None
                 ) -> pd.DataFrame:
    """Read a data set into a manifest.

    Parameters
    ----------
    root : directory holding the images (in any sub-folders) and the metadata CSV.
    format : one of :data:`FORMATS`; detected from the metadata when omitted.
    metadata : the metadata CSV, when it is not in ``root`` under its usual name.

    Metadata warnings (non-UTF-8 lines, ...) are in ``df.attrs["warnings"]``.
    """
    root = Path(root)
    fmt = format or detect_format(root)
    if fmt not in FORMATS:
        import difflib

        close = difflib.get_close_matches(str(fmt), list(FORMATS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"format: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}.{hint}")
    if not root.is_dir():
        raise InputError(f"DATA: directory not found: {root}")
    df, warns = FORMATS[fmt](root, metadata=Path(metadata) if metadata else None)
    if len(df) == 0:
        where = (f"no image ({', '.join(sorted(IMAGE_EXTENSIONS))}) below {root}" if fmt == "folder" and
                 metadata is None and not (root / "metadata.csv").is_file() else "its metadata lists no image")
        raise InputError(f"DATA: {root} is empty for format {fmt!r}: {where}; nothing to do")
    if "image_id" in df:
        df["image_id"] = df["image_id"].astype(str)
    _dupes(df)
    out = finalize_manifest(df, root=root, source=fmt)
    out.attrs["warnings"] = warns
    out.attrs["format"] = fmt
    return out
