"""Comparing a candidate model with a baseline: paired deltas per group and metric, criteria, and a
verdict that never claims more than its intervals support.

The verdict rule is shared with ``fairskin experiment`` (:func:`judge`): a criterion is
*confident* only when its whole interval lies on one side of its bound and its group is large
enough to judge; the verdict is ``pass``/``fail`` on the observed values and ``conclusive`` only
when every criterion that decides it is confident."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from fairskin.audits.stats import bootstrap_p_value, holm
from fairskin.audits.stats import percentile
from fairskin.audits.stats import METRICS
from fairskin.skintone import FITZPATRICK, GROUP_NAMES, ROMAN, ToneScale
from fairskin.errors import InputError

__all__ = ["Criterion", "COMPARE_METRICS", "make_criteria", "default_criteria", "check_metric", "comparison",
           "judge_criterion", "judge", "criterion_reading"]

COMPARE_METRICS = ("auroc", "auprc", "sensitivity", "specificity", "balanced_accuracy", "ece")
#: relative AUROC gain required on the darkest group, and largest drop allowed on I-III (defaults)
MIN_GAIN, MAX_DROP = 0.10, 0.02


@dataclass(frozen=True)
class Criterion:
    """One condition a candidate model must meet against the baseline (relative change of a metric)."""

    name: str
    group: str
    metric: str = "auroc"
    kind: Literal["min_relative_gain", "max_relative_drop"] = "min_relative_gain"
    bound: float = 0.10
    description: str = ""

    def passes(self, relative: float) -> bool:
        if self.kind == "min_relative_gain":
            return relative >= self.bound
        return relative >= -self.bound


def check_metric(metric: str, arg: str) -> None:
    if metric not in METRICS:
        import difflib

        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"{arg}: unknown metric {metric!r}; expected one of {', '.join(METRICS)}.{hint}")


def make_criteria(*, gain_groups: Sequence[str], drop_groups: Sequence[str], min_gain: float = MIN_GAIN,
                  max_drop: float = MAX_DROP, metric: str = "auroc") -> tuple[Criterion, ...]:
    """Criteria "``metric`` up by >= ``min_gain`` (relative) on each gain group, and down by no more
    than ``max_drop`` (relative) on each drop group"."""
    check_metric(metric, "metric")
    out = [Criterion(f"{metric}_gain_{g}", g, metric, "min_relative_gain", min_gain,
                     f"{metric.upper()} on {g} up by at least {min_gain:.0%} (relative)") for g in gain_groups]
    out += [Criterion(f"{metric}_no_drop_{g}", g, metric, "max_relative_drop", max_drop,
                      f"{metric.upper()} on {g} down by no more than {max_drop:.0%} (relative)") for g in drop_groups]
    return tuple(out)


def default_criteria(group_level: Literal["type", "group"], *, min_gain: float = MIN_GAIN,
                     max_drop: float = MAX_DROP, scale: ToneScale = FITZPATRICK) -> tuple[Criterion, ...]:
    """The augmentation literature's criteria: AUROC on FST V-VI up by >= 10% relative and no
    group within FST I-III down by more than 2% relative (types I, II, III; or groups I-II and
    III-IV when only groups are known). On another tone scale (Monk): AUROC on its darkest group
    (8-10) up, and no tone (or group) outside it down."""
    dark = scale.darkest_group
    if scale is FITZPATRICK:
        drop = ROMAN[:3] if group_level == "type" else GROUP_NAMES[:2]  # types I-III
    else:
        drop = tuple(g for g in scale.groups if g != dark) if group_level == "group" else \
            tuple(scale.label(t) for t in scale.tones if t not in scale.groups[dark])
    return make_criteria(gain_groups=(dark,), drop_groups=drop, min_gain=min_gain, max_drop=max_drop)


def judge_criterion(c: Criterion, delta: Mapping[str, Any] | None, *, too_small: str | None = None) -> dict:
    """One criterion's entry: observed relative change, its interval, passed, confident, reason."""
    entry = {"name": c.name, "description": c.description, "group": c.group, "metric": c.metric, "kind": c.kind,
             "bound": c.bound}
    if delta is None or delta.get("relative") is None or math.isnan(delta["relative"]):
        entry.update(observed=None, ci_low=None, ci_high=None, passed=None, confident=None,
                     reason=f"{c.group} not audited or {c.metric} undefined")
        return entry
    ok = c.passes(delta["relative"])
    lo, hi = delta.get("relative_ci_low"), delta.get("relative_ci_high")
    if lo is None or hi is None:
        sure, why = False, "no interval"
    else:
        sure = c.passes(lo) if ok else not c.passes(hi)
        why = None if sure else f"the {c.metric} interval ({lo:+.1%} to {hi:+.1%}) crosses the bound"
    if too_small:
        sure, why = False, too_small
    entry.update(observed=delta["relative"], ci_low=lo, ci_high=hi, passed=ok, confident=sure, reason=why)
    return entry


