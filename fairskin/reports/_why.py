"""Why a model does worse on some skin: the audit report's sections for the optional top-level
``saliency`` and ``counterfactual`` entries of the audit JSON (``docs/audit-json.md``).

Per model: where the attribution falls (lesion, healthy skin, background) per skin type with
intervals and the tests between types, and per skin type a grid of overlays for correct and
wrong predictions; then what happens to the score when the healthy skin is re-toned to each
other type. Overlays and re-toned thumbnails travel in the JSON as small ``data:`` JPEGs (the
page's policy allows no other image source); anything else in their place is not drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fairskin.reports import _svg
from fairskin.reports._html import Markup, ci_cell, dl, esc, fmt, fmt_ci, fmt_p, fmt_pct, metric_parts, note, section, table
from fairskin.reports._palette import representative_ita, style_for, type_of_group
from fairskin.reports._parts import figure, type_badge, type_section

__all__ = ["why_sections"]

_DATA_URI = re.compile(r"data:image/(?:jpeg|png);base64,[A-Za-z0-9+/]+={0,2}")
REGION_NAMES = {"lesion": "lesion", "skin": "healthy skin", "background": "background"}


def _img(uri, alt: str, caption: str) -> Markup:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    if isinstance(uri, str) and _DATA_URI.fullmatch(uri):
        return Markup(f'<figure class="thumb"><img src="{esc(uri)}" width="96" height="96" alt="{esc(alt)}">{cap}</figure>')
    return Markup(f'<figure class="thumb"><div class="missing" role="img" aria-label="{esc(alt)}: not shown">'
                  f"not shown: not an embedded image</div>{cap}</figure>")


def _alpha(meta: Mapping) -> float:
    lvl = meta.get("ci_level")
    return 1 - float(lvl) if isinstance(lvl, (int, float)) and 0 < lvl < 1 else 0.05


def _family_p(t: Mapping, family: int) -> float | None:
    """The p-value a "significant" is read from: Holm-adjusted over the section's ``family`` tests;
    for an older JSON without it, Bonferroni over the family (never the raw p-value)."""
    if t.get("p_value_holm") is not None:
        return t["p_value_holm"]
    p = t.get("p_value")
    return None if p is None else min(1.0, p * max(family, 1))


def _label(group) -> str:
    return f"FST {group}"


def _summary(lines: list[str]) -> Markup:
    return Markup('<div class="summary" role="note"><ul>' + "".join(f"<li>{esc(s)}</li>" for s in lines) + "</ul></div>")


def _saliency_summary(s: Mapping, alpha: float) -> list[str]:
    lines = []
    name = s.get("model", "model")
    for t in s.get("tests") or []:
        v, p = t.get("value"), _family_p(t, len(s.get("tests") or []))
        if v is None:
            continue
        sig = "significant" if p is not None and p < alpha else "not significant"
        if t.get("name") == "lesion_share_gap":
            a, b = (t.get("groups") or ["?", "?"])[:2]
            more = "less" if v > 0 else "more"
            lines.append(f"{name}: on {_label(b)} the map puts {abs(v):.0%} {more} of its weight on the lesion than on "
                         f"{_label(a)} ({fmt_ci(t, 2)}; {sig}, Holm-adjusted {fmt_p(p)}).")
        elif t.get("name") == "lesion_share_homogeneity":
            lines.append(f"{name}: the mean lesion share differs by up to {v:.0%} between skin types ({sig}, Holm-adjusted {fmt_p(p)}, "
                         f"{t.get('p_value_method')}).")
    small = [g for g in s.get("groups") or [] if not g.get("reliable", True)]
    if small:
        lines.append(f"{name}: few images for " + ", ".join(f"{_label(g.get('group'))} (n={g.get('n')})"
                                                            for g in small[:8]) + ": read those rows with caution.")
    return lines or [f"{name}: no test between skin types (fewer than two groups)."]


def _saliency_section(s: Mapping, i: int, alpha: float, min_n: int) -> Markup:
    name = str(s.get("model", f"model {i + 1}"))
    groups = list(s.get("groups") or [])
    parts = [_summary(_saliency_summary(s, alpha)),
             dl([("method", f"{s.get('method')} ({s.get('library', '')})"),
                 ("layer", f"{s.get('layer')} ({s.get('layer_chosen')})"), ("explained score", s.get("explained_score")),
                 ("images", s.get("n_images")), ("not explained", s.get("n_bad")),
                 ("lesion masks", ", ".join(f"{v} {k}" for k, v in (s.get("lesion_masks") or {}).items()) or "none"),
                 ("intervals over", f"{s.get('resampling_unit', 'image')}s")])]
    plots = []
    for region in ("lesion", "skin"):
        rows = []
        for g in groups:
            v, lo, hi = metric_parts((g.get("shares") or {}).get(region))
            rows.append({"label": _label(g.get("group")), "value": v, "lo": lo, "hi": hi, "style": style_for(str(g.get("group"))),
                         "unreliable": not g.get("reliable", True)})
        if rows:
            plots.append(figure(_svg.forest(rows, title=f"Share of attribution on the {REGION_NAMES[region]} ({name})",
                                            xlabel=f"share on the {REGION_NAMES[region]}", xlim=(0.0, 1.0),
                                            kind=f"saliency-{region}",
                                            desc="; ".join(f"{r['label']}: {fmt_ci((g.get('shares') or {}).get(region))}"
                                                           for r, g in zip(rows, groups))),
                                f"Mean share of the {s.get('method')} map on the {REGION_NAMES[region]} per skin type, "
                                "95% CI. Hollow markers and hatching: too few images."))
    if plots:
        parts.append(Markup('<div class="grid">' + "".join(plots) + "</div>"))
    parts.append(table(["group", "n", "wrong", "lesion", "healthy skin", "background", "flags"],
                       [[_label(g.get("group")), g.get("n"), g.get("n_wrong"),
                         *(ci_cell((g.get("shares") or {}).get(k)) for k in REGION_NAMES),
                         ", ".join(g.get("flags") or []).replace("_", " ")] for g in groups],
                       row_classes=["unreliable" if not g.get("reliable", True) else "" for g in groups],
                       caption="Share of attribution per region (95% CI below each value)", numeric={1, 2}))
    tests = s.get("tests") or []
    if tests:
        parts.append(table(["test", "groups", "value (95% CI)", "p", "verdict", "flags"],
                           [[t.get("definition") or t.get("name"), " vs ".join(map(str, t.get("groups") or [])),
                             ci_cell(t, 3), f"{fmt_p(t.get('p_value'))} ({t.get('p_value_method') or 'no test'})"
                             + ("" if t.get("p_value_holm") is None else f"; Holm {fmt_p(t['p_value_holm'])}"),
                             "significant" if (_family_p(t, len(tests)) or 1.0) < alpha else "not significant",
                             ", ".join(t.get("flags") or []).replace("_", " ")] for t in tests],
                           caption="Differences between skin types"))
    parts.append(_overlay_grid(s, i, min_n))
    return section(f"{name}: where the model looks, per skin type", parts, sid=f"why-saliency-{i}")


def _overlay_grid(s: Mapping, i: int, min_n: int) -> Markup:
    by_group: dict[str, list] = {}
    for e in s.get("examples") or []:
        by_group.setdefault(str(e.get("group")), []).append(e)
    if not by_group:
        return note("No overlays in the audit JSON.")
    n_of = {str(g.get("group")): g for g in s.get("groups") or []}
    secs = [note("Overlays: the map over the image the model saw (dark = little weight, yellow = most); white line: the "
                 "lesion. Per skin type the correct and the wrong predictions farthest from the threshold.")]
    order = [g for g in n_of if g in by_group] + [g for g in by_group if g not in n_of]
    for group in order:
        items = by_group[group]
        rows = []
        for outcome in ("correct", "wrong"):
            these = [e for e in items if e.get("outcome") == outcome]
            thumbs = "".join(_img(e.get("overlay"), f"{outcome} prediction on {_label(group)}: {e.get('image')}",
                                  f"{'malignant' if e.get('label') else 'benign'}, score {fmt(e.get('score'))}, "
                                  f"lesion {fmt_pct((e.get('shares') or {}).get('lesion'))}") for e in these)
            head = Markup(f"<h4>{esc(outcome)} ({len(these)})</h4>")
            rows.append(head + (Markup(f'<div class="thumbs">{thumbs}</div>') if these else note("none")))
        g = n_of.get(group, {})
        badge = type_badge(g.get("n"), min_n, flags=g.get("flags") or []) if not g.get("reliable", True) else Markup("")
        t = type_of_group(group)
        sid = f"why-saliency-{i}-{''.join(c if c.isalnum() else '-' for c in group)}"
        if t:
            secs.append(type_section(t, _label(group), representative_ita(t), badge, rows, sid=sid))
        else:
            secs.append(section(_label(group), rows, sid=sid, cls="typesec", level=3))
    return Markup("".join(secs))


def _counterfactual_section(c: Mapping, i: int, alpha: float) -> Markup:
    name = str(c.get("model", f"model {i + 1}"))
    sources = list(c.get("sources") or [])
    cells = list(c.get("cells") or [])
    level = "type" if any(x.get("level") == "type" for x in sources) else "group"
    flip = c.get("flip_rate") or {}
    lines = [f"{name}: re-toning the healthy skin to another skin type changes the prediction for "
             f"{fmt_pct(metric_parts(flip)[0], 1)} of the (image, target) pairs ({fmt_ci(flip)}); "
             f"{fmt_pct(c.get('landed'), 1)} of the re-toned images were measured in the requested type."]
    for x in sources:
        if x.get("level") != "group":
            continue
        for direction in ("darker", "lighter"):
            d = x.get(f"score_change_{direction}") or {}
            v, lo, hi = metric_parts(d)
            if v is not None and lo is not None and hi is not None and (lo > 0 or hi < 0):
                lines.append(f"{name}: {_label(x.get('source'))} images re-toned {direction}: the malignancy score "
                             f"{'rises' if v > 0 else 'falls'} by {abs(v):.3f} on average ({fmt_ci(d, 3)}).")
    parts = [_summary(lines), dl([("method", c.get("method")), ("scale", c.get("scale")),
                                  ("threshold", c.get("threshold")), ("images", c.get("n_images")),
                                  ("re-toned images", c.get("n_retoned")), ("failed", c.get("n_failed")),
                                  ("target ITA", ", ".join(f"{k} {fmt(v, 1)}\u00b0" for k, v in
                                                           (c.get("target_ita") or {}).items())),
                                  ("intervals over", f"{c.get('resampling_unit', 'image')}s")])]
    rows_l = [x for x in sources if x.get("level") == level]
    targets = sorted({str(x.get("target")) for x in cells}, key=lambda t: int(type_of_group(t) or 0))
    grid = {(str(x.get("source")), str(x.get("target"))): x for x in cells if x.get("level") == level}
    if rows_l and targets:
        matrix = [[_pct_or_none((grid.get((str(r.get("source")), t)) or {}).get("flip_rate")) for t in targets]
                  for r in rows_l]
        parts.append(figure(_svg.heatmap(matrix, [str(r.get("source")) for r in rows_l], targets,
                                         title=f"Prediction flips (%) when re-toned ({name})", row_title="source",
                                         col_title="re-toned to", kind="counterfactual-flips", normalise_rows=False,
                                         desc="Flip rate in percent per source and target type: " + "; ".join(
                                             f"{r.get('source')} to {t}: {m}%" for r, row in zip(rows_l, matrix)
                                             for t, m in zip(targets, row))),
                            "Share of images whose prediction changes (at the audit threshold) when the healthy skin "
                            "is re-toned to the column's type; a dash: the source's own type (not re-toned)."))
    parts.append(table(["source", "n", "landed", "flip rate", "score change", "toward darker", "toward lighter", "flags"],
                       [[_label(x.get("source")), x.get("n"), fmt_pct(x.get("landed")), ci_cell(x.get("flip_rate")),
                         ci_cell(x.get("mean_score_change"), 3), ci_cell(x.get("score_change_darker"), 3),
                         ci_cell(x.get("score_change_lighter"), 3), ", ".join(x.get("flags") or []).replace("_", " ")]
                        for x in sources], row_classes=["unreliable" if not x.get("reliable", True) else "" for x in sources],
                       caption="Per source skin type, pooled over its targets (95% CI below each value)", numeric={1}))
    parts.append(table(["source", "re-toned to", "n", "landed", "flip rate", "score change", "flags"],
                       [[_label(x.get("source")), x.get("target"), x.get("n"), fmt_pct(x.get("landed")),
                         ci_cell(x.get("flip_rate")), ci_cell(x.get("mean_score_change"), 3),
                         ", ".join(x.get("flags") or []).replace("_", " ")] for x in cells if x.get("level") == level],
                       row_classes=["unreliable" if not x.get("reliable", True) else "" for x in cells
                                    if x.get("level") == level],
                       caption="Per source and target type", numeric={2}))
    for e in c.get("examples") or []:
        thumbs = "".join(_img(v.get("image"), f"{e.get('image')} " + ("as given" if v.get("target") is None else
                                                                        f"re-toned to type {v.get('target')}"),
                              "original" if v.get("target") is None else f"\u2192 {v.get('target')}")
                         for v in e.get("versions") or [])
        parts.append(Markup(f'<h4>{esc(_label(e.get("source")))}: {esc(e.get("image"))}</h4><div class="thumbs">'
                            f"{thumbs}</div>"))
    return section(f"{name}: counterfactual skin tone", parts, sid=f"why-counterfactual-{i}")


def _pct_or_none(m) -> int | None:
    v = metric_parts(m)[0]
    return None if v is None else round(100 * v)


def why_sections(data: Mapping) -> tuple[list, list]:
    """(sections, toc entries) for the audit dict's ``saliency`` and ``counterfactual`` entries."""
    meta = data.get("meta") or {}
    alpha = _alpha(meta)
    min_n = int(meta.get("min_group_n") or 30)
    body, toc = [], []
    for i, s in enumerate(data.get("saliency") or []):
        body.append(_saliency_section(s, i, alpha, min_n))
        toc.append((f"why-saliency-{i}", f"{s.get('model', 'model')}: saliency"))
    for i, c in enumerate(data.get("counterfactual") or []):
        body.append(_counterfactual_section(c, i, alpha))
        toc.append((f"why-counterfactual-{i}", f"{c.get('model', 'model')}: counterfactual tone"))
    return body, toc
