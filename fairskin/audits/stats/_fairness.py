"""Fairness gaps across skin types, and ratios of each group's metrics to a reference group.

Every gap of :data:`._registry.GAPS` gets its point value (fairlearn's definition, by
:func:`._registry.gap_value`), an interval that keeps its coverage at a zero gap and away from
it (:func:`._intervals.extremum` on the gap's candidates), a test of "no skin-type difference"
and, within the model's family of gap tests, a Holm-adjusted p-value."""

from __future__ import annotations

import math

import numpy as np

from fairskin.audits.stats import _intervals as iv
from fairskin.audits.stats._bootstrap import bootstrap_p_value, delong_test, holm
from fairskin.audits.stats._groups import metric_interval
from fairskin.audits.stats._registry import GAPS, Gap, gap_terms, gap_value
from fairskin.settings import seed_stream

__all__ = ["fairness", "ratios", "gap_reading", "RATIO_METRICS"]

RATIO_METRICS = ("auroc", "sensitivity", "specificity", "ppv", "npv", "balanced_accuracy", "selection_rate")


def _rates(eng, model: str, keys: list, *, samples: bool):
    """rate -> per-group point values (k,) or samples (B, k); "fpr" is 1 - specificity."""
    src = eng.samples[model] if samples else eng.values[model]

    def get(k, rate):
        v = src[k]["specificity" if rate == "fpr" else rate]
        return 1 - np.asarray(v, float) if rate == "fpr" else np.asarray(v, float)

    rates = ("sensitivity", "fpr", "selection_rate", "auroc")
    if samples:
        return {r: np.column_stack([get(k, r) for k in keys]) for r in rates}
    return {r: np.array([get(k, r) for k in keys]) for r in rates}


def _floor_noise(eng, model: str, keys: list, vals: dict, samp: dict) -> dict:
    """Each group rate's resamples, replaced where their noise is narrower than the rate's own
    interval. A rate estimated at 0 or 1 (0 of 3 malignant detected; no false positive among 40
    benign) has no bootstrap noise at all, a rate on a handful of images too little, and a gap's
    extremum interval built from that noise missed both ways. Where the centred resamples'
    central range ``(q_a, q_{1-a})`` falls short of ``(v - hi, v - lo)`` (the noise the rate's own
    Wilson or DeLong interval allows, ``estimate - truth``) by more than 10% on either side, the
    column becomes split-normal noise with those two half-widths (so an estimate at 0 is noise
    towards higher truths only). An AUROC's resamples are replaced only when their spread is
    under half its interval's (symmetric noise then). Deterministic (seeded by the audit's seed)."""
    level = eng.cfg.ci_level
    a = (1 - level) / 2
    z = iv.z_value(level)
    rng = np.random.default_rng(seed_stream(eng.cfg.seed, 2))
    out = {}
    for rate, S in samp.items():
        S = S.copy()
        metric = "specificity" if rate == "fpr" else rate
        for j, k in enumerate(keys):
            v = vals[rate][j]
            if np.isnan(v):
                continue
            lo, hi, _ = metric_interval(eng, model, k, metric)
            if lo is None or hi is None:
                continue
            if rate == "fpr":
                lo, hi = 1 - hi, 1 - lo
            col = S[:, j]
            ok = ~np.isnan(col)
            if ok.sum() < 2:
                continue
            e_lo, e_hi = np.quantile(col[ok] - v, [a, 1 - a])
            need_lo, need_hi = v - hi, v - lo  # <= 0 <= need_hi
            Z = rng.standard_normal(len(col))
            if rate == "auroc":
                # a smooth statistic: its resamples have noise whenever both classes have two rows; only a
                # degenerate spread (one malignant image, or AUROC 1) is replaced, by symmetric noise (the
                # skewed interval's halves describe the truth given the estimate, not the estimate's spread,
                # and a worst-group minimum built from them missed low)
                if e_hi - e_lo >= 0.5 * (need_hi - need_lo):
                    continue
                noise = Z * (need_hi - need_lo) / (2 * z)
            elif e_lo <= 0.9 * need_lo and e_hi >= 0.9 * need_hi:
                continue
            else:
                noise = np.where(Z > 0, Z * need_hi, Z * -need_lo) / z
            S[:, j] = np.where(ok, v + noise, np.nan)
        out[rate] = S
    return out


