"""The label report of a run on another tone scale than Fitzpatrick (``--estimator monk``):
renders the summary of ``docs/label-json.md`` that has ``tone_distribution``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fairskin.reports import _svg
from fairskin.reports._html import MIN_RELIABLE_N, Markup, dl, esc, fmt, fmt_ci, fmt_pct, note, page, section, table
from fairskin.reports._thumbs import ThumbBudget

__all__ = ["build_tone_label_html"]


def _swatch(colour: str | None, label: str) -> Markup:
    if not colour:
        return Markup("")
    return Markup(f'<span class="swatch" style="background:{esc(colour)}" role="img" '
                  f'aria-label="reference colour of {esc(label)} ({esc(colour)})" title="{esc(colour)}"></span>')


def build_tone_label_html(data: Mapping, *, image_root=None, budget: ThumbBudget | None = None) -> str:
    budget = budget or ThumbBudget()
    ds = data.get("data") or {}
    root = image_root if image_root is not None else ds.get("root")
    est = data.get("estimator") or {}
    scale = data.get("scale") or {}
    dist = data["tone_distribution"]
    counts = data.get("counts") or {}
    names = list(scale.get("categories") or dist["estimated"])
    swatches = list(scale.get("swatches") or [])
    tones = list(dist["estimated"])
    col = est.get("column", dist.get("column", "tone"))
    labelled = counts.get("labelled") or 0
    grouping = est.get("grouping") or " / ".join(dist.get("groups", {}))
    body, toc = [], []

    lines = [f"{fmt(labelled)} of {fmt(counts.get('total'))} images labelled on the {dist.get('scale')} scale "
             f"(estimator {est.get('name')}, column {col}); groups {grouping}: "
             + ", ".join(f"{g} {n:,} ({fmt_pct(n / labelled, 1) if labelled else '-'})"
                         for g, n in dist.get("groups", {}).items()) + "."]
    small = [names[i] for i, t in enumerate(tones) if dist["estimated"][t] < MIN_RELIABLE_N and i < len(names)]
    if small:
        lines.append(f"Tones with fewer than {MIN_RELIABLE_N} images: {', '.join(small)}.")
    rank = data.get("agreement")
    if rank:
        r = rank["spearman_tone_human_fst"]
        lines.append(f"Rank agreement with human Fitzpatrick types (n={fmt(rank.get('n'))}): Spearman rho "
                     f"{fmt_ci({'value': r.get('rho'), 'ci': r.get('ci')})} (95% bootstrap interval over images).")
    body.append(section("Summary", [Markup("".join(f"<p>{esc(x)}</p>" for x in lines))], sid="summary"))
    toc.append(("summary", "Summary"))

    colour = data.get("colour_by_tone") or {}
    groups = {t: g for g, ts in (est.get("groups") or {}).items() for t in map(str, ts)}
    rows = []
    for i, t in enumerate(tones):
        n = dist["estimated"][t]
        c = colour.get(t, {})
        label = names[i] if i < len(names) else t
        rows.append([Markup(f'<span class="nw">{_swatch(swatches[i] if i < len(swatches) else None, label)}'
                            f"{esc(label)}</span>"), groups.get(t, ""), n,
                     fmt_pct(n / labelled, 1) if labelled else "-", fmt(c.get("L"), 1), fmt(c.get("b"), 1),
                     fmt(c.get("delta_e"), 1)])
    parts = [table(["tone", "group", "images", "share", "median L*", "median b*", "median \u0394E to swatch"], rows,
                   caption=f"Estimated tones; groups {grouping}", numeric={2, 3, 4, 5, 6})]
    cross = (data.get("human_crosstab") or {}).get("counts")
    if cross:
        parts.append(table(["human type"] + [names[i] if i < len(names) else t for i, t in enumerate(tones)],
                           [[h] + [row.get(t, 0) for t in tones] for h, row in cross.items()],
                           caption="Human Fitzpatrick type (rows) by estimated tone (columns), image counts",
                           numeric=set(range(1, len(tones) + 1))))
    body.append(section("Tone distribution", parts, sid="tones"))
    toc.append(("tones", "Tones"))

    unl, lc = data.get("unlabelled") or [], data.get("least_confident") or []
    parts = [Markup("<h3>Left unlabelled</h3>"),
             budget.strip(unl, root, caption=lambda it: f"{it.get('image')} \u2014 {it.get('status')}",
                          alt=lambda it: f"unlabelled image {it.get('image')} ({it.get('status')})", limit=48)
             if unl else note("None."),
             Markup("<h3>Least confident</h3>"),
             budget.strip(lc, root, caption=lambda it: f"{it.get('image')} \u2014 {col} {it.get(col)}, confidence "
                                                       f"{fmt(it.get('confidence'))}",
                          alt=lambda it: f"image {it.get('image')}, estimated {col} {it.get(col)}", limit=48)
             if lc else note("None.")]
    body.append(section("Images to check", parts, sid="thumbnails"))
    toc.append(("thumbnails", "Images to check"))

    bad = data.get("bad_rows") or []
    body.append(section("What went wrong", [table(["image", "status", "reason"],
                                                  [[b.get("image"), b.get("status"), b.get("reason")] for b in bad],
                                                  caption="Rows that could not be used") if bad else
                                            note("No bad rows.")], sid="bad-rows"))
    toc.append(("bad-rows", "Bad rows"))
    cfg = data.get("config") or {}
    body.append(section("Provenance", [
        dl([("data root", ds.get("root")), ("format", ds.get("format")), ("rows", ds.get("n_rows")),
            ("estimator", est.get("name")), ("scale", scale.get("name")), ("reference colours", ", ".join(swatches)),
            ("distance", scale.get("distance")), ("source", scale.get("source")),
            ("labels CSV", data.get("labels_csv"))]),
        dl([(k, v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in cfg.items()])],
        sid="provenance"))
    toc.append(("provenance", "Provenance"))
    title = f"Skin-tone labels \u2014 {Path(str(ds.get('root') or 'data')).name}"
    sub = (f"fairskin {data.get('fairskin_version', '?')} \u00b7 {data.get('created', '')} \u00b7 {dist.get('scale')} "
           f"scale \u00b7 {fmt(counts.get('total'))} images")
    return page(title, body, subtitle=sub, toc=toc, defs=_svg.DEFS)
