"""The synthetic-image audit: renders a ``fairskin.synthetic_audit/1`` dict
(``docs/report-inputs.md``), as its own report or as sections of the audit report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fairskin.reports import _svg
from fairskin.reports._html import (MIN_RELIABLE_N, Markup, ci_cell, esc, fmt, fmt_ci, fmt_pct, metric_parts, note, page,
                                    require, section, table, write_report)
from fairskin.reports._palette import TYPE_KEYS, representative_ita, style_for, type_of_group
from fairskin.reports._parts import check_schema, figure, type_badge, type_section
from fairskin.reports._thumbs import ThumbBudget
from fairskin.skintone import type_label

__all__ = ["render_synthetic_report", "build_synthetic_html", "synthetic_sections"]

MAX_POINTS = 4000
MAX_PAIRS = 24


def _cells(data: Mapping, min_n: int) -> list[dict]:
    out = []
    for i, c in enumerate(require(data, "cells", "synthetic audit")):
        where = f"synthetic audit: cells[{i}]"
        fst = type_of_group(require(c, "fst", where))
        if fst is None:
            from fairskin.errors import InputError
            raise InputError(f"{where}: fst must be '1'..'6' or 'I'..'VI', got {c.get('fst')!r}")
        n_real, n_syn = require(c, "n_real", where), require(c, "n_synthetic", where)
        d = dict(c)
        d["fst"] = fst
        d["label"] = type_label(fst) + ("" if c.get("diagnosis") in (None, "") else f" / {c['diagnosis']}")
        if isinstance(c.get("reliable"), bool):  # the audit's own judgement, when it gives one
            d["unreliable"] = not c["reliable"]
        else:
            d["unreliable"] = (n_real or 0) < min_n or (n_syn or 0) < min_n
        out.append(d)
    return out


def _interval(tgt) -> str:
    """[low, high] ITA interval, None for an open end -> '19° to 28°', '> 55°', '≤ 10°'."""
    if not isinstance(tgt, (list, tuple)) or len(tgt) != 2:
        return "n/a"
    lo, hi = tgt
    if lo is not None and hi is not None:
        return f"{float(lo):g}° to {float(hi):g}°"
    if lo is None and hi is None:
        return "any"
    return f"> {float(lo):g}°" if hi is None else f"≤ {float(hi):g}°"


def _collapse_cell(c: Mapping) -> Markup:
    flag, reason = c.get("mode_collapse"), c.get("mode_collapse_reason") or ""
    if flag is True:
        return Markup(f'<span class="badge bad">MODE COLLAPSE</span> {esc(reason)}')
    if flag is None:
        return Markup("not judged" + (f"<br><small>{esc(reason)}</small>" if reason else ""))
    return Markup("no" + (f"<br><small>{esc(reason)}</small>" if reason else ""))


def _forest_rows(cells, key):
    rows = []
    for c in cells:
        v, lo, hi = metric_parts(c.get(key))
        rows.append({"label": c["label"][:44], "value": v, "lo": lo, "hi": hi, "style": style_for(c["fst"]),
                     "unreliable": c["unreliable"]})
    return rows


def _subsample(points: list, k: int) -> list:
    """At most ``k`` points, stratified by (source, fst), seeded: the same input gives the same plot."""
    if len(points) <= k:
        return points
    rng = np.random.default_rng(0)
    strata: dict = {}
    for i, p in enumerate(points):
        strata.setdefault((str(p.get("source")), str(p.get("fst"))), []).append(i)
    keep = []
    for idx in strata.values():
        m = max(1, round(k * len(idx) / len(points)))
        keep.extend(rng.choice(idx, size=min(m, len(idx)), replace=False).tolist())
    return [points[i] for i in sorted(keep)[:k]]


#: the feature-space columns of a document written before its ``metrics`` list
_EARLIER_COLUMNS = (
    {"key": "fid", "label": "FID", "digits": 1, "reading": "lower = closer to real"},
    {"key": "kid", "label": "KID", "digits": 3, "reading": "lower = closer to real"},
    {"key": "precision", "label": "precision", "bounded": True, "reading": "share of synthetic images on the real manifold"},
    {"key": "recall", "label": "recall", "bounded": True, "reading": "share of the real manifold covered"},
)


def metric_columns(data: Mapping) -> list[dict]:
    """The feature-space metrics' columns: the audit's ``metrics`` (its registry), the Fréchet
    distance named by :func:`fd_name`."""
    cols = [dict(c) for c in (data.get("metrics") or _EARLIER_COLUMNS) if isinstance(c, Mapping) and c.get("key")]
    for c in cols:
        if c["key"] == "fid":
            c["label"] = fd_name(data)
    return cols


def fd_name(data: Mapping) -> str:
    """What the Fréchet distance is called: "FID" only for Inception-v3 with the published FID
    weights; otherwise "FD (extractor)", since a distance in another feature space is not comparable
    with published FIDs."""
    if data.get("fid_is_inception"):
        return "FID"
    ext = str(data.get("extractor_id") or "")
    for name in ("colour-texture", "inception", "classifier", "hf"):
        if ext.startswith(name):
            return f"FD ({name})"
    return "FD"


def synthetic_sections(data: Mapping, budget: ThumbBudget, *, prefix: str = "syn-") -> tuple[list, list]:
    """(sections, toc entries) for a synthetic-audit dict; ``prefix`` keeps ids unique when the
    sections are part of the audit report. Summary, metric plots and per type always; the
    memorisation check and the feature-space map when the dict has them."""
    check_schema(data, "fairskin.synthetic_audit/1", "synthetic audit")
    min_n = int(data.get("min_reliable_n") or MIN_RELIABLE_N)
    cells = _cells(data, min_n)
    fd = fd_name(data)
    mem = data.get("memorisation") or {}
    pts = (data.get("embedding") or {}).get("points") or []
    sections = [("summary", "Synthetic summary", "Synthetic images: summary", _summary(data, cells, min_n)),
                ("metrics", f"{fd}/KID", "Fidelity and coverage per cell",
                 [Markup('<div class="grid">' + "".join(_metric_plots(data, cells, min_n)) + "</div>")]),
                ("types", "Synthetic per type", "Synthetic images per skin type",
                 _type_tables(data, cells, min_n, prefix=prefix))]
    if mem:
        sections.append(("memorisation", "Memorisation", "Memorisation check", _memorisation(data, mem, budget)))
    if pts:
        sections.append(("embedding", "Embedding", "Feature-space map", _embedding_map(data.get("embedding"), pts)))
    body = [section(title, parts, sid=f"{prefix}{sid}") for sid, _, title, parts in sections]
    toc = [(f"{prefix}{sid}", entry) for sid, entry, _, _ in sections]
    return body, toc


def _summary(data: Mapping, cells: list[dict], min_n: int) -> list:
    """The headline lines (mode collapse, the Fréchet distance's range, the lowest type fidelity,
    all images, memorisation, small cells) and the audit's warnings."""
    lines = []
    collapsed = [c for c in cells if c.get("mode_collapse")]
    lines.append(f"{len(cells)} cells audited; " + (f"mode collapse flagged in {len(collapsed)}: "
                 + ", ".join(c["label"] for c in collapsed[:12]) + "." if collapsed else "no mode collapse flagged."))
    fd = fd_name(data)
    fids = [(metric_parts(c.get("fid"))[0], c) for c in cells]
    fids = [(v, c) for v, c in fids if v is not None]
    if fids:
        best, worst = min(fids, key=lambda t: t[0]), max(fids, key=lambda t: t[0])
        lines.append(f"{fd} (lower is closer to the real images) ranges from {best[0]:.1f} ({best[1]['label']}) to "
                     f"{worst[0]:.1f} ({worst[1]['label']}): {fmt_ci(worst[1].get('fid'), 1)}.")
    fst_match = [((c.get("ita_fidelity") or {}).get("fst_match"), c) for c in cells]
    fst_match = [(v, c) for v, c in fst_match if isinstance(v, (int, float))]
    if fst_match:
        v, c = min(fst_match, key=lambda t: t[0])
        lines.append(f"Lowest skin-type fidelity: {c['label']}, {fmt_pct(v)} of its synthetic images are estimated as "
                     f"type {type_label(c['fst'])}.")
    overall = data.get("overall") or {}
    if overall:
        of = overall.get("ita_fidelity") or {}
        lines.append(f"All synthetic images: {fmt(overall.get('n_synthetic'))} (against {fmt(overall.get('n_real'))} real); "
                     f"{fmt_pct(of.get('fst_match'))} are estimated as the skin type they were generated for.")
    mem = data.get("memorisation") or {}
    pairs = mem.get("pairs") or []
    if mem:
        lines.append(f"Memorisation: {len(pairs)} synthetic image(s) closer than {fmt(mem.get('threshold'))} "
                     f"({mem.get('metric', 'distance')}) to a real image, of {fmt(mem.get('n_checked'))} checked.")
    small = [c["label"] for c in cells if c["unreliable"]]
    if small:
        lines.append(f"Cells with fewer than {min_n} real or synthetic images (estimates unreliable): " + ", ".join(small[:12]) + ".")
    parts = [Markup('<div class="summary"><ul>' + "".join(f"<li>{esc(l)}</li>" for l in lines) + "</ul></div>")]
    for w in (data.get("warnings") or [])[:50]:
        parts.append(note(f"Warning: {w}"))
    return parts


