"""The skin-tone scales an estimator can label on: the six Fitzpatrick types and the ten tones of
the Monk Skin Tone (MST) scale, each with the groups fairskin reports, and the MST reference
colours with the nearest-swatch rule.

Fitzpatrick is read from ITA through a cut-point scale (``_scales``); MST is read as the nearest
of its ten published sRGB reference colours (``monk_scale.csv``, with its source) in CIELAB.
MST groups its tones 1-3 / 4-7 / 8-10 (light, medium, dark), the grouping its own annotation
studies report (Schumann et al. 2023), as Fitzpatrick's are I-II / III-IV / V-VI (DDI).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from fairskin.errors import InputError
from fairskin.skintone._color import srgb_to_lab
from fairskin.skintone._vocab import FST_GROUPS, FST_TYPES, ROMAN, is_empty, parse_fst

__all__ = ["ToneScale", "FITZPATRICK", "MONK", "MST_TONES", "MST_GROUPS", "MonkSwatches", "MONK_SWATCHES",
           "get_tone_scale", "tone_scale_of_columns"]


@dataclass(frozen=True)
class ToneScale:
    """A scale of ordered skin-tone categories (lightest first) and how fairskin groups them.

    ``column`` is the labels.csv column holding the category; ``labels`` are the names people
    read (roman numerals for Fitzpatrick, ``MST 1``..``MST 10`` for Monk).
    """

    name: str
    column: str
    tones: tuple[int, ...]
    labels: tuple[str, ...]
    groups: dict[str, tuple[int, ...]]

    def label(self, tone: int) -> str:
        if int(tone) not in self.tones:
            raise InputError(f"{self.name} tone must be {self.tones[0]}-{self.tones[-1]}, got {tone!r}")
        return self.labels[self.tones.index(int(tone))]

    def group_of(self, tone: int) -> str:
        """Group name of a tone: ``MONK.group_of(5) == "4-7"``."""
        for g, ts in self.groups.items():
            if int(tone) in ts:
                return g
        raise InputError(f"{self.name} tone must be {self.tones[0]}-{self.tones[-1]}, got {tone!r}")

    def describe_groups(self) -> str:
        """``"I-II / III-IV / V-VI"``: the grouping, as reports state it."""
        return " / ".join(self.groups)

    def tone_of(self, label: str) -> int:
        """The tone a label names: ``FITZPATRICK.tone_of("V") == 5``, ``MONK.tone_of("MST 8") == 8``."""
        try:
            return self.tones[self.labels.index(label)]
        except ValueError:
            raise InputError(f"{label!r} is not a {self.name} tone; expected one of {', '.join(self.labels)}") from None

    @property
    def lightest_group(self) -> str:
        return next(iter(self.groups))

    @property
    def darkest_group(self) -> str:
        return list(self.groups)[-1]

    def parse(self, values, *, groups: bool = True) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
        """``(tones, groups, status)`` of values as people write them, as :func:`parse_fst` returns
        them for Fitzpatrick: a tone (``5``, ``"5.0"``, or its label: ``"V"``, ``"MST 5"``), with
        ``groups`` also a group name; status ``None`` (parsed), ``"no_fst"`` (empty) or
        ``"bad_fst"`` (not a tone of this scale)."""
        if self.name == "fitzpatrick":
            return parse_fst(values, groups=groups)
        values = list(values)
        by_label = {lab.upper().replace(" ", ""): t for lab, t in zip(self.labels, self.tones)}
        out_t = np.zeros(len(values), int)
        out_g = np.full(len(values), "", dtype=object)
        status: list[str | None] = [None] * len(values)
        for i, v in enumerate(values):
            if is_empty(v):
                status[i] = "no_fst"
                continue
            s = str(v).strip()
            t = by_label.get(s.upper().replace(" ", ""), 0)
            if not t:
                try:
                    f = float(s)
                    t = int(f) if f.is_integer() and int(f) in self.tones else 0
                except ValueError:
                    t = 0
            if t:
                out_t[i], out_g[i] = t, self.group_of(t)
            elif groups and s in self.groups:
                out_g[i] = s
            else:
                status[i] = "bad_fst"
        return out_t, out_g, status


MST_TONES: tuple[int, ...] = tuple(range(1, 11))
MST_GROUPS: dict[str, tuple[int, ...]] = {"1-3": (1, 2, 3), "4-7": (4, 5, 6, 7), "8-10": (8, 9, 10)}

FITZPATRICK = ToneScale(name="fitzpatrick", column="fst", tones=FST_TYPES, labels=ROMAN, groups=FST_GROUPS)
MONK = ToneScale(name="monk", column="mst", tones=MST_TONES, labels=tuple(f"MST {t}" for t in MST_TONES),
                 groups=MST_GROUPS)
_TONE_SCALES = {s.name: s for s in (FITZPATRICK, MONK)}


def tone_scale_of_columns(columns) -> ToneScale:
    """The tone scale of a table by its columns: Monk where it has an ``mst`` column and no
    ``fst`` (what ``fairskin label --estimator monk`` writes), else Fitzpatrick."""
    return MONK if MONK.column in columns and FITZPATRICK.column not in columns else FITZPATRICK


def get_tone_scale(name: str) -> ToneScale:
    try:
        return _TONE_SCALES[name]
    except KeyError:
        raise InputError(f"unknown tone scale {name!r}; known: {', '.join(_TONE_SCALES)}") from None


_PHI = np.vectorize(lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))), otypes=[float])


@dataclass(frozen=True)
class MonkSwatches:
    """The ten MST reference colours (sRGB hex as published) and their CIELAB values (D65)."""

    hex: tuple[str, ...]
    lab: np.ndarray  # (10, 3)
    source: str

    def nearest(self, lab, *, sd: float = 1.0) -> tuple[int, float, float]:
        """``(tone, delta_e, confidence)`` of one CIELAB colour.

        ``tone`` is the swatch nearest in Delta E 1976 (Euclidean CIELAB distance) and
        ``delta_e`` its distance. ``confidence`` is the probability that a colour measured with
        normal error ``sd`` (Delta E units per axis) has this same nearest swatch: the product
        over the other swatches of the probability of staying on this side of their bisecting
        plane (the independence approximation of the Voronoi cell's probability). 0.5 on a
        bisector, close to 1 deep inside a cell.
        """
        x = np.asarray(lab, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(x)):
            raise InputError(f"CIELAB colour must be finite, got {x.tolist()}")
        if not sd > 0:
            raise InputError(f"sd must be positive, got {sd!r}")
        d = np.linalg.norm(self.lab - x, axis=1)
        k = int(np.argmin(d))
        others = np.delete(np.arange(len(self.lab)), k)
        u = self.lab[others] - self.lab[k]
        gap = np.linalg.norm(u, axis=1)
        # signed distance from x to each bisector plane, positive on swatch k's side
        m = gap / 2.0 - (u @ (x - self.lab[k])) / gap
        return k + 1, float(d[k]), float(np.prod(_PHI(m / sd)))


def _load_swatches() -> MonkSwatches:
    text = resources.files("fairskin.skintone").joinpath("monk_scale.csv").read_text(encoding="utf-8")
    rows = sorted(csv.DictReader(text.splitlines()), key=lambda r: int(r["tone"]))
    if [int(r["tone"]) for r in rows] != list(MST_TONES):
        raise InputError(f"built-in monk_scale.csv: expected tones 1-10, found {[r['tone'] for r in rows]}")
    hexes = tuple(r["hex"].strip().lower() for r in rows)
    rgb = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hexes], dtype=np.float64) / 255.0
    return MonkSwatches(hex=hexes, lab=srgb_to_lab(rgb).astype(np.float64), source=rows[0]["source"])


MONK_SWATCHES = _load_swatches()
