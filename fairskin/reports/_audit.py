"""The classifier-audit report: renders the dict of ``docs/audit-json.md`` (``fairskin.audit/1``),
plus the optional per-group ``roc``/``calibration`` curves and the optional ``synthetic`` section
described in ``docs/report-inputs.md``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fairskin.skintone import FST_GROUPS, MST_GROUPS, type_label
from fairskin.reports import _svg
from fairskin.reports._html import (Markup, ci_cell, dl, esc, fmt, fmt_ci, fmt_p, metric_parts, note, page, require,
                                    section, table, write_report)
from fairskin.reports._palette import DEFAULT_CUTS, monk_tone, representative_ita, style_for, type_of_group
from fairskin.reports._parts import check_schema, figure, monk_swatch, swatch, type_badge
from fairskin.reports._synthetic import synthetic_sections
from fairskin.reports._thumbs import ThumbBudget
from fairskin.reports._why import why_plain_lines, why_sections

__all__ = ["render_audit_report", "build_audit_html", "plain_summary", "metric_specs"]

#: labels of the metrics of a document written before ``meta.metrics`` (audit JSON version 1 and early 2);
#: a current audit names its metrics, their labels and which are headline in ``meta.metrics``
_EARLIER_LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "ppv": "PPV", "npv": "NPV", "f1": "F1", "ece": "ECE"}
_EARLIER_HEADLINE = ("auroc", "sensitivity", "specificity", "ece")


def metric_specs(data: Mapping) -> dict[str, dict]:
    """name -> {label, digits, headline, in_report} of the document's per-group metrics, in table order:
    the audit's own ``meta.metrics`` (its registry, so a newly registered metric gets its column);
    for an earlier document, the metric names found in its groups."""
    listed = (data.get("meta") or {}).get("metrics")
    if listed:
        return {m["name"]: m for m in listed if isinstance(m, Mapping) and m.get("name")}
    names: dict[str, None] = {}
    for m in data.get("models") or []:
        for g in (m.get("groups") or []) + [m.get("overall") or {}]:
            names.update(dict.fromkeys(g.get("metrics") or {}))
    return {k: {"name": k, "label": _EARLIER_LABELS.get(k, k.replace("_", " ")), "digits": 3 if k == "ece" else 2,
                "headline": k in _EARLIER_HEADLINE, "in_report": True} for k in names}


def _label(specs: Mapping, name) -> str:
    return (specs.get(name) or {}).get("label") or str(name)
_GROUP_TYPES = {g: tuple(str(t) for t in ts) for g, ts in FST_GROUPS.items()}


def _fst_label(group: str) -> str:
    """How people read a group: 'FST V', 'FST V-VI'; on the Monk scale 'MST 5', 'MST 8-10'."""
    if group == "all":
        return "all images"
    if monk_tone(group) is not None:
        return str(group)
    return f"MST {group}" if group in MST_GROUPS else f"FST {group}"


def _tone_names(tones, monk: bool) -> list[str]:
    return [f"MST {x}" if monk else type_label(str(x)) for x in tones]


def _gid(group: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(group))


def _alpha(meta: Mapping) -> float:
    lvl = meta.get("ci_level")
    return 1 - float(lvl) if isinstance(lvl, (int, float)) and 0 < lvl < 1 else 0.05


def _gap_verdict(gap: Mapping, alpha: float) -> str:
    """The audit's own reading of a gap (``evidence``, schema 2: Holm-adjusted); for a version-1
    document, its raw p-value. A gap whose test is not significant is "no evidence of a gap"."""
    if gap.get("value") is None:
        return "undefined"
    ev = gap.get("evidence")
    if ev is not None:
        return {"gap": "gap", "no_evidence": "no evidence of a gap", "estimate": "not tested",
                "inconclusive": "not conclusive"}.get(ev, "undefined")
    p = gap.get("p_value")
    if p is None:
        return "not tested"
    return "gap" if p < alpha else "no evidence of a gap"


def _simultaneous_cell(f: Mapping) -> str:
    """The gap's simultaneous interval (the one its reading uses), or empty for older documents."""
    lo, hi = f.get("ci_low_simultaneous"), f.get("ci_high_simultaneous")
    return "" if lo is None or hi is None else f"{lo:.3f} to {hi:.3f}"