def _overall(eng, model: str, *, samples: bool):
    src = (eng.samples if samples else eng.values)[model][("all", "all")]
    return {"sensitivity": np.asarray(src["sensitivity"], float), "fpr": 1 - np.asarray(src["specificity"], float),
            "selection_rate": np.asarray(src["selection_rate"], float)}


def _permutation_p_values(eng, model: str, keys: list) -> dict[str, float | None]:
    """Permutation tests of "no skin-type difference" for the threshold-rate gaps.

    Independent rows: shuffling the skin types among the malignant rows (and separately among
    the benign rows) keeps every group's size and positives and makes its true-positive count a
    multivariate hypergeometric draw, so ``n_boot`` permutations cost almost nothing; demographic
    parity shuffles over all rows. Clustered rows: whole clusters' skin types are shuffled (the
    unit that was sampled), for every gap. ``p = (1 + #{T* >= T}) / (1 + n_boot)``.
    """
    y = eng.y
    pred = eng.scores[model] >= eng.thresholds[model]
    idx = [eng.rows[k] for k in keys]
    B = eng.cfg.n_boot
    rng = np.random.default_rng(seed_stream(eng.cfg.seed, 1))
    group_of_row = np.full(len(y), -1)
    for g, i in enumerate(idx):
        group_of_row[i] = g
    G = len(keys)
    P = np.bincount(group_of_row[group_of_row >= 0], weights=y[group_of_row >= 0], minlength=G)

    def sums(gr, w):
        return np.bincount(gr, weights=w, minlength=G)

    inside = group_of_row >= 0
    gr = group_of_row[inside]
    yi, pi = y[inside], pred[inside]
    n = sums(gr, np.ones(len(gr)))
    N = n - P
    tp, fp = sums(gr, (yi & pi).astype(float)), sums(gr, (~yi & pi).astype(float))
    if eng.clustered:
        codes = eng.cluster_codes[inside]
        C = int(codes.max()) + 1 if len(codes) else 0
        cl = {name: np.bincount(codes, weights=w, minlength=C) for name, w in
              (("P", yi.astype(float)), ("n", np.ones(len(codes))), ("tp", (yi & pi).astype(float)),
               ("fp", (~yi & pi).astype(float)))}
        cg = np.zeros(C, int)
        cg[codes] = gr  # a cluster's group (the last row's: rows of a cluster share it in practice)
        perm = {k: np.empty((B, G)) for k in cl}
        for b in range(B):
            pg = rng.permutation(cg)
            for k, v in cl.items():
                perm[k][b] = np.bincount(pg, weights=v, minlength=G)
        tp_s, fp_s, P_s, n_s = perm["tp"], perm["fp"], perm["P"], perm["n"]
        sel_s = tp_s + fp_s
        kinds = {"permutation_within_label": "permutation", "permutation": "permutation"}
    else:
        tp_s = rng.multivariate_hypergeometric(P.astype(int), int(tp.sum()), size=B).astype(float)
        fp_s = rng.multivariate_hypergeometric(N.astype(int), int(fp.sum()), size=B).astype(float)
        sel_s = rng.multivariate_hypergeometric(n.astype(int), int(tp.sum() + fp.sum()), size=B).astype(float)
        P_s, n_s = np.broadcast_to(P, (B, G)), np.broadcast_to(n, (B, G))
        kinds = {"permutation_within_label": "permutation_within_label", "permutation": "permutation"}

    def rates(tp_, fp_, sel_, P_, n_):
        with np.errstate(invalid="ignore", divide="ignore"):
            N_ = n_ - P_
            return {"sensitivity": np.where(P_ > 0, tp_ / np.where(P_ > 0, P_, 1), np.nan),
                    "fpr": np.where(N_ > 0, fp_ / np.where(N_ > 0, N_, 1), np.nan),
                    "selection_rate": np.where(n_ > 0, sel_ / np.where(n_ > 0, n_, 1), np.nan)}

    overall = {"sensitivity": tp.sum() / P.sum() if P.sum() else np.nan,
               "fpr": fp.sum() / N.sum() if N.sum() else np.nan, "selection_rate": (tp + fp).sum() / n.sum()}
    obs = rates(tp, fp, tp + fp, P, n)
    perm_same = rates(tp_s, fp_s, tp_s + fp_s, P_s, n_s)  # within-label shuffles (TPR, FPR)
    perm_all = rates(tp_s, fp_s, sel_s, P_s, n_s)  # all-row shuffles (selection rate)
    out = {}
    for gap in GAPS:
        if gap.p_value not in kinds:
            continue
        t = gap_value(gap, obs, overall)
        if np.isnan(t):
            out[gap.key] = (None, None)
            continue
        s = np.asarray(gap_value(gap, perm_all if gap.p_value == "permutation" else perm_same,
                                 {k: np.full(B, v) for k, v in overall.items()}), float)
        s = s[~np.isnan(s)]
        out[gap.key] = (float((1 + np.count_nonzero(s >= t - 1e-12)) / (1 + len(s))), kinds[gap.p_value])
    return out


