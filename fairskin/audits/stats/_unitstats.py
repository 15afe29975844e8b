"""Means over images with intervals that resample the independent unit (the patient where the
data set names one, else the image), for the per-skin-type "why" audits.

A group's mean is the ratio of sums over its images; the bootstrap draws the group's units with
replacement (each unit brings all its images), so images of one patient never count as
independent evidence. Differences between two groups resample each group on its own (the groups
share no unit); the homogeneity test permutes the group labels of the units.
"""

from __future__ import annotations

import numpy as np

from fairskin.audits.stats._bootstrap import bootstrap_p_value, percentile_ci
from fairskin.data import manifest_units

__all__ = ["unit_ids", "UnitMeans", "group_means", "difference", "permutation_range_test", "ci_entry"]


def unit_ids(manifest, images) -> tuple[np.ndarray, str]:
    """The resampling unit of each row: ``patient_id`` where present, else the image."""
    images = [str(i) for i in images]
    pid, kind = manifest_units(manifest)
    return np.array([f"image:{i}" if p.startswith("row:") else f"patient:{p}" for p, i in zip(pid, images)],
                    object), kind


class UnitMeans:
    """Per-unit sums of k values and counts of images, for one set of images."""

    def __init__(self, values: np.ndarray, units: np.ndarray):
        values = np.asarray(values, float).reshape(len(units), -1)
        self.names, inv = np.unique(np.asarray(units, dtype=object).astype(str), return_inverse=True)
        self.sums = np.zeros((len(self.names), values.shape[1]))
        np.add.at(self.sums, inv, values)
        self.counts = np.bincount(inv, minlength=len(self.names)).astype(float)

    @property
    def n_units(self) -> int:
        return len(self.names)

    def point(self) -> np.ndarray:
        return self.sums.sum(0) / max(self.counts.sum(), 1.0)

    def boot(self, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """(n_boot, k) means of unit resamples."""
        m = self.n_units
        if m == 0:
            return np.full((n_boot, self.sums.shape[1]), np.nan)
        w = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot).astype(float)
        return (w @ self.sums) / (w @ self.counts)[:, None]


def ci_entry(value: float, samples: np.ndarray, *, level: float) -> dict:
    """``{"value", "ci_low", "ci_high"}``; None where undefined."""
    if value is None or not np.isfinite(value):
        return {"value": None, "ci_low": None, "ci_high": None}
    lo, hi, _ = percentile_ci(samples, level=level)
    return {"value": float(value), "ci_low": lo, "ci_high": hi}


def group_means(values: np.ndarray, units: np.ndarray, *, n_boot: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """(point means (k,), bootstrap means (n_boot, k), number of units)."""
    um = UnitMeans(values, units)
    return um.point(), um.boot(n_boot, rng), um.n_units


def difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], *, level: float) -> dict:
    """``a - b`` from two groups' (point, bootstrap samples) of one value, with a percentile
    interval and the centred bootstrap p-value of "no difference"."""
    value = float(a[0] - b[0])
    samples = a[1] - b[1]
    out = ci_entry(value, samples, level=level)
    out["p_value"] = bootstrap_p_value(value, samples) if np.isfinite(value) else None
    return out


def permutation_range_test(values: np.ndarray, units: np.ndarray, groups: np.ndarray, *, n_perm: int,
                           rng: np.random.Generator) -> tuple[float | None, float | None]:
    """Test "every group has the same mean": the statistic is the range (max - min) of the group
    means; group labels are permuted over units (a unit keeps its images and takes the group of
    its first image). Returns (statistic, p) with ``p = (1 + #{T* >= T}) / (1 + n_perm)``."""
    values = np.asarray(values, float)
    um = UnitMeans(values, units)
    names = um.names
    first_group = {}
    for u, g in zip(np.asarray(units, dtype=object).astype(str), groups):
        first_group.setdefault(u, g)
    ug = np.array([first_group[n] for n in names], dtype=object)
    labels = sorted(set(ug.tolist()))
    if len(labels) < 2:
        return None, None
    s, c = um.sums[:, 0], um.counts

    def stat(assign: np.ndarray) -> float:
        means = [s[assign == g].sum() / c[assign == g].sum() for g in labels if c[assign == g].sum() > 0]
        return max(means) - min(means)

    t = stat(ug)
    extreme = sum(stat(rng.permutation(ug)) >= t - 1e-12 for _ in range(n_perm))
    return float(t), float((1 + extreme) / (1 + n_perm))