def _verdict_title(c: Mapping) -> str:
    return str(c.get("verdict_title") or str(c.get("verdict", "undefined")).upper())


def _groups_by_level(model: Mapping) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {}
    for g in model.get("groups") or []:
        out.setdefault(str(g.get("level")), []).append(g)
    return out


def plain_summary(data: Mapping) -> list[str]:
    """Sentences that say what the numbers say, for people who read only the top of the page."""
    meta = data.get("meta") or {}
    specs = metric_specs(data)
    alpha = _alpha(meta)
    level = meta.get("group_level") or "group"
    ref = meta.get("reference_group") or "I-II"
    lines = []
    for m in data.get("models") or []:
        name = m.get("name", "model")
        groups = {str(g.get("group")): g for g in m.get("groups") or [] if g.get("level") == level}
        pair = next((f for f in m.get("fairness") or [] if f.get("name") == "auroc_gap" and f.get("method") == "pair"), None)
        if pair and len(pair.get("groups") or []) == 2:
            g_ref, g_dark = (str(x) for x in pair["groups"])
            every = {str(g.get("group")): g for g in m.get("groups") or []}  # the pair is at group level
            dark = groups.get(g_dark) or every.get(g_dark) or {}
            auc = (dark.get("metrics") or {}).get("auroc")
            v = pair.get("value")
            if v is not None:
                verdict = _gap_verdict(pair, alpha)
                rel = "below" if v >= 0 else "above"
                p_txt = (f"Holm-adjusted {fmt_p(pair['p_value_holm'])}" if pair.get("p_value_holm") is not None
                         else fmt_p(pair.get("p_value")))
                if pair.get("ci_low_simultaneous") is not None:
                    p_txt += f", simultaneous CI {_simultaneous_cell(pair)}"
                s = (f"{name}: AUROC on {_fst_label(g_dark)} is {fmt_ci(auc)}, {abs(v):.2f} {rel} {_fst_label(g_ref)} "
                     f"(difference {fmt_ci(pair)}): " + ("a gap" if verdict == "gap" else verdict) + f" ({p_txt}).")
            else:
                s = f"{name}: the AUROC gap between {_fst_label(g_ref)} and {_fst_label(g_dark)} is undefined ({pair.get('reason') or 'no reason given'})."
            if "unreliable_group" in (pair.get("flags") or []):
                s += f" {_fst_label(g_dark)} is a small group: treat this with caution."
            lines.append(s)
        worst = next((f for f in m.get("fairness") or [] if f.get("name") == "worst_group_auroc"), None)
        if worst and worst.get("value") is not None:
            lines.append(f"{name}: the lowest AUROC of any group is {fmt_ci(worst)} ({', '.join(map(str, worst.get('groups') or []))}).")
        eod = next((f for f in m.get("fairness") or [] if f.get("name") == "equalized_odds_difference"
                    and f.get("method") == "between_groups" and f.get("agg") == "worst_case"), None)
        if eod and eod.get("value") is not None:
            lines.append(f"{name}: sensitivity or false-positive rate differs by up to {fmt_ci(eod)} between groups "
                         f"({' vs '.join(map(str, eod.get('groups') or []))}; equalized-odds difference: "
                         f"{_gap_verdict(eod, alpha)}, {fmt_p(eod.get('p_value_holm', eod.get('p_value')))}).")
        sens = [(g, metric_parts((g.get("metrics") or {}).get("sensitivity"))) for g in groups.values()]
        sens = [(g, v) for g, (v, _, _) in sens if v is not None]
        if len(sens) >= 2:
            lo_g, lo_v = min(sens, key=lambda t: t[1])
            hi_g, hi_v = max(sens, key=lambda t: t[1])
            lines.append(f"{name}: at threshold {fmt(m.get('threshold'))}, {lo_v:.0%} of malignant lesions are caught on "
                         f"{_fst_label(lo_g['group'])} against {hi_v:.0%} on {_fst_label(hi_g['group'])}.")
        out = [r for r in m.get("ratios") or [] if "outside_bounds" in (r.get("flags") or [])]
        if out:
            bounds = meta.get("ratio_bounds") or [0.8, 1.25]
            lines.append(f"{name}: ratios to {ref} outside [{bounds[0]}, {bounds[1]}]: " + "; ".join(
                f"{_label(specs, r.get('metric'))} on {r.get('group')} = {fmt_ci(r)}" for r in out[:6]) + ".")
        small = [g for g in m.get("groups") or [] if not g.get("reliable", True)]
        if small:
            lines.append(f"{name}: too few images to trust the numbers for " + ", ".join(
                f"{_fst_label(g['group'])} (n={g.get('n')}, {g.get('positives')} malignant)" for g in small[:8]) + ".")
    corr = meta.get("fst_correction")
    if corr:
        shown = []
        for m in (data.get("models") or [])[:1]:
            for g in m.get("groups") or []:
                a = (g.get("metrics") or {}).get("auroc") or {}
                u = a.get("uncorrected")
                if u and a.get("value") is not None and g.get("level") == level:
                    shown.append(f"{_fst_label(g['group'])} {fmt_ci(a)} (uncorrected {fmt_ci(u)})")
        lines.append("Skin types are estimated, and the figures are corrected for the labeller's error measured on "
                     "a calibration set (its confusion matrix), which widens the intervals"
                     + (": AUROC " + "; ".join(shown) if shown else "") + ".")
    elif meta.get("fst_source") in ("estimated", "mixed"):
        lines.append("Skin types are estimated by ITA and taken as right: with the estimator's measured agreement "
                     "(docs/label.md) the figures mix neighbouring types; pass the labeller's confusion "
                     "(--label-confusion) to correct for it.")
    for c in data.get("comparisons") or []:
        lines.append(f"{c.get('candidate')} against {c.get('baseline')}: {_verdict_title(c)} \u2014 "
                     f"{c.get('verdict_reason', '')}.")
    if not lines:
        lines.append("No model results in this audit.")
    return lines


