"""The demo's front page (``demo-out/index.html``): both questions answered first, then links.

1. Does the baseline model fail on dark skin? The baseline arm's AUROC and sensitivity per
   skin-type group with intervals, and the audit's reading of the I-II vs V-VI gap.
2. Did synthetic images help? The verdict against the criteria (coloured only when conclusive),
   the change per group with its paired interval, and what the synthetic images' own audit flagged.

Both answers come from ``fairskin.reports._findings``, the same sentences as the experiment report's
summary; the page then links every report the demo wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fairskin.reports._findings import (DARK_GROUP, REF_GROUP, baseline_gap_lines, change_lines, conclusive,
                                        group_metric, rel_pct, synthetic_lines, verdict_display)
from fairskin.reports._html import Markup, ci_cell, esc, note, page, section, table, write_report
from fairskin.reports._parts import check_schema

__all__ = ["render_demo_index", "build_demo_index", "gap_answer", "help_answer"]

#: what each report answers, for the list of links
REPORT_WHAT = {
    "label-report.html": "How each image's skin type was measured (ITA), against the known answer.",
    "balance-report.html": "Which synthetic images were added per skin type, next to real ones, and what the ITA gate rejected.",
    "synthetic-report.html": "How good the synthetic images are: tone fidelity, variety (mode collapse), memorisation.",
    "audit-report.html": "The classifier audit of both arms (seed 0's model of each): every metric per skin type, gaps, "
                         "and the two models compared.",
    "experiment-report.html": "The experiment: every arm and seed, metrics per group with intervals, the verdict.",
}


def gap_answer(data: Mapping) -> tuple[str, str]:
    """(short answer, css class) to "does the baseline model fail on dark skin?"."""
    tests = [t for t in ((data.get("context") or {}).get("baseline_gap") or {}).get("seeds") or []
             if t.get("value") is not None]
    if not tests:
        return "Not tested: see the numbers below", "neutral"
    n_gap = sum(t.get("evidence") == "gap" for t in tests)
    worse = sum((t.get("value") or 0) > 0 for t in tests)
    if n_gap == len(tests) and worse == len(tests):
        return f"Yes: worse on FST {DARK_GROUP} in all {len(tests)} baseline models (a significant gap)", "fail"
    if n_gap == 0:
        return f"Not shown: no significant gap in any of the {len(tests)} baseline models", "neutral"
    return f"Unclear: a significant gap in {n_gap} of the {len(tests)} baseline models", "neutral"


def help_answer(c: Mapping | None) -> tuple[str, str]:
    """(short answer, css class) to "did synthetic images help?"; green or red only when conclusive."""
    if c is None:
        return "Not measured: only the baseline arm was run", "neutral"
    if conclusive(c) and c.get("verdict") == "pass":
        return "Yes: the criteria are met, with confidence", "pass"
    if conclusive(c) and c.get("verdict") == "fail":
        return "No: the criteria are not met, with confidence", "fail"
    return "Not conclusive: " + verdict_display(c)[0].split("(", 1)[-1].rstrip(")"), "neutral"


def _answer(question: str, answer: tuple[str, str], lines: Sequence[str], extra: Sequence = (), *, sid: str) -> Markup:
    words, cls = answer
    body = "".join(f"<li>{esc(x)}</li>" for x in lines)
    return Markup(f'<section id="{esc(sid)}" class="answer" aria-labelledby="{esc(sid)}-h">'
                  f'<h2 id="{esc(sid)}-h">{esc(question)}</h2>'
                  f'<p class="headline"><span class="{esc(cls)}">{esc(words)}</span></p>'
                  f'<ul class="why">{body}</ul>' + "".join(esc(e) for e in extra) + "</section>")


def _groups(stats: Mapping, arm: str) -> list[str]:
    return [str(g.get("group")) for g in ((stats.get("arms") or {}).get(arm) or {}).get("groups") or []]


def _baseline_table(data: Mapping) -> Markup:
    stats = data.get("statistics") or {}
    base = data.get("baseline") or next(iter(stats.get("arms") or {}), "real")
    rows = [[g, ci_cell(group_metric(stats, base, g, "auroc")), ci_cell(group_metric(stats, base, g, "sensitivity"))]
            for g in _groups(stats, base)]
    return table(["skin-type group", f"AUROC, {base} (95% CI)", f"sensitivity, {base} (95% CI)"], rows,
                 caption=f"Baseline model ({base}) per skin-type group", numeric={1, 2}, cls="data answer-table")


def _change_table(data: Mapping, c: Mapping) -> Markup:
    stats = data.get("statistics") or {}
    base, cand = c.get("baseline"), c.get("candidate")
    rows = []
    for d in c.get("deltas") or []:
        if d.get("metric") != "auroc":
            continue
        g = str(d.get("group"))
        rows.append([g, ci_cell(group_metric(stats, base, g, "auroc")), ci_cell(group_metric(stats, cand, g, "auroc")),
                     Markup(f"{esc(rel_pct(d.get('relative')))}<br><small class=\"ci\">({esc(rel_pct(d.get('relative_ci_low')))}"
                            f" to {esc(rel_pct(d.get('relative_ci_high')))})</small>")])
    return table(["skin-type group", f"AUROC, {base}", f"AUROC, {cand}", "relative change (95% CI)"], rows,
                 caption=f"AUROC per group: {base} against {cand} (paired, mean of the seeds)", numeric={1, 2, 3},
                 cls="data answer-table")


def build_demo_index(data: Mapping, *, reports: Sequence[tuple[str, str]] = (), audit: Mapping | None = None) -> str:
    """The page for an experiment dict (with its ``context``); ``reports``: (what, relative link)."""
    check_schema(data, "fairskin.experiment/1", "render_demo_index")
    stats = data.get("statistics") or {}
    comps = stats.get("comparisons") or []
    c = comps[0] if comps else None
    questions = (f"1. Does the model fail on dark skin (FST {DARK_GROUP} against {REF_GROUP})?",
                 "2. Did adding synthetic images help?")
    q1 = _answer(questions[0], gap_answer(data), baseline_gap_lines(data), [_baseline_table(data)], sid="q-gap")
    lines = change_lines(data, c) if c else []
    lines += synthetic_lines(data)
    syn = data.get("synthetic") or {}
    if syn.get("note"):
        lines.append(str(syn["note"]))
    q2 = _answer(questions[1], help_answer(c), lines, [_change_table(data, c)] if c else [], sid="q-synthetic")
    glance = Markup('<table class="glance" id="at-a-glance"><caption>At a glance</caption>' + "".join(
        f'<tr><th scope="row"><a href="#{sid}">{esc(q)}</a></th><td><span class="{esc(a[1])}">{esc(a[0])}</span></td></tr>'
        for q, a, sid in zip(questions, (gap_answer(data), help_answer(c)), ("q-gap", "q-synthetic"))) + "</table>")
    how = note("How sure: every figure has its 95% interval (a two-level bootstrap of test images and training seeds). "
               "'Not conclusive' means an interval crosses the criterion's bound: more test images or seeds are "
               "needed before saying yes or no. Phantom demo data: the numbers show how fairskin reads a result, "
               "not how a real model performs.")
    body = [glance, Markup('<div class="answers">') + q1 + q2 + Markup("</div>"), how]
    links = []
    for what, href in reports:
        name = Path(href).name
        links.append(Markup(f'<li><a href="{esc(href)}">{esc(what)}</a> ({esc(name)}): {esc(REPORT_WHAT.get(name, ""))}</li>'))
    body.append(section("Every report", [Markup("<ul>" + "".join(links) + "</ul>") if links else
                                         note("No other report was written.")], sid="reports"))
    if audit:
        from fairskin.reports._audit import plain_summary

        body.append(section("What the classifier audit says", [Markup(
            "<ul>" + "".join(f"<li>{esc(s)}</li>" for s in plain_summary(audit)) + "</ul>")], sid="audit-summary"))
    sub = f"fairskin demo \u00b7 {data.get('created', '')} \u00b7 open the reports below for every figure"
    return page("Does the model fail on dark skin, and did synthetic images help?", body, subtitle=sub,
                toc=[("q-gap", "1. Dark skin"), ("q-synthetic", "2. Synthetic images"), ("reports", "Reports")])


def render_demo_index(data: Mapping, path, *, reports: Sequence[tuple[str, str]] = (),
                      audit: Mapping | None = None) -> Path:
    """Write ``index.html`` (and its data, ``index.json``) for the demo's experiment dict."""
    return write_report(build_demo_index(data, reports=reports, audit=audit), data, path)
