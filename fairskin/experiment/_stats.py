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
between-seed spread; with ``k = 1`` it reduces to a bootstrap of the test rows. Metrics are the
audit's (weighted by bootstrap counts). A relative change is ``(candidate - baseline) /
baseline`` per replicate.

The equalized-odds difference is fairlearn's (the larger of the max-min gaps of the true- and
false-positive rates across skin-type groups), per seed, averaged over seeds. A max-min is
biased upward and its percentile interval misses a zero gap (``docs/audit-json.md``), so its
interval is the audit's extremum interval (:func:`fairskin.audits.classifier.extremum_noise`)
with the seed level added: in each replicate, the mean over the drawn seeds of each seed's
centred extremum noise on the resampled rows, plus the drawn seeds' mean gap minus the arm's.
The verdict uses the audit's rule (:func:`fairskin.audits.classifier.judge`).

Each comparison with the baseline also carries paired changes: per group, of AUROC and of
sensitivity (``deltas``: the percentile interval of the replicates' candidate minus baseline, on
the shared row resamples), and of the equalized-odds difference (``eod_change``: the same paired
percentile interval of the replicates' plain max-min gaps; the max-min's upward bias is about the
same for both arms and largely cancels in the difference). Only the AUROC criteria decide the
verdict; the other changes are reported with their intervals.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.skintone import FITZPATRICK

__all__ = ["CI_METHOD", "arm_statistics", "report_metrics", "metric_labels"]

CI_METHOD = ("two-level bootstrap: test rows resampled within skin-type group x label (shared by all arms, "
             "paired), and the arm's seeds resampled with replacement within each replicate; point value = mean "
             "over seeds; percentile interval")


def report_metrics() -> tuple[str, ...]:
    """The metrics reported per arm and group: the audit registry's report metrics
    (``GroupMetric.in_report``), so a newly registered metric is reported here too."""
    from fairskin.audits.classifier import GROUP_METRICS

    return tuple(name for name, m in GROUP_METRICS.items() if m.in_report)


def metric_labels() -> list[dict]:
    """name, label and definition of every reported metric (``experiment.json``'s ``metrics``: what
    the report, which does not import the audit, names them by)."""
    from fairskin.audits.classifier import metric_table

    keep = set(report_metrics())
    return [{k: m[k] for k in ("name", "label", "definition", "digits", "headline")} for m in metric_table()
            if m["name"] in keep]


