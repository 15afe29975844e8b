"""Statistics of a crossed reader study: every reader answers (nearly) every image, and both the
readers and the images are samples from larger populations.

Intervals come from a crossed ("pigeonhole") bootstrap (Owen 2007, Ann. Appl. Stat. 1:246):
each replicate draws readers with replacement and, independently, images with replacement within
the strata the sample was drawn by (skin type x diagnosis x origin), and weights every answer by
(times its reader was drawn) x (times its image was drawn). A statistic that is a ratio of
answer sums is then ``(w_r' Y w_i) / (w_r' M w_i)``, two matrix products per replicate. The
bootstrap variance counts the reader, image and residual components (the residual three times
over, Owen's Theorem 1), so it errs on the wide side; the simulation in :mod:`._simulate` measures
how often the intervals cover a known truth.

Signal detection: "synthetic" is the signal; hit rate H = P(called synthetic | synthetic),
false-alarm rate F = P(called synthetic | real), with the log-linear correction of Hautus (1995)
((k + 0.5) / (n + 1)) so that 0 and 1 stay finite; d' = z(H) - z(F), criterion
c = -(z(H) + z(F)) / 2 (c > 0: readers lean to "real").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, norm

__all__ = ["CrossedBootstrap", "Estimate", "wilson", "dprime", "CROSSED_METHOD", "krippendorff_alpha", "reader_binomial"]

CROSSED_METHOD = "percentile crossed bootstrap"
CROSSED_UNIT = "readers x images (images within sampling strata)"


@dataclass(frozen=True)
class Estimate:
    """A number with its interval and how the interval was made."""

    value: float | None
    ci: tuple[float, float] | None
    se: float | None = None
    n: int = 0  # answers behind the value
    method: str = CROSSED_METHOD
    unit: str = CROSSED_UNIT
    p_value: float | None = None  # against the null named by the caller (chance for accuracy)

    def to_dict(self) -> dict:
        return {"value": self.value, "ci": None if self.ci is None else [self.ci[0], self.ci[1]], "se": self.se,
                "n": self.n, "method": self.method, "unit": self.unit, "p_value": self.p_value}


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of k successes in n trials."""
    if n <= 0:
        return None
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def dprime(hits, n_signal, false_alarms, n_noise) -> tuple[np.ndarray, np.ndarray]:
    """(d', c) with the log-linear correction; works on arrays of (weighted) counts."""
    h = (np.asarray(hits, float) + 0.5) / (np.asarray(n_signal, float) + 1.0)
    f = (np.asarray(false_alarms, float) + 0.5) / (np.asarray(n_noise, float) + 1.0)
    zh, zf = norm.ppf(h), norm.ppf(f)
    return zh - zf, -(zh + zf) / 2


