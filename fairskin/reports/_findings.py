"""The two questions of an experiment in words: does the baseline model fail on dark skin, and
did the synthetic images change that? Shared by the experiment report's summary and the demo's
index page, so both say the same thing from the same numbers.

Every statement follows the statistics: a comparison whose interval crosses a bound is "not
conclusive" (never styled pass or fail); a difference without a test behind it is given with its
intervals and called untested, never "better" or "worse".

Inputs: the ``fairskin.experiment/1`` dict, plus its optional ``context`` block
(``docs/report-inputs.md``): ``baseline_gap`` (the per-seed audits' AUROC gap test of the
baseline arm), ``synthetic_audit`` (the synthetic-image audit's flags) and ``synthetic_origin``
(what made the images of a given manifest).
"""

from __future__ import annotations

from collections.abc import Mapping

from fairskin.reports._html import fmt_ci, metric_parts
from fairskin.skintone import GROUP_NAMES

__all__ = ["REF_GROUP", "DARK_GROUP", "conclusive", "verdict_display", "group_metric", "baseline_gap_lines",
           "change_lines", "paired_change", "rel_pct", "synthetic_lines"]

REF_GROUP, DARK_GROUP = GROUP_NAMES[0], GROUP_NAMES[-1]  # the lightest and the darkest group
_WORDS = {"pass": "passes the criteria", "fail": "fails the criteria"}


def conclusive(c: Mapping) -> bool:
    """The comparison's own ``conclusive`` (experiment files before it was written: every criterion confident)."""
    if "conclusive" in c:
        return bool(c["conclusive"])
    crit = c.get("criteria") or []
    return bool(crit) and all(cr.get("confident") for cr in crit)


def verdict_display(c: Mapping) -> tuple[str, str]:
    """(words, css class) of a comparison's verdict: pass/fail colours only when conclusive."""
    v = str(c.get("verdict"))
    if v in _WORDS and conclusive(c):
        return _WORDS[v], v
    if v in _WORDS:
        return f"not conclusive (the point estimates {'pass' if v == 'pass' else 'fail'} the criteria, but not with " \
               "confidence: an interval crosses a bound or a group is too small to judge)", "neutral"
    return str(c.get("verdict_title") or v), "neutral"


def group_metric(stats: Mapping, arm: str, group: str, metric: str) -> Mapping | None:
    for g in (stats.get("arms") or {}).get(arm, {}).get("groups") or []:
        if g.get("group") == group:
            return (g.get("metrics") or {}).get(metric)
    return None


def _ci(m) -> str:
    return fmt_ci(m).replace("\u2013", " to ").replace("(", "(95% CI ")


