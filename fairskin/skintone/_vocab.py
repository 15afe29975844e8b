"""The Fitzpatrick skin-type vocabulary: types 1-6, their roman numerals, the three groups DDI
reports (I-II, III-IV, V-VI), and the one parser every reader, audit and experiment uses.

A type is an ``int`` 1-6 everywhere inside fairskin; roman numerals are for people (reports,
tables, JSON group names) and a group is named by its types' numerals joined with a hyphen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FST_TYPES", "ROMAN", "FST_GROUPS", "GROUP_NAMES", "DDI_CODE_TO_GROUP", "roman", "from_roman",
           "group_of", "types_of", "parse_fst", "type_label"]

#: the six Fitzpatrick types, lightest first
FST_TYPES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
#: roman numeral of each type, ``ROMAN[t - 1]``
ROMAN: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")
#: the groups DDI reports, lightest first: name -> types
FST_GROUPS: dict[str, tuple[int, ...]] = {"I-II": (1, 2), "III-IV": (3, 4), "V-VI": (5, 6)}
GROUP_NAMES: tuple[str, ...] = tuple(FST_GROUPS)
#: DDI's ``skin_tone`` codes
DDI_CODE_TO_GROUP: dict[str, str] = {"12": "I-II", "34": "III-IV", "56": "V-VI"}

_FROM_ROMAN = {r: i + 1 for i, r in enumerate(ROMAN)}
_TYPE_TO_GROUP = {t: g for g, ts in FST_GROUPS.items() for t in ts}
_GROUP_ALIASES = {**{g: g for g in FST_GROUPS}, **DDI_CODE_TO_GROUP, "1-2": "I-II", "3-4": "III-IV", "5-6": "V-VI"}
_EMPTY = frozenset({"", "nan", "na", "<na>", "none", "unknown"})


def roman(t: int) -> str:
    """Roman numeral of a type: ``roman(5) == "V"``."""
    try:
        return ROMAN[int(t) - 1] if 1 <= int(t) <= 6 else _bad_type(t)
    except (TypeError, ValueError):
        return _bad_type(t)


def _bad_type(t) -> str:
    from fairskin.errors import InputError

    raise InputError(f"Fitzpatrick type must be 1-6, got {t!r}")


def from_roman(name: str) -> int | None:
    """``"V"`` -> 5; anything else -> None (case-insensitive)."""
    return _FROM_ROMAN.get(str(name).strip().upper())


def type_label(key) -> str:
    """A type given as 5, '5' or 'V' -> 'V'; anything else (a group, 'all') unchanged as text."""
    s = str(key).strip()
    if s.isdigit() and 1 <= int(s) <= 6:
        return ROMAN[int(s) - 1]
    return s


def group_of(t: int) -> str:
    """Group of a type: ``group_of(5) == "V-VI"``."""
    g = _TYPE_TO_GROUP.get(int(t))
    return g if g is not None else _bad_type(t)


def types_of(group: str) -> tuple[int, ...]:
    """Types of a group name or alias (``"V-VI"``, ``"56"``, ``"5-6"``), or of a single type
    (``"V"``, ``"5"``); ``()`` for anything else."""
    s = str(group).strip().upper()
    if s in _GROUP_ALIASES:
        return FST_GROUPS[_GROUP_ALIASES[s]]
    t = _one(s)
    return (t,) if t else ()


def _one(s: str) -> int:
    """Type of one normalised string ('5', '5.0', 'V'); 0 when it is none."""
    if s in _FROM_ROMAN:
        return _FROM_ROMAN[s]
    try:
        f = float(s)
    except ValueError:
        return 0
    return int(f) if f.is_integer() and 1 <= f <= 6 else 0


def is_empty(value: Any, unknown: Iterable[str] = ()) -> bool:
    """Whether a skin-tone cell is missing: ``None``, NaN, ``pd.NA``, ``""``, ``"unknown"`` and the
    like, or one of the data set's own ``unknown`` codes (lower-case)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return True
    low = str(value).strip().lower()
    return low in _EMPTY or low in unknown


def parse_fst(values: Sequence[Any] | Iterable[Any], *, groups: bool = True, unknown: Iterable[str] = ()
              ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Parse skin-type values as data sets and users write them.

    Accepted: a type ``1``-``6`` (also ``"3.0"``, ``3.0``, ``"III"``); with ``groups`` also a group
    (``"I-II"``, DDI's ``"12"``, ``"1-2"``). Empty values (``None``, NaN, ``""``, ``"unknown"`` and
    the data set's own ``unknown`` codes, e.g. Fitzpatrick17k's ``"-1"``) are missing.

    Returns ``(types, groups, status)``: the type 1-6 of each value (0 when only a group is known
    or nothing usable), its group name (``""`` when unusable), and per value ``None`` (parsed),
    ``"no_fst"`` (missing) or ``"bad_fst"`` (present but not a skin type).
    """
    values = list(values)
    unknown = {str(u).strip().lower() for u in unknown}
    out_t = np.zeros(len(values), int)
    out_g = np.full(len(values), "", dtype=object)
    status: list[str | None] = [None] * len(values)
    for i, v in enumerate(values):
        if is_empty(v, unknown):
            status[i] = "no_fst"
            continue
        s = str(v).strip()
        t = _one(s.upper())
        if t:
            out_t[i], out_g[i] = t, _TYPE_TO_GROUP[t]
        elif groups and s.upper() in _GROUP_ALIASES:
            out_g[i] = _GROUP_ALIASES[s.upper()]
        else:
            status[i] = "bad_fst"
    return out_t, out_g, status