def _auroc_homogeneity(eng, model: str, keys: list) -> tuple[float | None, str | None]:
    """Cochran's Q test that every group has the same AUROC (independent groups; DeLong variances,
    or the cluster bootstrap's on clustered rows)."""
    from scipy import stats

    a, v = [], []
    for k in keys:
        auc, var = eng.delong[model][k]
        if eng.clustered and not np.isnan(auc):
            s = eng.samples[model][k]["auroc"]
            var = float(np.nanvar(s, ddof=1))
        if not np.isnan(auc):
            a.append(auc)
            v.append(var)
    if len(a) < 2:
        return None, "fewer than two groups with an AUROC"
    a, v = np.array(a), np.array(v)
    if (v <= 0).any():
        return None, "a group's AUROC has zero variance (perfect separation); no homogeneity test"
    w = 1 / v
    q = float((w * (a - (w * a).sum() / w.sum()) ** 2).sum())
    return float(stats.chi2.sf(q, len(a) - 1)), None


def _entry(gap: Gap, groups, value, lo, hi, *, p=None, p_method=None, delong=None, flags=(), reason=None,
           fairlearn=None) -> dict:
    undefined = value is None or (isinstance(value, float) and math.isnan(value))
    return {"name": gap.name, "method": gap.method, "agg": gap.agg, "groups": list(groups),
            "value": None if undefined else float(value), "ci_low": None if undefined else lo,
            "ci_high": None if undefined else hi, "ci_method": None if undefined else "extremum",
            "p_value": None if undefined else p, "p_value_holm": None,
            "p_value_delong": None if undefined else delong, "p_value_method": None if undefined else p_method,
            "flags": sorted(set(flags) | ({"undefined"} if undefined else set())) if undefined else list(flags),
            "reason": (reason or "fewer than two groups with the metric defined") if undefined else reason,
            "fairlearn": fairlearn}


def _argext(gap: Gap, vals: dict, names: list[str], overall: dict) -> tuple[str, ...]:
    """The groups that realise the gap (max and min group; the farthest from overall; the lowest)."""
    best = None
    for rate in gap.rates:
        v = vals[rate]
        ok = ~np.isnan(v)
        if not ok.any():
            continue
        if gap.kind == "range":
            hi, lo = int(np.nanargmax(v)), int(np.nanargmin(v))
            cand = (float(v[hi] - v[lo]), (names[hi], names[lo]))
        elif gap.kind == "to_overall":
            d = np.abs(v - overall[rate])
            i = int(np.nanargmax(d))
            cand = (float(d[i]), (names[i],))
        else:
            i = int(np.nanargmin(v))
            cand = (-float(v[i]), (names[i],))
        if best is None or cand[0] > best[0]:
            best = cand
    return best[1] if best else ()