def _metric_plots(data: Mapping, cells: list[dict], min_n: int) -> list:
    """One forest plot per plotted feature-space metric across the cells."""
    fd = fd_name(data)
    parts = []
    columns = metric_columns(data)
    for col in [c for c in columns if c.get("plot", True)]:
        key, xl, digits = col["key"], col["label"], int(col.get("digits") or 2)
        title = f"{xl[:1].upper()}{xl[1:]} per cell" + (f" ({col['reading']})" if col.get("reading") else "")
        rows = _forest_rows(cells, key)
        if any(r["value"] is not None for r in rows):
            parts.append(figure(_svg.forest(rows, title=title, xlabel=xl, kind=f"forest-{key}",
                                            desc="; ".join(f"{r['label']}: {fmt_ci(c.get(key), digits)}"
                                                           for r, c in zip(rows, cells)),
                                            value_fmt=lambda v, d=digits: f"{v:.{d}f}",
                                            xlim=(0.0, 1.0) if col.get("bounded") else None),
                                title + ". Whiskers: confidence interval; marker = skin type; hatched and hollow = "
                                        f"fewer than {min_n} images."))
    if not parts:
        parts.append(note(f"No {fd}/KID/precision/recall values in the synthetic audit."))
    return parts


def _type_tables(data: Mapping, cells: list[dict], min_n: int, *, prefix: str) -> list:
    """Per type, a table of its cells: ITA asked and hit, the metrics, diversity, mode collapse."""
    columns = metric_columns(data)
    table_cols = [c for c in columns if c.get("in_table", True)]
    secs = []
    for k in TYPE_KEYS:
        cs = [c for c in cells if c["fst"] == k]
        if not cs:
            secs.append(type_section(k, f"Type {type_label(k)}", representative_ita(k), Markup(""),
                                     [note("No synthetic images of this type were audited.")], sid=f"{prefix}type-{k}"))
            continue
        rows, classes = [], []
        for c in cs:
            itaf = c.get("ita_fidelity") or {}
            div = c.get("lpips_diversity") or {}
            tgt = itaf.get("target")
            tgt_s = _interval(tgt)
            rows.append([Markup(esc(c.get("diagnosis") or "all") + " " + type_badge(min(c.get("n_real") or 0, c.get("n_synthetic") or 0), min_n)),
                         c.get("n_real"), c.get("n_synthetic"), tgt_s,
                         fmt(itaf.get("mean_abs_error"), 1), fmt_pct(itaf.get("within_tolerance")),
                         fmt_pct(itaf.get("fst_match")),
                         *(ci_cell(c.get(col["key"]), int(col.get("digits") or 2)) for col in table_cols),
                         f"{fmt(div.get('synthetic'))} / {fmt(div.get('real'))}",
                         _collapse_cell(c)])
            classes.append("unreliable" if c["unreliable"] else "")
        tbl = table(["diagnosis", "real", "synthetic", "ITA asked", "ITA error (\u00b0)", "ITA within tol.",
                     "type match", *(col["label"] for col in table_cols), "LPIPS diversity syn / real",
                     "mode collapse"], rows, row_classes=classes, numeric={1, 2},
                    caption=f"Synthetic images of type {type_label(k)}")
        badge = Markup("")
        if any(c.get("mode_collapse") for c in cs):
            badge = Markup('<span class="badge bad">mode collapse</span>')
        if all(c["unreliable"] for c in cs):
            badge += type_badge(0, min_n)
        secs.append(type_section(k, f"Type {type_label(k)}", representative_ita(k), badge, [tbl], sid=f"{prefix}type-{k}"))
    return secs


