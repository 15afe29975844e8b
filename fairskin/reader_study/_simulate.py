"""Reader studies with a known truth, to check that the analysis recovers it.

Each simulated reader r sees image i (half synthetic) as evidence
``x = s_i d_r / 2 + b_i + e``, ``s_i = +1`` for a synthetic image and -1 for a real one,
``e ~ N(0, 1)``, and calls it synthetic when ``x > c_r``. Readers differ in sensitivity
``d_r ~ N(d', reader_sd^2)`` and criterion ``c_r ~ N(c, criterion_sd^2)``; images differ by
``b_i ~ N(0, image_sd^2)`` (a synthetic image that looks real, a real one that looks made).
The population accuracy (a new reader on a new image, half synthetic) is then exactly
``(Phi((d'/2 - c) / s) + Phi((d'/2 + c) / s)) / 2`` with ``s^2 = 1 + reader_sd^2 / 4 +
criterion_sd^2 + image_sd^2``: the truth an interval has to cover.

Realism ratings fall with the evidence (``4 - 1.2 x`` plus noise, rounded into 1-7), and a
diagnosis is right with a per-origin probability, so every part of the analysis has input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm

from fairskin.reader_study._stats import CrossedBootstrap
from fairskin.skintone import FST_TYPES

__all__ = ["Scenario", "COVERAGE_SCENARIOS", "true_accuracy", "d_prime_for", "simulate_study", "coverage"]

DIAGNOSES = ("melanocytic-nevi", "melanoma")


@dataclass(frozen=True)
class Scenario:
    name: str
    n_readers: int = 12
    n_images: int = 100  # half real, half synthetic
    accuracy: float = 0.5  # the population accuracy; d' is solved for it
    criterion: float = 0.0
    reader_sd: float = 0.0
    criterion_sd: float = 0.0
    image_sd: float = 0.0
    dx_accuracy_real: float = 0.7
    dx_accuracy_synthetic: float = 0.55

    @property
    def scale(self) -> float:
        return float(np.sqrt(1 + self.reader_sd ** 2 / 4 + self.criterion_sd ** 2 + self.image_sd ** 2))

    @property
    def d_prime(self) -> float:
        return d_prime_for(self.accuracy, criterion=self.criterion, scale=self.scale)


#: the designs the coverage check runs (docs/reader-study.md lists the measured coverage)
COVERAGE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario("readers at chance"),
    Scenario("readers at chance, reader and image heterogeneity", reader_sd=0.3, criterion_sd=0.5, image_sd=0.8),
    Scenario("readers at 80%", accuracy=0.8),
    Scenario("readers at 80%, reader and image heterogeneity", accuracy=0.8, reader_sd=0.6, criterion_sd=0.4,
             image_sd=0.8),
    Scenario("6 readers x 60 images at 70%, heterogeneity", n_readers=6, n_images=60, accuracy=0.7, reader_sd=0.6,
             criterion_sd=0.4, image_sd=0.8),
)


def true_accuracy(d_prime: float, *, criterion: float = 0.0, scale: float = 1.0) -> float:
    return float((norm.cdf((d_prime / 2 - criterion) / scale) + norm.cdf((d_prime / 2 + criterion) / scale)) / 2)


def d_prime_for(accuracy: float, *, criterion: float = 0.0, scale: float = 1.0) -> float:
    """The mean d' that gives this population accuracy."""
    floor = true_accuracy(0.0, criterion=criterion, scale=scale)
    if accuracy <= floor:
        return 0.0
    return float(brentq(lambda d: true_accuracy(d, criterion=criterion, scale=scale) - accuracy, 0.0, 20.0))