def fairness(eng, model: str, level: str, groups_out: list[dict]) -> list[dict]:
    """The gap entries of one model across the groups of ``level``, with Holm-adjusted p-values
    over the family of this model's gap tests."""
    cfg = eng.cfg
    keys = [(lvl, g) for lvl, g, _ in eng.keys if lvl == level]
    names = [g for _, g in keys]
    unreliable = {e["group"] for e in groups_out if e["level"] == level and not e["reliable"]}
    vals, samp = _rates(eng, model, keys, samples=False), _rates(eng, model, keys, samples=True)
    samp = _floor_noise(eng, model, keys, vals, samp)
    ov, ovS = _overall(eng, model, samples=False), _overall(eng, model, samples=True)
    perm = _permutation_p_values(eng, model, keys)
    out = []
    for gap in GAPS:
        if gap.kind == "pair":
            out.append(_pair(eng, model, gap, groups_out))
            continue
        excluded = sorted({n for r in gap.rates for n, v in zip(names, vals[r]) if np.isnan(v)},
                          key=names.index)
        used = [n for n in names if n not in excluded]
        flags = (["groups_excluded"] if excluded else []) + (["unreliable_group"] if set(used) & unreliable else [])
        reason = f"left out (metric undefined): {', '.join(excluded)}" if excluded else None
        value = gap_value(gap, vals, ov)
        if np.isnan(value):
            out.append(_entry(gap, (), None, None, None, fairlearn=gap.fairlearn))
            continue
        lo, hi = _gap_interval(eng, model, gap, keys, vals, samp, ov, ovS, cfg.ci_level)
        if level in eng.corrected and gap.p_value is not None:
            # the tests must be of the corrected quantities the values are: a permutation of the
            # estimated types (or DeLong's variances of them) tests the uncorrected groups instead
            S = np.asarray(gap_value(gap, samp, ovS), float)
            p, p_method = bootstrap_p_value(value, S), "bootstrap"
        elif gap.p_value == "delong_chi2":
            p, why = _auroc_homogeneity(eng, model, [k for k, n in zip(keys, names) if n in used])
            p_method = gap.p_value if p is not None else None
            reason = "; ".join(x for x in (reason, why) if x) or None
        elif gap.p_value is None:
            p, p_method = None, None
        else:
            p, p_method = perm.get(gap.key, (None, None))
        fl = gap.fairlearn
        if fl and excluded:
            fl += (" (differs here: fairlearn counts an undefined rate as 0, fairskin leaves the group out; see "
                   "flags)")
        out.append(_entry(gap, _argext(gap, vals, names, ov), value, lo, hi, p=p, p_method=p_method, flags=flags,
                          reason=reason, fairlearn=fl))
    tested = sum(e["p_value"] is not None for e in out)
    simultaneous = 1 - (1 - cfg.ci_level) / max(tested, 1)
    for gap, e, adj in zip(GAPS, out, holm([e["p_value"] for e in out])):
        e["p_value_holm"] = adj
        lo = hi = None
        if e["value"] is not None and e["ci_low"] is not None:
            if gap.kind == "pair":
                lo, hi = _pair_interval(eng, model, gap, level=simultaneous)
            else:
                lo, hi = _gap_interval(eng, model, gap, keys, vals, samp, ov, ovS, simultaneous)
        e["ci_low_simultaneous"], e["ci_high_simultaneous"] = lo, hi
        e["ci_level_simultaneous"] = simultaneous if lo is not None else None
        e["evidence"], e["reading"] = gap_reading(e, ci_level=cfg.ci_level)
    return out


def _extremum_interval(gap: Gap, vals, samp, ov, ovS, level: float) -> tuple[float | None, float | None]:
    """A max-min, to-overall or worst-group gap's interval at ``level`` (:func:`._intervals.extremum`)."""
    terms, weights, bounds = gap_terms(gap, vals, samp, ov, ovS)
    lo, hi = iv.extremum(terms, weights=weights, bounds=bounds, level=level)
    if gap.kind == "min":
        lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
    return lo, hi