def baseline_gap_lines(data: Mapping) -> list[str]:
    """What the baseline arm does per skin-type group, and whether its I-II vs V-VI gap was tested."""
    stats = data.get("statistics") or {}
    base = data.get("baseline") or next(iter(stats.get("arms") or {}), None)
    if base is None:
        return []
    ref, dark = (group_metric(stats, base, g, "auroc") for g in (REF_GROUP, DARK_GROUP))
    rv, dv = metric_parts(ref)[0], metric_parts(dark)[0]
    if rv is None or dv is None:
        return [f"Baseline ({base}): AUROC on FST {DARK_GROUP} or {REF_GROUP} is undefined (too few images of a class)."]
    seeds = (stats.get("arms") or {}).get(base, {}).get("n_seeds")
    lines = [f"Baseline model ({base} images only{f', mean of {seeds} seeds' if seeds else ''}): AUROC {_ci(ref)} on "
             f"FST {REF_GROUP} and {_ci(dark)} on FST {DARK_GROUP}, {abs(rv - dv):.2f} "
             f"{'lower' if dv < rv else 'higher'} on dark skin."]
    gap = (data.get("context") or {}).get("baseline_gap")
    tests = [t for t in (gap or {}).get("seeds") or [] if t.get("value") is not None]
    if tests:
        n_gap = sum(t.get("evidence") == "gap" for t in tests)
        each = "; ".join(f"seed {t.get('seed')}: {t['value']:+.2f} ({t.get('reading') or t.get('evidence')})"
                         for t in tests)
        if n_gap == len(tests):
            head = f"The audit finds a gap (AUROC {REF_GROUP} minus {DARK_GROUP}) in every one of the {len(tests)} baseline models"
        elif n_gap == 0:
            head = (f"The audit finds no evidence of a gap (AUROC {REF_GROUP} minus {DARK_GROUP}) in any of the "
                    f"{len(tests)} baseline models, which is not evidence of no gap: read the intervals")
        else:
            head = f"The audit finds a gap (AUROC {REF_GROUP} minus {DARK_GROUP}) in {n_gap} of the {len(tests)} baseline models"
        lines.append(f"{head}: {each}.")
    else:
        lines.append(f"Not tested here: this experiment.json carries no test of the {REF_GROUP} vs {DARK_GROUP} gap "
                     "(run fairskin audit on the baseline model for one); the intervals above are per group.")
    sens = [group_metric(stats, base, g, "sensitivity") for g in (REF_GROUP, DARK_GROUP)]
    if all(metric_parts(s)[0] is not None for s in sens):
        lines.append(f"At threshold {stats.get('threshold', 0.5):g} the baseline catches "
                     f"{metric_parts(sens[1])[0]:.0%} of malignant lesions on FST {DARK_GROUP} "
                     f"(95% CI {_pct_range(sens[1])}) against {metric_parts(sens[0])[0]:.0%} on FST {REF_GROUP} "
                     f"({_pct_range(sens[0])}).")
    return lines


def _pct_range(m) -> str:
    _, lo, hi = metric_parts(m)
    return "n/a" if lo is None or hi is None else f"{lo:.0%} to {hi:.0%}"


def rel_pct(x) -> str:
    """A relative change as a signed percentage; small ones keep a decimal (no "-0%")."""
    if x is None:
        return "n/a"
    v = 100 * float(x)
    return f"{v:+.1f}%" if abs(v) < 1 else f"{v:+.0f}%"


def paired_change(d: Mapping | None, *, higher_is_better: bool = True) -> tuple[str, str] | None:
    """(words, css class) of one paired change (``baseline``, ``candidate``, ``delta`` and its
    interval): "fell from 0.61 to 0.55 (-0.06, paired 95% CI -0.15 to +0.03; not conclusive: ...)".
    The class is "pass" or "fail" only when the interval excludes 0 (better or worse, by
    ``higher_is_better``), else "neutral"; None when the file holds no such change."""
    if not d or d.get("delta") is None or d.get("baseline") is None or d.get("candidate") is None:
        return None
    delta, lo, hi = float(d["delta"]), d.get("ci_low"), d.get("ci_high")
    verb = "fell" if delta < 0 else "rose" if delta > 0 else "did not change"
    if lo is None or hi is None:
        ci, reading, cls = "", "no interval", "neutral"
    else:
        ci = f", paired 95% CI {lo:+.2f} to {hi:+.2f}"
        sure = lo > 0 or hi < 0
        reading = "the interval excludes 0" if sure else "not conclusive: the interval crosses 0"
        cls = ("pass" if (delta > 0) == higher_is_better else "fail") if sure else "neutral"
    return f"{verb} from {d['baseline']:.2f} to {d['candidate']:.2f} ({delta:+.2f}{ci}; {reading})", cls


