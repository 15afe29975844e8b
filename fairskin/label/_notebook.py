"""A labelling run in a notebook: tidy rows, a short repr and an HTML card (``fairskin.notebook``)."""

from __future__ import annotations

import pandas as pd

from fairskin.notebook import fmt_interval, html_card, tidy_frame

__all__ = ["label_frame", "label_repr", "label_html"]

_AGREEMENT = ("exact", "within_one", "weighted_kappa")


def _name(result) -> str:
    return (result.summary.get("estimator") or {}).get("name") or "ita"


def label_frame(result) -> pd.DataFrame:
    """Images per estimated tone (``images``, ``share``), then, where the data carry a human's
    type, the agreement with it (group ``all``: exact, within one, weighted kappa, with intervals)."""
    s, model = result.summary, _name(result)
    est = (s.get("fst_distribution") or {}).get("estimated") or {}
    total = sum(est.values())
    rows = []
    for tone, n in est.items():
        rows.append({"model": model, "group": str(tone), "metric": "images", "value": n})
        rows.append({"model": model, "group": str(tone), "metric": "share", "value": n / total if total else None})
    a = s.get("agreement") or {}
    for k in _AGREEMENT:
        if k in a:
            ci = a.get(f"{k}_ci") or (None, None)
            rows.append({"model": model, "group": "all", "metric": f"agreement_{k}", "value": a[k], "low": ci[0],
                         "high": ci[1], "flags": ["in_sample"] if a.get("in_sample") else []})
    return tidy_frame(rows)


def _lines(result) -> list[str]:
    c = result.summary.get("counts", {})
    status = ", ".join(f"{k} {v}" for k, v in sorted(c.get("by_status", {}).items()))
    lines = [f"{c.get('labelled', 0)} of {c.get('total', 0)} images labelled ({status}); labels: {result.out}"]
    a = result.summary.get("agreement") or {}
    if "exact" in a:
        lines.append(f"agreement with the human types (n = {a.get('n')}): exact "
                     f"{fmt_interval(a['exact'], *(a.get('exact_ci') or (None, None)))}, within one "
                     f"{fmt_interval(a['within_one'], *(a.get('within_one_ci') or (None, None)))}")
    return lines


def label_repr(result) -> str:
    est = (result.summary.get("fst_distribution") or {}).get("estimated") or {}
    tones = ", ".join(f"{k}: {v}" for k, v in est.items())
    return (f"LabelResult({_name(result)}; " + "; ".join(_lines(result)) + f"; tones {tones}"
            + "; .labels, .summary, .to_frame())")


def label_html(result) -> str:
    f = label_frame(result)
    table = f[f["metric"].isin(["images", "share"])].pivot(index="group", columns="metric", values="value").reset_index()
    return html_card(f"Skin-tone labels ({_name(result)})", _lines(result), table)