def _gap_interval(eng, model: str, gap: Gap, keys: list, vals, samp, ov, ovS, level: float
                  ) -> tuple[float | None, float | None]:
    """:func:`_extremum_interval`; for the worst group on skin types corrected for labelling error,
    its hull with :func:`._intervals.min_of_intervals` of the groups' own intervals (each group's
    lower bound at ``level``, its upper at ``1 - (1 - level) / k``): the recentred extremum assumes
    unbiased group estimates, and a moment correction on a small calibration set is not (the
    extremum alone covered 88% with 60 calibration images per type)."""
    lo, hi = _extremum_interval(gap, vals, samp, ov, ovS, level)
    if gap.kind != "min" or lo is None or not keys or keys[0][0] not in eng.corrected:
        return lo, hi
    rate = gap.rates[0]
    used = [k for k, v in zip(keys, vals[rate]) if not np.isnan(v)]
    upper = 1 - (1 - level) / max(len(used), 1)
    lows = [metric_interval(eng, model, k, rate, level=level)[0] for k in used]
    highs = [metric_interval(eng, model, k, rate, level=upper)[1] for k in used]
    blo, bhi = iv.min_of_intervals(lows, highs)
    if blo is None:
        return lo, hi
    return min(lo, blo), max(hi, bhi)


def _pair_interval(eng, model: str, gap: Gap, *, level: float) -> tuple[float | None, float | None]:
    """The AUROC pair gap's interval at ``level`` (MOVER, or the paired resamples' percentile)."""
    light, dark = ("group", eng.scale.lightest_group), ("group", eng.scale.darkest_group)
    if eng.bootstrap_only:
        S = eng.samples[model][light]["auroc"] - eng.samples[model][dark]["auroc"]
        return iv.percentile(S, level=level)
    a, b = eng.values[model][light]["auroc"], eng.values[model][dark]["auroc"]
    ia = metric_interval(eng, model, light, "auroc", level=level)
    ib = metric_interval(eng, model, dark, "auroc", level=level)
    lo, hi = iv.mover_difference(a, ia[:2], b, ib[:2])
    return (None, None) if lo is None else (max(lo, -1.0), min(hi, 1.0))


def _pair(eng, model: str, gap: Gap, groups_out: list[dict]) -> dict:
    """AUROC(I-II) - AUROC(V-VI): two independent groups. Interval: MOVER from the groups' own
    logit-DeLong intervals (percentile of the paired resamples on clustered rows); p-value:
    DeLong's test (the centred bootstrap test on clustered rows)."""
    pair = (eng.scale.lightest_group, eng.scale.darkest_group)  # I-II and V-VI; MST 1-3 and 8-10
    light, dark = ("group", pair[0]), ("group", pair[1])
    vals = eng.values[model]
    miss = [g for k, g in ((light, pair[0]), (dark, pair[1]))
            if k not in vals or math.isnan(vals[k]["auroc"])]
    if miss:
        return _entry(gap, pair, None, None, None, reason=f"AUROC not available for {', '.join(miss)}")
    a, b = vals[light]["auroc"], vals[dark]["auroc"]
    flags = ["unreliable_group"] if set(pair) & {e["group"] for e in groups_out
                                                      if e["level"] == "group" and not e["reliable"]} else []
    lo, hi = _pair_interval(eng, model, gap, level=eng.cfg.ci_level)
    if eng.bootstrap_only:
        S = eng.samples[model][light]["auroc"] - eng.samples[model][dark]["auroc"]
        entry = _entry(gap, pair, a - b, lo, hi, p=bootstrap_p_value(a - b, S), p_method="bootstrap",
                       flags=flags)
        entry["ci_method"] = "percentile"
        return entry
    if lo is None:
        return _entry(gap, pair, None, None, None, reason=f"no interval for the AUROC of {pair[0]} or {pair[1]}")
    il, idk = eng.rows[light], eng.rows[dark]
    s = eng.scores[model]
    p = delong_test(s[il], eng.y[il], s[idk], eng.y[idk])
    entry = _entry(gap, pair, a - b, lo, hi, p=p, p_method="delong", delong=p, flags=flags)
    entry["ci_method"] = "mover"
    return entry


