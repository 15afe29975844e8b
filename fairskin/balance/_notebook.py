"""A balancing run in a notebook: tidy rows, a short repr and an HTML card (``fairskin.notebook``)."""

from __future__ import annotations

import pandas as pd

from fairskin.notebook import html_card, tidy_frame
from fairskin.skintone import roman

__all__ = ["balance_frame", "balance_repr", "balance_html"]

_CELL_METRICS = ("real", "target", "synthetic", "generated", "acceptance_rate")


def _model(result) -> str:
    return (result.summary.get("generator") or {}).get("name") or "plan"


def balance_frame(result) -> pd.DataFrame:
    """One row per cell (skin type / diagnosis) x count: real, target, synthetic (accepted),
    generated, acceptance_rate; ``flags`` ``short`` where a cell ended below its target."""
    rows = []
    for c in result.summary.get("cells", []):
        short = ["short"] if c["real"] + c["synthetic"] < c["target"] else []
        for k in _CELL_METRICS:
            rows.append({"model": _model(result), "group": f"{roman(int(c['fst']))} / {c['diagnosis']}",
                         "metric": k, "value": c.get(k), "flags": short})
    return tidy_frame(rows)


def _lines(result) -> list[str]:
    if result.dry_run:
        return [f"dry run: the plan only, nothing generated; out: {result.out}"]
    c = result.summary.get("counts", {})
    lines = [f"{c.get('real', 0)} real + {c.get('synthetic_accepted', 0)} synthetic = {c.get('final', 0)} images "
             f"({c.get('attempts', 0)} attempts, {c.get('rejected', 0)} rejected by the ITA gate)",
             f"manifest: {result.manifest}"]
    return lines + [f"warning: {w}" for w in result.summary.get("warnings", [])]


def balance_repr(result) -> str:
    return f"BalanceResult({_model(result)}; " + "; ".join(_lines(result)) + "; .summary, .to_frame())"


def balance_html(result) -> str:
    f = balance_frame(result)
    table = (f.pivot(index="group", columns="metric", values="value").reset_index()[["group", *_CELL_METRICS]]
             if len(f) else None)
    return html_card(f"Balanced data set ({_model(result)})", _lines(result), table)
