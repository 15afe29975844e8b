"""How many images to generate per cell (skin type x diagnosis) to reach a skin-type target.

Target grammar (``--target``)
-----------------------------
* ``fst56=0.25``: types V and VI together make up 25% of the balanced set;
* ``fst5=0.12,fst6=0.13``: one share per type (or per set of types; the sets must not overlap);
* ``uniform``: every type I-VI makes up one sixth.

Balancing only adds images. For targeted sets ``K`` with shares ``t_K`` and ``N_other`` real
images outside them, the balanced set has ``N' = N_other / (1 - sum t_K)`` images (when the
shares sum to 1, the smallest ``N'`` that needs no set to shrink), and set ``K`` gets
``round(t_K N') - R_K`` synthetic images. Inside a set, the synthetic images go to its cells in
proportion to their real counts (largest remainder), so each type keeps its own diagnosis mix
and each set its mix of types. A cell may get at most ``max_per_real`` synthetic images per
real image in it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.skintone import FST_TYPES, roman

__all__ = ["PlanConfig", "BalancePlan", "parse_target", "plan_balance", "TargetSpec"]



@dataclass(frozen=True)
class PlanConfig:
    """Defaults of the planning stage (the CLI reads them too)."""

    target: str = "fst56=0.25"
    #: at most this many synthetic images per real image in a cell
    max_per_real: float = 2.0


@dataclass(frozen=True)
class TargetSpec:
    """A parsed ``--target``: disjoint sets of skin types with their share of the final set."""

    shares: tuple[tuple[tuple[int, ...], float], ...]
    text: str

    def name(self, types: tuple[int, ...]) -> str:
        return "fst" + "".join(str(t) for t in types)


def _types_label(types: tuple[int, ...]) -> str:
    return "-".join(roman(t) for t in types) if len(types) <= 2 else ",".join(roman(t) for t in types)


def parse_target(text: str) -> TargetSpec:
    """Parse ``fst56=0.25``, ``fst5=0.12,fst6=0.13`` or ``uniform``."""
    allowed = "allowed: 'fst56=0.25' (share of types V-VI), 'fst5=0.12,fst6=0.13' (one share per type) or 'uniform'"
    raw = (text or "").strip()
    if not raw:
        raise InputError(f"target: empty target; {allowed}")
    if raw.lower() == "uniform":
        return TargetSpec(shares=tuple(((t,), 1.0 / 6.0) for t in FST_TYPES), text="uniform")
    shares: list[tuple[tuple[int, ...], float]] = []
    seen: dict[int, str] = {}
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) > 1 and any(p.lower() == "uniform" for p in parts):
        raise InputError(f"target: 'uniform' already gives every type I-VI one sixth and cannot be combined with "
                         f"other shares ({raw!r}); give either 'uniform' or shares such as 'fst5=0.12,fst6=0.13'")
    for part in parts:
        m = re.fullmatch(r"fst([0-9]+)\s*=\s*(\S+)", part, flags=re.IGNORECASE)
        if not m:
            raise InputError(f"target: cannot read {part!r}; {allowed}")
        digits, value = m.group(1), m.group(2)
        bad = sorted({d for d in digits if d not in "123456"})
        if bad:
            raise InputError(f"target: {part!r} names Fitzpatrick type {', '.join(bad)}; types are 1-6 "
                             f"(e.g. fst5, fst56)")
        types = tuple(sorted({int(d) for d in digits}))
        if len(types) != len(digits):
            raise InputError(f"target: {part!r} repeats a skin type; write each type once (e.g. fst56)")
        for t in types:
            if t in seen:
                raise InputError(f"target: type {t} appears in both {seen[t]!r} and {part!r}; "
                                 f"the sets of types must not overlap")
            seen[t] = part
        try:
            share = float(Fraction(value)) if "/" in value else float(value)
        except (ValueError, ZeroDivisionError):
            raise InputError(f"target: share {value!r} in {part!r} is not a number; give a fraction "
                             f"between 0 and 1, e.g. {m.group(1) and 'fst' + digits}=0.25") from None
        if math.isnan(share) or not (0.0 < share < 1.0):
            why = ("a share of 0 asks for no image of these types, which balancing (it only adds images) cannot "
                   "reach; leave the types out of target=... instead" if share == 0 else
                   "a share of 1 or more leaves no room for the other types" if share >= 1 else
                   "a share cannot be negative" if share < 0 else "it is not a number")
            raise InputError(f"target: share {value} in {part!r} must be greater than 0 and less than 1 (a fraction "
                             f"of the balanced data set, e.g. 0.25 for a quarter): {why}")
        shares.append((types, share))
    total = sum(s for _, s in shares)
    if total > 1.0 + 1e-9:
        raise InputError(f"target: the shares add up to {total:g}, more than 1; lower them so that they sum "
                         f"to at most 1")
    return TargetSpec(shares=tuple(shares), text=raw)


@dataclass
class BalancePlan:
    """Per cell: real images, synthetic images to generate, and the final count."""

    cells: pd.DataFrame  # columns fst, diagnosis, real, generate, final, target_set
    target: TargetSpec
    n_real: int
    n_unknown_fst: int
    max_per_real: float
    notes: list[str] = field(default_factory=list)
    #: how rows with estimated skin types were counted (balance._tones.EstimatedTypes.to_dict())
    estimated_types: dict | None = None

    @property
    def n_generate(self) -> int:
        return int(self.cells["generate"].sum())

    @property
    def n_final(self) -> int:
        return self.n_real + self.n_generate

    def shares(self) -> list[dict]:
        """Per target set: real share, final share and target."""
        out = []
        for types, share in self.target.shares:
            sel = self.cells["fst"].isin(types)
            real = int(self.cells.loc[sel, "real"].sum())
            final = int(self.cells.loc[sel, "final"].sum())
            out.append({"set": self.target.name(types), "types": _types_label(types), "target": share,
                        "real": real, "final": final, "share_before": real / max(self.n_real, 1),
                        "share_after": final / max(self.n_final, 1)})
        return out

    def slots(self) -> list[dict]:
        """One entry per image to generate, in a fixed order: fst, diagnosis, index, slot id."""
        out = []
        slugs = diagnosis_slugs(self.cells["diagnosis"])
        for r in self.cells.itertuples(index=False):
            for i in range(int(r.generate)):
                out.append({"fst": int(r.fst), "diagnosis": r.diagnosis, "index": i,
                            "slot": f"fst{int(r.fst)}-{slugs[str(r.diagnosis)]}-{i:05d}"})
        return out

    def to_dict(self) -> dict:
        return {
            "target": self.target.text,
            "max_per_real": self.max_per_real,
            "n_real": self.n_real,
            "n_unknown_fst": self.n_unknown_fst,
            "n_generate": self.n_generate,
            "n_final": self.n_final,
            "shares": self.shares(),
            "cells": [{k: (int(v) if isinstance(v, (np.integer,)) else v) for k, v in row.items()}
                      for row in self.cells.to_dict(orient="records")],
            "notes": list(self.notes),
            "estimated_types": self.estimated_types,
        }

    def fingerprint(self) -> str:
        """Identifies the plan (target and cells); an output folder belongs to one plan."""
        d = self.to_dict()
        key = {"target": d["target"], "max_per_real": d["max_per_real"], "cells": d["cells"]}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def format_table(self) -> str:
        lines = [f"{'type':>5} {'diagnosis':<34} {'real':>6} {'generate':>9} {'final':>6}"]
        for r in self.cells.itertuples(index=False):
            lines.append(f"{roman(r.fst):>5} {str(r.diagnosis):<34} {int(r.real):>6} {int(r.generate):>9} {int(r.final):>6}")
        lines.append(f"{'':>5} {'total':<34} {self.n_real:>6} {self.n_generate:>9} {self.n_final:>6}")
        for s in self.shares():
            lines.append(f"{s['types']}: {s['share_before']:.1%} -> {s['share_after']:.1%} (target {s['target']:.1%})")
        lines.extend(self.notes)
        return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "none"


def diagnosis_slugs(diagnoses) -> dict[str, str]:
    """Each diagnosis's part of a generated file name: its lower-case slug, made unique where two
    diagnoses differ only in case or punctuation (``melanoma``, ``Melanoma``) by a short hash of
    the exact name, so that two cells never write the same file."""
    names = sorted({str(d) for d in diagnoses})
    by_slug: dict[str, list[str]] = {}
    for n in names:
        by_slug.setdefault(_slug(n), []).append(n)
    out = {}
    for slug, group in by_slug.items():
        for n in group:
            out[n] = slug if len(group) == 1 else f"{slug}-{hashlib.sha256(n.encode()).hexdigest()[:6]}"
    return out


def slug_collisions(diagnoses) -> list[list[str]]:
    """Groups of diagnoses that differ only in case or punctuation (probably one diagnosis spelt two ways)."""
    by_slug: dict[str, list[str]] = {}
    for n in sorted({str(d) for d in diagnoses}):
        by_slug.setdefault(_slug(n), []).append(n)
    return [g for g in by_slug.values() if len(g) > 1]


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split a non-negative integer ``total`` in proportion to ``weights`` (ties: first cell)."""
    weights = np.asarray(weights, dtype=float)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=int)
    exact = total * weights / weights.sum()
    base = np.floor(exact).astype(int)
    rest = total - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return base


