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

__all__ = ["counterfactual_lines", "saliency_lines", "why_plain_lines", "why_sections"]

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


def _significant(t: Mapping, alpha: float, family: int) -> bool:
    """Significant by the family-adjusted p (:func:`_family_p`), never the raw one."""
    p = _family_p(t, family)
    return p is not None and p < alpha


def _test_sentence(name: str, t: Mapping, alpha: float, family: int) -> str | None:
    """One test between skin types in words; every test gets one (the significant ones first). The
    p-value shown is the Holm-adjusted one the reading comes from."""
    v, p = t.get("value"), _family_p(t, family)
    if v is None:
        return None
    sig = "significant" if _significant(t, alpha, family) else "not significant"
    a, b = (list(t.get("groups") or []) + ["?", "?"])[:2]
    if t.get("name") == "lesion_share_gap":
        more = "less" if v > 0 else "more"
        return (f"{name}: on {_label(b)} the map puts {abs(v):.0%} {more} of its weight on the lesion than on "
                f"{_label(a)} ({fmt_ci(t, 2)}; {sig}, Holm-adjusted {fmt_p(p)}).")
    if t.get("name") == "skin_share_gap":
        more = "more" if v > 0 else "less"
        return (f"{name}: on {_label(b)} the map puts {abs(v):.0%} {more} of its weight on the healthy skin around the "
                f"lesion than on {_label(a)} ({t.get('definition')} {v:+.3f}, {fmt_ci(t, 3)}; {sig}, Holm-adjusted {fmt_p(p)})"
                + (": the model looks at the skin, not only the lesion, more on dark skin." if sig == "significant"
                   and v > 0 else "."))
    if t.get("name") == "lesion_share_homogeneity":
        return (f"{name}: the mean lesion share differs by up to {v:.0%} between skin types ({sig}, Holm-adjusted {fmt_p(p)}, "
                f"{t.get('p_value_method')}).")
    return f"{name}: {t.get('definition') or t.get('name')}: {v:+.3f} ({fmt_ci(t, 3)}; {sig}, Holm-adjusted {fmt_p(p)})."


def saliency_lines(s: Mapping, alpha: float) -> list[str]:
    """Every test of a saliency entry in words, significant ones first, then the small groups."""
    name = s.get("model", "model")
    family = len(s.get("tests") or [])
    tests = sorted(s.get("tests") or [], key=lambda t: not _significant(t, alpha, family))
    lines = [x for x in (_test_sentence(name, t, alpha, family) for t in tests) if x]
    small = [g for g in s.get("groups") or [] if not g.get("reliable", True)]
    if small:
        lines.append(f"{name}: few images for " + ", ".join(f"{_label(g.get('group'))} (n={g.get('n')})"
                                                            for g in small[:8]) + ": read those rows with caution.")
    if s.get("n_bad"):
        lines.append(f"{name}: {s.get('n_bad')} of {int(s.get('n_images') or 0) + int(s.get('n_bad') or 0)} images could "
                     f"not be explained ({_reasons_text(s.get('bad_rows') or [])}); they are listed below.")
    return lines or [f"{name}: no test between skin types (fewer than two groups)."]


def _reasons_text(bad: list) -> str:
    counts: dict[str, int] = {}
    for b in bad:
        counts[str(b.get("status") or "unknown").replace("_", " ")] = counts.get(str(b.get("status") or "unknown")
                                                                                 .replace("_", " "), 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "no reason recorded"


def _bad_table(bad: list, n_bad, what: str) -> Markup:
    """The images that could not be used, each with its reason (the first 200 travel in the JSON)."""
    if not bad:
        return note(f"{n_bad} image(s) {what}; the audit JSON lists no reason for them.") if n_bad else Markup("")
    more = f" (the first {len(bad)} of {n_bad})" if isinstance(n_bad, int) and n_bad > len(bad) else ""
    return table(["image", "why", "detail"], [[b.get("image"), str(b.get("status") or "").replace("_", " "),
                                               b.get("reason")] for b in bad[:50]],
                 caption=f"Images {what}, and why{more}", max_rows=50)


def _saliency_section(s: Mapping, i: int, alpha: float, min_n: int) -> Markup:
    name = str(s.get("model", f"model {i + 1}"))
    groups = list(s.get("groups") or [])
    parts = [_summary(saliency_lines(s, alpha)),
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
    parts.append(_bad_table(s.get("bad_rows") or [], s.get("n_bad"), "not explained"))
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
    lines = counterfactual_lines(c)
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
    parts.append(_bad_table(c.get("bad_rows") or [], c.get("n_bad"), "not re-toned"))
    for e in c.get("examples") or []:
        thumbs = "".join(_img(v.get("image"), f"{e.get('image')} " + ("as given" if v.get("target") is None else
                                                                        f"re-toned to type {v.get('target')}"),
                              "original" if v.get("target") is None else f"\u2192 {v.get('target')}")
                         for v in e.get("versions") or [])
        parts.append(Markup(f'<h4>{esc(_label(e.get("source")))}: {esc(e.get("image"))}</h4><div class="thumbs">'
                            f"{thumbs}</div>"))
    return section(f"{name}: counterfactual skin tone", parts, sid=f"why-counterfactual-{i}")


def counterfactual_lines(c: Mapping) -> list[str]:
    """The counterfactual entry in words: how often re-toning the skin flips the prediction, what a
    score change means, and every source whose change toward darker or lighter skin excludes 0."""
    name = str(c.get("model", "model"))
    sources = list(c.get("sources") or [])
    level = "type" if any(x.get("level") == "type" for x in sources) else "group"
    flip = c.get("flip_rate") or {}
    lines = [f"{name}: re-toning the healthy skin to another skin type changes the prediction for "
             f"{fmt_pct(metric_parts(flip)[0], 1)} of the (image, target) pairs ({fmt_ci(flip)}); "
             f"{fmt_pct(c.get('landed'), 1)} of the re-toned images were measured in the requested type.",
             "A score change is the malignancy probability of the re-toned image minus that of the original: the "
             "lesion is the same, so a model that read only the lesion would change by 0; a positive change means "
             "the model calls the same lesion more likely malignant on that skin."]
    for x in sources:
        if x.get("level") != level:
            continue
        for direction in ("darker", "lighter"):
            d = x.get(f"score_change_{direction}") or {}
            v, lo, hi = metric_parts(d)
            if v is not None and lo is not None and hi is not None and (lo > 0 or hi < 0):
                lines.append(f"{name}: {_label(x.get('source'))} images re-toned {direction}: the malignancy score "
                             f"{'rises' if v > 0 else 'falls'} by {abs(v):.3f} on average ({fmt_ci(d, 3)}; the interval "
                             "excludes 0).")
    if c.get("n_failed"):
        lines.append(f"{name}: {c.get('n_failed')} re-toned image(s) failed (listed below with the reason).")
    return lines


def why_plain_lines(data: Mapping) -> list[str]:
    """The main finding of each saliency and counterfactual entry, for the report's plain-words box."""
    alpha = _alpha(data.get("meta") or {})
    out = []
    for s in data.get("saliency") or []:
        lines = saliency_lines(s, alpha)
        out.append("Where the model looks (saliency): " + lines[0])
    for c in data.get("counterfactual") or []:
        lines = counterfactual_lines(c)
        out.append("Counterfactual skin tone: " + lines[0] + (" " + lines[2] if len(lines) > 2 and "interval excludes 0"
                                                               in lines[2] else ""))
    return out


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