def _metric_table(g: Mapping, specs: Mapping) -> Markup:
    """One column per metric the audit lists for the report: value, its CI below, and flags / reason
    when there are any."""
    mets = [(k, (g.get("metrics") or {}).get(k)) for k, spec in specs.items()
            if spec.get("in_report", True) and (g.get("metrics") or {}).get(k) is not None]
    values = [ci_cell(m, int(specs[k].get("digits") or 2)) for k, m in mets]
    flags = [", ".join(f for f in (m.get("flags") or []) if f).replace("_", " ")
             + (f": {m['reason']}" if m.get("reason") else "") for _, m in mets]
    rows = [values] + ([flags] if any(flags) else [])
    unrel = not g.get("reliable", True)
    return table([_label(specs, k) for k, _ in mets], rows, row_classes=["unreliable" if unrel else ""] * len(rows),
                 caption=f"Metrics for {_fst_label(g.get('group'))} (95% CI below each value)", cls="data metrics")


def _group_swatches(group: str) -> tuple[str | None, Markup]:
    t = type_of_group(group)
    if t:
        return t, swatch(t, representative_ita(t, DEFAULT_CUTS))
    if group in _GROUP_TYPES:
        a, b = _GROUP_TYPES[group]
        return a, Markup(swatch(a, representative_ita(a)) + swatch(b, representative_ita(b)))
    m = monk_tone(group)
    if m is not None:
        return None, monk_swatch(m)
    if group in MST_GROUPS:
        return None, Markup("".join(monk_swatch(k) for k in MST_GROUPS[group]))
    return None, Markup("")