def _memorisation(data: Mapping, mem: Mapping, budget: ThumbBudget) -> list:
    """The synthetic images closer than the threshold to a real one, each beside its nearest real image."""
    root = data.get("image_root")
    pairs = mem.get("pairs") or []
    blocks = [note(f"Pairs of a synthetic image and its nearest real image with {mem.get('metric', 'distance')} "
                   f"below {fmt(mem.get('threshold'))}: possible copies of training images "
                   f"({fmt(mem.get('n_checked'))} synthetic images checked).")]
    if pairs:
        out = ['<div class="pairs">']
        for p in pairs[:MAX_PAIRS]:
            fst = type_of_group(p.get("fst"))
            lab = f"type {type_label(fst)}, {p.get('diagnosis')}, distance {fmt(p.get('distance'), 3)}"
            a = budget.thumb(p.get("synthetic"), root, caption=f"synthetic: {p.get('synthetic')}",
                             alt=f"synthetic image {p.get('synthetic')} ({lab})")
            if p.get("is_source_image"):
                lab += " (its own source image: expected for image-to-image generation)"
            b = budget.thumb(p.get("real"), data.get("real_root") or root, caption=f"nearest real: {p.get('real')}",
                             alt=f"real image {p.get('real')}, nearest to the synthetic one")
            out.append(f'<div class="pair" data-distance="{esc(fmt(p.get("distance"), 4))}">{a or ""}{b or ""}'
                       f'<p class="note">{esc(lab)}</p></div>')
        out.append("</div>")
        blocks.append(Markup("".join(out)))
        if len(pairs) > MAX_PAIRS:
            blocks.append(note(f"{len(pairs) - MAX_PAIRS} more pairs in the JSON file."))
    else:
        blocks.append(note("No synthetic image was closer than the threshold to a real one."))
    return blocks