class CrossedBootstrap:
    """Bootstrap weights for a readers x images design, drawn once and shared by every statistic
    of one analysis (so differences between statistics are paired)."""

    def __init__(self, n_readers: int, strata, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95):
        rng = np.random.default_rng(seed)
        strata = np.asarray(strata)
        self.n_boot, self.level = int(n_boot), float(level)
        self.wr = rng.multinomial(n_readers, np.full(n_readers, 1.0 / n_readers), size=n_boot).astype(float)
        self.wi = np.zeros((n_boot, len(strata)))
        for s in np.unique(strata):
            cols = np.flatnonzero(strata == s)
            self.wi[:, cols] = rng.multinomial(len(cols), np.full(len(cols), 1.0 / len(cols)), size=n_boot)
        self.n_readers, self.n_items = n_readers, len(strata)

    def sums(self, values: np.ndarray, cols=None) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(sum, count, replicate sums, replicate counts) of the non-NaN ``values`` (readers x
        images) in the image columns ``cols`` (a boolean mask or indices; all when None)."""
        values = np.asarray(values, float)
        obs = ~np.isnan(values)
        v = np.where(obs, values, 0.0)
        sel = np.arange(values.shape[1]) if cols is None else np.flatnonzero(np.asarray(cols)) \
            if np.asarray(cols).dtype == bool else np.asarray(cols)
        wi = self.wi[:, sel]
        s_b = ((self.wr @ v[:, sel]) * wi).sum(axis=1)
        n_b = ((self.wr @ obs[:, sel].astype(float)) * wi).sum(axis=1)
        return float(v[:, sel].sum()), float(obs[:, sel].sum()), s_b, n_b

    def _interval(self, reps: np.ndarray) -> tuple[tuple[float, float] | None, float | None]:
        reps = reps[np.isfinite(reps)]
        if len(reps) < max(20, self.n_boot // 2):
            return None, None
        a = (1 - self.level) / 2
        lo, hi = np.quantile(reps, [a, 1 - a])
        return (float(lo), float(hi)), float(np.std(reps, ddof=1))

    def estimate(self, value: float | None, reps: np.ndarray, n: int, *, null: float | None = None) -> Estimate:
        """An :class:`Estimate` from a point value and its replicates; with ``null``, a two-sided
        Wald p-value using the bootstrap standard error."""
        if value is None or not np.isfinite(value):
            return Estimate(None, None, None, n)
        ci, se = self._interval(np.asarray(reps, float))
        p = None
        if null is not None and se:
            p = float(2 * norm.sf(abs(value - null) / se))
        return Estimate(float(value), ci, se, int(n), p_value=p)

    def mean(self, values: np.ndarray, cols=None, *, null: float | None = None) -> Estimate:
        s, n, s_b, n_b = self.sums(values, cols)
        if n == 0:
            return Estimate(None, None, None, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = s_b / n_b
        return self.estimate(s / n, reps, int(n), null=null)

    def mean_difference(self, values: np.ndarray, cols_a, cols_b) -> Estimate:
        """mean over ``cols_a`` minus mean over ``cols_b`` (paired through shared weights)."""
        sa_, na, sa_b, na_b = self.sums(values, cols_a)
        sb_, nb, sb_b, nb_b = self.sums(values, cols_b)
        if na == 0 or nb == 0:
            return Estimate(None, None, None, int(na + nb))
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = sa_b / na_b - sb_b / nb_b
        return self.estimate(sa_ / na - sb_ / nb, reps, int(na + nb), null=0.0)

    def detection(self, said_synthetic: np.ndarray, synthetic_cols, real_cols) -> dict[str, Estimate]:
        """Pooled hit rate, false-alarm rate, d' and c over the given synthetic and real columns."""
        hs, hn, hs_b, hn_b = self.sums(said_synthetic, synthetic_cols)
        fs, fn, fs_b, fn_b = self.sums(said_synthetic, real_cols)
        if hn == 0 or fn == 0:
            empty = Estimate(None, None, None, int(hn + fn))
            return {"hit_rate": empty, "false_alarm_rate": empty, "d_prime": empty, "criterion": empty}
        d, c = dprime(hs, hn, fs, fn)
        d_b, c_b = dprime(hs_b, hn_b, fs_b, fn_b)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"hit_rate": self.estimate(hs / hn, hs_b / hn_b, int(hn)),
                    "false_alarm_rate": self.estimate(fs / fn, fs_b / fn_b, int(fn)),
                    "d_prime": self.estimate(float(d), d_b, int(hn + fn), null=0.0),
                    "criterion": self.estimate(float(c), c_b, int(hn + fn), null=0.0)}


def reader_binomial(k: int, n: int, chance: float, level: float) -> dict:
    """One reader's accuracy: Wilson interval (their images as independent trials) and an exact
    binomial test against chance."""
    ci = wilson(k, n, level)
    return {"value": k / n if n else None, "ci": list(ci) if ci else None, "n": n, "method": "Wilson score",
            "unit": "images (this reader)", "p_value": float(binomtest(k, n, chance).pvalue) if n else None}


def krippendorff_alpha(matrix: np.ndarray, level: str, *, n_boot: int, seed: int, ci_level: float) -> dict:
    """Krippendorff's alpha of a readers x images matrix (NaN = not rated), with a percentile
    bootstrap interval over images (the ``krippendorff`` package computes each alpha)."""
    import krippendorff

    matrix = np.asarray(matrix, float)
    keep = (~np.isnan(matrix)).sum(axis=0) >= 2  # an image rated once carries no agreement
    m = matrix[:, keep]
    out = {"level": level, "n_readers": int(matrix.shape[0]), "n_images": int(keep.sum()), "value": None, "ci": None,
           "method": "percentile bootstrap", "unit": "images", "library": "krippendorff"}
    if m.shape[1] < 2 or len(np.unique(m[~np.isnan(m)])) < 2:
        return out
    out["value"] = float(krippendorff.alpha(reliability_data=m, level_of_measurement=level))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        mb = m[:, rng.integers(0, m.shape[1], m.shape[1])]
        if len(np.unique(mb[~np.isnan(mb)])) >= 2:
            reps.append(krippendorff.alpha(reliability_data=mb, level_of_measurement=level))
    if len(reps) >= 20:
        a = (1 - ci_level) / 2
        out["ci"] = [float(x) for x in np.quantile(reps, [a, 1 - a])]
    return out
