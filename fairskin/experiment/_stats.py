"""Per-arm metrics with confidence intervals that include seed variation, and the verdict.

Method (two-level bootstrap; written into ``experiment.json`` as ``ci_method``)
-----------------------------------------------------------------------------
An arm is trained with ``k`` seeds; every seed's model scores the same held-out test set. The
point value of a metric is the mean over seeds of the metric. For each of ``n_boot`` replicates:

1. the test rows are resampled with the audit's stratified bootstrap
   (:func:`fairskin.audits.classifier.stratified_counts`, strata = skin-type group x label); the
   same resample is used for every arm (paired: arms are compared on the same rows);
2. for each arm, ``k`` seeds are drawn with replacement (independently per arm), and the
   replicate's value is the mean over the drawn seeds of the metric on the resampled rows.

The 2.5% and 97.5% percentiles of the replicates are the 95% interval. Step 2 adds the
between-seed spread; with ``k = 1`` it reduces to the audit's own interval. Metrics are the
audit's (:mod:`fairskin.audits._metrics`, weighted by bootstrap counts). The equalized-odds
difference is fairlearn's (the larger of the max-min gaps of the true-positive and false-positive
rates across skin-type groups) taken from the audit's per-group sensitivity and specificity, per
seed and replicate. A relative change is ``(candidate - baseline) / baseline`` per replicate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.skintone import FST_GROUPS, ROMAN

__all__ = ["CI_METHOD", "arm_statistics", "REPORT_METRICS"]

CI_METHOD = ("two-level bootstrap: test rows resampled within skin-type group x label (shared by all arms, "
             "paired), and the arm's seeds resampled with replacement within each replicate; point value = mean "
             "over seeds; percentile interval")
#: metrics reported per arm and group
REPORT_METRICS = ("auroc", "sensitivity", "specificity", "balanced_accuracy", "auprc")


def _weights(strata: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts ``(n_rows, n_boot)`` from the audit's stratified resampler."""
    from fairskin.audits.classifier import stratified_counts

    n = len(strata)
    parts = []
    for m in stratified_counts(strata, n_boot=n_boot, rng=rng):
        m = np.asarray(m, float)
        if not (m.shape[0] == n and np.allclose(m.sum(0), n)):  # (k, n) in older versions of the audit
            m = m.T
        parts.append(m)
    return np.concatenate(parts, axis=1)


def _metrics(scores: np.ndarray, y: np.ndarray, idx: np.ndarray, W: np.ndarray, threshold: float
             ) -> dict[str, np.ndarray]:
    """The audit's metrics of the rows ``idx`` for the point (column 0 of ones) and each replicate."""
    from fairskin.audits._metrics import SortedRows, weighted_metrics

    rows = SortedRows.build(idx, scores, y, threshold=threshold)
    Wf = np.concatenate([np.ones((len(scores), 1)), W], axis=1)[rows.index]  # (rows.n, 1 + B)
    try:
        out = weighted_metrics(rows, Wf)
        if len(next(iter(out.values()))) != Wf.shape[1]:
            raise ValueError
    except (ValueError, IndexError):  # older audits took (k, rows.n)
        out = weighted_metrics(rows, np.ascontiguousarray(Wf.T))
    return {m: np.asarray(v, float) for m, v in out.items()}


def _group_rows(test: pd.DataFrame) -> tuple[list[tuple[str, str, np.ndarray]], str]:
    """(level, group, row positions) for exact types (when every row has one), DDI groups, and all."""
    fst_type = test["fst_type"].to_numpy(int)
    fst_group = test["fst_group"].astype(str).to_numpy()
    keys = []
    typed = bool((fst_type > 0).all())
    if typed:
        for t in range(1, 7):
            idx = np.flatnonzero(fst_type == t)
            if len(idx):
                keys.append(("type", ROMAN[t - 1], idx))
    for g in FST_GROUPS:
        idx = np.flatnonzero(fst_group == g)
        if len(idx):
            keys.append(("group", g, idx))
    keys.append(("all", "all", np.arange(len(test))))
    return keys, ("type" if typed else "group")


def _ci(samples: np.ndarray, level: float) -> tuple[float | None, float | None]:
    from fairskin.audits.classifier import percentile_ci

    lo, hi, _ = percentile_ci(samples, level=level)
    return lo, hi