def _draw(sc: Scenario, rng: np.random.Generator):
    n_syn = sc.n_images // 2
    is_syn = np.r_[np.ones(n_syn, bool), np.zeros(sc.n_images - n_syn, bool)]
    fst = np.array([FST_TYPES[i % len(FST_TYPES)] for i in range(sc.n_images)])
    d_r = sc.d_prime + sc.reader_sd * rng.standard_normal(sc.n_readers)
    c_r = sc.criterion + sc.criterion_sd * rng.standard_normal(sc.n_readers)
    b_i = sc.image_sd * rng.standard_normal(sc.n_images)
    s = np.where(is_syn, 1.0, -1.0)
    x = s[None, :] * d_r[:, None] / 2 + b_i[None, :] + rng.standard_normal((sc.n_readers, sc.n_images))
    said_syn = x > c_r[:, None]
    return is_syn, fst, x, said_syn


def simulate_study(sc: Scenario, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(answers, key)`` shaped like a real study's (the store's answers and the answer key)."""
    rng = np.random.default_rng(seed)
    is_syn, fst, x, said_syn = _draw(sc, rng)
    dx = np.array([DIAGNOSES[(i // len(FST_TYPES)) % 2] for i in range(sc.n_images)])
    ids = [f"{i:016x}" for i in range(sc.n_images)]
    origin = np.where(is_syn, "synthetic", "real")
    key = pd.DataFrame({"id": ids, "role": "study", "origin": origin, "fst": fst, "diagnosis": dx,
                        "stratum": [f"{f}|{d}|{o}" for f, d, o in zip(fst, dx, origin)]})
    realism = np.clip(np.rint(4 - 1.2 * x + 0.7 * rng.standard_normal(x.shape)), 1, 7).astype(int)
    conf = np.clip(np.rint(1 + np.abs(x) * 1.5), 1, 5).astype(int)
    p_dx = np.where(is_syn, sc.dx_accuracy_synthetic, sc.dx_accuracy_real)
    right = rng.random(x.shape) < p_dx[None, :]
    other = np.where(dx == DIAGNOSES[0], DIAGNOSES[1], DIAGNOSES[0])
    given = np.where(right, dx[None, :], other[None, :]).astype(object)
    given[rng.random(x.shape) < 0.1] = None  # "not sure"
    rows = []
    for r in range(sc.n_readers):
        for pos, i in enumerate(rng.permutation(sc.n_images)):
            rows.append({"reader": f"reader-{r + 1:02d}", "item": ids[i], "position": pos,
                         "origin": "synthetic" if said_syn[r, i] else "real", "realism": int(realism[r, i]),
                         "confidence": int(conf[r, i]), "diagnosis": given[r, i], "comment": None,
                         "server_ms": int(rng.gamma(4.0, 2000.0)), "client_ms": None, "over_time": False})
    return pd.DataFrame(rows), key


def coverage(sc: Scenario, *, n_sims: int = 200, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """How often the crossed-bootstrap interval of pooled accuracy covers the truth, and how often
    the test against 50% rejects at the 5% level."""
    truth = true_accuracy(sc.d_prime, criterion=sc.criterion, scale=sc.scale)
    rng = np.random.default_rng(seed)
    covered, rejected, widths, estimates = 0, 0, [], []
    for k in range(n_sims):
        is_syn, fst, _, said_syn = _draw(sc, rng)
        correct = (said_syn == is_syn[None, :]).astype(float)
        strata = np.array([f"{f}|{s}" for f, s in zip(fst, is_syn)])
        est = CrossedBootstrap(sc.n_readers, strata, n_boot=n_boot, seed=seed * 100_003 + k, level=level).mean(
            correct, null=0.5)
        lo, hi = est.ci
        covered += lo <= truth <= hi
        rejected += est.p_value < 0.05
        widths.append(hi - lo)
        estimates.append(est.value)
    return {"scenario": asdict(sc), "d_prime": sc.d_prime, "truth": truth, "n_sims": n_sims, "n_boot": n_boot,
            "level": level, "coverage": covered / n_sims, "rejection_rate_5pct": rejected / n_sims,
            "mean_width": float(np.mean(widths)), "mean_estimate": float(np.mean(estimates))}
