"""Coverage of a group's AUROC interval with few positives against many negatives.

The audit's per-group AUROC interval (``ci_method`` ``logit_delong``,
:func:`fairskin.audits.stats._intervals.logit_delong`) needs no resampling, so its coverage can be
measured on many more simulated groups than ``bench_coverage.py`` affords: each group is drawn
from a binormal model (malignant scores N(mu/2, 1), benign N(-mu/2, 1), true AUROC
Phi(mu / sqrt 2)) with P malignant and N benign images, and the share of groups whose 95%
interval holds the true AUROC is counted. The peer in the same run is the plain DeLong Wald
interval on the AUROC scale (``auc +- 1.96 sqrt(var)``, clipped to [0, 1]), which most
evaluation code uses (e.g. pROC's ``ci.auc(method="delong")``).

Printed per (true AUROC, P, N): coverage with its Monte Carlo 95% margin, the share of misses
with the interval wholly above the truth, and the mean width, for both intervals. Targets:
>= 0.93 (aim 0.95) down to 10 positives; where the interval falls short (high AUROC with many
more benign than malignant images) the audit flags the group's AUROC ``high_auroc_imbalanced``.

Run: ``python benchmarks/bench_auroc_interval.py`` (4,000 groups per cell, ~4 minutes on one
core); ``--reps 500`` for a quick look; ``--seed`` for fresh draws (tune on one seed, report on
another).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairskin.audits.stats import logit_delong  # noqa: E402
from fairskin.audits.stats._bootstrap import delong_variance  # noqa: E402
from fairskin.audits.stats._groups import _undercovering_auroc  # noqa: E402  (the audit's flag rule)

#: (positives, negatives) per group: few against many (the issue-27 regimes), balanced ones beside
SIZES = ((5, 95), (10, 190), (20, 380), (50, 950), (100, 1900), (10, 40), (20, 47), (30, 70), (50, 250), (100, 100))
#: binormal separations: true AUROC 0.76, 0.92, 0.97 and 0.99
MUS = (1.0, 2.0, 2.6, 3.3)


def plain_delong(auc: float, var: float) -> tuple[float, float]:
    """The peer: DeLong's Wald interval on the AUROC scale, clipped to [0, 1]."""
    h = 1.959964 * np.sqrt(max(var, 0.0)) if np.isfinite(var) else 0.0
    return max(0.0, auc - h), min(1.0, auc + h)


def cell(mu: float, P: int, N: int, reps: int, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
    """-> method -> (coverage, share wholly above the truth, mean width) over ``reps`` groups."""
    truth = float(stats.norm.cdf(mu / np.sqrt(2)))
    y = np.r_[np.ones(P, bool), np.zeros(N, bool)]
    tally = {"fairskin": [0, 0, 0.0], "plain DeLong": [0, 0, 0.0]}
    for _ in range(reps):
        s = np.r_[rng.normal(mu / 2, 1, P), rng.normal(-mu / 2, 1, N)]
        auc, var = delong_variance(s, y)
        for name, (lo, hi) in (("fairskin", logit_delong(auc, var, P, N)), ("plain DeLong", plain_delong(auc, var))):
            t = tally[name]
            t[0] += lo <= truth <= hi
            t[1] += lo > truth
            t[2] += hi - lo
    return {k: (c / reps, a / reps, w / reps) for k, (c, a, w) in tally.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=2026)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    print(f"{a.reps} simulated groups per cell, seed {a.seed}; Monte Carlo margin of a coverage near 0.95: "
          f"+-{1.96 * np.sqrt(0.95 * 0.05 / a.reps):.3f}")
    print(f"{'AUROC':>6} {'P':>4} {'N':>5} | {'fairskin cover':>14} {'above':>6} {'width':>6} | "
          f"{'plain cover':>11} {'above':>6} {'width':>6}")
    short, flagged = [], 0
    for mu in MUS:
        truth = float(stats.norm.cdf(mu / np.sqrt(2)))
        for P, N in SIZES:
            r = cell(mu, P, N, a.reps, rng)
            f, p = r["fairskin"], r["plain DeLong"]
            print(f"{truth:6.3f} {P:4d} {N:5d} | {f[0]:14.3f} {f[1]:6.3f} {f[2]:6.3f} | {p[0]:11.3f} {p[1]:6.3f} {p[2]:6.3f}")
            if f[0] < 0.93:
                short.append(f"AUROC {truth:.2f}, {P} / {N}: {f[0]:.3f}")
                flagged += _undercovering_auroc(truth, {"positives": P, "negatives": N})
    print(f"\nfairskin under 0.93: {', '.join(short) if short else 'none'} ({time.perf_counter() - t0:.0f} s)")
    print(f"of these, in the region the audit flags high_auroc_imbalanced (AUROC >= 0.95, P < 200, N >= 5 P, "
          f"judged on the true AUROC here): {flagged} of {len(short)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
