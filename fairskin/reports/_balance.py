"""The balance report: renders a ``fairskin.balance/1`` dict (``docs/report-inputs.md``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fairskin.reports import _svg
from fairskin.reports._html import (MIN_RELIABLE_N, Markup, dl, esc, fmt, fmt_pct, note, page, require, section,
                                    table, write_report)
from fairskin.reports._palette import DEFAULT_CUTS, TYPE_KEYS, representative_ita, style_for, type_of_group
from fairskin.reports._parts import check_schema, figure, swatch, type_badge, type_section
from fairskin.reports._thumbs import ThumbBudget
from fairskin.skintone import type_label

__all__ = ["render_balance_report", "build_balance_html"]

MAX_SAMPLES_PER_CELL = 8


def _int(x) -> int:
    return int(x) if isinstance(x, (int, float)) and x == x else 0


def _cell(c: Mapping, i: int) -> dict:
    where = f"render_balance_report: cells[{i}]"
    fst = type_of_group(require(c, "fst", where))
    if fst is None:
        from fairskin.errors import InputError
        raise InputError(f"{where}: fst must be '1'..'6' or 'I'..'VI', got {c.get('fst')!r}")
    real, target, syn = (_int(require(c, k, where)) for k in ("real", "target", "synthetic"))
    gen = c.get("generated")
    gen = _int(gen) if gen is not None else None
    return {"fst": fst, "diagnosis": str(require(c, "diagnosis", where)), "real": real, "target": target,
            "synthetic": syn, "after": real + syn, "generated": gen,
            "acceptance": (syn / gen) if gen else None, "short": real + syn < target,
            "rejected": c.get("rejected_reasons") or {}, "samples": c.get("samples") or {}}


def build_balance_html(data: Mapping, *, budget: ThumbBudget | None = None) -> str:
    """The balance report's page: summary, totals per type, the cell table, synthetic next to real
    per type, provenance (each section one function below)."""
    check_schema(data, "fairskin.balance/1", "render_balance_report")
    budget = budget or ThumbBudget()
    root = data.get("image_root")
    cuts = list((data.get("scale") or {}).get("cuts") or DEFAULT_CUTS)
    cells = [_cell(c, i) for i, c in enumerate(require(data, "cells", "render_balance_report"))]
    by_type = {k: [c for c in cells if c["fst"] == k] for k in TYPE_KEYS}
    tot = {k: {f: sum(c[f] for c in by_type[k]) for f in ("real", "synthetic", "after", "target")} for k in TYPE_KEYS}
    sections = [("summary", "Summary", "Summary", _summary(data, cells, tot)),
                ("totals", "Totals", "Before and after, per skin type", _totals(data, tot)),
                ("cells", "Cells", "Cells", _cells_table(cells, cuts)),
                ("types", "Per type", "Per skin type: synthetic next to real",
                 _type_sections(cells, by_type, tot, cuts=cuts, root=root, budget=budget)),
                ("provenance", "Provenance", "Provenance", _provenance(data, root))]
    body = [section(title, parts, sid=sid) for sid, _, title, parts in sections]
    toc = [(sid, entry) for sid, entry, _, _ in sections]
    sub = f"fairskin {data.get('fairskin_version', '?')} \u00b7 {data.get('created', '')}"
    return page("Balancing with synthetic images", body, subtitle=sub, toc=toc, defs=_svg.DEFS)


def _summary(data: Mapping, cells: list[dict], tot: dict) -> list:
    """The headline lines (cells, images added, gate acceptance, types V and VI, cells short of target) and warnings."""
    n_real = sum(c["real"] for c in cells)
    n_syn = sum(c["synthetic"] for c in cells)
    n_gen = sum(c["generated"] or 0 for c in cells if c["generated"] is not None)
    short = [c for c in cells if c["short"]]
    lines = [f"{len(cells)} cells (skin type \u00d7 diagnosis): {n_real:,} real images, {n_syn:,} synthetic images added "
             f"({fmt_pct(n_syn / (n_real + n_syn), 1) if n_real + n_syn else 'n/a'} of the balanced set)."]
    if n_gen:
        lines.append(f"ITA gate: {n_syn:,} of {n_gen:,} generated images accepted ({fmt_pct(n_syn / n_gen, 1)}).")
    for k in ("5", "6"):
        t = tot[k]
        if t["target"]:
            lines.append(f"Type {type_label(k)}: {t['real']:,} real \u2192 {t['after']:,} after balancing "
                         f"(target {t['target']:,}; {fmt_pct(t['synthetic'] / t['after'], 0) if t['after'] else 'n/a'} synthetic).")
    if short:
        lines.append(f"{len(short)} cell(s) still below target: "
                     + "; ".join(f"{type_label(c['fst'])} / {c['diagnosis']} ({c['after']} of {c['target']})" for c in short[:12])
                     + (" \u2026" if len(short) > 12 else "") + ".")
    else:
        lines.append("Every cell reaches its target.")
    parts = [Markup('<div class="summary"><ul>' + "".join(f"<li>{esc(l)}</li>" for l in lines) + "</ul></div>")]
    if data.get("warnings"):
        parts.append(Markup("<h3>Warnings</h3><ul>" + "".join(f"<li>{esc(w)}</li>" for w in data["warnings"][:200]) + "</ul>"))
    return parts


def _totals(data: Mapping, tot: dict) -> list:
    """Images per type before and after balancing against the target, and the target shares."""
    cats = [type_label(k) for k in TYPE_KEYS]
    series = [{"name": "before (real)", "values": [tot[k]["real"] for k in TYPE_KEYS], "colour": "#0072B2"},
              {"name": "after (real + synthetic)", "values": [tot[k]["after"] for k in TYPE_KEYS], "colour": "#E69F00"},
              {"name": "target", "values": [tot[k]["target"] for k in TYPE_KEYS], "colour": "#CCCCCC"}]
    unrel = [type_label(k) for k in TYPE_KEYS if tot[k]["real"] < MIN_RELIABLE_N]
    desc = "; ".join(f"type {type_label(k)}: {tot[k]['real']} real before, {tot[k]['after']} after, target {tot[k]['target']}"
                     for k in TYPE_KEYS)
    chart = _svg.bar_chart(cats, series, title="Images per skin type before and after balancing", desc=desc,
                           ylabel="images", xlabel="Fitzpatrick skin type", unreliable=unrel, width=760,
                           kind="balance-totals", unreliable_label=f"real n<{MIN_RELIABLE_N}")
    parts = [figure(chart, "Per type, summed over diagnoses: blue solid = real images before balancing; orange dotted "
                           "= after adding synthetic images; grey striped = target. Hatched: fewer than "
                           f"{MIN_RELIABLE_N} real images (the synthetic ones rest on very few real examples).")]
    shares = data.get("shares") or []
    if shares:
        parts.append(table(["set", "types", "target share", "real", "after", "share before", "share after"],
                           [[x.get("set"), x.get("types"), fmt_pct(x.get("target"), 1), x.get("real"), x.get("final"),
                             fmt_pct(x.get("share_before"), 1), fmt_pct(x.get("share_after"), 1)] for x in shares],
                           caption="Target shares", numeric={3, 4}))
    return parts


def _cells_table(cells: list[dict], cuts: list) -> list:
    """Every cell before and after, and the ITA gate's acceptance per cell."""
    rows, classes = [], []
    for c in cells:
        rows.append([Markup(f'<span class="nw">{swatch(c["fst"], representative_ita(c["fst"], cuts))}{esc(type_label(c["fst"]))}</span>'), c["diagnosis"],
                     c["real"], c["synthetic"], c["after"], c["target"],
                     Markup('<span class="badge bad">short</span>') if c["short"] else Markup('<span class="badge ok">met</span>'),
                     fmt(c["generated"]), fmt_pct(c["acceptance"], 0),
                     ", ".join(f"{k}: {v}" for k, v in c["rejected"].items()) or "",
                     type_badge(c["real"], 10) or ""])
        classes.append(" ".join(x for x in ("short" if c["short"] else "", "unreliable" if c["real"] < 10 else "") if x))
    parts = [table(["type", "diagnosis", "real (before)", "synthetic added", "after", "target", "target met",
                    "generated", "accepted", "rejected because", "note"], rows, row_classes=classes,
                   caption="Cells before and after balancing", numeric={2, 3, 4, 5, 7, 8}, max_rows=400),
             note("'accepted' = synthetic images that passed the ITA gate / images generated. Hatched rows: fewer than "
                  "10 real images in the cell.")]
    acc_rows = [{"label": f"{type_label(c['fst'])} / {c['diagnosis']}"[:40], "value": c["acceptance"], "lo": None, "hi": None,
                 "style": style_for(c["fst"]), "unreliable": c["real"] < 10}
                for c in cells if c["generated"]]
    if acc_rows:
        parts.append(figure(_svg.forest(acc_rows[:120], title="ITA-gate acceptance per cell", xlabel="share of generated images accepted",
                                        desc="Acceptance rate of the ITA gate for each cell: " + "; ".join(
                                            f"{r['label']}: {fmt_pct(r['value'])}" for r in acc_rows[:120]),
                                        xlim=(0.0, 1.0), kind="acceptance", value_fmt=lambda v: f"{100 * v:.0f}%"),
                            "ITA-gate acceptance per cell (marker shape and colour = skin type; hollow = fewer than 10 real images)."))
    return parts