def plan_balance(frame: pd.DataFrame, *, target: str | TargetSpec = PlanConfig.target,
                 max_per_real: float = PlanConfig.max_per_real, weights: np.ndarray | None = None) -> BalancePlan:
    """Plan the synthetic images per cell for a manifest with ``fst`` (1-6 or NA) and ``diagnosis``.

    ``weights`` (rows x 6, optional): what each row counts toward types I-VI, e.g. a posterior over
    true types for a row whose type is estimated (``balance._tones``); the cells' real counts are
    then those expected counts, rounded (largest remainder) to whole images. Raises
    :class:`InputError` for a target that cannot be reached, saying why and what would.
    """
    spec = parse_target(target) if isinstance(target, str) else target
    if not (max_per_real > 0) or math.isinf(max_per_real):
        raise InputError(f"max_per_real: must be a positive number, got {max_per_real!r}")
    if "fst" not in frame.columns:
        raise InputError("plan_balance: the manifest has no 'fst' column (skin type 1-6 per image)")
    fst = pd.array(frame["fst"], dtype="Int64")
    diag = frame["diagnosis"].astype("string").fillna("unknown") if "diagnosis" in frame else pd.Series(
        ["unknown"] * len(frame), dtype="string")
    known = ~pd.isna(fst)
    n_real = len(frame)
    notes = []
    n_unknown = int((~known).sum())
    if n_unknown:
        notes.append(f"{n_unknown} image(s) have no skin type (neither labels.csv nor a human type); they count "
                     f"toward the total but toward no type")
    for group in slug_collisions(diag[known].astype(str)):
        notes.append(f"diagnoses {', '.join(map(repr, group))} differ only in case or punctuation; they are kept as "
                     "separate cells (their generated file names carry a hash of the exact name); if they are one "
                     "diagnosis, spell it one way in the metadata")
    if weights is None:
        cells = (pd.DataFrame({"fst": np.asarray(fst[known], dtype=int),
                               "diagnosis": np.asarray(diag[known], dtype=object)})
                 .groupby(["fst", "diagnosis"]).size().rename("real").reset_index())
    else:
        cells = _expected_cells(np.asarray(weights, float), np.asarray(diag, dtype=object))
    cells["generate"] = 0
    cells["target_set"] = ""

    r_set = {types: int(cells.loc[cells["fst"].isin(types), "real"].sum()) for types, _ in spec.shares}
    n_other = n_real - sum(r_set.values())
    total_share = sum(s for _, s in spec.shares)
    for types, _ in spec.shares:
        if r_set[types] == 0:
            raise InputError(
                f"target={spec.text}: there is no real image of type {_types_label(types)} to condition on, so "
                f"none can be generated (a synthetic image needs real ones of its cell); target only types that have "
                f"real images: {_present(cells)}")
    if total_share >= 1.0 - 1e-9:
        if n_other > 0:
            raise InputError(
                f"target={spec.text}: the shares sum to 1 but {n_other} real image(s) are of other or unknown "
                f"types and cannot be removed; lower the shares so they sum to less than 1")
        n_final_f = max(r / s for (types, s), r in zip(spec.shares, r_set.values()))
    else:
        n_final_f = n_other / (1.0 - total_share)
    for types, share in spec.shares:
        want = int(round(share * n_final_f))
        gen = want - r_set[types]
        if gen < 0:
            now = r_set[types] / n_real
            raise InputError(
                f"target={spec.text}: type {_types_label(types)} is already {now:.1%} of the data set "
                f"(target {share:.1%}); balancing only adds images and cannot lower a share. Targets that would "
                f"work: {spec.name(types)}>={math.ceil(now * 100) / 100:.2f}")
        sel = cells.index[cells["fst"].isin(types)]
        cells.loc[sel, "generate"] = _largest_remainder(gen, cells.loc[sel, "real"].to_numpy())
        cells.loc[sel, "target_set"] = spec.name(types)

    # the cap: no cell flooded with synthetic images
    cap = np.floor(cells["real"].to_numpy() * max_per_real + 1e-9).astype(int)
    over = cells["generate"].to_numpy() > cap
    if over.any():
        worst = cells[over].assign(ratio=lambda d: d["generate"] / d["real"]).sort_values("ratio", ascending=False)
        w = worst.iloc[0]
        needed = float(w["generate"]) / float(w["real"])
        reach = _reachable(cells, spec, n_other, max_per_real)
        raise InputError(
            f"target={spec.text}: cell type {roman(w['fst'])} x {w['diagnosis']} has {int(w['real'])} real "
            f"image(s) and would need {int(w['generate'])} synthetic ones ({needed:.2f} per real image), more than "
            f"max_per_real={max_per_real:g} allows ({int(over.sum())} cell(s) over the cap). What would work: "
            f"max_per_real={math.ceil(needed * 100) / 100:g}, or a target of at most {reach}")
    cells["final"] = cells["real"] + cells["generate"]
    cells = cells[["fst", "diagnosis", "real", "generate", "final", "target_set"]].sort_values(
        ["fst", "diagnosis"]).reset_index(drop=True)
    cells["fst"] = cells["fst"].astype(int)
    cells["real"] = cells["real"].astype(int)
    cells["generate"] = cells["generate"].astype(int)
    cells["final"] = cells["final"].astype(int)
    return BalancePlan(cells=cells, target=spec, n_real=n_real, n_unknown_fst=n_unknown,
                       max_per_real=max_per_real, notes=notes)


