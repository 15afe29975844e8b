"""The reader study's HTML report, in the style of the other per-skin-tone reports (built from
``fairskin.reports``' building blocks: escaped text, inline SVG, no script, no network)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fairskin.errors import InputError
from fairskin.reports import (SVG_DEFS, Markup, bar_chart, ci_cell, dl, esc, figure, fmt, fmt_p, fmt_pct, forest, note,
                              page, representative_ita, scatter, section, style_for, table, type_badge, type_section,
                              write_report)
from fairskin.reader_study._config import SCHEMA

__all__ = ["render_reader_study_report", "reader_study_sections", "summary_sentences"]


def _v(m):
    return None if not isinstance(m, Mapping) else m.get("value")


#: a share's interval at least this wide says next to nothing: the text says so beside it
UNINFORMATIVE_WIDTH = 0.5


def _ci_text(m, pct: bool = True) -> str:
    v = _v(m)
    if v is None:
        return "n/a"
    f = (lambda x: fmt_pct(x, 0)) if pct else (lambda x: fmt(x, 2))
    ci = m.get("ci")
    text = f(v) + (f" (95% CI {f(ci[0])}\u2013{f(ci[1])})" if ci else "")
    if pct and (ci is None or ci[1] - ci[0] >= UNINFORMATIVE_WIDTH):
        text += f" [too few answers ({m.get('n', 0)}) to say anything]"
    return text


def _type_sentence(data: Mapping) -> str | None:
    """A comparative sentence about skin types only where a test stands behind it."""
    comps = data.get("type_comparisons") or []
    if not comps:
        return None
    if not any(c.get("reliable", True) for c in comps):
        return ("Too few images per skin type to compare the types with one another "
                "(in each, too few real or synthetic images for a reliable interval).")
    sig = [c for c in comps if c.get("p_holm") is not None and c["p_holm"] < 0.05 and c.get("reliable", True)]
    if not sig:
        return ("No skin type could be shown to differ from the others in how easily synthetic images were spotted "
                f"(each type against the rest, Holm-adjusted over {len(comps)} types).")
    parts = []
    for c in sorted(sig, key=lambda c: -c["difference"]["value"]):
        d = c["difference"]
        word = "easier" if d["value"] > 0 else "harder"
        ci = d.get("ci") or (float("nan"), float("nan"))
        parts.append(f"{word} to spot in type {c['group']} than in the other types (accuracy {d['value'] * 100:+.0f} "
                     f"points, 95% CI {ci[0] * 100:+.0f} to {ci[1] * 100:+.0f}; Holm-adjusted {fmt_p(c['p_holm'])})")
    return "Synthetic images were " + "; ".join(parts) + "."


def summary_sentences(data: Mapping) -> list[str]:
    """The findings in words, from the numbers (the report's summary box and the CLI's output)."""
    d, p = data["design"], data["pooled"]
    acc = p["accuracy"]
    out = [f"{d['n_readers']} readers gave {d['n_answers']:,} answers on {d['n_images']} images "
           f"({d['n_synthetic']} synthetic, {d['n_real']} real)."]
    pv = acc.get("p_value")
    verdict = ("readers told synthetic from real better than chance" if pv is not None and pv < 0.05 and acc["value"] > 0.5
               else "readers did worse than chance (they took synthetic images for real and the reverse)"
               if pv is not None and pv < 0.05 else "readers could not be shown to beat chance")
    out.append(f"Accuracy at telling synthetic from real: {_ci_text(acc)}, {fmt_p(pv)} against 50%: {verdict}.")
    out.append(f"Sensitivity d' = {_ci_text(p['d_prime'], pct=False)}; criterion c = {_ci_text(p['criterion'], pct=False)} "
               f"(c > 0: a lean towards answering 'real').")
    out.append(f"Realism (mean rating) real {_ci_text(p['realism_real'], pct=False)}, synthetic "
               f"{_ci_text(p['realism_synthetic'], pct=False)}.")
    typed = _type_sentence(data)
    if typed:
        out.append(typed)
    dx = data.get("diagnosis", {})
    if _v(dx.get("accuracy_real")) is not None and _v(dx.get("accuracy_synthetic")) is not None:
        out.append(f"Diagnosis accuracy: real images {_ci_text(dx['accuracy_real'])}, synthetic "
                   f"{_ci_text(dx['accuracy_synthetic'])}.")
    return out


def _forest_rows(groups, key: str = "accuracy") -> list[dict]:
    rows = []
    for i, g in enumerate(groups):
        m = g[key]
        ci = m.get("ci") or (None, None)
        rows.append({"label": g.get("label") or g["group"], "value": m.get("value"), "lo": ci[0], "hi": ci[1],
                     "style": style_for(g.get("group_fst") or g["group"], i), "unreliable": not g.get("reliable", True)})
    return rows


def _group_table(groups, caption: str) -> Markup:
    heads = ["group", "images (real / synthetic)", "accuracy", "d'", "criterion c", "hit rate", "false alarms",
             "realism real", "realism synthetic", "realism real - synthetic"]
    rows = [[Markup(esc(g["group"]) + type_badge(min(g["n_real"], g["n_synthetic"]), 10) if not g.get("reliable", True)
                    else esc(g["group"])),
             f"{g['n_real']} / {g['n_synthetic']}", ci_cell(g["accuracy"]), ci_cell(g["d_prime"]),
             ci_cell(g["criterion"]), ci_cell(g["hit_rate"]), ci_cell(g["false_alarm_rate"]),
             ci_cell(g["realism_real"]), ci_cell(g["realism_synthetic"]), ci_cell(g["realism_difference"])]
            for g in groups]
    return table(heads, rows, caption=caption, numeric=set(range(2, len(heads))))


def _readers(data) -> Markup:
    rs = data["readers"]
    rows = [{"group": r["reader"], "label": r["reader"], "accuracy": r["accuracy"], "reliable": True} for r in rs]
    pooled = {"group": "all", "label": "all readers (pooled)", "accuracy": data["pooled"]["accuracy"], "reliable": True}
    svg = forest(_forest_rows(rows + [pooled]), title="Accuracy per reader", xlabel="accuracy (real vs synthetic)",
                 xlim=(0.0, 1.0), ref=(0.5, "chance"), kind="forest-readers",
                 desc="Each reader's accuracy with a Wilson interval over their images; the pooled row's interval "
                      "is the crossed bootstrap over readers and images.")
    heads = ["reader", "answers", "accuracy (Wilson)", "p vs 50%", "d'", "c", "hit rate", "false alarms",
             "realism real", "realism synthetic", "median s / image", "over time"]
    body = [[r["reader"], r["n"], ci_cell(r["accuracy"]), fmt_p(r["accuracy"]["p_value"]), r["d_prime"], r["criterion"],
             r["hit_rate"], r["false_alarm_rate"], r["realism_real"], r["realism_synthetic"], r["median_seconds"],
             r["over_time"]] for r in rs]
    return section("Readers", [figure(svg, "Per reader: images are the trials. Pooled: readers and images random."),
                               table(heads, body, numeric=set(range(1, len(heads))))], sid="readers")


def _types(data) -> Markup:
    types, groups = data.get("by_type", []), data.get("by_group", [])
    parts = [figure(forest(_forest_rows(types + groups), title="Accuracy per skin type and group",
                           xlabel="accuracy (real vs synthetic)", xlim=(0.0, 1.0), ref=(0.5, "chance"),
                           kind="forest-types", desc="Accuracy at telling synthetic from real per Fitzpatrick type "
                                                     "and group, crossed-bootstrap 95% intervals."),
                    "Hatched rows: fewer than 10 real or synthetic images in the group."),
             _group_table(types + groups, "Per skin type and group")]
    cells = data.get("cells", [])
    for g in types:
        fst = g["group_fst"]
        mine = [c for c in cells if c["fst"] == fst]
        blocks = [dl([("accuracy", _ci_text(g["accuracy"])), ("d'", _ci_text(g["d_prime"], pct=False)),
                      ("realism real vs synthetic", f"{fmt(_v(g['realism_real']))} vs {fmt(_v(g['realism_synthetic']))}"),
                      ("images", f"{g['n_real']} real, {g['n_synthetic']} synthetic")])]
        if mine:
            blocks.append(_group_table([{**c, "group": c["diagnosis"] or "(no diagnosis)"} for c in mine],
                                       f"Type {g['group']} by diagnosis"))
        parts.append(type_section(fst, f"Type {g['group']}", representative_ita(fst),
                                  type_badge(min(g["n_real"], g["n_synthetic"]), 10), blocks, sid=f"rs-type-{fst}"))
    return section("By skin type", parts, sid="types")


def _realism(data) -> Markup:
    types = data.get("by_type", [])
    cats = [g["group"] for g in types]
    series = [{"name": "real", "values": [_v(g["realism_real"]) for g in types], "colour": "#0072B2"},
              {"name": "synthetic", "values": [_v(g["realism_synthetic"]) for g in types], "colour": "#D55E00"}]
    svg = bar_chart(cats, series, title="Mean realism rating by origin and skin type", ylabel="realism (1-7)",
                    desc="Mean realism rating of real and synthetic images per Fitzpatrick type.", kind="bars-realism",
                    value_fmt=lambda v: f"{v:.1f}",
                    unreliable=[g["group"] for g in types if not g.get("reliable", True)], unreliable_label="n<10")
    return section("Realism by origin and skin type", [figure(svg, "Intervals are in the table of the skin-type section.")],
                   sid="realism")


def _agreement(data) -> Markup:
    a = data.get("agreement", {})
    rows = [[name.replace("_", " "), v.get("level"), v.get("n_images"), ci_cell(v)] for name, v in a.items()]
    return section("Agreement between readers", [
        table(["answer", "level", "images", "Krippendorff's alpha"], rows, numeric={2, 3}),
        note("Alpha 1 = perfect agreement, 0 = agreement at chance. Interval: percentile bootstrap over images.")],
        sid="agreement")


def _diagnosis(data) -> Markup:
    d = data.get("diagnosis", {})
    rows = [["real", ci_cell(d.get("accuracy_real"))], ["synthetic", ci_cell(d.get("accuracy_synthetic"))],
            ["real - synthetic", ci_cell(d.get("difference_real_minus_synthetic"))]]
    return section("Diagnosis on real and synthetic images", [
        table(["images", "diagnosis accuracy"], rows, numeric={1}),
        note(f"{d.get('n_answers_with_diagnosis', 0):,} answers named a diagnosis; "
             f"{fmt_pct(d.get('share_not_sure'))} were 'not sure'.")], sid="diagnosis")


def _fidelity(data) -> Markup | None:
    f = data.get("fidelity")
    if not f:
        return None
    pairs = f["pairs"]
    prow = [[p["fst"], p["diagnosis"] or "(whole type)", p["n_images"], p["accuracy"], p["d_prime"], p["fid"], p["kid"],
             p["ita_fst_match"], p["ita_mean_abs_error"]] for p in pairs]
    crow = [[c["detectability"], c["fidelity"], c["n_cells"], c["rho"], fmt_p(c["p_value"])] for c in f["correlations"]]
    parts = [table(["type", "diagnosis", "images", "accuracy", "d'", "FID", "KID", "ITA type match", "ITA error (deg)"],
                   prow, caption="Cells in both the study and the synthetic audit", numeric=set(range(2, 9))),
             table(["detectability", "fidelity", "cells", "Spearman rho", "p"], crow, caption="Correlations",
                   numeric={2, 3}), note(f["note"])]
    pts = [p for p in pairs if p["fid"] is not None and p["accuracy"] is not None]
    if pts:
        groups = [{"name": f"type {p['fst']}", "x": [p["fid"]], "y": [p["accuracy"]], "style": style_for(p["fst"])}
                  for p in pts]
        parts.insert(0, figure(scatter(groups, title="Detectability vs FID per cell", xlabel="FID",
                                       ylabel="reader accuracy", kind="scatter-fidelity",
                                       desc="Each cell's reader accuracy against its FID."),
                               "Higher FID (further from real in feature space) should mean easier to spot."))
    return section("Detectability and fidelity", parts, sid="fidelity")


def reader_study_sections(data: Mapping) -> list[Markup]:
    """The report's sections, for this report or as part of another."""
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA or data.get("kind") != "analysis":
        raise InputError(f"reader study report: expected a {SCHEMA} analysis dict, got "
                         f"{data.get('schema') if isinstance(data, Mapping) else type(data).__name__!r}")
    summary = Markup('<div class="summary" id="summary"><ul>' + "".join(f"<li>{esc(s)}</li>" for s in summary_sentences(data))
                     + "</ul></div>")
    m = data["method"]
    methods = section("How the numbers were made", [dl([(k.replace("_", " "), v) for k, v in m.items()]),
                                                    dl([("median seconds per image", data["time"]["median_seconds"]),
                                                        ("answers past the time limit", data["time"]["over_time"])])],
                      sid="methods")
    warn = [section("Warnings", [note(w) for w in data["warnings"]], sid="warnings")] if data.get("warnings") else []
    parts = [summary, _readers(data), _types(data), _realism(data), _agreement(data), _diagnosis(data),
             _fidelity(data), methods, *warn]
    return [p for p in parts if p is not None]


def render_reader_study_report(data: Mapping, path: str | Path) -> Path:
    """Write the HTML report (and the data beside it as JSON)."""
    body = reader_study_sections(data)
    toc = [("summary", "Summary"), ("readers", "Readers"), ("types", "By skin type"), ("realism", "Realism"),
           ("agreement", "Agreement"), ("diagnosis", "Diagnosis")]
    if data.get("fidelity"):
        toc.append(("fidelity", "Fidelity"))
    toc.append(("methods", "Methods"))
    title = str(data.get("study", {}).get("title") or "Reader study")
    html = page(title, body, subtitle=f"fairskin reader study analysis, {data.get('created', '')}", toc=toc,
                defs=SVG_DEFS)
    return write_report(html, data, path)
