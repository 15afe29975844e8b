"""An audit in a notebook: tidy rows, a short repr and an HTML card (``fairskin.notebook``)."""

from __future__ import annotations

import pandas as pd

from fairskin.notebook import fmt_interval, html_card, tidy_frame

__all__ = ["audit_frame", "audit_repr", "audit_html"]

#: the metrics of the repr and the card, in this order (every metric is in ``to_frame()``)
HEADLINE = ("auroc", "sensitivity", "specificity")


def audit_frame(result, kind: str = "metrics") -> pd.DataFrame:
    """``metrics``: one row per model x group (types, groups, ``all``) x metric. ``gaps``: one row
    per model x fairness gap (``group``: the groups that realise it; ``metric``: the gap's name,
    method and aggregation); ``flags`` there also carries the evidence (``gap`` / ``no_evidence``)."""
    if kind not in ("metrics", "gaps"):
        raise ValueError(f"kind: expected 'metrics' or 'gaps', got {kind!r}")
    rows = []
    for m in result.models:
        if kind == "metrics":
            for g in [*m["groups"], m["overall"]]:
                for name, v in g["metrics"].items():
                    rows.append({"model": m["name"], "group": g["group"], "metric": name, "value": v.get("value"),
                                 "low": v.get("ci_low"), "high": v.get("ci_high"),
                                 "flags": [*v.get("flags", []), *(f for f in g.get("flags", []) if f not in
                                                                   v.get("flags", []))]})
        else:
            for gap in m.get("fairness", []):
                how = "/".join(x for x in (gap.get("method"), gap.get("agg")) if x)
                rows.append({"model": m["name"], "group": " vs ".join(gap.get("groups") or []),
                             "metric": f"{gap['name']} ({how})" if how else gap["name"], "value": gap.get("value"),
                             "low": gap.get("ci_low"), "high": gap.get("ci_high"),
                             "flags": [*gap.get("flags", []), *([gap["evidence"]] if gap.get("evidence") else [])]})
    return tidy_frame(rows)


def _level_groups(result, m) -> list[dict]:
    level = result.meta.get("group_level")
    groups = [g for g in m["groups"] if g["level"] == level] or m["groups"]
    return [*groups, m["overall"]]


def _gap_counts(m) -> tuple[int, int]:
    gaps = m.get("fairness", [])
    return sum(g.get("evidence") == "gap" for g in gaps), len(gaps)


def audit_repr(result) -> str:
    """One line per model: rows, the AUROC of each group at the audit's level, the gaps found."""
    lines = []
    for m in result.models:
        auroc = ", ".join(f"{g['group']} {fmt_interval(*(g['metrics']['auroc'].get(k) for k in ('value', 'ci_low', 'ci_high')))}"
                          for g in _level_groups(result, m) if g["group"] != "all")
        found, tested = _gap_counts(m)
        lines.append(f"  {m['name']!r}: {m['overall']['n']} rows; AUROC {auroc}; gaps with evidence: {found} of {tested}")
    head = (f"AuditResult({len(result.models)} model(s), {result.meta.get('tone_scale', 'fitzpatrick')} "
            f"{result.meta.get('group_level')}s, {int(result.meta.get('ci_level', 0.95) * 100)}% CIs")
    return head + "\n" + "\n".join(lines) + "\n  .to_frame(), .to_frame('gaps'), .to_dict(), .to_json(path))"


def audit_html(result) -> str:
    """Per model, the headline metrics of each group at the audit's level and the gaps' readings."""
    cards = []
    for m in result.models:
        table = pd.DataFrame([{"group": g["group"], "n": g["n"],
                               **{k: fmt_interval(*(g["metrics"][k].get(x) for x in ("value", "ci_low", "ci_high")))
                                  for k in HEADLINE if k in g["metrics"]},
                               "flags": ", ".join(g.get("flags", []))} for g in _level_groups(result, m)])
        found, tested = _gap_counts(m)
        lines = [f"{m['overall']['n']} rows; {result.meta.get('ci_level', 0.95):.0%} intervals "
                 f"({result.meta.get('n_boot')} bootstrap resamples)",
                 f"fairness gaps with evidence (Holm-adjusted): {found} of {tested}",
                 *(f"{g['name']} ({' vs '.join(g.get('groups') or [])}): {g['reading']}"
                   for g in m.get("fairness", []) if g.get("evidence") == "gap" and g.get("reading"))]
        cards.append(html_card(f"Audit of {m['name']}", lines, table))
    return "".join(cards)
