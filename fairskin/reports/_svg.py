"""Small inline-SVG plots: bars, histograms with cut-points, curves with CI bands (ROC,
calibration), heatmaps, scatter plots and forest plots.

No plotting library: each function returns an ``<svg>`` element as :class:`Markup`, with a
``<title>`` and ``<desc>`` (the alt text) and ``role="img"``. Every text that comes from data is
escaped. Series are told apart by colour *and* dash pattern / marker shape / fill pattern, and
are labelled in text; groups too small to trust are hatched and labelled "n<30".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from fairskin.reports._html import Markup, esc
from fairskin.reports._palette import SeriesStyle

__all__ = ["DEFS", "bar_chart", "histogram", "curve_plot", "heatmap", "scatter", "forest", "nice_ticks",
           "marker"]

_ids = itertools.count(1)

#: shared <defs>, placed once at the top of each page (patterns referenced as url(#...))
DEFS = Markup(
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>'
    '<pattern id="fs-hatch" width="7" height="7" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="7" height="7" fill="#ffffff" fill-opacity="0.35"/>'
    '<line x1="0" y1="0" x2="0" y2="7" stroke="#222" stroke-width="2.2"/></pattern>'
    '<pattern id="fs-stripes" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="1.4" stroke-opacity="0.55"/></pattern>'
    '<pattern id="fs-dots" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<circle cx="3" cy="3" r="1.3" fill="#000" fill-opacity="0.6"/></pattern>'
    "</defs></svg>")

_SERIES_PATTERNS = ("", "fs-dots", "fs-stripes")  # hatching (fs-hatch) is kept for "unreliable"
FONT = 12


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = start
    while v <= hi + 1e-9 * step:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _tick_label(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v))}"
    return f"{v:g}"


def _n(v: float) -> str:
    return f"{v:.1f}"


def marker(shape: str, x: float, y: float, r: float, colour: str, *, hollow: bool = False) -> str:
    fill = "#fff" if hollow else colour
    common = f'fill="{fill}" stroke="{colour}" stroke-width="1.5"'
    if shape == "square":
        return f'<rect x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" height="{_n(2 * r)}" {common}/>'
    if shape == "triangle":
        pts = f"{_n(x)},{_n(y - 1.2 * r)} {_n(x - 1.1 * r)},{_n(y + 0.8 * r)} {_n(x + 1.1 * r)},{_n(y + 0.8 * r)}"
        return f'<polygon points="{pts}" {common}/>'
    if shape == "diamond":
        pts = f"{_n(x)},{_n(y - 1.3 * r)} {_n(x + 1.1 * r)},{_n(y)} {_n(x)},{_n(y + 1.3 * r)} {_n(x - 1.1 * r)},{_n(y)}"
        return f'<polygon points="{pts}" {common}/>'
    if shape == "cross" and hollow:  # an upright plus, so hollow and filled crosses differ
        return (f'<path d="M{_n(x)},{_n(y - 1.2 * r)}L{_n(x)},{_n(y + 1.2 * r)}M{_n(x - 1.2 * r)},{_n(y)}L{_n(x + 1.2 * r)},{_n(y)}" '
                f'stroke="{colour}" stroke-width="1.6" fill="none"/>')
    if shape == "cross":
        return (f'<path d="M{_n(x - r)},{_n(y - r)}L{_n(x + r)},{_n(y + r)}M{_n(x - r)},{_n(y + r)}L{_n(x + r)},{_n(y - r)}" '
                f'stroke="{colour}" stroke-width="2.4" fill="none"/>')
    if shape == "star":
        pts = []
        for k in range(10):
            rr = r * (1.35 if k % 2 == 0 else 0.6)
            a = -math.pi / 2 + k * math.pi / 5
            pts.append(f"{_n(x + rr * math.cos(a))},{_n(y + rr * math.sin(a))}")
        return f'<polygon points="{" ".join(pts)}" {common}/>'
    return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" {common}/>'


class _Frame:
    """Plot area with linear x/y scales; collects SVG elements."""

    def __init__(self, *, width, height, xlim, ylim, title, desc, margin=(58, 16, 30, 46), kind="plot"):
        self.w, self.h = width, height
        self.ml, self.mr, self.mt, self.mb = margin
        self.x0, self.x1 = xlim
        self.y0, self.y1 = ylim
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1
        if self.y1 == self.y0:
            self.y1 = self.y0 + 1
        self.title, self.desc, self.kind = title, desc, kind
        self.parts: list[str] = []
        self.id = f"fs-fig{next(_ids)}"

    @property
    def pw(self):
        return self.w - self.ml - self.mr

    @property
    def ph(self):
        return self.h - self.mt - self.mb

    def x(self, v):
        return self.ml + (v - self.x0) / (self.x1 - self.x0) * self.pw

    def y(self, v):
        return self.mt + (1 - (v - self.y0) / (self.y1 - self.y0)) * self.ph

    def add(self, s: str):
        self.parts.append(s)

    def text(self, x, y, s, *, anchor="middle", size=FONT, weight="normal", rotate=None, fill="#1a1a1a", cls=""):
        tr = f' transform="rotate({rotate} {_n(x)} {_n(y)})"' if rotate is not None else ""
        c = f' class="{esc(cls)}"' if cls else ""
        self.add(f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
                 f'fill="{fill}"{tr}{c}>{esc(s)}</text>')

    def axes(self, *, xlabel="", ylabel="", xticks=None, yticks=None, xtick_labels=None, grid=True):
        if yticks is None:
            yticks = nice_ticks(self.y0, self.y1)
        for v in yticks:
            yy = self.y(v)
            if grid:
                self.add(f'<line x1="{_n(self.ml)}" y1="{_n(yy)}" x2="{_n(self.ml + self.pw)}" y2="{_n(yy)}" stroke="#e3e3e3"/>')
            self.text(self.ml - 6, yy + 4, _tick_label(v), anchor="end", size=11)
        if xticks is None:
            xticks = nice_ticks(self.x0, self.x1)
        if xtick_labels is None:
            xtick_labels = [_tick_label(v) for v in xticks]
        for v, lab in zip(xticks, xtick_labels):
            xx = self.x(v)
            self.add(f'<line x1="{_n(xx)}" y1="{_n(self.mt + self.ph)}" x2="{_n(xx)}" y2="{_n(self.mt + self.ph + 4)}" stroke="#333"/>')
            self.text(xx, self.mt + self.ph + 16, lab, size=11)
        self.add(f'<rect x="{_n(self.ml)}" y="{_n(self.mt)}" width="{_n(self.pw)}" height="{_n(self.ph)}" '
                 f'fill="none" stroke="#333"/>')
        if xlabel:
            self.text(self.ml + self.pw / 2, self.h - 8, xlabel, size=12)
        if ylabel:
            self.text(14, self.mt + self.ph / 2, ylabel, size=12, rotate=-90)

    def render(self) -> Markup:
        tid, did = f"{self.id}-t", f"{self.id}-d"
        return Markup(
            f'<svg class="plot {esc(self.kind)}" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-labelledby="{tid} {did}" viewBox="0 0 {self.w} {self.h}" width="{self.w}" height="{self.h}" '
            f'data-kind="{esc(self.kind)}">'
            f'<title id="{tid}">{esc(self.title)}</title><desc id="{did}">{esc(self.desc)}</desc>'
            f'<rect width="{self.w}" height="{self.h}" fill="#fff"/>'
            + "".join(self.parts) + "</svg>")


def _legend_line(style: SeriesStyle) -> str:
    return (f'<line x1="0" y1="6" x2="24" y2="6" stroke="{style.colour}" stroke-width="2.5" '
            f'stroke-dasharray="{style.dash}"/>' + marker(style.marker, 12, 6, 4, style.colour))


def _legend_box(colour: str, pattern: str) -> str:
    s = f'<rect x="4" y="0" width="16" height="12" fill="{colour}" stroke="#222"/>'
    if pattern:
        s += f'<rect x="4" y="0" width="16" height="12" fill="url(#{pattern})" stroke="#222"/>'
    return s


def bar_chart(categories: Sequence[str], series: Sequence[dict], *, title: str, desc: str, ylabel: str = "",
              xlabel: str = "", unreliable: Sequence[str] = (), width: int = 620, height: int = 300,
              value_fmt=lambda v: f"{v:,.0f}", kind: str = "bars", unreliable_label: str = "n<30") -> Markup:
    """Grouped bars. ``series``: ``{"name", "values", "colour" | "colours" (one per category)}``;
    the i-th series gets fill pattern i (solid, dots, stripes). Categories in ``unreliable`` are
    hatched and labelled."""
    vals = [v for s in series for v in s["values"] if v is not None]
    ymax = max(vals, default=0) or 1
    f = _Frame(width=width, height=height, xlim=(0, max(1, len(categories))), ylim=(0, ymax * 1.18),
               title=title, desc=desc, kind=kind, margin=(58, 16, 18 + 16 * (len(series) > 1), 46))
    f.axes(xlabel=xlabel, ylabel=ylabel, xticks=[i + 0.5 for i in range(len(categories))],
           xtick_labels=list(categories))
    unrel = set(map(str, unreliable))
    ns = max(1, len(series))
    band = 0.8 / ns
    for si, s in enumerate(series):
        pat = _SERIES_PATTERNS[si % len(_SERIES_PATTERNS)]
        for ci, (cat, v) in enumerate(zip(categories, s["values"])):
            if v is None:
                f.text(f.x(ci + 0.1 + band * (si + 0.5)), f.y(0) - 4, "n/a", size=10)
                continue
            colour = s.get("colours", [None] * len(categories))[ci] or s.get("colour", "#0072B2")
            x0 = f.x(ci + 0.1 + band * si)
            bw = f.x(ci + 0.1 + band * (si + 1)) - x0 - 1
            y0 = f.y(v)
            hh = f.y(0) - y0
            label = f"{s.get('name', '')} {cat}: {value_fmt(v)}".strip()
            f.add(f'<g class="bar" data-category="{esc(cat)}" data-series="{esc(s.get("name", ""))}">'
                  f'<title>{esc(label)}</title>'
                  f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(bw)}" height="{_n(hh)}" fill="{esc(colour)}" stroke="#222"/>')
            if pat:
                f.add(f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(bw)}" height="{_n(hh)}" fill="url(#{pat})"/>')
            if str(cat) in unrel:
                f.add(f'<rect class="unreliable" x="{_n(x0)}" y="{_n(y0)}" width="{_n(bw)}" height="{_n(hh)}" '
                      f'fill="url(#fs-hatch)"/>')
            f.add("</g>")
            f.text(x0 + bw / 2, y0 - 4, value_fmt(v), size=10)
        for ci, cat in enumerate(categories):
            if str(cat) in unrel and si == 0:
                f.text(f.x(ci + 0.5), f.mt + f.ph + 30, unreliable_label, size=10, fill="#8a4b00", weight="bold",
                       cls="unreliable-label")
    if len(series) > 1:
        items = [(s.get("name", ""), _legend_box(s.get("colour", "#888"), _SERIES_PATTERNS[i % 3]))
                 for i, s in enumerate(series)]
        x = f.ml
        for lab, sym in items:
            f.add(f'<g transform="translate({_n(x)},4)">{sym}</g>')
            f.text(x + 24, 14, lab, anchor="start", size=11)
            x += 40 + len(lab) * 6.6
    return f.render()


def histogram(bin_edges: Sequence[float], counts: Sequence[float], *, title: str, desc: str,
              cuts: Sequence[tuple[float, str]] = (), highlight: tuple[float, float] | None = None,
              colour: str = "#0072B2", xlabel: str = "ITA (degrees)", ylabel: str = "images",
              width: int = 520, height: int = 240, hatched: bool = False, kind: str = "histogram") -> Markup:
    """Histogram from edges and counts; ``cuts`` are drawn as labelled dashed vertical lines,
    ``highlight`` shades an x interval (e.g. the type's ITA range)."""
    edges = [float(e) for e in bin_edges]
    counts = [0 if c is None else float(c) for c in counts]
    if len(edges) != len(counts) + 1:
        raise ValueError(f"histogram needs len(bin_edges) == len(counts) + 1, got {len(edges)} and {len(counts)}")
    ymax = max(counts, default=0) or 1
    f = _Frame(width=width, height=height, xlim=(edges[0], edges[-1]), ylim=(0, ymax * 1.15), title=title,
               desc=desc, kind=kind, margin=(52, 12, 34, 42))
    if highlight is not None:
        lo = max(edges[0], highlight[0]) if math.isfinite(highlight[0]) else edges[0]
        hi = min(edges[-1], highlight[1]) if math.isfinite(highlight[1]) else edges[-1]
        if hi > lo:
            f.add(f'<rect class="highlight" x="{_n(f.x(lo))}" y="{_n(f.mt)}" width="{_n(f.x(hi) - f.x(lo))}" '
                  f'height="{_n(f.ph)}" fill="#f3efe0"/>')
    yt = [t for t in nice_ticks(0, ymax * 1.15) if float(t).is_integer()] or [0]
    f.axes(xlabel=xlabel, ylabel=ylabel, yticks=yt)
    path = []
    for a, b, c in zip(edges, edges[1:], counts):
        if c > 0:
            path.append(f'<rect x="{_n(f.x(a))}" y="{_n(f.y(c))}" width="{_n(max(0.5, f.x(b) - f.x(a)))}" '
                        f'height="{_n(f.y(0) - f.y(c))}"/>')
    f.add(f'<g class="bins" fill="{esc(colour)}" stroke="{esc(colour)}" stroke-width="0.3">{"".join(path)}</g>')
    if hatched:
        f.add(f'<g class="unreliable" fill="url(#fs-hatch)">{"".join(path)}</g>')
    for i, (x, lab) in enumerate(cuts):
        if edges[0] <= x <= edges[-1]:
            xx = f.x(x)
            f.add(f'<line class="cut" x1="{_n(xx)}" y1="{_n(f.mt)}" x2="{_n(xx)}" y2="{_n(f.mt + f.ph)}" '
                  f'stroke="#000" stroke-width="1.3" stroke-dasharray="5 3"/>')
            f.text(xx, f.mt - 5 - 11 * (i % 2), lab, size=10)
    return f.render()


def curve_plot(curves: Sequence[dict], *, title: str, desc: str, xlabel: str, ylabel: str,
               diagonal: bool = True, width: int = 480, height: int = 420, kind: str = "curves",
               marker_every: int | None = None, xlim=(0.0, 1.0), ylim=(0.0, 1.0)) -> Markup:
    """Lines with optional CI bands. Each curve: ``{"name", "x", "y", "lo"?, "hi"?, "style":
    SeriesStyle, "label"?: legend text, "unreliable"?: bool}``; None values break the line."""
    legend_h = 16 * len(curves) + 10
    f = _Frame(width=width, height=height + legend_h, xlim=xlim, ylim=ylim, title=title, desc=desc, kind=kind,
               margin=(52, 14, 14, 44 + legend_h))
    f.axes(xlabel="", ylabel=ylabel)
    f.text(f.ml + f.pw / 2, f.mt + f.ph + 34, xlabel, size=12)
    if diagonal:
        f.add(f'<line x1="{_n(f.x(xlim[0]))}" y1="{_n(f.y(ylim[0]))}" x2="{_n(f.x(xlim[1]))}" y2="{_n(f.y(ylim[1]))}" '
              f'stroke="#888" stroke-dasharray="3 3"/>')
    legend = []
    for c in curves:
        st: SeriesStyle = c["style"]
        xs, ys = list(c["x"]), list(c["y"])
        name = str(c.get("name", ""))
        g = [f'<g class="curve" data-series="{esc(name)}"><title>{esc(c.get("label", name))}</title>']
        lo, hi = c.get("lo"), c.get("hi")
        if lo is not None and hi is not None:
            top = [(x, h) for x, h in zip(xs, hi) if x is not None and h is not None]
            bot = [(x, l) for x, l in zip(xs, lo) if x is not None and l is not None]
            if top and bot:
                pts = " ".join(f"{_n(f.x(x))},{_n(f.y(v))}" for x, v in top + bot[::-1])
                g.append(f'<polygon class="band" points="{pts}" fill="{st.colour}" fill-opacity="0.11" stroke="none"/>')
        segs, cur = [], []
        for x, y in zip(xs, ys):
            if x is None or y is None:
                if cur:
                    segs.append(cur)
                cur = []
            else:
                cur.append((x, y))
        if cur:
            segs.append(cur)
        for seg in segs:
            d = "M" + "L".join(f"{_n(f.x(x))},{_n(f.y(y))}" for x, y in seg)
            g.append(f'<path d="{d}" fill="none" stroke="{st.colour}" stroke-width="2.2" stroke-dasharray="{st.dash}"/>')
        pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
        every = marker_every or 1
        for i, (x, y) in enumerate(pts):
            if i % every == 0 or i == len(pts) - 1:
                g.append(marker(st.marker, f.x(x), f.y(y), 3.6, st.colour, hollow=bool(c.get("unreliable"))))
        g.append("</g>")
        f.add("".join(g))
        legend.append((c.get("label", name), _legend_line(st)))
    if legend:  # below the plot, so it never hides a curve
        lx = f.ml
        ly = f.mt + f.ph + 48
        width_l = 34 + max(len(str(l)) for l, _ in legend) * 6.4
        f.add(f'<rect x="{_n(lx - 4)}" y="{_n(ly - 4)}" width="{_n(width_l)}" height="{_n(16 * len(legend) + 6)}" '
              f'fill="#fff" fill-opacity="0.9" stroke="#999"/>')
        for i, (lab, sym) in enumerate(legend):
            f.add(f'<g transform="translate({_n(lx)},{_n(ly + 16 * i)})">{sym}</g>')
            f.text(lx + 30, ly + 16 * i + 10, lab, anchor="start", size=11)
    return f.render()


def _blue(t: float) -> str:
    """Sequential light-to-dark blue (single hue, readable in grey scale)."""
    t = min(1.0, max(0.0, t))
    lo, hi = (247, 251, 255), (8, 48, 107)
    r, g, b = (int(round(a + (c - a) * t)) for a, c in zip(lo, hi))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(matrix: Sequence[Sequence[float]], row_labels: Sequence[str], col_labels: Sequence[str], *,
            title: str, desc: str, row_title: str, col_title: str, cell: int = 46, kind: str = "heatmap",
            normalise_rows: bool = True) -> Markup:
    """Counts in a grid, shaded by row share (sequential blue) and always printed as numbers;
    the diagonal is outlined."""
    nr, nc = len(row_labels), len(col_labels)
    ml, mt = 78, 48
    w, h = ml + nc * cell + 16, mt + nr * cell + 16
    f = _Frame(width=w, height=h, xlim=(0, 1), ylim=(0, 1), title=title, desc=desc, kind=kind,
               margin=(ml, 16, mt, 16))
    f.text(ml + nc * cell / 2, 14, col_title, size=12, weight="bold")
    f.text(14, mt + nr * cell / 2, row_title, size=12, weight="bold", rotate=-90)
    for j, lab in enumerate(col_labels):
        f.text(ml + (j + 0.5) * cell, mt - 8, lab, size=11)
    for i, lab in enumerate(row_labels):
        f.text(ml - 8, mt + (i + 0.5) * cell + 4, lab, anchor="end", size=11)
        row = [0 if v is None else float(v) for v in matrix[i]]
        tot = sum(row) if normalise_rows else max((max((float(x) for x in r if x is not None), default=0)
                                                   for r in matrix), default=0)
        for j, v in enumerate(row):
            t = v / tot if tot else 0.0
            fill = _blue(t) if matrix[i][j] is not None else "#e4e4e4"  # None: no value (drawn as a dash)
            x, y = ml + j * cell, mt + i * cell
            diag = ' stroke="#000" stroke-width="2"' if (str(row_labels[i]) == str(col_labels[j])) else ' stroke="#bbb"'
            f.add(f'<g class="cell"><title>{esc(f"{row_title} {row_labels[i]}, {col_title} {col_labels[j]}: {v:g}")}</title>'
                  f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}"{diag}/></g>')
            f.text(x + cell / 2, y + cell / 2 + 4, "\u2013" if matrix[i][j] is None else f"{v:g}", size=12,
                   fill="#fff" if t > 0.5 else "#111")
    return f.render()


def scatter(groups: Sequence[dict], *, title: str, desc: str, xlabel: str = "", ylabel: str = "",
            width: int = 700, height: int = 440, kind: str = "scatter") -> Markup:
    """Points in groups: ``{"name", "x": [...], "y": [...], "style": SeriesStyle, "hollow": bool}``."""
    xs = [x for g in groups for x in g["x"] if x is not None]
    ys = [y for g in groups for y in g["y"] if y is not None]
    if not xs:
        xs, ys = [0.0, 1.0], [0.0, 1.0]
    px = (max(xs) - min(xs)) * 0.05 or 1
    py = (max(ys) - min(ys)) * 0.05 or 1
    f = _Frame(width=width, height=height, xlim=(min(xs) - px, max(xs) + px), ylim=(min(ys) - py, max(ys) + py),
               title=title, desc=desc, kind=kind, margin=(52, 150, 14, 44))
    f.axes(xlabel=xlabel, ylabel=ylabel)
    legend = []
    for g in groups:
        st: SeriesStyle = g["style"]
        hollow = bool(g.get("hollow"))
        pts = "".join(marker(st.marker, f.x(x), f.y(y), 3.0, st.colour, hollow=hollow)
                      for x, y in zip(g["x"], g["y"]) if x is not None and y is not None)
        f.add(f'<g class="points" data-series="{esc(g["name"])}" fill-opacity="0.85"><title>{esc(g["name"])}</title>{pts}</g>')
        legend.append((str(g["name"]), marker(st.marker, 12, 6, 4, st.colour, hollow=hollow)))
    lx, ly = f.ml + f.pw + 14, f.mt + 4
    width_l = 34 + max((len(l) for l, _ in legend), default=0) * 6.4
    f.add(f'<rect x="{_n(lx - 4)}" y="{_n(ly - 4)}" width="{_n(width_l)}" height="{_n(16 * len(legend) + 6)}" '
          f'fill="#fff" fill-opacity="0.9" stroke="#999"/>')
    for i, (lab, sym) in enumerate(legend):
        f.add(f'<g transform="translate({_n(lx)},{_n(ly + 16 * i)})">{sym}</g>')
        f.text(lx + 30, ly + 16 * i + 10, lab, anchor="start", size=11)
    return f.render()


def forest(rows: Sequence[dict], *, title: str, desc: str, xlabel: str, xlim: tuple[float, float] | None = None,
           ref: tuple[float, str] | None = None, width: int = 560, kind: str = "forest",
           value_fmt=lambda v: f"{v:.2f}", bounds: tuple[float, float] | None = None) -> Markup:
    """One row per group: point estimate with its CI as a whisker. Rows: ``{"label", "value",
    "lo", "hi", "style": SeriesStyle, "unreliable": bool}``; unreliable rows get a hatched band
    and the text "unreliable"."""
    vals = [v for r in rows for v in (r.get("value"), r.get("lo"), r.get("hi")) if v is not None]
    if xlim is None:
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        pad = (hi - lo) * 0.1 or 0.1
        xlim = (lo - pad, hi + pad)
    row_h = 26
    ml = int(min(320, max(80, 14 + 6.9 * max((len(str(r["label"])) for r in rows), default=0))))
    height = 30 + row_h * len(rows) + 44
    width = max(width, ml + 320 + 150)
    f = _Frame(width=width, height=height, xlim=xlim, ylim=(0, max(1, len(rows))), title=title, desc=desc,
               kind=kind, margin=(ml, 150, 24, 44))
    xt = nice_ticks(*xlim)
    f.axes(xlabel=xlabel, xticks=xt, yticks=[], grid=False)
    for v in xt:
        f.add(f'<line x1="{_n(f.x(v))}" y1="{_n(f.mt)}" x2="{_n(f.x(v))}" y2="{_n(f.mt + f.ph)}" stroke="#eee"/>')
    if bounds is not None:  # accepted range: the area outside it is shaded
        lo_b, hi_b = (min(max(b, xlim[0]), xlim[1]) for b in bounds)
        for a, b in ((xlim[0], lo_b), (hi_b, xlim[1])):
            if b > a:
                f.add(f'<rect class="outside" x="{_n(f.x(a))}" y="{_n(f.mt)}" width="{_n(f.x(b) - f.x(a))}" '
                      f'height="{_n(f.ph)}" fill="#f6e3e3"/>')
        for b in bounds:
            if xlim[0] <= b <= xlim[1]:
                f.add(f'<line class="bound" x1="{_n(f.x(b))}" y1="{_n(f.mt)}" x2="{_n(f.x(b))}" y2="{_n(f.mt + f.ph)}" '
                      f'stroke="#a0001e" stroke-dasharray="2 2"/>')
    if ref is not None and xlim[0] <= ref[0] <= xlim[1]:
        f.add(f'<line x1="{_n(f.x(ref[0]))}" y1="{_n(f.mt)}" x2="{_n(f.x(ref[0]))}" y2="{_n(f.mt + f.ph)}" '
              f'stroke="#555" stroke-dasharray="4 3"/>')
        f.text(f.x(ref[0]), f.mt - 6, ref[1], size=10)
    for i, r in enumerate(rows):
        yc = f.mt + (i + 0.5) * (f.ph / max(1, len(rows)))
        st: SeriesStyle = r["style"]
        label = str(r["label"])
        f.text(ml - 8, yc + 4, label, anchor="end", size=12)
        g = [f'<g class="row" data-group="{esc(label)}">']
        if r.get("unreliable"):
            g.append(f'<rect class="unreliable" x="{_n(f.ml)}" y="{_n(yc - row_h / 2 + 2)}" width="{_n(f.pw)}" '
                     f'height="{row_h - 4}" fill="url(#fs-hatch)" fill-opacity="0.35"/>')
        v, lo, hi = r.get("value"), r.get("lo"), r.get("hi")
        if v is None:
            f.add("".join(g) + "</g>")
            f.text(f.ml + f.pw / 2, yc + 4, "undefined", size=11, fill="#8a4b00")
            f.text(f.ml + f.pw + 8, yc + 4, "n/a" + ("  unreliable" if r.get("unreliable") else ""), anchor="start",
                   size=11)
            continue
        if lo is not None and hi is not None:
            g.append(f'<line x1="{_n(f.x(max(xlim[0], lo)))}" y1="{_n(yc)}" x2="{_n(f.x(min(xlim[1], hi)))}" y2="{_n(yc)}" '
                     f'stroke="{st.colour}" stroke-width="2.4"/>')
            for e in (lo, hi):
                if xlim[0] <= e <= xlim[1]:
                    g.append(f'<line x1="{_n(f.x(e))}" y1="{_n(yc - 5)}" x2="{_n(f.x(e))}" y2="{_n(yc + 5)}" '
                             f'stroke="{st.colour}" stroke-width="2"/>')
        g.append(marker(st.marker, f.x(min(max(v, xlim[0]), xlim[1])), yc, 5, st.colour, hollow=bool(r.get("unreliable"))))
        g.append("</g>")
        f.add("".join(g))
        txt = value_fmt(v) + (f" ({value_fmt(lo)}\u2013{value_fmt(hi)})" if lo is not None and hi is not None else "")
        f.text(f.ml + f.pw + 8, yc + 4, txt, anchor="start", size=11)
        if r.get("unreliable"):
            f.text(f.ml + f.pw + 8, yc + 15, "unreliable", anchor="start", size=9, fill="#8a4b00", weight="bold",
                   cls="unreliable-label")
    return f.render()