def _none(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _eod(sens: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """fairlearn's equalized-odds difference from per-group rates (groups x ...), undefined groups skipped."""
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            tpr_gap = np.nanmax(sens, 0) - np.nanmin(sens, 0)
            fpr = 1 - spec
            fpr_gap = np.nanmax(fpr, 0) - np.nanmin(fpr, 0)
    return np.fmax(tpr_gap, fpr_gap)


def arm_statistics(test: pd.DataFrame, scores: dict[str, np.ndarray], *, baseline: str, criteria: Sequence[Any],
                   threshold: float = 0.5, n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
                   min_group_positives: int = 5, min_group_n: int = 30) -> dict[str, Any]:
    """Seed-pooled metrics per arm and group, comparisons with ``baseline``, and the verdict.

    ``test`` has one row per test image with ``label`` (0/1), ``fst_type`` (1-6, 0 unknown) and
    ``fst_group``; ``scores[arm]`` is an array ``(k seeds, n rows)`` of malignancy probabilities.
    ``criteria`` are :class:`fairskin.audits.classifier.Criterion` objects.
    """
    if baseline not in scores:
        raise InputError(f"baseline: arm {baseline!r} has no finished runs; arms with runs: {', '.join(scores)}")
    y = test["label"].to_numpy(bool)
    keys, level = _group_rows(test)
    strata = pd.factorize(test["fst_group"].astype(str) + ":" + test["label"].astype(str))[0]
    rng = np.random.default_rng(seed)
    W = _weights(strata, n_boot, rng)
    # per arm: metric -> key -> (k, 1 + B)
    raw: dict[str, dict[tuple[str, str], dict[str, np.ndarray]]] = {}
    for arm, S in scores.items():
        S = np.atleast_2d(np.asarray(S, float))
        if S.shape[1] != len(test):
            raise InputError(f"scores[{arm!r}]: {S.shape[1]} scores per seed for {len(test)} test rows")
        per_key = {}
        for lvl, g, idx in keys:
            per_seed = [_metrics(S[s], y, idx, W, threshold) for s in range(len(S))]
            per_key[(lvl, g)] = {m: np.stack([p[m] for p in per_seed]) for m in per_seed[0]}
        # equalized-odds difference across the groups of the chosen level
        lvl_keys = [(lv, g) for lv, g, _ in keys if lv == level]
        sens = np.stack([per_key[k]["sensitivity"] for k in lvl_keys])  # (groups, k, 1 + B)
        spec = np.stack([per_key[k]["specificity"] for k in lvl_keys])
        per_key[("fairness", level)] = {"equalized_odds_difference": _eod(sens, spec)}
        raw[arm] = per_key
    # seed resampling: per arm, (B, k) seed draws; replicate value = mean over drawn seeds
    pooled: dict[str, dict[tuple[str, str], dict[str, tuple[float, np.ndarray, np.ndarray]]]] = {}
    for arm, per_key in raw.items():
        k = next(iter(next(iter(per_key.values())).values())).shape[0]
        draws = rng.integers(0, k, size=(n_boot, k))
        cols = np.arange(1, n_boot + 1)
        pooled[arm] = {}
        for key, mets in per_key.items():
            pooled[arm][key] = {}
            for m, A in mets.items():
                with np.errstate(all="ignore"):
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        point = float(np.nanmean(A[:, 0])) if np.isfinite(A[:, 0]).any() else float("nan")
                        rep = np.nanmean(A[draws, cols[:, None]], axis=1)
                pooled[arm][key][m] = (point, rep, A[:, 0])
    arms_out = {}
    for arm in scores:
        groups = []
        for lvl, g, idx in keys:
            P = int(y[idx].sum())
            entry = {"group": g, "level": lvl, "n": len(idx), "positives": P, "negatives": len(idx) - P,
                     "reliable": len(idx) >= min_group_n and P >= min_group_positives and len(idx) - P >= 1,
                     "metrics": {}}
            for m in REPORT_METRICS:
                point, rep, per_seed = pooled[arm][(lvl, g)][m]
                lo, hi = _ci(rep, ci_level) if not math.isnan(point) else (None, None)
                entry["metrics"][m] = {"value": _none(point), "ci_low": lo, "ci_high": hi,
                                       "per_seed": [_none(v) for v in per_seed]}
            groups.append(entry)
        point, rep, per_seed = pooled[arm][("fairness", level)]["equalized_odds_difference"]
        lo, hi = _ci(rep, ci_level) if not math.isnan(point) else (None, None)
        arms_out[arm] = {"n_seeds": int(np.atleast_2d(scores[arm]).shape[0]), "groups": groups,
                         "equalized_odds_difference": {"value": _none(point), "ci_low": lo, "ci_high": hi,
                                                       "level": level, "per_seed": [_none(v) for v in per_seed]}}
    comparisons = []
    for arm in scores:
        if arm == baseline:
            continue
        crit_out = []
        deltas = []
        for lvl, g, _ in keys:
            pb, rb, _ = pooled[baseline][(lvl, g)]["auroc"]
            pc, rc, _ = pooled[arm][(lvl, g)]["auroc"]
            with np.errstate(all="ignore"):
                rel = (pc - pb) / pb if pb and not math.isnan(pb) and not math.isnan(pc) else float("nan")
                rel_rep = np.where(rb != 0, (rc - rb) / rb, np.nan)
            lo, hi = _ci(rel_rep, ci_level) if not math.isnan(rel) else (None, None)
            dlo, dhi = _ci(rc - rb, ci_level) if not math.isnan(rel) else (None, None)
            deltas.append({"group": g, "level": lvl, "metric": "auroc", "baseline": _none(pb), "candidate": _none(pc),
                           "delta": _none(pc - pb), "ci_low": dlo, "ci_high": dhi, "relative": _none(rel),
                           "relative_ci_low": lo, "relative_ci_high": hi})
        by_group = {(d["group"], d["metric"]): d for d in deltas}
        # the test set's size per group, the same for every arm: a verdict on a group the audit
        # would flag as unreliable (n < min_group_n or < min_group_positives positives) is never conclusive
        sizes = {g: (len(idx), int(y[idx].sum())) for _, g, idx in keys}
        for c in criteria:
            d = by_group.get((c.group, c.metric))
            if c.metric != "auroc":
                raise InputError(f"criteria: metric {c.metric!r} is not supported by the experiment verdict; use auroc")
            entry = {"name": c.name, "description": c.description, "group": c.group, "metric": c.metric,
                     "kind": c.kind, "bound": c.bound}
            if d is None or d["relative"] is None:
                entry.update(observed=None, ci_low=None, ci_high=None, passed=None, confident=None)
            else:
                ok = c.passes(d["relative"])
                n_g, p_g = sizes.get(c.group, (0, 0))
                small = n_g < min_group_n or p_g < min_group_positives or n_g - p_g < 1
                entry.update(observed=d["relative"], ci_low=d["relative_ci_low"], ci_high=d["relative_ci_high"],
                             passed=ok, confident=False if small else (c.passes(d["relative_ci_low"]) if ok
                                                                      else not c.passes(d["relative_ci_high"])))
                if small:
                    entry["reason"] = (f"group {c.group} is too small to judge: {n_g} test images, {p_g} positive "
                                       f"(need {min_group_n} and {min_group_positives})")
            crit_out.append(entry)
        if any(c["passed"] is None for c in crit_out):
            verdict = "undefined"
            reason = "cannot evaluate: " + ", ".join(c["name"] for c in crit_out if c["passed"] is None)
        elif all(c["passed"] for c in crit_out):
            sure = all(c["confident"] for c in crit_out)
            verdict = "pass"
            reason = f"all {len(crit_out)} criteria met" + ("" if sure else
                                                           "; not conclusive: a 95% interval crosses a bound")
        else:
            verdict = "fail"
            reason = "not met: " + "; ".join(c["description"] or c["name"] for c in crit_out if not c["passed"])
            if not all(c["confident"] for c in crit_out if not c["passed"]):
                reason += "; not conclusive: a 95% interval crosses a bound or a group is too small to judge"
        comparisons.append({"baseline": baseline, "candidate": arm, "deltas": deltas, "criteria": crit_out,
                            "verdict": verdict, "verdict_reason": reason})
    return {"group_level": level, "n_boot": n_boot, "seed": seed, "ci_level": ci_level, "threshold": threshold,
            "ci_method": CI_METHOD, "arms": arms_out, "comparisons": comparisons}
