"""The candidates a study may draw from, and the stratified draw.

Input is a balanced manifest (``fairskin balance``'s ``manifest.csv``: ``image``, ``synthetic``,
``fst``, ``diagnosis``, ...) or an image folder whose ``metadata.csv`` has an ``origin`` column
(``real`` / ``synthetic``). Synthetic paths are relative to the manifest's folder; real paths
relative to ``--real`` (or, as ``balance`` writes them, to the manifest's folder).

The draw is stratified by skin type x diagnosis x origin and uses only the skin type x diagnosis
cells that hold both real and synthetic images: a cell with real images only would let a reader
answer from the skin type or the diagnosis instead of the pixels. Within each origin the images
are spread evenly over the cells (a seeded order decides which cells get the remainder), and real
and synthetic counts match cell by cell when the two halves are equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.reader_study._config import ORIGINS
from fairskin.skintone import parse_fst, roman

__all__ = ["read_candidates", "allocate", "Allocation", "CANDIDATE_COLUMNS", "cell_name"]

CANDIDATE_COLUMNS = ["row", "image", "path", "origin", "fst", "diagnosis"]
_TRUE = {"true", "1", "yes", "synthetic", "generated"}
_FALSE = {"false", "0", "no", "real"}
NO_DIAGNOSIS = ""


def cell_name(fst: int, diagnosis: str) -> str:
    return f"FST {roman(fst)} x {diagnosis or '(no diagnosis)'}"


def _origin(df: pd.DataFrame, where: str) -> pd.Series:
    if "origin" in df.columns:
        col = "origin"
    elif "synthetic" in df.columns:
        col = "synthetic"
    else:
        raise InputError(f"{where}: no origin column; a reader study needs to know which images are synthetic: "
                         f"give a 'synthetic' column (True/False, as `fairskin balance` writes) or an 'origin' "
                         f"column (real/synthetic); found columns {list(df.columns)[:15]}")
    s = df[col].astype("string").str.strip().str.lower()
    return s.map(lambda v: "synthetic" if v in _TRUE else "real" if v in _FALSE else pd.NA).astype("string")


def _read_frame(manifest: Path) -> tuple[pd.DataFrame, Path, list[int], list[dict]]:
    """The manifest's rows, the folder its relative paths start from, the file line of each row and
    the rows that could not be read (``{row, image, reason}``). A CSV goes through fairskin's one
    CSV reader (:func:`fairskin.data.read_csv_table`)."""
    if manifest.is_dir():
        from fairskin.data import read_dataset

        df = read_dataset(manifest)
        return df, manifest, list(range(2, len(df) + 2)), []  # +2: header line, 1-based
    if not manifest.is_file():
        raise InputError(f"MANIFEST: {manifest} not found; give a balanced manifest CSV (fairskin balance) or an "
                         f"image folder whose metadata.csv has an origin column")
    df = read_csv_table(manifest, arg="MANIFEST")[0]
    if "image" not in df.columns:
        raise InputError(f"MANIFEST: {manifest} has no 'image' column; found {list(df.columns)[:15]}")
    unread = [{"row": r["line"], "image": r["image"], "reason": r["reason"]} for r in df.attrs["skipped_rows"]]
    return df, manifest.parent, list(df.attrs["lines"]), unread


def _resolve(image: str, origin: str, *, base: Path, real: Path | None) -> Path | None:
    p = Path(image)
    if p.is_absolute():
        return p if p.is_file() else None
    roots = [real, base] if origin == "real" and real is not None else [base]
    for root in roots:
        if (root / p).is_file():
            return (root / p).resolve()
    return None


def read_candidates(manifest: str | Path, *, real: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(candidates, skipped)``: one row per usable image (:data:`CANDIDATE_COLUMNS`) and one row
    per manifest row that cannot be used, with its reason."""
    manifest = Path(manifest)
    real = Path(real) if real is not None else None
    if real is not None and not real.is_dir():
        raise InputError(f"real: directory not found: {real}")
    df, base, lines, bad = _read_frame(manifest)
    where = f"MANIFEST {manifest}"
    origin = _origin(df, where)
    fst_col = next((c for c in ("fst", "fst_human", "fst_requested") if c in df.columns), None)
    if fst_col is None:
        raise InputError(f"{where}: no skin-type column; expected one of fst, fst_human, fst_requested "
                         f"(Fitzpatrick type 1-6); found {list(df.columns)[:15]}")
    fst, _, fst_status = parse_fst(df[fst_col].tolist(), groups=False)
    diagnosis = (df["diagnosis"].astype("string").fillna(NO_DIAGNOSIS).str.strip() if "diagnosis" in df.columns
                 else pd.Series(NO_DIAGNOSIS, index=df.index, dtype="string"))
    status = df["status"].astype("string").fillna("ok") if "status" in df.columns else None
    gate = df["gate"].astype("string").fillna("") if "gate" in df.columns else None
    good = []
    for i in range(len(df)):
        image = str(df["image"].iloc[i])
        row = {"row": lines[i], "image": image}
        reason = None
        if status is not None and status.iloc[i] not in ("ok", ""):
            reason = f"status {status.iloc[i]!r} in the manifest"
        elif gate is not None and gate.iloc[i] == "rejected":
            reason = "rejected by the ITA gate"
        elif pd.isna(origin.iloc[i]):
            col = "origin" if "origin" in df.columns else "synthetic"
            reason = f"{col}={df[col].iloc[i]!r} is neither real nor synthetic"
        elif fst_status[i] is not None:
            reason = f"{fst_col}={df[fst_col].iloc[i]!r} is not a Fitzpatrick type 1-6"
        if reason is None:
            path = _resolve(image, str(origin.iloc[i]), base=base, real=real)
            if path is None:
                where_ = "--real or the manifest's folder" if origin.iloc[i] == "real" else "the manifest's folder"
                reason = f"image file not found (relative to {where_})"
        if reason is not None:
            bad.append({**row, "reason": reason})
            continue
        good.append({**row, "path": str(path), "origin": str(origin.iloc[i]), "fst": int(fst[i]),
                     "diagnosis": str(diagnosis.iloc[i])})
    cands = pd.DataFrame(good, columns=CANDIDATE_COLUMNS)
    return cands, pd.DataFrame(bad, columns=["row", "image", "reason"])


