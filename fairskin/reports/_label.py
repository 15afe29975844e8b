"""The label report: renders the dict of ``docs/label-json.md`` (``fairskin.label/1``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fairskin.skintone import FST_GROUPS, type_label
from fairskin.reports import _svg
from fairskin.reports._html import (MIN_RELIABLE_N, Markup, dl, esc, fmt, fmt_p, fmt_pct, note, page, require, section,
                                    table, write_report)
from fairskin.reports._label_tones import build_tone_label_html
from fairskin.reports._palette import DEFAULT_CUTS, GROUPS, TYPE_KEYS, representative_ita, style_for
from fairskin.reports._parts import check_schema, figure, swatch, type_badge
from fairskin.reports._thumbs import ThumbBudget

__all__ = ["render_label_report", "build_label_html"]

_GROUP_TYPES = {g: tuple(str(t) for t in ts) for g, ts in FST_GROUPS.items()}


def _counts(d: Mapping | None) -> dict[str, int] | None:
    if d is None:
        return None
    return {k: int(d.get(k, 0) or 0) for k in TYPE_KEYS}


def _cut_marks(cuts) -> list[tuple[float, str]]:
    return [(float(c), f"{type_label(i + 1)}|{type_label(i + 2)} {float(c):g}\u00b0") for i, c in enumerate(cuts)]


@dataclass
class _View:
    """The parts of a ``fairskin.label/1`` dict every section reads (missing keys refused here, once)."""

    data: Mapping
    ds: Mapping
    root: object
    scale: Mapping
    cuts: list
    counts: Mapping
    est: dict
    human: dict | None
    hgroup: Mapping | None
    summ: Mapping
    hist: Mapping
    agreement: Mapping | None
    shares: Mapping
    total_est: int

    @classmethod
    def of(cls, data: Mapping, image_root) -> _View:
        ds = data.get("data") or {}
        scale = data.get("scale") or {}
        counts = require(data, "counts", "label report")
        dist = require(data, "fst_distribution", "label report")
        est = _counts(require(dist, "estimated", "label report: fst_distribution"))
        return cls(data=data, ds=ds, root=image_root if image_root is not None else ds.get("root"), scale=scale,
                   cuts=list(scale.get("cuts") or DEFAULT_CUTS), counts=counts, est=est,
                   human=_counts(dist.get("human")), hgroup=dist.get("human_group"),
                   summ=data.get("ita_summary_by_fst") or {}, hist=data.get("ita_histogram") or {},
                   agreement=data.get("agreement"), shares=data.get("corrected_shares") or {},
                   total_est=sum(est.values()))


def build_label_html(data: Mapping, *, image_root=None, budget: ThumbBudget | None = None) -> str:
    """The label report's page: summary, distribution, ITA, per type, agreement, images to check,
    bad rows, provenance (each section one function below); another tone scale than Fitzpatrick
    gets :func:`build_tone_label_html`."""
    check_schema(data, "fairskin.label/1", "render_label_report")
    if data.get("tone_distribution"):  # another tone scale than Fitzpatrick (e.g. --estimator monk)
        return build_tone_label_html(data, image_root=image_root, budget=budget)
    budget = budget or ThumbBudget()
    view = _View.of(data, image_root)
    sections = [("summary", "Summary", "Summary", _summary(view)),
                ("distribution", "Distribution", "Skin-type distribution", _distribution(view)),
                ("ita", "ITA", "ITA distribution", _ita_histogram(view)),
                ("types", "Per type", "Per skin type", _type_sections(view)),
                ("agreement", "Agreement", "Agreement with human labels", _agreement(view)),
                ("thumbnails", "Images to check", "Images to check", _thumbnails(view, budget)),
                ("bad-rows", "Bad rows", "What went wrong", _bad_rows(view)),
                ("provenance", "Provenance", "Provenance", _provenance(view))]
    body = [section(title, parts, sid=sid) for sid, _, title, parts in sections]
    toc = [(sid, entry) for sid, entry, _, _ in sections]
    ds, scale = view.ds, view.scale
    title = f"Skin-tone labels \u2014 {Path(str(ds.get('root') or 'data')).name}"
    sub = (f"fairskin {data.get('fairskin_version', '?')} \u00b7 {data.get('created', '')} \u00b7 scale "
           f"{scale.get('name', '?')} \u00b7 {fmt(view.counts.get('total'))} images")
    return page(title, body, subtitle=sub, toc=toc, defs=_svg.DEFS)


def _summary(view: _View) -> list:
    """The headline lines (labelled, dark types, corrected shares, small types, agreement, known
    answer, failures) and the reader's warnings."""
    data, ds, counts, est, agreement, total_est = view.data, view.ds, view.counts, view.est, view.agreement, view.total_est
    total = counts.get("total")
    labelled = counts.get("labelled")
    lines = [f"{fmt(labelled)} of {fmt(total)} images labelled"
             + (f" ({fmt_pct(labelled / total)})." if total else ".")]
    dark = est["5"] + est["6"]
    if total_est:
        lines.append(f"Estimated types V-VI: {dark:,} images ({fmt_pct(dark / total_est, 1)}); "
                     f"types I-II: {est['1'] + est['2']:,} ({fmt_pct((est['1'] + est['2']) / total_est, 1)}).")
    shares = data.get("corrected_shares") or {}
    if shares.get("available"):
        g = shares["groups"]["V-VI"]
        iv = f" ({fmt_pct(g['ci'][0], 1)}-{fmt_pct(g['ci'][1], 1)})" if g.get("ci") else ""
        lines.append(f"Corrected for the labeller's confusion (from {fmt(shares.get('n_calibration'))} images with human "
                     f"types): V-VI {fmt_pct(g['corrected'], 1)}{iv}, estimated {fmt_pct(g['estimated'], 1)}.")
    elif shares.get("note"):
        lines.append(f"Shares not corrected: {shares['note']}.")
    small = [type_label(k) for k in TYPE_KEYS if est[k] < MIN_RELIABLE_N]
    if small:
        lines.append(f"Types with fewer than {MIN_RELIABLE_N} images (too few to judge a model on): {', '.join(small)}.")
    cv = (data.get("calibration") or {}).get("agreement_cross_validated")
    if agreement and cv:
        lines.append(f"Agreement with human labels, cross-validated ({agreement.get('level', 'type')} level, "
                     f"n={fmt(cv.get('n'))}): exact {fmt_pct(cv.get('exact'))}, within one "
                     f"{fmt_pct(cv.get('within_one'))}, weighted kappa {fmt(cv.get('weighted_kappa'))}; in-sample "
                     f"(cut-points fitted on these images): exact {fmt_pct(agreement.get('exact'))}.")
    elif agreement:
        lines.append(f"Agreement with human labels ({agreement.get('level', 'type')} level, n={fmt(agreement.get('n'))}): "
                     f"exact {fmt_pct(agreement.get('exact'))}, within one {fmt_pct(agreement.get('within_one'))}, "
                     f"weighted kappa {fmt(agreement.get('weighted_kappa'))}.")
    truth = data.get("truth")
    if truth:
        lines.append(f"Known answer (phantom data, n={fmt(truth.get('n'))}): ITA within 3\u00b0 for "
                     f"{fmt_pct(truth.get('ita_within_3'), 1)}, type exact for {fmt_pct(truth.get('fst_exact'), 1)}, "
                     f"ITA mean absolute error {fmt(truth.get('ita_mae'))}\u00b0.")
    by_status = counts.get("by_status") or {}
    failed = {k: v for k, v in by_status.items() if k != "ok" and v}
    if failed:
        lines.append("Not labelled: " + ", ".join(f"{v:,} {k}" for k, v in failed.items()) + ".")
    summary = [Markup('<div class="summary"><ul>' + "".join(f"<li>{esc(l)}</li>" for l in lines) + "</ul></div>")]
    warnings = ds.get("warnings") or []
    if warnings:
        summary.append(Markup("<h3>Warnings from the reader</h3><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings[:200]) + "</ul>"))
    return summary


def _distribution(view: _View) -> list:
    """Images per type, estimated and human: the bar chart, the table, and the DDI groups where humans gave groups."""
    est, human, hgroup, summ, cuts, total_est = view.est, view.human, view.hgroup, view.summ, view.cuts, view.total_est
    cats = [type_label(k) for k in TYPE_KEYS]
    series = [{"name": "estimated (ITA)", "values": [est[k] for k in TYPE_KEYS], "colour": "#0072B2"}]
    if human is not None:
        series.append({"name": "human label", "values": [human[k] for k in TYPE_KEYS], "colour": "#E69F00"})
    unrel = [type_label(k) for k in TYPE_KEYS if est[k] < MIN_RELIABLE_N]
    desc = "; ".join(f"type {type_label(k)}: {est[k]} estimated" + (f", {human[k]} human" if human else "")
                     for k in TYPE_KEYS)
    chart = _svg.bar_chart(cats, series, title="Images per Fitzpatrick skin type", desc=desc,
                           ylabel="images", xlabel="Fitzpatrick skin type", unreliable=unrel, kind="distribution")
    hum_total = sum(human.values()) if human else 0
    rows = []
    for k in TYPE_KEYS:
        r = [Markup(f'<span class="nw">{swatch(k, _rep_ita(k, summ, cuts))}{esc(type_label(k))}</span>'), est[k],
             fmt_pct(est[k] / total_est, 1) if total_est else "n/a"]
        if human is not None:
            r += [human[k], fmt_pct(human[k] / hum_total, 1) if hum_total else "n/a"]
        r.append(type_badge(est[k]) or "")
        rows.append(r)
    headers = ["type", "estimated", "share"] + (["human", "share"] if human is not None else []) + ["note"]
    parts = [figure(chart, "Bars: images per type; blue solid = estimated from ITA"
                     + ("; orange dotted = human label" if human else "")
                     + f". Hatched bars and 'n<{MIN_RELIABLE_N}': too few images to judge a model on."),
             table(headers, rows, caption="Skin-type distribution", numeric={1, 3} if human is not None else {1},
                   row_classes=["unreliable" if est[k] < MIN_RELIABLE_N else "" for k in TYPE_KEYS])]
    if hgroup:
        grows = []
        for g in GROUPS:
            e = sum(est[t] for t in _GROUP_TYPES[g])
            grows.append([g, e, fmt_pct(e / total_est, 1) if total_est else "n/a", hgroup.get(g, 0)])
        parts.append(table(["group", "estimated", "share", "human (group label)"], grows,
                           caption="By DDI group (human labels given as groups only)", numeric={1, 3}))
    return parts


def _ita_histogram(view: _View) -> list:
    """The ITA histogram of all labelled images with the scale's cut-points."""
    hist, cuts, scale = view.hist, view.cuts, view.scale
    edges = hist.get("bin_edges")
    by_fst = hist.get("counts_by_fst") or {}
    parts = []
    if edges and by_fst:
        allc = [0] * (len(edges) - 1)
        for k in TYPE_KEYS:
            for i, c in enumerate(by_fst.get(k) or []):
                allc[i] += c or 0
        parts.append(figure(_svg.histogram(edges, allc, cuts=_cut_marks(cuts),
                                            title="ITA of all labelled images, with the scale's cut-points",
                                            desc=f"Histogram of ITA over {sum(allc):,} images; dashed lines at the "
                                                 f"cut-points {', '.join(f'{c:g}' for c in cuts)} degrees of scale "
                                                 f"{scale.get('name', 'unknown')}.", kind="ita-histogram", width=900,
                                            height=260),
                             f"ITA histogram, all types. Dashed lines: cut-points of scale "
                             f"{scale.get('name', '?')} (type I is right of the first, VI left of the last)."))
    else:
        parts.append(note("No ITA histogram in the label JSON (key ita_histogram)."))
    return parts


def _type_sections(view: _View) -> list:
    """One block per type: counts, ITA median and interval, agreement, its own histogram."""
    est, human, summ, cuts, total_est, agreement = view.est, view.human, view.summ, view.cuts, view.total_est, view.agreement
    edges = view.hist.get("bin_edges")
    by_fst = view.hist.get("counts_by_fst") or {}
    type_secs = []
    per_type_agree = (agreement or {}).get("per_type") or {}
    for k in TYPE_KEYS:
        n = est[k]
        ita = _rep_ita(k, summ, cuts)
        st = style_for(k)
        s = summ.get(k) or {}
        head = Markup(f'<div class="typehead">{swatch(k, ita)}<h3 id="type-{k}-h">Type {esc(type_label(k))}</h3>'
                      f'{type_badge(n)}</div>')
        items = [("images (estimated)", n), ("share", fmt_pct(n / total_est, 1) if total_est else "n/a")]
        if human is not None:
            items.append(("images (human label)", human[k]))
        items.append(("ITA median (IQR)", f"{fmt(s.get('median'), 1)}\u00b0 ({fmt(s.get('q1'), 1)}\u2013{fmt(s.get('q3'), 1)})"
                      if s else "n/a"))
        lo = cuts[int(k) - 1] if int(k) < 6 else None
        hi = cuts[int(k) - 2] if int(k) > 1 else None
        items.append(("ITA interval", _interval_text(lo, hi)))
        pa = per_type_agree.get(k)
        if pa:
            items.append(("agreement with human", f"exact {fmt_pct(pa.get('exact'))}, within one "
                                                  f"{fmt_pct(pa.get('within_one'))} (n={fmt(pa.get('n'))})"))
        blk = [head, dl(items)]
        counts_k = by_fst.get(k)
        if edges and counts_k is not None:
            blk.append(figure(_svg.histogram(
                edges, counts_k, cuts=_cut_marks(cuts),
                highlight=(float("-inf") if lo is None else lo, float("inf") if hi is None else hi),
                colour=st.colour, hatched=n < MIN_RELIABLE_N, kind="type-histogram",
                title=f"ITA of images estimated as type {type_label(k)}",
                desc=f"Histogram of ITA for {n:,} images of type {type_label(k)}; shaded: the type's ITA interval; "
                     f"dashed: cut-points."), f"Type {type_label(k)}: ITA histogram; shaded band = this type's interval."))
        type_secs.append(Markup(f'<section id="type-{k}" class="typesec" data-fst="{k}" aria-labelledby="type-{k}-h" '
                                f'style="border-left-color:{st.colour}">') + Markup("".join(blk)) + Markup("</section>"))
    return type_secs


def _agreement(view: _View) -> list:
    """Agreement with the human labels: the figures, the confusion heatmap, per type, the corrected shares."""
    agreement, shares = view.agreement, view.shares
    per_type_agree = (agreement or {}).get("per_type") or {}
    if agreement:
        conf = agreement.get("confusion") or {}
        labs = [str(x) for x in conf.get("labels") or []]
        show = [type_label(x) for x in labs]
        sp_i = agreement.get("spearman_ita") or {}
        sp_f = agreement.get("spearman_fst") or {}
        unit = "group" if agreement.get("level") == "group" else "type"
        parts = [dl([("level", agreement.get("level")), ("images with both labels", agreement.get("n")),
                     ("exact agreement", fmt_pct(agreement.get("exact"), 1)),
                     (f"within one {unit}", fmt_pct(agreement.get("within_one"), 1)),
                     (f"weighted kappa ({agreement.get('kappa_weights', '')})", fmt(agreement.get("weighted_kappa"))),
                     ("Spearman ITA vs human", f"rho {fmt(sp_i.get('rho'))}, {fmt_p(sp_i.get('p'))}"),
                     ("Spearman type vs human", f"rho {fmt(sp_f.get('rho'))}, {fmt_p(sp_f.get('p'))}")])]
        if labs and conf.get("matrix"):
            parts.append(figure(_svg.heatmap(conf["matrix"], show, show, row_title=f"{conf.get('rows', 'human')} label",
                                              col_title=f"{conf.get('cols', 'estimated')} type",
                                              title="Agreement: human label (rows) vs estimated type (columns)",
                                              desc="Confusion matrix; each cell shows the number of images; "
                                                   "shading is the share of the row; the diagonal is outlined.",
                                              kind="confusion"),
                                 "Confusion matrix. Numbers are image counts; darker = larger share of the row; "
                                 "outlined cells = agreement."))
        if per_type_agree:
            parts.append(table([unit, "n", "exact", "within one"],
                               [[type_label(k), v.get("n"), fmt_pct(v.get("exact")), fmt_pct(v.get("within_one"))]
                                for k, v in per_type_agree.items()], caption=f"Agreement per human {unit}", numeric={1}))
        if shares.get("available"):
            rows = [[k, fmt_pct(v["estimated"], 1), fmt_pct(v["corrected"], 1),
                     f"{fmt_pct(v['ci'][0], 1)}-{fmt_pct(v['ci'][1], 1)}" if v.get("ci") else "-"]
                    for k, v in list(shares["types"].items()) + list(shares["groups"].items())]
            parts.append(table(["type", "estimated share", "corrected share", "interval"], rows,
                               caption=f"Shares corrected for the labeller's confusion ({shares.get('ci_method')}; "
                                       f"types without a calibration image: {', '.join(shares.get('unseen_types') or []) or 'none'})",
                               numeric={1, 2}))
    else:
        parts = [note("No human skin-type labels in this data set, so there is no agreement to show.")]
    return parts


def _thumbnails(view: _View, budget: ThumbBudget) -> list:
    """The images left unlabelled and the least confident ones, as thumbnail strips."""
    data, root = view.data, view.root
    unl = data.get("unlabelled") or []
    lc = data.get("least_confident") or []
    parts = [Markup("<h3>Left unlabelled</h3>")]
    parts.append(budget.strip(unl, root, caption=lambda it: f"{it.get('image')} \u2014 {it.get('status')}",
                              alt=lambda it: f"unlabelled image {it.get('image')} ({it.get('status')}: {it.get('reason')})",
                              limit=48) if unl else note("None."))
    parts.append(Markup("<h3>Least confident</h3>"))
    parts.append(budget.strip(lc, root, caption=lambda it: f"{it.get('image')} \u2014 ITA {fmt(it.get('ita'), 1)}, "
                                                         f"type {type_label(str(it.get('fst')))}, "
                                                         f"confidence {fmt(it.get('confidence'))}",
                              alt=lambda it: f"image {it.get('image')}, estimated type "
                                             f"{type_label(str(it.get('fst')))}",
                              limit=48) if lc else note("None."))
    return parts


def _bad_rows(view: _View) -> list:
    """Rows by status and the rows that could not be used."""
    data, by_status = view.data, view.counts.get("by_status") or {}
    bad = data.get("bad_rows") or []
    parts = []
    if by_status:
        parts.append(table(["status", "images"], [[k, v] for k, v in by_status.items()], caption="Rows by status",
                           numeric={1}))
    parts.append(table(["image", "status", "reason"], [[b.get("image"), b.get("status"), b.get("reason")] for b in bad],
                       caption="Rows that could not be used") if bad else note("No bad rows."))
    return parts


def _provenance(view: _View) -> list:
    """Where the data came from, the scale and the settings."""
    data, ds, scale, cuts = view.data, view.ds, view.scale, view.cuts
    cfg = data.get("config") or {}
    parts = [dl([("data root", ds.get("root")), ("format", ds.get("format")), ("rows", ds.get("n_rows")),
                 ("scale", scale.get("name")), ("categories", ", ".join(map(str, scale.get("categories") or []))),
                 ("cut-points", ", ".join(f"{float(c):g}" for c in cuts)), ("source", scale.get("source")),
                 ("calibrated", scale.get("calibrated")), ("labels CSV", data.get("labels_csv"))]),
             dl([(k, v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in cfg.items()])]
    return parts


def _interval_text(lo, hi) -> str:
    left = "" if lo is None else f"{lo:g}\u00b0 < "
    right = "" if hi is None else f" \u2264 {hi:g}\u00b0"
    return f"{left}ITA{right}"


def _rep_ita(k: str, summ: Mapping, cuts) -> float:
    med = (summ.get(k) or {}).get("median")
    if isinstance(med, (int, float)) and med == med:
        return float(med)
    return representative_ita(k, cuts)


def render_label_report(data: Mapping, path, *, image_root=None) -> Path:
    """Write the label report ``path`` (HTML) and the dict beside it (``.json``).

    ``data`` is the dict of ``docs/label-json.md``; thumbnails are read from ``image_root``
    (default: ``data["data"]["root"]``).
    """
    return write_report(build_label_html(data, image_root=image_root), data, path)