def _weights(strata: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts ``(n_rows, n_boot)`` from the audit's stratified resampler."""
    from fairskin.audits.classifier import stratified_counts

    return np.concatenate([np.asarray(m, float) for m in stratified_counts(strata, n_boot=n_boot, rng=rng)], axis=1)


def _metrics(scores: np.ndarray, y: np.ndarray, idx: np.ndarray, W: np.ndarray, threshold: float
             ) -> dict[str, np.ndarray]:
    """The audit's metrics of the rows ``idx`` for the point (column 0 of ones) and each replicate."""
    from fairskin.audits.classifier import SortedRows, weighted_metrics

    rows = SortedRows.build(idx, scores, y, threshold=threshold)
    Wf = np.concatenate([np.ones((len(scores), 1)), W], axis=1)[rows.index]  # (rows.n, 1 + B)
    out = weighted_metrics(rows, Wf)
    return {m: np.asarray(v, float) for m, v in out.items()}


def _group_rows(test: pd.DataFrame) -> tuple[list[tuple[str, str, np.ndarray]], str]:
    """(level, group, row positions) for exact types (when every row has one), DDI groups, and all:
    the audit engine's keys on the Fitzpatrick scale (its tones, labels and groups)."""
    fst_type = test["fst_type"].to_numpy(int)
    fst_group = test["fst_group"].astype(str).to_numpy()
    keys = []
    typed = bool((fst_type > 0).all())
    if typed:
        for t in FITZPATRICK.tones:
            idx = np.flatnonzero(fst_type == t)
            if len(idx):
                keys.append(("type", FITZPATRICK.label(t), idx))
    for g in FITZPATRICK.groups:
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


def _eod_interval(per_seed_rates: list[dict[str, np.ndarray]], draws: np.ndarray, level: float
                  ) -> tuple[float, float | None, float | None, list[float | None]]:
    """Seed-averaged equalized-odds difference and its interval. ``per_seed_rates[s][rate]`` is
    ``(groups, 1 + B)`` (column 0 the point); ``draws`` the replicates' seed draws ``(B, k)``."""
    from fairskin.audits.classifier import GAPS, extremum_bounds, extremum_noise, gap_terms

    gap = next(g for g in GAPS if g.key == "equalized_odds_difference/between_groups/worst_case")
    est_s, low_s, up_s = [], [], []
    for rates in per_seed_rates:
        vals = {r: a[:, 0] for r, a in rates.items()}
        samp = {r: a[:, 1:].T for r, a in rates.items()}
        terms, _, _ = gap_terms(gap, vals, samp)
        t = extremum_noise(*terms[0]) if len(terms[0][0]) else None
        if t is None:
            est_s.append(np.nan)
            low_s.append(np.full(draws.shape[0], np.nan))
            up_s.append(np.full(draws.shape[0], np.nan))
        else:
            est_s.append(t[0])
            low_s.append(t[1])
            up_s.append(t[2])
    est_s = np.array(est_s)
    if np.isnan(est_s).all():
        return float("nan"), None, None, [None] * len(est_s)
    est = float(np.nanmean(est_s))
    L, U = np.stack(low_s), np.stack(up_s)  # (k, B)
    cols = np.arange(draws.shape[0])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw of only undefined seeds stays NaN
        seed_shift = np.nanmean(est_s[draws], axis=1) - est  # between-seed spread of the mean gap
        low = np.nanmean(L[draws, cols[:, None]], axis=1) + seed_shift
        up = np.nanmean(U[draws, cols[:, None]], axis=1) + seed_shift
    lo, hi = extremum_bounds(est, low, up, level=level, bounds=(0.0, 1.0))
    return est, lo, hi, [None if np.isnan(v) else float(v) for v in est_s]


def _eod_replicates(per_seed_rates: list[dict[str, np.ndarray]], draws: np.ndarray) -> np.ndarray:
    """The plain max-min equalized-odds difference of every replicate ``(B,)``: per seed, the larger
    of the rates' max-min gaps across groups on the resampled rows; then the mean over the
    replicate's drawn seeds (``draws``, ``(B, k)``)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an undefined rate of every group stays NaN
        per_seed = np.stack([np.nanmax(np.stack([np.nanmax(a[:, 1:], axis=0) - np.nanmin(a[:, 1:], axis=0)
                                                 for a in rates.values()]), axis=0) for rates in per_seed_rates])
        return np.nanmean(per_seed[draws, np.arange(draws.shape[0])[:, None]], axis=1)


def _change(b: float | None, c: float | None, rep: np.ndarray, level: float) -> dict[str, Any]:
    """A paired change: both values, candidate minus baseline and its percentile interval."""
    if b is None or c is None:
        return {"baseline": b, "candidate": c, "delta": None, "ci_low": None, "ci_high": None}
    lo, hi = _ci(rep, level)
    return {"baseline": b, "candidate": c, "delta": c - b, "ci_low": lo, "ci_high": hi,
            "ci_method": "percentile bootstrap of the paired difference (rows shared, seeds resampled per arm)"}


def arm_statistics(test: pd.DataFrame, scores: dict[str, np.ndarray], *, baseline: str, criteria: Sequence[Any],
                   threshold: float = 0.5, n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
                   min_group_positives: int = 5, min_group_n: int = 30, min_group_negatives: int = 5,
                   families: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Seed-pooled metrics per arm and group, comparisons with ``baseline``, and the verdict.

    ``test`` has one row per test image with ``label`` (0/1), ``fst_type`` (1-6, 0 unknown) and
    ``fst_group``; ``scores[arm]`` is an array ``(k seeds, n rows)`` of malignancy probabilities.
    ``criteria`` are :class:`fairskin.audits.classifier.Criterion` objects. ``families`` (arm ->
    "synthetic", "cheap_fix", ...) adds ``synthesis_vs_cheap_fix`` (``_versus``) on the criteria's
    target group.
    """
    if baseline not in scores:
        raise InputError(f"baseline: arm {baseline!r} has no finished runs; arms with runs: {', '.join(scores)}")
    y = test["label"].to_numpy(bool)
    keys, level = _group_rows(test)
    strata = pd.factorize(test["fst_group"].astype(str) + ":" + test["label"].astype(str))[0]
    rng = np.random.default_rng(seed)
    W = _weights(strata, n_boot, rng)
    raw = _raw_metrics(test, scores, y, keys, W, threshold)
    pooled, seed_draws = _pool_seeds(raw, n_boot, rng)
    gates = {"min_group_n": min_group_n, "min_group_positives": min_group_positives,
             "min_group_negatives": min_group_negatives}
    arms_out, eod_reps = _arm_entries(scores, raw, pooled, seed_draws, y, keys, level, ci_level=ci_level, **gates)
    comparisons = [_comparison(arm, baseline, criteria, pooled, arms_out, eod_reps, y, keys, ci_level=ci_level, **gates)
                   for arm in scores if arm != baseline]
    out = {"group_level": level, "n_boot": n_boot, "seed": seed, "ci_level": ci_level, "threshold": threshold,
           "ci_method": CI_METHOD, "metrics": metric_labels(), "arms": arms_out, "comparisons": comparisons}
    if families is not None:
        from fairskin.experiment._versus import synthesis_vs_cheap_fix, versus_sentence

        target = next((c.group for c in criteria if c.kind == "min_relative_gain"), FITZPATRICK.darkest_group)
        n_g, p_g = next(((len(idx), int(y[idx].sum())) for _, g, idx in keys if g == target), (0, 0))
        small = None
        if n_g < min_group_n or p_g < min_group_positives or n_g - p_g < min_group_negatives:
            small = f"group {target} is too small to judge: {n_g} test images, {p_g} positive"
        versus = synthesis_vs_cheap_fix(pooled, families, group=target, too_small=small, ci=_ci, ci_level=ci_level)
        out["synthesis_vs_cheap_fix"] = {**versus, "sentence": versus_sentence(versus)}
    return out


def _raw_metrics(test, scores, y, keys, W, threshold) -> dict:
    """Per arm: metric -> (level, group) -> array (k seeds, 1 + B row-bootstrap replicates)."""
    raw: dict[str, dict[tuple[str, str], dict[str, np.ndarray]]] = {}
    for arm, S in scores.items():
        S = np.atleast_2d(np.asarray(S, float))
        if S.shape[1] != len(test):
            raise InputError(f"scores[{arm!r}]: {S.shape[1]} scores per seed for {len(test)} test rows")
        per_key = {}
        for lvl, g, idx in keys:
            per_seed = [_metrics(S[s], y, idx, W, threshold) for s in range(len(S))]
            per_key[(lvl, g)] = {m: np.stack([p[m] for p in per_seed]) for m in per_seed[0]}
        raw[arm] = per_key
    return raw


def _pool_seeds(raw: dict, n_boot: int, rng) -> tuple[dict, dict]:
    """Per arm, each metric pooled over seeds: (point, replicates, per-seed values), and the seed draws used."""
    # seed resampling: per arm, (B, k) seed draws; replicate value = mean over drawn seeds
    pooled: dict[str, dict[tuple[str, str], dict[str, tuple[float, np.ndarray, np.ndarray]]]] = {}
    seed_draws: dict[str, np.ndarray] = {}
    for arm, per_key in raw.items():
        k = next(iter(next(iter(per_key.values())).values())).shape[0]
        draws = rng.integers(0, k, size=(n_boot, k))
        seed_draws[arm] = draws
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
    return pooled, seed_draws


def _arm_entries(scores, raw, pooled, seed_draws, y, keys, level, *, ci_level, min_group_n, min_group_positives,
                 min_group_negatives) -> tuple[dict, dict]:
    """Each arm's groups with their metrics and intervals, and its equalized-odds difference; also
    each arm's EOD replicates (for the paired change)."""
    arms_out = {}
    eod_reps: dict[str, np.ndarray] = {}  # per arm, the replicates' plain max-min EOD (the paired change)
    reported = report_metrics()
    for arm in scores:
        groups = []
        for lvl, g, idx in keys:
            P = int(y[idx].sum())
            entry = {"group": g, "level": lvl, "n": len(idx), "positives": P, "negatives": len(idx) - P,
                     "reliable": len(idx) >= min_group_n and P >= min_group_positives
                     and len(idx) - P >= min_group_negatives,
                     "metrics": {}}
            for m in reported:
                point, rep, per_seed = pooled[arm][(lvl, g)][m]
                lo, hi = _ci(rep, ci_level) if not math.isnan(point) else (None, None)
                entry["metrics"][m] = {"value": _none(point), "ci_low": lo, "ci_high": hi,
                                       "per_seed": [_none(v) for v in per_seed]}
            groups.append(entry)
        lvl_keys = [(lv, g) for lv, g, _ in keys if lv == level]
        per_seed_rates = [{"sensitivity": np.stack([raw[arm][kk]["sensitivity"][s] for kk in lvl_keys]),
                           "fpr": 1 - np.stack([raw[arm][kk]["specificity"][s] for kk in lvl_keys])}
                          for s in range(raw[arm][lvl_keys[0]]["sensitivity"].shape[0])]
        eod_reps[arm] = _eod_replicates(per_seed_rates, seed_draws[arm])
        point, lo, hi, per_seed = _eod_interval(per_seed_rates, seed_draws[arm], ci_level)
        arms_out[arm] = {"n_seeds": int(np.atleast_2d(scores[arm]).shape[0]), "groups": groups,
                         "equalized_odds_difference": {"value": _none(point), "ci_low": lo, "ci_high": hi,
                                                       "ci_method": "extremum (two-level: rows and seeds)",
                                                       "level": level, "per_seed": per_seed}}
    return arms_out, eod_reps


def _comparison(arm, baseline, criteria, pooled, arms_out, eod_reps, y, keys, *, ci_level, min_group_n,
                min_group_positives, min_group_negatives) -> dict:
    """``arm`` against ``baseline``: the changes per group (AUROC, sensitivity), each criterion
    judged (never conclusive on a group too small), the verdict and the EOD change."""
    from fairskin.audits.classifier import judge, judge_criterion, verdict_title

    crit_out = []
    deltas = []
    for metric in ("auroc", "sensitivity"):  # the criteria judge AUROC; sensitivity's change is reported
        for lvl, g, _ in keys:
            pb, rb, _ = pooled[baseline][(lvl, g)][metric]
            pc, rc, _ = pooled[arm][(lvl, g)][metric]
            with np.errstate(all="ignore"):
                rel = (pc - pb) / pb if pb and not math.isnan(pb) and not math.isnan(pc) else float("nan")
                rel_rep = np.where(rb != 0, (rc - rb) / rb, np.nan)
            lo, hi = _ci(rel_rep, ci_level) if not math.isnan(rel) else (None, None)
            dlo, dhi = _ci(rc - rb, ci_level) if not math.isnan(rel) else (None, None)
            deltas.append({"group": g, "level": lvl, "metric": metric, "baseline": _none(pb),
                           "candidate": _none(pc), "delta": _none(pc - pb), "ci_low": dlo, "ci_high": dhi,
                           "relative": _none(rel), "relative_ci_low": lo, "relative_ci_high": hi})
    by_group = {(d["group"], d["metric"]): d for d in deltas}
    # the test set's size per group, the same for every arm: a verdict on a group the audit
    # would flag as unreliable (n < min_group_n or < min_group_positives positives) is never conclusive
    sizes = {g: (len(idx), int(y[idx].sum())) for _, g, idx in keys}
    for c in criteria:
        if c.metric != "auroc":
            raise InputError(f"criteria: metric {c.metric!r} is not supported by the experiment verdict; use auroc")
        n_g, p_g = sizes.get(c.group, (0, 0))
        small = None
        if n_g < min_group_n or p_g < min_group_positives or n_g - p_g < min_group_negatives:
            small = (f"group {c.group} is too small to judge: {n_g} test images, {p_g} positive (need "
                     f"{min_group_n}, {min_group_positives} positive and {min_group_negatives} negative)")
        crit_out.append(judge_criterion(c, by_group.get((c.group, c.metric)), too_small=small))
    verdict, conclusive, reason = judge(crit_out)
    eod_change = _change(arms_out[baseline]["equalized_odds_difference"]["value"],
                         arms_out[arm]["equalized_odds_difference"]["value"], eod_reps[arm] - eod_reps[baseline],
                         ci_level)
    return {"baseline": baseline, "candidate": arm, "deltas": deltas, "eod_change": eod_change,
            "criteria": crit_out,
            "verdict": verdict, "conclusive": conclusive, "verdict_reason": reason,
            "verdict_title": verdict_title(verdict, conclusive)}