@dataclass(frozen=True)
class Allocation:
    """How many images each stratum gives: ``counts[(fst, diagnosis, origin)]``."""

    counts: dict
    cells: tuple  # (fst, diagnosis) used, in the seeded order that placed the remainders
    left_out: tuple  # (fst, diagnosis, origin present, n) of cells with one origin only


def _spread(total: int, k: int, order: list) -> dict:
    base, extra = divmod(total, k)
    return {c: base + (1 if j < extra else 0) for j, c in enumerate(order)}


def allocate(cands: pd.DataFrame, *, n: int, real_share: float, seed: int) -> Allocation:
    """Spread ``n`` images over the cells that have both origins; raise if a stratum is short."""
    avail = cands.groupby(["fst", "diagnosis", "origin"]).size().to_dict()
    cells = sorted({(f, d) for f, d, _ in avail})
    both = [c for c in cells if all(avail.get((*c, o), 0) > 0 for o in ORIGINS)]
    left_out = tuple((f, d, o, avail[(f, d, o)]) for f, d in cells if (f, d) not in both
                     for o in ORIGINS if avail.get((f, d, o), 0))
    if not both:
        raise InputError("MANIFEST: no skin type x diagnosis cell has both real and synthetic images; a reader study "
                         "compares them within a cell (found: " + ", ".join(
                             f"{cell_name(f, d)}: {o} only" for f, d, o, _ in left_out[:8]) + ")")
    order = [both[i] for i in np.random.default_rng(seed).permutation(len(both))]

    def counts_for(n_total: int) -> dict:
        n_real = int(round(n_total * real_share))
        n_real = min(max(n_real, 1), n_total - 1)
        out = {}
        for origin, total in (("real", n_real), ("synthetic", n_total - n_real)):
            for (f, d), k in _spread(total, len(order), order).items():
                out[(f, d, origin)] = k
        return out

    counts = counts_for(n)
    short = [(key, need, avail.get(key, 0)) for key, need in counts.items() if need > avail.get(key, 0)]
    if short:
        best = next((m for m in range(n - 1, 1, -1)
                     if all(k <= avail.get(key, 0) for key, k in counts_for(m).items())), None)
        lines = "; ".join(f"{cell_name(f, d)} x {o} has {have} image(s), needs {need}" for (f, d, o), need, have in short[:6])
        more = f" (and {len(short) - 6} more)" if len(short) > 6 else ""
        hint = f"n={best} is the largest that fits" if best else "no value of n fits"
        raise InputError(f"n={n}: too few images in {len(short)} stratum(s) for an even spread over "
                         f"{len(order)} skin type x diagnosis cells ({real_share:.0%} real): {lines}{more}; "
                         f"{hint}, or restrict diagnoses=...")
    return Allocation(counts=counts, cells=tuple(order), left_out=left_out)