def _group_section(g: Mapping, prefix: str, min_n: int, specs: Mapping, *, monk: bool = False) -> Markup:
    group = str(g.get("group"))
    t, sw = _group_swatches(group)
    sid = f"{prefix}{'type' if g.get('level') == 'type' else 'group'}-{_gid(group)}"
    badge = type_badge(g.get("n"), min_n, flags=g.get("flags") or []) if not g.get("reliable", True) else Markup("")
    monk = monk or monk_tone(group) is not None or group in MST_GROUPS
    head = Markup(f'<div class="typehead">{sw}<h3 id="{esc(sid)}-h">{esc(_fst_label(group))}</h3>{badge}</div>')
    info = Markup(f'<p class="counts"><b>{esc(fmt(g.get("n")))}</b> images: <b>{esc(fmt(g.get("positives")))}</b> malignant, '
                  f'<b>{esc(fmt(g.get("negatives")))}</b> benign \u00b7 {"tones" if monk else "types"} '
                  f'{esc(", ".join(_tone_names(g.get("types") or [], monk)))} \u00b7 flags: '
                  f'{esc(", ".join(g.get("flags") or []).replace("_", " ") or "none")}</p>')
    colour = style_for(group).colour
    fst_attr = f' data-fst="{esc(t)}"' if t and g.get("level") == "type" else ""
    return Markup(f'<section id="{esc(sid)}" class="typesec{" unreliable" if badge else ""}" data-group="{esc(group)}"'
                  f'{fst_attr} aria-labelledby="{esc(sid)}-h" style="border-left-color:{colour}">'
                  f'{head}{info}{_metric_table(g, specs)}</section>')


def _curves(groups: list[Mapping], key: str) -> list[dict]:
    out = []
    for i, g in enumerate(groups):
        c = g.get(key)
        if not isinstance(c, Mapping):
            continue
        name = str(g.get("group"))
        unrel = not g.get("reliable", True)
        if key == "roc":
            auc = (g.get("metrics") or {}).get("auroc")
            label = f"{_fst_label(name)}: AUROC {fmt_ci(auc)}" + (" (unreliable)" if unrel else "")
            out.append({"name": name, "x": c.get("fpr") or [], "y": c.get("tpr") or [], "lo": c.get("tpr_ci_low"),
                        "hi": c.get("tpr_ci_high"), "style": style_for(name, i), "label": label, "unreliable": unrel})
        else:
            ece = (g.get("metrics") or {}).get("ece")
            label = f"{_fst_label(name)}: ECE {fmt_ci(ece)}" + (" (unreliable)" if unrel else "")
            out.append({"name": name, "x": c.get("mean_score") or [], "y": c.get("frac_positive") or [],
                        "style": style_for(name, i), "label": label, "unreliable": unrel})
    return out


def _model_sections(m: Mapping, i: int, meta: Mapping, alpha: float, specs: Mapping) -> tuple[list, list]:
    """(sections, toc entries) for model ``i`` of the audit: metrics per skin type, ROC and
    calibration, each skin type, fairness gaps and ratios; intersections and bad rows when there are any."""
    prefix = f"m{i}-"
    name = str(m.get("name", f"model {i + 1}"))
    min_n = int(meta.get("min_group_n") or 30)
    by_level = _groups_by_level(m)
    overall = m.get("overall")
    body, toc = [], []
    body.append(section(f"{name}: metrics per skin type", _metric_forests(m, name, by_level, overall, specs),
                        sid=f"{prefix}metrics"))
    toc.append((f"{prefix}metrics", f"{name}: metrics"))
    body.append(section(f"{name}: ROC and calibration",
                        [Markup('<div class="grid">' + "".join(_curve_plots(name, by_level, overall)) + "</div>")],
                        sid=f"{prefix}curves"))
    toc.append((f"{prefix}curves", f"{name}: ROC"))

    monk = meta.get("tone_scale") == "monk"
    secs = [_group_section(g, prefix, min_n, specs, monk=monk) for lvl in ("type", "group") for g in by_level.get(lvl, [])]
    if overall:
        secs.append(_group_section(overall, prefix, min_n, specs, monk=monk))
    body.append(section(f"{name}: each skin type", secs, sid=f"{prefix}types"))
    toc.append((f"{prefix}types", f"{name}: per type"))

    body.append(section(f"{name}: fairness gaps", _fairness_parts(m, name, meta, alpha, specs), sid=f"{prefix}fairness"))
    toc.append((f"{prefix}fairness", f"{name}: gaps"))
    body += _table_sections(m, name, prefix)
    return body, toc