def change_lines(data: Mapping, c: Mapping) -> list[str]:
    """What one comparison changed: the target criterion's group and metric (with its paired
    interval and the verdict), then sensitivity on dark skin and the equalized-odds difference:
    their paired change with its interval where the comparison holds one (:func:`paired_change`),
    else both arms' values with intervals and no direction claimed (older experiment files)."""
    stats = data.get("statistics") or {}
    base, cand = c.get("baseline"), c.get("candidate")
    target = next((cr for cr in c.get("criteria") or [] if cr.get("kind") == "min_relative_gain"), None)
    target = target or (c.get("criteria") or [None])[0]
    group = target["group"] if target else DARK_GROUP
    metric = target["metric"] if target else "auroc"
    name = metric.upper() if metric == "auroc" else metric
    words, _ = verdict_display(c)
    d = next((x for x in c.get("deltas") or [] if x.get("group") == group and x.get("metric") == metric), None)
    head = f"{cand} vs {base}: "
    if d is None or d.get("baseline") is None or d.get("candidate") is None:
        first = head + f"{name} on FST {group} is undefined; verdict: {words}."
    else:
        family = (data.get("arm_families") or {}).get(cand, "synthetic")
        what = ("adding synthetic images" if family == "synthetic" else
                f"the cheap fix {cand} (no synthetic image)" if family == "cheap_fix" else f"arm {cand}")
        first = (head + f"{what} changed {name} on FST {group} from {d['baseline']:.2f} to "
                 f"{d['candidate']:.2f}, {rel_pct(d.get('relative'))} relative (CI {rel_pct(d.get('relative_ci_low'))} to "
                 f"{rel_pct(d.get('relative_ci_high'))}); verdict: {words}.")
    lines = [first]
    sd = next((x for x in c.get("deltas") or [] if x.get("group") == DARK_GROUP and x.get("metric") == "sensitivity"),
              None)
    sens, eod = paired_change(sd), paired_change(c.get("eod_change"), higher_is_better=False)
    sb, sc = (group_metric(stats, a, DARK_GROUP, "sensitivity") for a in (base, cand))
    if sens is not None:
        lines.append(f"Sensitivity on FST {DARK_GROUP} (malignant lesions caught), {cand} vs {base}: {sens[0]}.")
    elif metric_parts(sb)[0] is not None and metric_parts(sc)[0] is not None:
        lines.append(f"Sensitivity on FST {DARK_GROUP} (malignant lesions caught): {base} {_ci(sb)}, {cand} {_ci(sc)}; "
                     "the change has no paired test in this file, so read the overlap of the intervals.")
    eb, ec = ((stats.get("arms") or {}).get(a, {}).get("equalized_odds_difference") for a in (base, cand))
    if eod is not None:
        lines.append(f"Equalized-odds difference (largest gap in sensitivity or false-positive rate between skin-type "
                     f"groups; lower is fairer), {cand} vs {base}: {eod[0]}.")
    elif metric_parts(eb)[0] is not None and metric_parts(ec)[0] is not None:
        lines.append(f"Equalized-odds difference (largest gap in sensitivity or false-positive rate between skin-type "
                     f"groups; lower is fairer): {base} {_ci(eb)}, {cand} {_ci(ec)}; not tested as a change.")
    return lines


def synthetic_lines(data: Mapping) -> list[str]:
    """Where the synthetic images came from and what their own audit flagged."""
    ctx = data.get("context") or {}
    out = []
    origin = ctx.get("synthetic_origin") or {}
    if origin:
        out.append(f"The synthetic images were made by {origin.get('made_by')}: {origin.get('accepted')} of "
                   f"{origin.get('generated')} generated images passed the ITA gate.")
    aud = ctx.get("synthetic_audit") or {}
    if aud.get("cells"):
        k = int(aud.get("mode_collapse") or 0)
        which = ", ".join(map(str, (aud.get("mode_collapse_cells") or [])[:8]))
        out.append(f"The synthetic-image audit flags mode collapse (too little variety) in {k} of {aud['cells']} "
                   f"cells{f' ({which})' if which and k else ''}." if k else
                   f"The synthetic-image audit flags no mode collapse in its {aud['cells']} cells.")
    return out