def ratios(eng, model: str, level: str, reference: str, groups_out: list[dict]) -> list[dict]:
    """metric(group) / metric(reference) for each other group of ``level``: MOVER-R from the two
    groups' own intervals (the percentile of resampled ratios on clustered rows); p-value: the
    centred bootstrap test of ratio = 1; Holm-adjusted within each metric's family."""
    cfg = eng.cfg
    lo_b, hi_b = cfg.ratio_bounds
    unreliable = {e["group"] for e in groups_out if e["level"] == level and not e["reliable"]}
    ref = (level, reference)
    out = []
    for lvl, g, _ in eng.keys:
        if lvl != level or g == reference:
            continue
        for m in RATIO_METRICS:
            a, b = eng.values[model][(lvl, g)][m], eng.values[model][ref][m]
            flags = ["unreliable_group"] if {g, reference} & unreliable else []
            if math.isnan(a) or math.isnan(b) or b == 0:
                out.append({"group": g, "reference": reference, "metric": m, "value": None, "ci_low": None,
                            "ci_high": None, "ci_method": None, "p_value": None, "p_value_holm": None,
                            "flags": ["undefined"] + flags,
                            "reason": f"{m} is undefined or zero for {g if math.isnan(a) else reference}"})
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                S = eng.samples[model][(lvl, g)][m] / eng.samples[model][ref][m]
            S = np.where(np.isfinite(S), S, np.nan)
            r = a / b
            if eng.bootstrap_only:
                (lo, hi), method = iv.percentile(S, level=cfg.ci_level), "percentile"
            else:
                ia = metric_interval(eng, model, (lvl, g), m)
                ib = metric_interval(eng, model, ref, m)
                (lo, hi), method = iv.mover_ratio(a, ia[:2], b, ib[:2]), "mover"
            if not lo_b <= r <= hi_b:
                flags.insert(0, "outside_bounds")
            out.append({"group": g, "reference": reference, "metric": m, "value": r, "ci_low": lo, "ci_high": hi,
                        "ci_method": method, "p_value": bootstrap_p_value(r, S, null=1.0), "p_value_holm": None,
                        "flags": flags, "reason": None})
    for m in RATIO_METRICS:
        fam = [e for e in out if e["metric"] == m]
        for e, adj in zip(fam, holm([e["p_value"] for e in fam])):
            e["p_value_holm"] = adj
    return out


def gap_reading(gap: dict, *, ci_level: float = 0.95) -> tuple[str, str]:
    """How to read one gap entry, in the words every output uses. One rule that cannot contradict
    the interval printed beside it: ``"gap"`` when the Holm-adjusted p-value is below
    ``1 - ci_level`` *and* the simultaneous interval (Bonferroni over the family's tested gaps,
    ``ci_low_simultaneous``..``ci_high_simultaneous``) excludes 0; ``"no_evidence"`` when neither
    says so; ``"inconclusive"`` when the two disagree (the step-down test can reject where the
    simultaneous interval still touches 0, and a resampling interval can exclude 0 where the
    permutation test does not); ``"estimate"`` untested; ``"undefined"`` without a value. A gap
    without evidence is never shown as a pass: it may be real and undetected."""
    if gap.get("value") is None:
        return "undefined", gap.get("reason") or "undefined"
    if gap.get("name") == "worst_group_auroc":
        ci = "" if gap.get("ci_low") is None else f" (CI {gap['ci_low']:.3f} to {gap['ci_high']:.3f})"
        return "estimate", f"lowest group AUROC {gap['value']:.3f}{ci}"
    p = gap.get("p_value_holm", gap.get("p_value"))
    lo, hi = gap.get("ci_low_simultaneous"), gap.get("ci_high_simultaneous")
    if lo is None:  # a version-2 entry without simultaneous bounds: the plain interval
        lo, hi = gap.get("ci_low"), gap.get("ci_high")
        which = "CI"
    else:
        which = f"simultaneous {gap['ci_level_simultaneous']:.1%} CI"
    ci = "" if lo is None else f"{which} {lo:.3f} to {hi:.3f}"
    if p is None:
        return "estimate", f"{gap['value']:.3f}" + (f" ({ci})" if ci else "") + "; not tested"
    excludes = lo is not None and (lo > 0 or hi < 0)
    tail = f"{ci}; Holm-adjusted p = {p:.3g}"
    if p < 1 - ci_level and excludes:
        return "gap", f"gap {gap['value']:.3f} ({tail})"
    if p >= 1 - ci_level and not excludes:
        return "no_evidence", f"no evidence of a gap ({tail})"
    return "inconclusive", f"not conclusive: the Holm-adjusted test and the simultaneous interval disagree ({tail})"