def _metric_forests(m: Mapping, name: str, by_level: Mapping, overall, specs: Mapping) -> list:
    """The model's description and a forest plot per headline metric: every group of every level plus overall."""
    counts = m.get("counts") or {}
    skipped = counts.get("skipped") or {}
    head = [dl([("model", name), ("kind", m.get("kind")), ("path", m.get("path")), ("threshold", m.get("threshold")),
                ("rows in", counts.get("n_input")), ("rows used", counts.get("n_used")),
                ("skipped", ", ".join(f"{v} {k}" for k, v in skipped.items()) or "none")])]

    # forest plots: every group of every level plus overall, for the key metrics
    ordered = [g for lvl in ("type", "group") for g in by_level.get(lvl, [])] + ([overall] if overall else [])
    plots = []
    for k in [k for k, spec in specs.items() if spec.get("headline")]:
        rows = []
        for g in ordered:
            v, lo, hi = metric_parts((g.get("metrics") or {}).get(k))
            rows.append({"label": _fst_label(str(g.get("group"))), "value": v, "lo": lo, "hi": hi,
                         "style": style_for(str(g.get("group"))), "unreliable": not g.get("reliable", True)})
        if not rows:
            continue
        ref_v = metric_parts((overall or {}).get("metrics", {}).get(k))[0] if overall else None
        plots.append(figure(_svg.forest(rows, title=f"{_label(specs, k)} per skin type and group ({name})",
                                        xlabel=_label(specs, k), kind=f"forest-{k}",
                                        xlim=(0.0, 1.0) if k != "ece" else None,
                                        ref=(ref_v, "all images") if ref_v is not None else None,
                                        desc="; ".join(f"{r['label']}: {fmt_ci((g.get('metrics') or {}).get(k))}"
                                                       + (" (unreliable)" if r["unreliable"] else "")
                                                       for r, g in zip(rows, ordered))),
                            f"{_label(specs, k)} with 95% CI per group. Dashed line: all images. Hatched rows, "
                            f"hollow markers and the word 'unreliable': too few images or malignant cases."))
    head.append(Markup('<div class="grid">' + "".join(plots) + "</div>"))
    return head


def _curve_plots(name: str, by_level: Mapping, overall) -> list:
    """ROC curves and calibration per level (a note where the audit JSON has none)."""
    parts = []
    for lvl in ("type", "group"):
        groups = by_level.get(lvl, [])
        if not groups:
            continue
        with_all = groups + ([overall] if overall else [])
        roc = _curves(with_all, "roc")
        if roc:
            parts.append(figure(_svg.curve_plot(roc, title=f"ROC curves per {lvl} ({name})", xlabel="false-positive rate (1 - specificity)",
                                                ylabel="true-positive rate (sensitivity)", kind="roc", marker_every=10,
                                                width=520, height=460,
                                                desc="ROC curve per group with 95% bootstrap bands: " + "; ".join(c["label"] for c in roc)),
                                f"ROC per {lvl}; shaded bands: 95% CI of the TPR at each FPR. Each group has its own colour, "
                                "dash pattern and marker; hollow markers: unreliable group."))
        else:
            parts.append(note(f"No ROC curve points for the {lvl} groups: the audit JSON has no 'roc' key in its GROUP "
                              "entries (see docs/report-inputs.md)."))
        cal = _curves(with_all, "calibration")
        if cal:
            parts.append(figure(_svg.curve_plot(cal, title=f"Calibration per {lvl} ({name})", xlabel="mean predicted probability",
                                                ylabel="observed share malignant", kind="calibration", width=520, height=460,
                                                desc="Reliability diagram per group (points: bins): " + "; ".join(c["label"] for c in cal)),
                                f"Calibration per {lvl}: points above the diagonal = the model under-estimates risk."))
        else:
            parts.append(note(f"No calibration bins for the {lvl} groups: the audit JSON has no 'calibration' key in its "
                              "GROUP entries (see docs/report-inputs.md)."))
    return parts


