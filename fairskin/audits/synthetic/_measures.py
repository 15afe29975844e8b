"""The synthetic audit's feature-space metrics, looked up by name.

Each :class:`FidelityMetric` measures one synthetic cell against the real images of the same cell
(their feature arrays) and writes its keys into the cell; its :class:`Column` entries say how the
terminal table and the report show them. :func:`audit_synthetic` iterates :data:`FIDELITY_METRICS`
for every cell and for all images together and writes the columns to the JSON's ``metrics``, which
the report and the terminal read: a new metric is one function plus one :func:`register_fidelity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fairskin.audits.synthetic._fidelity import (
    density_coverage, feature_diversity, fid_min_images, frechet_distance, kid, precision_recall,
)

__all__ = ["Column", "FidelityContext", "FidelityMetric", "FIDELITY_METRICS", "register_fidelity", "fidelity_columns",
           "measure_cell"]


@dataclass(frozen=True)
class Column:
    """One value a metric writes into a cell: ``{"value", "ci"}`` or a number (or None)."""

    key: str
    label: str
    description: str
    digits: int = 2
    in_table: bool = True  # a column of the terminal's and the report's per-cell tables
    plot: bool = True  # a forest plot across cells in the report
    bounded: bool = False  # on [0, 1]
    reading: str = ""  # how to read it, in the report's plot titles ("lower = closer to real")


@dataclass(frozen=True)
class FidelityContext:
    """What a metric knows beside the two feature arrays."""

    dim: int  # feature dimension
    is_fid: bool  # Inception-v3 features with the FID weights
    cfg: Any  # the SyntheticAuditConfig


@dataclass(frozen=True)
class FidelityMetric:
    name: str
    #: (synthetic features, real features, context) -> the cell's keys (every column's key among them)
    compute: Callable[[np.ndarray, np.ndarray, FidelityContext], dict]
    columns: tuple[Column, ...] = ()


FIDELITY_METRICS: dict[str, FidelityMetric] = {}


def register_fidelity(metric: FidelityMetric, *, replace: bool = False) -> FidelityMetric:
    """Measure every synthetic cell (and all images together) with ``metric`` too; its columns
    reach the audit JSON, the terminal table and the report."""
    if metric.name in FIDELITY_METRICS and not replace:
        raise ValueError(f"register_fidelity: metric {metric.name!r} is already registered (pass replace=True)")
    taken = {c.key for m in FIDELITY_METRICS.values() if m.name != metric.name for c in m.columns}
    clash = [c.key for c in metric.columns if c.key in taken]
    if clash:
        raise ValueError(f"register_fidelity: column(s) {clash} of {metric.name!r} are written by another metric")
    FIDELITY_METRICS[metric.name] = metric
    return metric


def fidelity_columns() -> list[dict]:
    """The columns of every registered metric, in order (the JSON's ``metrics``)."""
    return [asdict(c) for m in FIDELITY_METRICS.values() for c in m.columns]


def measure_cell(fs: np.ndarray, fr: np.ndarray, ctx: FidelityContext) -> dict:
    """Every registered metric of one cell; a cell without synthetic or real images gets None in
    every column and a note saying which side is empty."""
    if not (len(fs) and len(fr)):
        out = {c.key: None for m in FIDELITY_METRICS.values() for c in m.columns}
        out["fid_note"] = "no real images of this cell" if not len(fr) else "no synthetic images"
        return out
    out: dict = {}
    for m in FIDELITY_METRICS.values():
        out.update(m.compute(fs, fr, ctx))
    return out


def _fid(fs, fr, ctx: FidelityContext) -> dict:
    need = fid_min_images(ctx.dim, ctx.cfg.fid_min_images)
    n = min(len(fs), len(fr))
    if n >= need:
        return {"fid": {"value": frechet_distance(fs, fr), "ci": None},
                "fid_note": None if ctx.is_fid else "Fréchet distance in the named feature space, not Inception FID"}
    return {"fid": None, "fid_note": (f"not computed: {n} images < {need} (FID is badly biased below the feature "
                                      f"dimension + 1 and a {ctx.cfg.fid_min_images}-image floor); use KID")}


def _kid(fs, fr, ctx: FidelityContext) -> dict:
    cfg = ctx.cfg
    if min(len(fs), len(fr)) < 2:
        return {"kid": None}
    k = kid(fs, fr, subsets=cfg.kid_subsets, subset_size=cfg.kid_subset_size, seed=cfg.seed)
    # a set that fits in one subset: a jackknife standard error gives the interval (the spread over
    # subsets of the same images is ~0 by construction); otherwise torch-fidelity's std over subsets
    ci = None
    if k.std_method == "jackknife" and np.isfinite(k.std):
        ci = [k.value - 1.959964 * k.std, k.value + 1.959964 * k.std]
    return {"kid": {"value": k.value, "ci": ci, "std": k.std, "std_method": k.std_method, "subset_size": k.subset_size}}


def _precision_recall(fs, fr, ctx: FidelityContext) -> dict:
    k = ctx.cfg.prc_k
    if not (len(fs) > k and len(fr) > k):
        return {"precision": None, "recall": None}
    p, r = precision_recall(fs, fr, k=k)
    return {"precision": {"value": p, "ci": None}, "recall": {"value": r, "ci": None}}


def _density_coverage(fs, fr, ctx: FidelityContext) -> dict:
    k = ctx.cfg.dc_k
    if not (len(fs) >= 1 and len(fr) > k):
        return {"density": None, "coverage": None}
    d, c = density_coverage(fs, fr, k=k)
    return {"density": d, "coverage": c}


def _feature_diversity(fs, fr, ctx: FidelityContext) -> dict:
    cfg = ctx.cfg
    return {"feature_diversity": {"synthetic": feature_diversity(fs, max_pairs=cfg.diversity_pairs, seed=cfg.seed),
                                  "real": feature_diversity(fr, max_pairs=cfg.diversity_pairs, seed=cfg.seed)}}


for _m in (
    FidelityMetric("fid", _fid, (Column("fid", "FID", "Fréchet distance of the feature distributions (FID with "
                                        "Inception-v3 features); lower is closer to the real images", digits=1,
                                        reading="lower = closer to real"),)),
    FidelityMetric("kid", _kid, (Column("kid", "KID", "kernel inception distance (unbiased MMD^2, cubic polynomial "
                                        "kernel); lower is closer to the real images", digits=3, reading="lower = closer to real"),)),
    FidelityMetric("precision_recall", _precision_recall, (
        Column("precision", "precision", "share of synthetic images on the real manifold (k-NN balls; Kynkäänniemi "
               "et al. 2019)", bounded=True, reading="share of synthetic images on the real manifold"),
        Column("recall", "recall", "share of the real manifold covered by the synthetic images", bounded=True,
               reading="share of the real manifold covered"))),
    FidelityMetric("density_coverage", _density_coverage, (
        Column("density", "density", "k-NN density of the synthetic images among the real (Naeem et al. 2020)",
               in_table=False, plot=False),
        Column("coverage", "coverage", "share of real images whose k-NN ball holds a synthetic image",
               in_table=False, plot=False, bounded=True))),
    FidelityMetric("feature_diversity", _feature_diversity),
):
    register_fidelity(_m)
