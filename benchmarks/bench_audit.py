"""Benchmarks of ``fairskin audit``.

1. Speed: 10,000 predictions, 6 skin types, every metric and gap, 1,000 stratified bootstrap
   resamples (target: < 5 s on a 2-core CPU).
2. Side by side with fairlearn: ``MetricFrame(metrics=roc_auc_score, ..., n_boot=1000)`` computing
   the per-group AUROC intervals on the same data (target: fairskin >= 10x faster). fairskin's
   time is its *whole* audit (all metrics, both group levels, gaps, ratios), fairlearn's is AUROC
   only, so the ratio understates the difference.
3. CI coverage: on simulated data sets from a binormal model with known AUROC Phi(d / sqrt(2)),
   how often the 95% interval covers the truth (target: 93-97%); and the type-I error of the gap
   p-values on data with no skin-type difference.
4. Model inference throughput: a timm ResNet-50 with RANDOM weights at 224 px on this CPU. This
   is a throughput measurement only; the weights classify nothing.

Run: ``python benchmarks/bench_audit.py`` (``--quick`` for a smoke run, ``--skip`` to leave parts out).

Measured 2026-11-22 on the shared 2-core CPU (load average 3-8 from other jobs):
speed best 1.48 s (runs 1.55, 1.48, 1.59); fairlearn MetricFrame 175 s -> 119x; point AUROCs
identical; coverage 93.5% (60+140 rows) and 94.5% (150+350 rows) on 200 data sets each (94.0%
on 600 sets of 60+140 in a separate run); null rejection at p < 0.05: EOD 3.0%, DP 5.0%, AUROC gap
between groups 5.5%, I-II vs V-VI 6.0% (DeLong 7.0%), ratio 5.0%, paired comparison 6.0%;
ResNet-50 (random weights) 3.0 images/s forward, 2.5 images/s end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairskin.audits.classifier import audit_predictions, compare_audits  # noqa: E402


def simulated_predictions(n: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """n predictions over 6 skin types; the score separates classes less well on darker skin."""
    rng = np.random.default_rng(seed)
    fst = rng.integers(1, 7, n)
    y = rng.random(n) < 0.3
    d = 2.0 - 0.2 * fst
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + y * d - d / 2)))
    return pd.DataFrame({"image": [f"img{i:05d}.png" for i in range(n)], "score": score, "label": y.astype(int),
                         "fst": fst})


def _best_of(f, repeat: int) -> tuple[float, list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), times, out


def bench_speed(n: int, n_boot: int, repeat: int) -> dict:
    df = simulated_predictions(n)
    best, times, res = _best_of(lambda: audit_predictions(df, n_boot=n_boot, seed=0), repeat)
    print(f"[speed] fairskin audit_predictions: {n:,} predictions, 6 types (+3 groups, all), every metric, "
          f"{n_boot} stratified resamples: best {best:.2f} s, runs {', '.join(f'{t:.2f}' for t in times)} "
          f"(target < 5 s) -> {'OK' if best < 5 else 'MISSED'}")
    return {"n": n, "n_boot": n_boot, "best_s": best, "runs_s": times, "result": res, "df": df}


def bench_fairlearn(speed: dict, n_boot: int) -> dict:
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    df = speed["df"]
    roman = np.array(["I", "II", "III", "IV", "V", "VI"])
    sf = roman[df["fst"].to_numpy() - 1]
    t = time.perf_counter()
    mf = MetricFrame(metrics=roc_auc_score, y_true=df["label"].to_numpy(), y_pred=df["score"].to_numpy(),
                     sensitive_features=sf, n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=0)
    t_fl = time.perf_counter() - t
    ratio = t_fl / speed["best_s"]
    print(f"[fairlearn] MetricFrame(roc_auc_score, n_boot={n_boot}): {t_fl:.2f} s (per-group AUROC CIs only); "
          f"fairskin full audit {speed['best_s']:.2f} s -> {ratio:.1f}x faster (target >= 10x) -> "
          f"{'OK' if ratio >= 10 else 'MISSED'}")
    res = speed["result"]
    lo, hi = mf.by_group_ci
    print("   group  AUROC fairskin (95% CI, stratified)   AUROC fairlearn (95% CI, plain bootstrap)")
    max_diff = 0.0
    for g in roman:
        m = res.group(g)["metrics"]["auroc"]
        fl = float(mf.by_group[g])
        max_diff = max(max_diff, abs(fl - m["value"]))
        print(f"   {g:>5}  {m['value']:.4f} ({m['ci_low']:.4f}-{m['ci_high']:.4f})            "
              f"{fl:.4f} ({float(lo[g]):.4f}-{float(hi[g]):.4f})")
    print(f"   largest difference of point AUROCs: {max_diff:.2e}")
    return {"fairlearn_s": t_fl, "ratio": ratio, "max_point_diff": max_diff}


def bench_coverage(n_sets: int, n_boot: int, n_pos: int, n_neg: int, d: float = 1.0) -> dict:
    true_auc = float(stats.norm.cdf(d / np.sqrt(2)))
    rng = np.random.default_rng(0)
    hits, widths = 0, []
    t = time.perf_counter()
    for k in range(n_sets):
        s = np.r_[rng.normal(d, 1, n_pos), rng.normal(0, 1, n_neg)]
        y = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
        df = pd.DataFrame({"image": np.arange(len(s)).astype(str), "score": 1 / (1 + np.exp(-s)), "label": y,
                           "fst": 5})
        m = audit_predictions(df, n_boot=n_boot, seed=k).group("V")["metrics"]["auroc"]
        hits += m["ci_low"] <= true_auc <= m["ci_high"]
        widths.append(m["ci_high"] - m["ci_low"])
    cov = hits / n_sets
    se = np.sqrt(cov * (1 - cov) / n_sets)
    print(f"[coverage] binormal d={d} (true AUROC {true_auc:.4f}), {n_pos} malignant + {n_neg} benign, "
          f"{n_sets} data sets x {n_boot} resamples: 95% CI covered the truth {cov:.1%} (+-{se:.1%} Monte Carlo SE), "
          f"median width {statistics.median(widths):.3f} [{time.perf_counter() - t:.0f} s] "
          f"(target 93-97%) -> {'OK' if 0.93 <= cov <= 0.97 else 'MISSED'}")
    return {"n_sets": n_sets, "n_pos": n_pos, "n_neg": n_neg, "true_auc": true_auc, "coverage": cov, "mc_se": se}


def bench_null_p_values(n_sets: int, n_boot: int, n: int = 1200) -> dict:
    """Type-I error of the gap p-values: data with no difference between skin types (same score
    model in every group), share of data sets with p < 0.05 (ideal: 5%)."""
    rng = np.random.default_rng(1)
    keys = [("auroc_gap", "pair"), ("auroc_gap", "between_groups"), ("equalized_odds_difference", "between_groups"),
            ("demographic_parity_difference", "between_groups")]
    rejections = {k: 0 for k in keys}
    delong = ratio = cmp = n_cmp = 0
    t = time.perf_counter()
    for k in range(n_sets):
        fst = rng.integers(1, 7, n)
        y = rng.random(n) < 0.3
        score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * y)))
        df = pd.DataFrame({"image": np.arange(n).astype(str), "score": score, "label": y, "fst": fst})
        res = audit_predictions(df, n_boot=n_boot, seed=k)
        gaps = res.model()["fairness"]
        r = next(r for r in res.model()["ratios"] if r["metric"] == "auroc" and r["group"] != res.meta["reference_group"])
        ratio += r["p_value"] < 0.05
        if k < n_sets // 2:  # a second model of the same skill: paired comparison, AUROC delta on V-VI
            other = df.assign(score=1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * y))))
            c = compare_audits([audit_predictions(df, n_boot=n_boot, seed=k, name="a"),
                                audit_predictions(other, n_boot=n_boot, seed=k, name="b")]).comparisons[0]
            d = next(d for d in c["deltas"] if d["group"] == "V-VI" and d["metric"] == "auroc")
            cmp += d["p_value"] < 0.05
            n_cmp += 1
        for g in gaps:
            key = (g["name"], g["method"])
            if key in rejections and g["agg"] in (None, "worst_case"):
                rejections[key] += g["p_value"] < 0.05
            if key == ("auroc_gap", "pair"):
                delong += g["p_value_delong"] < 0.05
    out = {f"{a} ({b})": r / n_sets for (a, b), r in rejections.items()}
    out["auroc_gap (pair), DeLong"] = delong / n_sets
    out["ratio auroc (one group vs reference), bootstrap"] = ratio / n_sets
    out[f"comparison delta auroc V-VI, paired bootstrap ({n_cmp} pairs of equally good models)"] = cmp / max(n_cmp, 1)
    print(f"[p-values] {n_sets} data sets with NO skin-type difference ({n} rows, 6 types, {n_boot} resamples), "
          f"share with p < 0.05 (ideal 5%, Monte Carlo SE {np.sqrt(0.05 * 0.95 / n_sets):.1%}) "
          f"[{time.perf_counter() - t:.0f} s]:")
    for k, v in out.items():
        print(f"   {k}: {v:.1%}")
    return out


def bench_inference(batch: int, batches: int) -> dict:
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("resnet50", pretrained=False, num_classes=2).eval()  # RANDOM weights
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        model(x)  # warm-up
        t = time.perf_counter()
        for _ in range(batches):
            model(x)
        dt = time.perf_counter() - t
    ips = batch * batches / dt
    print(f"[inference] timm resnet50 (random weights; throughput only), 224 px, batch {batch}, fp32, "
          f"{torch.get_num_threads()} torch threads on {platform.processor() or platform.machine()}: "
          f"{ips:.1f} images/s (forward pass only)")
    out = {"forward_images_per_s": ips, "batch": batch, "threads": torch.get_num_threads()}

    # end to end through fairskin's loader: read PNGs, resize/crop to 224, normalise, forward
    from fairskin.audits._models import LoadedModel, predict
    from fairskin.data import DemoConfig, read_dataset, write_demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        n = batch * max(2, batches // 2)
        write_demo_dataset(tmp, DemoConfig(n=n, size=256, seed=1))
        manifest = read_dataset(tmp)
        lm = LoadedModel(model, "state_dict", Path("resnet50-random"), {"resize": 224, "crop": 224})
        t = time.perf_counter()
        predict(lm, manifest, batch_size=batch, num_workers=0, device="cpu", progress=False)
        dt = time.perf_counter() - t
    print(f"[inference] end to end (256 px PNG -> resize/crop 224 -> resnet50), {n} images, 0 workers: "
          f"{n / dt:.1f} images/s")
    out["end_to_end_images_per_s"] = n / dt
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--skip", nargs="*", default=[], choices=["fairlearn", "coverage", "pvalues", "inference"])
    ap.add_argument("--coverage-sets", type=int, default=200)
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    a = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, numpy {np.__version__}")
    n, n_boot = (2_000, 200) if a.quick else (10_000, 1_000)
    figures = {}
    speed = bench_speed(n, n_boot, repeat=1 if a.quick else 3)
    figures["speed"] = {k: speed[k] for k in ("n", "n_boot", "best_s", "runs_s")}
    if "fairlearn" not in a.skip:
        figures["fairlearn"] = bench_fairlearn(speed, n_boot)
    if "coverage" not in a.skip:
        sets = 20 if a.quick else a.coverage_sets
        figures["coverage"] = [bench_coverage(sets, n_boot, 60, 140)]
        if not a.quick:
            figures["coverage"].append(bench_coverage(sets, n_boot, 150, 350))
    if "pvalues" not in a.skip:
        figures["null_p_values"] = bench_null_p_values(20 if a.quick else 200, 200 if a.quick else 500)
    if "inference" not in a.skip:
        figures["inference"] = bench_inference(batch=8 if a.quick else 16, batches=2 if a.quick else 6)
    if a.json:
        a.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