def _fairness_parts(m: Mapping, name: str, meta: Mapping, alpha: float, specs: Mapping) -> list:
    """The fairness gaps with their reading, and the metric ratios to the reference group."""
    rows, classes = [], []
    for f in m.get("fairness") or []:
        verdict = _gap_verdict(f, alpha)
        cls = {"gap": "fail"}.get(verdict, "undef")  # no evidence of a gap is not a pass: never green
        sym = {"gap": "\u26a0 "}.get(verdict, "")
        rows.append([f.get("name", "").replace("_", " "), f.get("method"), f.get("agg") or "",
                     " vs ".join(map(str, f.get("groups") or [])), ci_cell(f), _simultaneous_cell(f),
                     fmt_p(f.get("p_value")),
                     fmt_p(f.get("p_value_holm")) if f.get("p_value_holm") is not None else "",
                     Markup(f'<span class="{cls}">{esc(sym + verdict)}</span>'),
                     ", ".join(f.get("flags") or []).replace("_", " ") + (f" ({f['reason']})" if f.get("reason") else "")])
        classes.append("unreliable" if "unreliable_group" in (f.get("flags") or []) else "")
    parts = [table(["gap", "method", "aggregate", "groups", "value (95% CI)", "simultaneous CI", "p", "p (Holm)",
                    "reading", "flags"], rows,
                   row_classes=classes, caption=f"Fairness gaps across {meta.get('group_level', 'group')}s")
             if rows else note("No fairness gaps in the audit JSON."),
             note(f"Reading: 'gap' when the Holm-adjusted p < {alpha:g} (family: this model's gaps) and the "
                  "simultaneous interval (Bonferroni over the family) excludes 0; 'no evidence of a gap' when neither "
                  "does, which is not evidence of no gap: read its interval; 'not conclusive' when they disagree. "
                  "Intervals of gaps are "
                  "recentred-bootstrap extremum intervals (docs/audit-json.md). Hatched rows involve a group too "
                  "small to trust.")]
    ratios = m.get("ratios") or []
    if ratios:
        bounds = meta.get("ratio_bounds") or [0.8, 1.25]
        rrows = [{"label": f"{r.get('group')} {_label(specs, r.get('metric'))}"[:40],
                  "value": r.get("value"), "lo": r.get("ci_low"), "hi": r.get("ci_high"),
                  "style": style_for(str(r.get("group"))), "unreliable": "unreliable_group" in (r.get("flags") or [])}
                 for r in ratios]
        vals = [v for r in rrows for v in (r["value"], r["lo"], r["hi"]) if v is not None] + list(bounds)
        parts.append(figure(_svg.forest(rrows, title=f"Metric ratios to {meta.get('reference_group', 'reference')} ({name})",
                                        xlabel=f"ratio to {meta.get('reference_group', 'reference')} (1 = parity)",
                                        ref=(1.0, "parity"), kind="ratios", bounds=(float(bounds[0]), float(bounds[1])),
                                        xlim=(min(vals) - 0.05, max(vals) + 0.05),
                                        desc="; ".join(f"{r['label']}: {fmt_ci(x)}" + (" outside bounds" if "outside_bounds" in (x.get("flags") or []) else "")
                                                       for r, x in zip(rrows, ratios))),
                            f"Ratios with 95% CI; accepted range {bounds[0]}\u2013{bounds[1]} (red dotted lines; "
                            "shaded = outside it)."))
        parts.append(table(["group", "reference", "metric", "ratio (95% CI)", "p", "flags"],
                           [[r.get("group"), r.get("reference"), _label(specs, r.get("metric")),
                             ci_cell(r), fmt_p(r.get("p_value")),
                             Markup('<span class="badge bad">outside bounds</span>') if "outside_bounds" in (r.get("flags") or [])
                             else ", ".join(r.get("flags") or []).replace("_", " ")] for r in ratios],
                           caption="Ratios to the reference group"))
    return parts


def _table_sections(m: Mapping, name: str, prefix: str) -> list:
    """The skin type x diagnosis intersections and the rows that could not be used, where there are any."""
    body = []
    inter = m.get("intersections")
    if inter:
        cells = inter.get("cells") or []
        rows = [[c.get("group"), c.get("diagnosis"), c.get("n"), c.get("positives"),
                 "masked (n<%s)" % inter.get("min_cell_n", "?") if c.get("masked") else fmt(c.get("accuracy")),
                 fmt(c.get("sensitivity")), fmt(c.get("specificity")), fmt(c.get("mean_score"))] for c in cells]
        body.append(section(f"{name}: skin type \u00d7 diagnosis", [
            table(["group", "diagnosis", "n", "malignant", "accuracy", "sensitivity", "specificity", "mean score"], rows,
                  row_classes=["unreliable" if c.get("masked") else "" for c in cells], numeric={2, 3},
                  caption="Intersections (cells with too few images are masked)")], sid=f"{prefix}intersections"))
    bad = m.get("bad_rows") or []
    if bad:
        body.append(section(f"{name}: rows that could not be used", [
            table(["image", "status", "reason"], [[b.get("image"), b.get("status"), b.get("reason")] for b in bad])],
            sid=f"{prefix}bad-rows"))
    return body


