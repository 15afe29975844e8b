"""Synthesis against the best cheap fix: does a generator beat what a lab would try first?

Both sides are chosen inside each bootstrap replicate, so the interval carries the choice: in a
replicate (the same resampled test rows for every arm, each arm's seeds redrawn, as in
``_stats``), the best cheap fix is the cheap-fix arm with the highest AUROC on the target group
(FST V-VI) and the best synthesis the synthetic arm with the highest; the replicate's value is
their difference. The point value is the same difference of the seed-pooled AUROCs. A
per-replicate maximum over several arms lies above the maximum of their pooled values, and more so
the more arms it is taken over: with more cheap-fix arms than synthetic ones (five against one in
the demo) the interval leans against synthesis, so a "yes" is conservative. Each synthetic arm is
also given against the best cheap fix alone.

The answer: "yes" when the interval lies above 0, "no" when it lies below 0 (the best cheap fix
did better), "unclear" when it holds 0, and "inconclusive" when the target group's test set is
too small to judge (the audit's sample-size rule) or either side has no arm.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["ANSWERS", "synthesis_vs_cheap_fix", "versus_sentence"]

ANSWERS = {"yes": "synthesis beat the best cheap fix", "no": "the best cheap fix beat synthesis",
           "unclear": "synthesis and the best cheap fix could not be told apart",
           "inconclusive": "no answer"}


def _best(pooled: Mapping, arms: list[str], key) -> tuple[str, float, np.ndarray]:
    """The arm with the highest point value, and the per-replicate maximum over ``arms``."""
    points = [pooled[a][key]["auroc"][0] for a in arms]
    reps = np.stack([pooled[a][key]["auroc"][1] for a in arms])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best_rep = np.nanmax(reps, axis=0)
    finite = [p if not math.isnan(p) else -math.inf for p in points]
    i = int(np.argmax(finite))
    return arms[i], max(finite), best_rep


def synthesis_vs_cheap_fix(pooled: Mapping, families: Mapping[str, str], *, group: str, too_small: str | None,
                           ci: Any, ci_level: float) -> dict[str, Any]:
    """experiment.json's ``statistics.synthesis_vs_cheap_fix``. ``pooled[arm][(level, group)][metric]``
    is (point, replicates, per seed) from ``_stats``; ``ci(samples, level)`` a percentile interval."""
    syn = [a for a, f in families.items() if f == "synthetic" and a in pooled]
    cheap = [a for a, f in families.items() if f == "cheap_fix" and a in pooled]
    out: dict[str, Any] = {"metric": "auroc", "group": group, "synthetic_arms": syn, "cheap_fix_arms": cheap,
                           "method": "difference of the per-replicate best synthetic arm and best cheap-fix arm "
                                     "(two-level bootstrap, paired test rows)", "ci_level": ci_level}
    key = next((k for a in pooled for k in pooled[a] if k[1] == group), None)
    if not syn or not cheap or key is None:
        missing = ("no synthetic arm" if not syn else "no cheap-fix arm" if not cheap else f"no group {group}")
        return {**out, "answer": "inconclusive", "reason": f"{missing} was run", "delta": None, "ci_low": None,
                "ci_high": None, "per_synthetic_arm": []}
    best_cheap, cheap_point, cheap_rep = _best(pooled, cheap, key)
    best_syn, syn_point, syn_rep = _best(pooled, syn, key)

    def diff(point, rep):
        if not (math.isfinite(point) and math.isfinite(cheap_point)):
            return None, None, None
        lo, hi = ci(rep - cheap_rep, ci_level)
        return float(point - cheap_point), lo, hi

    delta, lo, hi = diff(syn_point, syn_rep)
    per_arm = []
    for a in syn:
        p, r, _ = pooled[a][key]["auroc"]
        d, dlo, dhi = diff(p, r)
        per_arm.append({"arm": a, "auroc": None if math.isnan(p) else float(p), "delta": d, "ci_low": dlo,
                        "ci_high": dhi})
    if delta is None or lo is None or hi is None:
        answer, reason = "inconclusive", f"AUROC on {group} is undefined for an arm"
    elif too_small:
        answer, reason = "inconclusive", too_small
    else:
        answer = "yes" if lo > 0 else "no" if hi < 0 else "unclear"
        reason = f"the {ci_level:.0%} interval of the difference is {lo:+.3f} to {hi:+.3f}"
    return {**out, "best_cheap_fix": best_cheap, "best_cheap_fix_auroc": float(cheap_point),
            "best_synthetic": best_syn, "best_synthetic_auroc": float(syn_point), "delta": delta, "ci_low": lo,
            "ci_high": hi, "answer": answer, "answer_text": ANSWERS[answer], "reason": reason,
            "per_synthetic_arm": per_arm}


def versus_sentence(v: Mapping[str, Any]) -> str:
    """The one sentence the experiment report opens with."""
    if v.get("delta") is None:
        return f"Synthesis vs the best cheap fix: no answer ({v.get('reason')})."
    ci = f"{v['ci_low']:+.3f} to {v['ci_high']:+.3f}" if v.get("ci_low") is not None else "n/a"
    head = {"yes": "Synthesis beat the best cheap fix", "no": "Synthesis did not beat the best cheap fix",
            "unclear": "Synthesis did not clearly beat the best cheap fix"}.get(v["answer"],
                                                                              "Synthesis vs the best cheap fix: "
                                                                              "inconclusive")
    tail = f" ({v['reason']})" if v["answer"] == "inconclusive" else ""
    return (f"{head}{tail}: AUROC on FST {v['group']} {v['best_synthetic_auroc']:.3f} ({v['best_synthetic']}) vs "
            f"{v['best_cheap_fix_auroc']:.3f} ({v['best_cheap_fix']}), difference {v['delta']:+.3f} "
            f"({v.get('ci_level', 0.95):.0%} CI {ci}; both sides chosen per bootstrap replicate).")