def _embedding_map(emb: Mapping, pts: list) -> list:
    """Real and synthetic images in the 2-D projection of the feature space (at most ``MAX_POINTS``)."""
    shown = _subsample(pts, MAX_POINTS)
    groups = []
    for k in TYPE_KEYS:
        for src in ("real", "synthetic"):
            sel = [p for p in shown if type_of_group(p.get("fst")) == k and str(p.get("source")) == src]
            if sel:
                groups.append({"name": f"{type_label(k)} {src}", "x": [p.get("x") for p in sel], "y": [p.get("y") for p in sel],
                               "style": style_for(k), "hollow": src == "synthetic"})
    desc = (f"{emb.get('method', '2-D')} projection of image features: {len(shown)} of {len(pts)} points; "
            "filled markers real, hollow markers synthetic; marker shape and colour = skin type.")
    blocks = [figure(_svg.scatter(groups, title=f"Real and synthetic images in feature space ({emb.get('method', '2-D')})",
                                  desc=desc, xlabel="component 1", ylabel="component 2", kind="embedding"),
                     desc + " Synthetic images far from the real ones of their type, or collapsed onto few "
                            "points, show up here.")]
    return blocks


def build_synthetic_html(data: Mapping, *, budget: ThumbBudget | None = None) -> str:
    body, toc = synthetic_sections(data, budget or ThumbBudget(), prefix="")
    sub = (f"fairskin {data.get('fairskin_version', '?')} \u00b7 {data.get('created', '')} \u00b7 features: "
           f"{data.get('features', 'n/a')} \u00b7 bootstrap: {fmt(data.get('n_bootstrap'))}")
    return page("Synthetic-image audit", body, subtitle=sub, toc=toc, defs=_svg.DEFS)


def render_synthetic_report(data: Mapping, path) -> Path:
    """Write the synthetic-image audit report ``path`` (HTML) and the dict beside it (``.json``).

    ``data``: a ``fairskin.synthetic_audit/1`` dict, documented in ``docs/report-inputs.md``.
    """
    return write_report(build_synthetic_html(data), data, path)