def _verdict_line(c: Mapping, *, named: bool = True) -> Markup:
    """A comparison's verdict as one line, coloured pass or fail only when it is conclusive."""
    v = str(c.get("verdict", "undefined"))
    conclusive = c.get("conclusive", True)
    cls = {"pass": "pass", "fail": "fail"}.get(v, "undef") if conclusive else "neutral"
    sym = ({"pass": "\u2713 ", "fail": "\u2717 "}.get(v, "? ") if conclusive else "? ") + _verdict_title(c)
    who = f"{c.get('candidate')} against {c.get('baseline')}: " if named else ""
    return Markup(f'<p class="verdict">Verdict{esc(" (" + who.rstrip(": ") + ")") if who else ""}: '
                  f'<span class="{cls}">{esc(sym)}</span> \u2014 {esc(c.get("verdict_reason", ""))}</p>')


def _comparison_section(c: Mapping, j: int, specs: Mapping) -> Markup:
    parts = [_verdict_line(c, named=False),
             dl([("baseline", c.get("baseline")), ("candidate", c.get("candidate")), ("paired", c.get("paired")),
                 ("rows in common", c.get("n_common"))])]
    crit = c.get("criteria") or []
    if crit:
        parts.append(table(["criterion", "group", "metric", "bound", "observed change (95% CI)", "passed", "confident"],
                           [[x.get("description") or x.get("name"), x.get("group"), _label(specs, x.get("metric")),
                             f"{x.get('kind', '').replace('_', ' ')} {fmt(x.get('bound'))}",
                             Markup(f"{esc(_pct(x.get('observed')))}<br><small class=\"ci\">({esc(_pct(x.get('ci_low')))}\u2013{esc(_pct(x.get('ci_high')))})</small>"),
                             _passed_cell(x), "yes" if x.get("confident") else "no"] for x in crit],
                           caption="Acceptance criteria (coloured only when the interval clears the bound)"))
    deltas = c.get("deltas") or []
    if deltas:
        auc = [d for d in deltas if d.get("metric") == "auroc"]
        if auc:
            rows = [{"label": _fst_label(str(d.get("group"))), "value": d.get("delta"), "lo": d.get("ci_low"),
                     "hi": d.get("ci_high"), "style": style_for(str(d.get("group"))),
                     "unreliable": "unreliable_group" in (d.get("flags") or [])} for d in auc]
            parts.append(figure(_svg.forest(rows, title=f"AUROC change, {c.get('candidate')} minus {c.get('baseline')}",
                                            xlabel="AUROC difference (candidate - baseline)", ref=(0.0, "no change"),
                                            kind="deltas", value_fmt=lambda v: f"{v:+.3f}",
                                            desc="; ".join(f"{r['label']}: {fmt(d.get('delta'), 3)} ({fmt(d.get('ci_low'), 3)} to {fmt(d.get('ci_high'), 3)})"
                                                           for r, d in zip(rows, auc))),
                                "AUROC change per group with 95% CI; right of the dashed line = the candidate is better."))
        parts.append(table(["group", "metric", "baseline", "candidate", "change (95% CI)", "relative", "p", "p (Holm)"],
                           [[d.get("group"), _label(specs, d.get("metric")), fmt(d.get("baseline"), 3),
                             fmt(d.get("candidate"), 3),
                             Markup(f"{esc(fmt(d.get('delta'), 3))}<br><small class=\"ci\">({esc(fmt(d.get('ci_low'), 3))}\u2013{esc(fmt(d.get('ci_high'), 3))})</small>"),
                             _pct(d.get("relative")), fmt_p(d.get("p_value")),
                             fmt_p(d.get("p_value_holm")) if d.get("p_value_holm") is not None else ""]
                            for d in deltas], caption="Changes per group (p (Holm): adjusted over this comparison)"))
    return section(f"{c.get('candidate')} against {c.get('baseline')}", parts, sid=f"comparison-{j}")