def judge(criteria_out: Sequence[dict]) -> tuple[str, bool, str]:
    """(verdict, conclusive, reason) from judged criteria: ``pass`` when every criterion passes on
    its observed value, ``fail`` when any fails, ``undefined`` when one cannot be evaluated;
    ``conclusive`` only when each criterion that decides the verdict is confident (every one for
    a pass; the failing ones for a fail)."""
    if any(c["passed"] is None for c in criteria_out):
        return "undefined", False, "cannot evaluate: " + ", ".join(
            f"{c['name']} ({c.get('reason') or 'undefined'})" for c in criteria_out if c["passed"] is None)
    if all(c["passed"] for c in criteria_out):
        deciding = list(criteria_out)
        verdict, reason = "pass", f"all {len(criteria_out)} criteria met"
    else:
        deciding = [c for c in criteria_out if not c["passed"]]
        verdict = "fail"
        reason = "not met: " + "; ".join(c["description"] or c["name"] for c in deciding)
    conclusive = all(c["confident"] for c in deciding)
    if not conclusive:
        reason += "; not conclusive: " + "; ".join(
            f"{c['name']}: {c.get('reason') or 'interval crosses the bound'}" for c in deciding if not c["confident"])
    others = [c for c in criteria_out if c not in deciding and not c["confident"]]
    if others:  # e.g. a no-drop criterion met on its point value whose interval crosses its bound
        reason += "; also not conclusive: " + "; ".join(
            f"{c['name']}: {c.get('reason') or 'interval crosses the bound'}" for c in others)
    return verdict, conclusive, reason


def criterion_reading(c: Mapping[str, Any]) -> str:
    """One criterion in words: "met", "not met", or "not conclusive" (its interval crosses the
    bound, or its group is too small) whatever its point value says; "undefined"."""
    if c.get("passed") is None:
        return "undefined"
    if not c.get("confident"):
        return "not conclusive (" + ("met" if c["passed"] else "not met") + " on the point value)"
    return "met" if c["passed"] else "not met"


def comparison(eng, base: str, cand: str, criteria: Sequence[Criterion], n_common: int,
               groups_out: Sequence[dict]) -> dict:
    """Paired deltas (candidate - baseline) per group and metric on the shared resamples, the
    criteria and the verdict. Deltas' p-values are Holm-adjusted over the comparison's family."""
    cfg = eng.cfg
    deltas = []
    by_group = {}
    for lvl, g, _ in eng.keys:
        for m in COMPARE_METRICS:
            a, b = eng.values[base][(lvl, g)][m], eng.values[cand][(lvl, g)][m]
            Sa, Sb = eng.samples[base][(lvl, g)][m], eng.samples[cand][(lvl, g)][m]
            e = {"group": g, "level": lvl, "metric": m, "baseline": a, "candidate": b}
            if math.isnan(a) or math.isnan(b):
                e.update(delta=None, ci_low=None, ci_high=None, relative=None, relative_ci_low=None,
                         relative_ci_high=None, ci_method=None, p_value=None, p_value_holm=None, flags=["undefined"])
            else:
                d, S = b - a, Sb - Sa
                lo, hi = percentile(S, level=cfg.ci_level)
                with np.errstate(divide="ignore", invalid="ignore"):
                    R = np.where(Sa != 0, S / Sa, np.nan)
                rel = d / a if a != 0 else float("nan")
                rlo, rhi = percentile(R, level=cfg.ci_level)
                e.update(delta=d, ci_low=lo, ci_high=hi, relative=rel, relative_ci_low=rlo, relative_ci_high=rhi,
                         ci_method="percentile", p_value=bootstrap_p_value(d, S), p_value_holm=None, flags=[])
            deltas.append(e)
            by_group[(g, m)] = e
    for e, adj in zip(deltas, holm([e["p_value"] for e in deltas])):
        e["p_value_holm"] = adj
    flagged = {e["group"]: e["flags"] for e in groups_out if not e["reliable"]}
    crit_out = []
    for c in criteria:
        small = None
        if c.group in flagged:
            small = f"group {c.group} is too small to judge ({', '.join(flagged[c.group]).replace('_', ' ')})"
        crit_out.append(judge_criterion(c, by_group.get((c.group, c.metric)), too_small=small))
    verdict, conclusive, reason = judge(crit_out)
    return {"baseline": base, "candidate": cand, "paired": True, "n_common": n_common, "deltas": deltas,
            "criteria": crit_out, "verdict": verdict, "conclusive": conclusive, "verdict_reason": reason,
            "verdict_title": verdict_title(verdict, conclusive)}


def verdict_title(verdict: str, conclusive: bool) -> str:
    """``PASS``/``FAIL``/``UNDEFINED``, with "not conclusive" when an interval or a group's size
    does not support it (the words the CLI, the reports and the experiment show)."""
    v = str(verdict).upper()
    if verdict in ("pass", "fail") and not conclusive:
        return f"{v} on the point estimates, NOT CONCLUSIVE"
    return v
