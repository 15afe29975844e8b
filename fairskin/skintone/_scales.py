"""Registry of published ITA -> skin-type scales.

Each scale is a set of data rows with its source (``ita_scales.csv`` in this package, copied
from the published tables). A row covers ``ita_above < ITA <= ita_at_most``; empty bounds are
open, so every finite ITA falls in exactly one row, boundaries included (a peer returns None at
exactly -30 degrees; here -30 belongs to the row whose ``ita_at_most`` is -30).
"""

from __future__ import annotations

import csv
import difflib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from fairskin.errors import InputError

__all__ = ["ItaScale", "get_scale", "list_scales", "DEFAULT_SCALE", "load_scale_file"]

DEFAULT_SCALE = "kinyanjui_fst"


@dataclass(frozen=True)
class ItaScale:
    """Six ordered ITA intervals, lightest (type I) first.

    ``cuts`` are the five boundaries in decreasing ITA: type k covers
    ``cuts[k-1] < ITA <= cuts[k-2]`` (open at the ends).
    """

    name: str
    categories: tuple[str, ...]  # names as published, lightest first
    cuts: tuple[float, ...]  # 5 decreasing boundaries
    source: str

    def __post_init__(self):
        if len(self.categories) != 6 or len(self.cuts) != 5:
            raise InputError(f"scale {self.name!r}: need 6 categories and 5 cut-points, got {len(self.categories)} and {len(self.cuts)}")
        if any(not b < a for a, b in zip(self.cuts, self.cuts[1:])):
            raise InputError(f"scale {self.name!r}: cut-points must strictly decrease, got {list(self.cuts)}")

    def fst(self, ita):
        """Fitzpatrick type (1-6) for each ITA in degrees; NaN ITA gives 0 (no type)."""
        ita = np.asarray(ita, dtype=np.float64)
        # number of cuts with ITA <= cut: a cut c belongs to the lighter row (ITA <= c).
        # type = 1 + number of cuts strictly ... use searchsorted on ascending cuts.
        asc = np.asarray(self.cuts[::-1])  # increasing
        # count of cuts >= ita  -> those boundaries lie above ita; type = 6 - (#cuts < ita)
        n_below = np.searchsorted(asc, ita, side="left")  # cuts strictly less than ita
        out = 6 - n_below
        out = np.where(np.isnan(ita), 0, out)
        return out.astype(np.int64) if out.ndim else int(out)

    def margin(self, ita):
        """Distance in degrees from each ITA to the nearest cut-point."""
        ita = np.asarray(ita, dtype=np.float64)
        return np.min(np.abs(ita[..., None] - np.asarray(self.cuts)), axis=-1)

    def interval(self, fst: int) -> tuple[float, float]:
        """(ita_above, ita_at_most) of a type, with infinities for the open ends."""
        if fst not in range(1, 7):
            raise InputError(f"Fitzpatrick type must be 1-6, got {fst!r}")
        hi = math.inf if fst == 1 else self.cuts[fst - 2]
        lo = -math.inf if fst == 6 else self.cuts[fst - 1]
        return lo, hi

    def to_rows(self) -> list[dict]:
        rows = []
        for k, cat in enumerate(self.categories, start=1):
            lo, hi = self.interval(k)
            rows.append({
                "scale": self.name, "category": cat,
                "ita_above": "" if math.isinf(lo) else f"{lo:.4f}",
                "ita_at_most": "" if math.isinf(hi) else f"{hi:.4f}",
                "source": self.source if k == 1 else "same",
            })
        return rows

    def save(self, path: str | Path) -> None:
        """Write the scale in the registry's CSV format (loadable with ``--scale PATH``)."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["scale", "category", "ita_above", "ita_at_most", "source"])
            w.writeheader()
            w.writerows(self.to_rows())


def _parse_rows(rows: list[dict], origin: str) -> dict[str, ItaScale]:
    need = {"scale", "category", "ita_above", "ita_at_most", "source"}
    if not rows:
        raise InputError(f"{origin}: no scale rows; expected columns {sorted(need)} and six rows (types I-VI)")
    if not need <= set(rows[0]):
        found = sorted(str(k) for k in rows[0] if k is not None)
        raise InputError(f"{origin}: expected columns {sorted(need)}, found {found}")
    rows = [{k: (v if isinstance(v, str) else "") for k, v in r.items() if k is not None} for r in rows]
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["scale"].strip(), []).append(r)
    scales = {}
    for name, rs in by_name.items():
        def bound(v):
            v = (v or "").strip()
            if v == "":
                return math.nan
            try:
                x = float(v)
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                raise InputError(f"{origin}: scale {name!r} has the ITA bound {v!r}, which is not a finite number of "
                                 "degrees (an open end is left empty)")
            return x

        ivs = sorted(((bound(r["ita_above"]), bound(r["ita_at_most"]), r) for r in rs),
                     key=lambda t: -(t[1] if not math.isnan(t[1]) else math.inf))
        if len(ivs) != 6:
            raise InputError(f"{origin}: scale {name!r} has {len(ivs)} rows, expected 6 (types I-VI)")
        if not math.isnan(ivs[0][1]) or not math.isnan(ivs[-1][0]):
            raise InputError(f"{origin}: scale {name!r} must be open at both ends (empty ita_at_most on the lightest row, empty ita_above on the darkest)")
        cuts = []
        for (lo, _, r), (_, hi_next, r2) in zip(ivs, ivs[1:]):
            if lo != hi_next:
                raise InputError(f"{origin}: scale {name!r} leaves a gap or overlap between "
                                 f"{r['category']!r} (above {lo}) and {r2['category']!r} (at most {hi_next})")
            cuts.append(lo)
        if any(a <= b for a, b in zip(cuts, cuts[1:])):
            raise InputError(f"{origin}: scale {name!r} has a type whose ITA range is empty or inverted "
                             f"(cut-points {cuts} must decrease from type I to VI)")
        source = next((r["source"] for r in rs if r["source"].strip() not in ("", "same")), "")
        scales[name] = ItaScale(name=name, categories=tuple(r["category"] for _, _, r in ivs),
                                cuts=tuple(cuts), source=source)
    return scales


def _builtin() -> dict[str, ItaScale]:
    text = resources.files("fairskin.skintone").joinpath("ita_scales.csv").read_text(encoding="utf-8")
    return _parse_rows(list(csv.DictReader(text.splitlines())), "built-in ita_scales.csv")


_BUILTIN = _builtin()


def list_scales() -> list[str]:
    return sorted(_BUILTIN)


def load_scale_file(path: str | Path) -> ItaScale:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"scale: file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"scale: {path} is not a UTF-8 CSV scale file ({exc})") from None
    scales = _parse_rows(rows, str(path))
    if len(scales) != 1:
        raise InputError(f"{path}: expected one scale, found {sorted(scales)}")
    return next(iter(scales.values()))


def get_scale(name: str | Path | ItaScale = DEFAULT_SCALE) -> ItaScale:
    """A built-in scale by name, or a scale file (e.g. one written by ``--calibrate``)."""
    if isinstance(name, ItaScale):
        return name
    key = str(name)
    if key in _BUILTIN:
        return _BUILTIN[key]
    if key.endswith(".csv") or Path(key).is_file():
        return load_scale_file(key)
    close = difflib.get_close_matches(key, list(_BUILTIN), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(f"scale: unknown scale {key!r}; built-in scales are {', '.join(list_scales())}, or give a scale CSV file.{hint}")
