"""Benchmark of ``fairskin annotate``'s consensus on simulated annotators of known confusion.

Each simulated study: images with true Fitzpatrick types drawn from a skewed mix (few V-VI, like
PAD-UFES-20's clinician labels, ``SKEWED_PRIOR``), labelled by 3 of a panel of 6 annotators
(``DEFAULT_PANEL``: two careful, two noisy, one biased towards darker types, one who answers at
random 70% of the time). The consensus is compared with the truth:

- accuracy of the Dawid-Skene consensus vs the majority vote (ties broken at random) vs
  crowd-kit's DawidSkene (unsmoothed maximum likelihood; when ``crowd-kit`` is installed, the
  ``bench`` extra) vs the Bayes rule with the *true* confusions (the ceiling);
- accuracy on the rare dark types (true V-VI), also with the class prior divided out
  (``--flat-prior``: the estimated mix pulls rare types towards common ones);
- calibration of the consensus probability: expected calibration error (10 bins) per study and
  pooled over all test studies (ECE on a few hundred images is biased upwards even for calibrated
  probabilities: the oracle's per-study ECE is not 0), mean probability minus accuracy (> 0:
  overconfident; unbiased), multi-class Brier score; ``ds_cal`` is the consensus with the
  parametric-bootstrap temperature (``annotate._calibrate``, ``--calibration-boot``; no ground
  truth used), as ``analyze`` computes it; ``ds_cal_flat`` the same with the type mix divided
  out (``--flat-prior``); ``uniform`` / ``uniform_cal`` the consensus without the neighbour prior
  (off-diagonal pseudo-counts spread evenly: the earlier model), tuned the same way.

The Dirichlet pseudo-counts (``smoothing``, ``diagonal``, ``neighbour``) are tuned on seeds 0-9 (mean log loss of
the posterior at the true type, a proper score) and reported on fresh seeds 100-129. Intervals are
over the simulated studies (t intervals of the mean over seeds; the paired difference for
consensus minus majority vote).

Run: ``python benchmarks/bench_annotate.py`` (``--quick``: fewer seeds and grid points).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fairskin.annotate import (DEFAULT_PANEL, AnnotateAnalyzeConfig, bootstrap_temperature, calibration_error, dawid_skene,  # noqa: E402
                               majority_vote, simulate_annotations, temper)

K = 6


def _oracle(st) -> np.ndarray:
    prior = np.bincount(st.truth, minlength=K) + 1.0
    logT = np.tile(np.log(prior / prior.sum()), (len(st.truth), 1))
    np.add.at(logT, st.items, np.log(np.maximum(st.confusion[st.annotators, :, st.labels], 1e-300)))
    T = np.exp(logT - logT.max(axis=1, keepdims=True))
    return T / T.sum(axis=1, keepdims=True)


def _crowdkit(st) -> np.ndarray | None:
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene
    except ImportError:
        return None
    df = pd.DataFrame({"task": st.items, "worker": st.annotators, "label": st.labels})
    p = DawidSkene(n_iter=200).fit(df).probas_
    out = np.zeros((len(st.truth), K))
    out[np.asarray(p.index, int)[:, None], np.asarray(p.columns, int)[None, :]] = p.to_numpy()
    return out


def _scores(T: np.ndarray, truth: np.ndarray) -> dict:
    pred, prob = T.argmax(axis=1), T.max(axis=1)
    ok = pred == truth
    onehot = np.eye(K)[truth]
    dark = truth >= 4
    return {"accuracy": ok.mean(), "dark_accuracy": ok[dark].mean() if dark.any() else np.nan,
            "ece": calibration_error(prob, ok), "overconfidence": prob.mean() - ok.mean(),
            "brier": ((T - onehot) ** 2).sum(axis=1).mean(),
            "log_loss": -np.log(np.maximum(T[np.arange(len(truth)), truth], 1e-12)).mean(), "prob": prob, "ok": ok}


def _study(n: int, seed: int, params: tuple, *, with_refs: bool, uniform: tuple | None = None,
           calibration_boot: int = 20) -> dict:
    """One simulated study; ``params`` = (smoothing, diagonal, neighbour) pseudo-counts; ``uniform``:
    those of the consensus without the neighbour prior (the earlier model), for comparison."""
    st = simulate_annotations(n, panel=DEFAULT_PANEL, per_image=3, seed=seed)

    def fit(p):
        kw = dict(zip(("smoothing", "diagonal", "neighbour"), p))
        return dawid_skene(st.items, st.annotators, st.labels, n_items=n, n_annotators=len(DEFAULT_PANEL),
                           n_classes=K, **kw), kw

    ds, kw = fit(params)
    out = {"ds": _scores(ds.posterior, st.truth)}
    if with_refs:
        tau = bootstrap_temperature(ds, st.items, st.annotators, n_boot=calibration_boot, seed=seed, **kw)
        cal = temper(ds.posterior, tau)
        out["ds_cal"] = _scores(cal, st.truth)
        out["ds_cal"]["temperature"] = tau
        out["ds_cal_flat"] = _scores(replace(ds, posterior=cal, temperature=tau).flat_prior_posterior(), st.truth)
        if uniform is not None:
            du, kwu = fit(uniform)
            out["uniform"] = _scores(du.posterior, st.truth)
            tau_u = bootstrap_temperature(du, st.items, st.annotators, n_boot=calibration_boot, seed=seed, **kwu)
            out["uniform_cal"] = _scores(temper(du.posterior, tau_u), st.truth)
        mv, share = majority_vote(st.items, st.labels, n_items=n, n_classes=K, seed=seed)
        votes = np.zeros((n, K))
        np.add.at(votes, (st.items, st.labels), 1.0)
        mv_T = votes / votes.sum(axis=1, keepdims=True)
        s = _scores(mv_T, st.truth)
        s["accuracy"] = (mv == st.truth).mean()  # random tie-break, not argmax's first class
        s["dark_accuracy"] = (mv == st.truth)[st.truth >= 4].mean() if (st.truth >= 4).any() else np.nan
        out["majority"] = s
        out["oracle"] = _scores(_oracle(st), st.truth)
        ck = _crowdkit(st)
        if ck is not None:
            out["crowdkit"] = _scores(ck, st.truth)
    return out


def _t_interval(x) -> tuple[float, float, float]:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    m = x.mean()
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
    return m, m - h, m + h


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and grid points (a smoke run)")
    ap.add_argument("--sizes", default="200,400", help="images per simulated study")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    tune_seeds = range(0, 3 if args.quick else 10)
    test_seeds = range(100, 106 if args.quick else 130)
    grid = list(itertools.product((0.5, 1.0) if args.quick else (0.25, 0.5, 1.0, 2.0),
                                  (5.0, 10.0) if args.quick else (2.0, 5.0, 10.0, 20.0),
                                  (0.0, 5.0) if args.quick else (0.0, 2.5, 5.0, 10.0)))
    t0 = time.time()
    print(f"panel: {len(DEFAULT_PANEL)} annotators, 3 per image; sizes {sizes}; tuning seeds "
          f"{tune_seeds.start}-{tune_seeds.stop - 1}, test seeds {test_seeds.start}-{test_seeds.stop - 1}")
    d = AnnotateAnalyzeConfig()
    defaults = (d.smoothing, d.diagonal, d.neighbour)
    if defaults not in grid:
        grid.append(defaults)
    tuned, tuned_uniform = {}, {}
    for n in sizes:
        loss = {p: np.mean([_study(n, s, p, with_refs=False)["ds"]["log_loss"] for s in tune_seeds]) for p in grid}
        tuned[n] = min(loss, key=loss.get)
        tuned_uniform[n] = min((p for p in grid if p[2] == 0), key=loss.get)
        print(f"n={n}: tuned smoothing={tuned[n][0]}, diagonal={tuned[n][1]}, neighbour={tuned[n][2]} (mean log loss "
              f"{loss[tuned[n]]:.3f}; without the neighbour prior {tuned_uniform[n]}: {loss[tuned_uniform[n]]:.3f}; "
              f"analyze's defaults {defaults}: {loss[defaults]:.3f})")
    for n in sizes:
        runs = [_study(n, s, tuned[n], with_refs=True, uniform=tuned_uniform[n]) for s in test_seeds]
        methods = [m for m in ("ds", "ds_cal", "ds_cal_flat", "uniform", "uniform_cal", "majority", "crowdkit", "oracle")
                   if m in runs[0]]
        print(f"\n== n={n} images, {len(runs)} fresh simulated studies (mean over studies, 95% t interval) ==")
        print(f"{'method':10s} {'accuracy':>22s} {'V-VI accuracy':>22s} {'ECE':>8s} {'pooled':>7s} "
              f"{'overconf':>22s} {'Brier':>7s}")
        for m in methods:
            acc = _t_interval([r[m]["accuracy"] for r in runs])
            dark = _t_interval([r[m]["dark_accuracy"] for r in runs])
            over = _t_interval([r[m]["overconfidence"] for r in runs])
            pooled = calibration_error(np.concatenate([r[m]["prob"] for r in runs]),
                                       np.concatenate([r[m]["ok"] for r in runs]))
            print(f"{m:10s} {acc[0]:.3f} ({acc[1]:.3f}-{acc[2]:.3f})   {dark[0]:.3f} ({dark[1]:.3f}-{dark[2]:.3f}) "
                  f"{np.mean([r[m]['ece'] for r in runs]):8.3f} {pooled:7.3f} "
                  f"{over[0]:+.3f} ({over[1]:+.3f} to {over[2]:+.3f}) {np.mean([r[m]['brier'] for r in runs]):7.3f}")
        taus = [r["ds_cal"]["temperature"] for r in runs]
        print(f"ds_cal temperature: median {np.median(taus):.2f} (range {min(taus):.2f}-{max(taus):.2f})")
        for m, what in (("ds", "accuracy"), ("ds_cal_flat", "accuracy"), ("uniform", "accuracy"), ("ds", "dark_accuracy"),
                        ("ds_cal_flat", "dark_accuracy")):
            diff = [r[m][what] - r["majority"][what] for r in runs if np.isfinite(r[m][what])]
            d = _t_interval(diff)
            print(f"{m} - majority vote, {what}: {d[0]:+.3f} ({d[1]:+.3f} to {d[2]:+.3f}); better in "
                  f"{sum(x > 0 for x in diff)} of {len(diff)} studies, worse in {sum(x < 0 for x in diff)}")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