def _passed_cell(x: Mapping) -> Markup:
    """A criterion's result: green or red only when its interval clears the bound (``confident``)."""
    if x.get("passed") is None:
        return Markup("n/a")
    word = "yes" if x.get("passed") else "no"
    if not x.get("confident"):
        return Markup(f'<span class="neutral">{word}, not conclusive</span>')
    return Markup('<span class="pass">\u2713 yes</span>' if x.get("passed") else '<span class="fail">\u2717 no</span>')


def _method_value(v):
    """A setting for the Method list: a nested list of its entries for a dict, never a Python repr."""
    if isinstance(v, Mapping):
        return dl([(str(k).replace("_", " "), _method_value(x)) for k, x in v.items()]) if v else "none"
    if isinstance(v, (list, tuple)):
        if any(isinstance(x, Mapping) for x in v):
            return Markup("".join(esc(_method_value(x)) for x in v))
        return ", ".join(map(str, v)) or "none"
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def _pct(x) -> str:
    return "n/a" if not isinstance(x, (int, float)) else f"{100 * x:+.1f}%"


def build_audit_html(data: Mapping, *, budget: ThumbBudget | None = None) -> str:
    check_schema(data, ("fairskin.audit/2", "fairskin.audit/1"), "render_audit_report")
    budget = budget or ThumbBudget()
    meta = data.get("meta") or {}
    specs = metric_specs(data)
    alpha = _alpha(meta)
    models = require(data, "models", "render_audit_report")
    body, toc = [], []
    summary = plain_summary(data) + why_plain_lines(data)  # the why-sections' main findings reach the box too
    body.append(section("In plain words", [*(_verdict_line(c) for c in data.get("comparisons") or []),
                                           Markup('<div class="summary" role="note"><ul>'
                                                  + "".join(f"<li>{esc(s)}</li>" for s in summary) + "</ul></div>")],
                        sid="summary"))
    toc.append(("summary", "Summary"))
    # a comparison's verdict comes first, the models it compares below it
    for j, c in enumerate(data.get("comparisons") or []):
        body.append(_comparison_section(c, j, specs))
        toc.append((f"comparison-{j}", "Model vs model"))
    for i, m in enumerate(models):
        b, t = _model_sections(m, i, meta, alpha, specs)
        body += b
        toc += t
    syn = data.get("synthetic")
    if syn:
        b, t = synthetic_sections(syn, budget, prefix="syn-")
        body += b
        toc += t
    b, t = why_sections(data)
    body += b
    toc += t
    ds = data.get("data") or {}
    glossary = {"metrics": {sp.get("label") or k: sp.get("definition") or "" for k, sp in specs.items()}}
    body.append(section("Method", [dl([(k.replace("_", " "), _method_value(glossary.get(k, v))) for k, v in meta.items()]
                                      + [("data root", ds.get("root")), ("format", ds.get("format")),
                                         ("rows", ds.get("n_rows"))])], sid="method"))
    toc.append(("method", "Method"))
    scale = ("Monk Skin Tone, grouped MST " + " / ".join(meta.get("tone_groups") or MST_GROUPS) + " \u00b7 "
             if meta.get("tone_scale") == "monk" else "")
    sub = (f"fairskin {data.get('fairskin_version', '?')} \u00b7 {data.get('created', '')} \u00b7 {scale}skin type from "
           f"{meta.get('fst_source_detail') or meta.get('fst_source', '?')} \u00b7 {fmt(meta.get('n_boot'))} bootstrap resamples")
    return page("Classifier audit by skin type", body, subtitle=sub, toc=toc, defs=_svg.DEFS)


def render_audit_report(data: Mapping, path) -> Path:
    """Write the audit report ``path`` (HTML) and the dict beside it (``.json``).

    ``data`` is ``AuditResult.to_dict()`` (``docs/audit-json.md``); optional keys drawn when
    present: ``roc`` and ``calibration`` in each group, ``synthetic`` at the top level
    (``docs/report-inputs.md``), ``saliency`` and ``counterfactual`` at the top level
    (``docs/audit-json.md``).
    """
    return write_report(build_audit_html(data), data, path)