def _expected_cells(weights: np.ndarray, diag: np.ndarray) -> pd.DataFrame:
    """Real images per (type, diagnosis) when each row counts as ``weights`` over types I-VI:
    expected counts rounded to whole images (largest remainder, the total kept)."""
    known = weights.sum(1) > 0
    names = sorted(set(diag[known]))
    exp = np.array([[weights[known & (diag == d), t].sum() for d in names] for t in range(6)])
    real = _largest_remainder(int(known.sum()), exp.ravel()).reshape(exp.shape)
    rows = [(t + 1, d, int(real[t, j])) for t in range(6) for j, d in enumerate(names) if real[t, j] > 0]
    return pd.DataFrame(rows, columns=["fst", "diagnosis", "real"])


def _present(cells: pd.DataFrame) -> str:
    types = sorted(set(int(t) for t in cells["fst"]))
    return ", ".join(roman(t) for t in types) if types else "none"


def _reachable(cells: pd.DataFrame, spec: TargetSpec, n_other: int, max_per_real: float) -> str:
    """The largest shares reachable under the cap, scaling all targets down together."""
    # each set can grow by at most sum(floor(cap * real)) over its cells (proportional split
    # is bounded by the cell with the smallest headroom: use the proportional bound)
    parts = []
    for types, share in spec.shares:
        sel = cells["fst"].isin(types)
        real = int(cells.loc[sel, "real"].sum())
        parts.append((types, share, real))
    lo, hi = 0.0, 1.0
    for _ in range(60):  # bisection on a common scale factor of the shares
        mid = (lo + hi) / 2
        ok = _fits(parts, n_other, mid, cells, max_per_real)
        lo, hi = (mid, hi) if ok else (lo, mid)
    return ",".join(f"{spec.name(t)}={math.floor(s * lo * 1000) / 1000:g}" for t, s, _ in parts)


def _fits(parts, n_other, scale, cells, max_per_real) -> bool:
    total = sum(s * scale for _, s, _ in parts)
    if total >= 1:
        return False
    n_final = n_other / (1 - total) if n_other else max(r / (s * scale) for _, s, r in parts)
    for types, s, real in parts:
        gen = int(round(s * scale * n_final)) - real
        if gen < 0:
            continue
        sel = cells["fst"].isin(types)
        split = _largest_remainder(gen, cells.loc[sel, "real"].to_numpy())
        if (split > np.floor(cells.loc[sel, "real"].to_numpy() * max_per_real + 1e-9)).any():
            return False
    return True