def _type_sections(cells: list[dict], by_type: dict, tot: dict, *, cuts: list, root, budget: ThumbBudget) -> list:
    """Per type, each cell's synthetic samples next to its real ones (the thumbnail budget shared out over the cells)."""
    n_sample_cells = sum(1 for c in cells if c["samples"].get("synthetic") or c["samples"].get("real")) or 1
    per = max(1, min(MAX_SAMPLES_PER_CELL, budget.max_count // (2 * n_sample_cells)))
    secs = []
    for k in TYPE_KEYS:
        cs = by_type[k]
        t = tot[k]
        blocks = [dl([("cells", len(cs)), ("real", t["real"]), ("synthetic added", t["synthetic"]),
                      ("after / target", f"{t['after']:,} / {t['target']:,}")])]
        if not cs:
            blocks.append(note(f"No cells of type {type_label(k)} in the balance plan."))
        grid = ['<div class="cellgrid"><div class="h" data-col="cell">cell</div><div class="h" data-col="synthetic">'
                'synthetic</div><div class="h" data-col="real">real</div>']
        for c in cs:
            syn = (c["samples"].get("synthetic") or [])
            real = (c["samples"].get("real") or [])
            # exactly three children per cell (a strip is one element with its note): rows never shift
            grid.append(f'<div data-col="cell">{esc(c["diagnosis"])}<br><small>{c["real"]} real + {c["synthetic"]} '
                        f'synthetic = {c["after"]} / {c["target"]}</small></div>')
            grid.append(Markup('<div data-col="synthetic">') + (budget.strip(
                syn, root, limit=per, caption=_syn_caption,
                alt=lambda it, c=c: f"synthetic image, type {type_label(c['fst'])}, {c['diagnosis']}, "
                                    f"ITA {fmt(it.get('ita'), 1)}") if syn else note("no synthetic images")) + Markup("</div>"))
            grid.append(Markup('<div data-col="real">') + (budget.strip(
                real, root, limit=per, caption=_real_caption,
                alt=lambda it, c=c: f"real image, type {type_label(c['fst'])}, {c['diagnosis']}")
                if real else note("no real images")) + Markup("</div>"))
        grid.append("</div>")
        if cs:
            blocks.append(Markup("".join(grid)))
        secs.append(type_section(k, f"Type {type_label(k)}", representative_ita(k, cuts),
                                 type_badge(t["real"], flags=()) if cs else Markup(""), blocks))
    return secs


def _provenance(data: Mapping, root) -> list:
    """The image root, the target rule, the ITA gate and the generator's settings."""
    gen = data.get("generator") or {}
    gate = data.get("gate") or {}
    target = data.get("target") or {}
    parts = [dl([("image root", root), ("target rule", target.get("rule")), ("target", target.get("description")),
                 ("ITA gate", gate.get("description")), ("ITA tolerance (degrees)", gate.get("ita_tolerance"))]
                + [(f"generator: {k}", v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                   for k, v in gen.items()])]
    return parts


def _syn_caption(it: Mapping) -> str:
    acc = it.get("accepted")
    state = "" if acc is None else (" \u2713 accepted" if acc else " \u2717 rejected")
    return f"ITA {fmt(it.get('ita'), 1)}\u00b0{state}"


def _real_caption(it: Mapping) -> str:
    """A real image's measured ITA (from --labels), or why there is none."""
    return "ITA not measured (no --labels)" if it.get("ita") is None else f"ITA {fmt(it.get('ita'), 1)}\u00b0"


def render_balance_report(data: Mapping, path) -> Path:
    """Write the balance report ``path`` (HTML) and the dict beside it (``.json``).

    ``data``: a ``fairskin.balance/1`` dict, documented in ``docs/report-inputs.md``.
    """
    return write_report(build_balance_html(data), data, path)
