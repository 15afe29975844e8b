"""The audit's intervals cover the truth at their stated rate: simulated data sets with a known
answer (fixed seeds), the scenarios of ``benchmarks/bench_coverage.py`` at a smaller size.

Each test fails when a coverage drops under 90% (the benchmark's target is 93-95% at 200 data sets;
at 120 data sets the Monte Carlo standard error is 2%). The benchmark was tuned on seed 2026;
these tests use seed 7."""

import numpy as np
import pandas as pd
import pytest

from fairskin.audits.classifier import Design, coverage_study, ita_like_confusion

pytestmark = pytest.mark.slow

REPS, N_BOOT, SEED = 120, 400, 7
UNEQUAL = (200, 200, 150, 100, 50, 40)


def _gaps(df):
    return df[df.kind == "gap"].set_index("statistic")


@pytest.mark.parametrize("design", [
    Design(name="equal, no gap"),
    Design(mu_pos=(1.0,) * 4 + (0.4,) * 2, name="equal, V-VI sensitivity 0.19 lower"),
    Design(sizes=UNEQUAL, name="unequal, no gap"),
    Design(sizes=UNEQUAL, mu_pos=(1.0,) * 4 + (0.4,) * 2, mu_neg=(-1.0,) * 4 + (-0.7,) * 2, name="unequal, gap"),
], ids=lambda d: d.name)
def test_every_gap_interval_covers_at_zero_and_real_gaps(design):
    df = coverage_study(design, reps=REPS, n_boot=N_BOOT, seed=SEED)
    gaps = _gaps(df)
    assert len(gaps) == 9 and (gaps["defined"] == REPS).all()
    low = gaps[gaps["coverage"] < 0.90]
    assert low.empty, low[["truth", "coverage", "width"]].to_string()


def test_per_type_auroc_covers_at_20_positives():
    design = Design(sizes=(67,) * 6, mu_pos=(1.2, 1.2, 1.0, 1.0, 0.6, 0.4), name="20 malignant per type")
    df = coverage_study(design, reps=REPS, n_boot=N_BOOT, seed=SEED)
    auroc = df[(df.kind == "metric") & df.statistic.isin([f"{t}/auroc" for t in ("I", "II", "III", "IV", "V", "VI")])]
    assert len(auroc) == 6
    assert (auroc["coverage"] >= 0.90).all(), auroc.to_string()
    # the proportions' Wilson intervals too (the percentile bootstrap covered ~83% here)
    sens = df[(df.kind == "metric") & df.statistic.str.endswith("/sensitivity") & ~df.statistic.str.contains("-")]
    assert (sens["coverage"] >= 0.90).all(), sens.to_string()


def test_cluster_bootstrap_covers_where_image_level_does_not():
    """4 near-duplicate images per lesion: treating images as independent under-covers; resampling
    lesions covers."""
    design = Design(sizes=(160,) * 6, cluster_size=4, mu_pos=(1.0,) * 4 + (0.4,) * 2, name="clustered")
    df = coverage_study(design, reps=60, n_boot=N_BOOT, seed=SEED, baseline={"drop_columns": ["lesion_id"]})
    gaps = _gaps(df)
    assert (gaps["coverage"] >= 0.90).all(), gaps.to_string()
    assert gaps["coverage_baseline"].mean() < 0.85  # image-level intervals are too narrow
    types = df[(df.kind == "metric") & df.statistic.str.match(r"^(I|II|III|IV|V|VI)/auroc$")]
    assert types["coverage"].mean() >= 0.92 and types["coverage_baseline"].mean() < 0.85


def test_label_error_correction_removes_bias_and_covers():
    """Types read by a labeller right 25% of the time (within one type 65%): the corrected audit
    covers the true groups' AUROC and is nearly unbiased; the uncorrected one overstates V-VI."""
    from scipy import stats

    d = [np.sqrt(2) * stats.norm.ppf(a) for a in (0.94, 0.94, 0.86, 0.86, 0.76, 0.76)]
    design = Design(sizes=(200,) * 6, mu_pos=tuple(x / 2 for x in d), mu_neg=tuple(-x / 2 for x in d),
                    confusion=ita_like_confusion(), calibration_per_type=200, name="estimated types")
    df = coverage_study(design, reps=60, n_boot=N_BOOT, seed=SEED, correct=True, group_level="group",
                        baseline={"group_level": "group"})
    auroc = df[(df.kind == "metric") & df.statistic.isin(["I-II/auroc", "III-IV/auroc", "V-VI/auroc"])]
    auroc = auroc.set_index("statistic")
    assert (auroc["coverage"] >= 0.90).all(), auroc.to_string()
    # estimated types pull V-VI toward the others; the correction removes most of it (the rest is the
    # calibration set's noise: 200 images per type)
    assert auroc.loc["V-VI/auroc", "bias_baseline"] > 0.04
    assert abs(auroc.loc["V-VI/auroc", "bias"]) < auroc.loc["V-VI/auroc", "bias_baseline"] / 1.5
    assert auroc["coverage_baseline"].min() < 0.5


def _regimes():
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location(
        "bench_coverage", pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_coverage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.regimes()


#: the regimes of issue 27: 100 data sets each (Monte Carlo SE ~2.2 points at 95%)
REGIME_REPS, REGIME_BOOT = 100, 200


@pytest.mark.parametrize("name", ["cohort5_nogap", "cohort5_gap", "small_vi", "few_pos_10", "few_clusters",
                                  "estimated_small", "target_sens"])
def test_intervals_cover_in_the_regimes_users_meet(name):
    """The regimes of issue 27 (``benchmarks/bench_coverage.py``'s ``regimes()``): 5% malignant drawn
    per row without and with a V-VI gap, a type VI of 5 malignant with a TPR gap of 0.34, 10 positives
    against 190 negatives per type, 1-12 images per lesion with a type VI of 15 lesions, estimated
    types corrected on a calibration set of 60 per type, a threshold chosen for sensitivity 0.8 (and
    re-chosen in each resample): no crash, and every gap and every AUROC and sensitivity interval
    covers at least 90% (seed 41, 100 data sets x 300 resamples: gaps 0.91-1.00, per-type AUROC
    and sensitivity 0.89-1.00 in the first four; at 100 data sets the Monte Carlo SE is 2.2 points)."""
    design, kw, _ = _regimes()[name]
    df = coverage_study(design, reps=REGIME_REPS, n_boot=REGIME_BOOT, seed=SEED, **kw)
    assert df.attrs["crashes"] == []
    keep = (df.kind == "gap") | df.statistic.str.contains(r"/(?:auroc|sensitivity)$")
    floor = pd.Series(0.90, index=df.index)
    if name == "few_clusters":
        # a type's sensitivity on ~3 malignant lesions is still slightly optimistic: 0.915-0.99 per type on
        # fresh seed 2028 at 200 x 1000 (the ratio of type VI's 0.85), and lower with this test's 200 resamples,
        # whose design effects are noisier; the floor catches a regression like the 0.79 of the bootstrap alone
        floor[df.statistic.str.endswith("/sensitivity")] = 0.85
    low = df[keep & (df["coverage"] < floor) & (df["defined"] >= 20)]
    assert low.empty, low[["statistic", "truth", "coverage", "width", "defined"]].to_string()
