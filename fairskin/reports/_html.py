"""HTML building blocks: escaping, number formatting, tables, the page shell, writing.

Everything that ends up in a page goes through :func:`esc` unless it is :class:`Markup`
(HTML built here, from escaped parts). Data-derived strings are therefore escaped by default:
a diagnosis named ``<script>alert(1)</script>`` is shown as text. The page also carries a
Content-Security-Policy that forbids scripts and any request that is not a ``data:`` image, so a
mistake here would show up as a console error in the browser tests rather than run.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from fairskin.errors import InputError
from fairskin.outputs import atomic_write, to_jsonable

__all__ = ["Markup", "esc", "join", "fmt", "fmt_pct", "fmt_ci", "table", "section", "page",
           "write_report", "require", "fmt_p", "metric_parts", "ci_cell", "to_jsonable", "dl", "note"]

MIN_RELIABLE_N = 30
MAX_TABLE_ROWS = 200


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()

    def __add__(self, other):
        return Markup(str.__add__(self, esc(other)))

    def __radd__(self, other):
        return Markup(str.__add__(esc(other), self))


def esc(value) -> Markup:
    """Escape anything for HTML text and attribute values (quotes included)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable, sep: str = "") -> Markup:
    return Markup(esc(sep).join(esc(p) for p in parts))


def _isnum(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def fmt(x, digits: int = 2) -> str:
    """A number for people: 'n/a' for None/NaN, integers without decimals."""
    if x is None or (isinstance(x, (float, np.floating)) and not math.isfinite(float(x))):
        return "n/a"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if _isnum(x):
        return f"{float(x):.{digits}f}"
    return str(x)


def fmt_pct(x, digits: int = 0) -> str:
    if x is None or not _isnum(x) or not math.isfinite(float(x)):
        return "n/a"
    return f"{100 * float(x):.{digits}f}%"


def fmt_p(p) -> str:
    """A p-value: 'p < 0.001' below 0.001, else three decimals."""
    if p is None or not _isnum(p) or not math.isfinite(float(p)):
        return "p n/a"
    return "p < 0.001" if float(p) < 0.001 else f"p = {float(p):.3f}"


def metric_parts(m) -> tuple[float | None, float | None, float | None]:
    """(value, lo, hi) from any of the metric shapes the stages write.

    Accepted: a bare number; ``{"value", "ci": [lo, hi]}`` (report inputs);
    ``{"value", "ci_low", "ci_high"}`` (audit JSON).
    """
    if m is None:
        return None, None, None
    if _isnum(m):
        return _num(m), None, None
    if isinstance(m, Mapping):
        v = _num(m.get("value"))
        ci = m.get("ci")
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            return v, _num(ci[0]), _num(ci[1])
        return v, _num(m.get("ci_low")), _num(m.get("ci_high"))
    return None, None, None


def _num(x):
    if x is None or not _isnum(x):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def fmt_ci(m, digits: int = 2) -> str:
    """'0.81 (0.74-0.88)' from any metric shape; 'n/a' when undefined."""
    v, lo, hi = metric_parts(m)
    if v is None:
        return "n/a"
    if lo is None or hi is None:
        return fmt(v, digits)
    return f"{v:.{digits}f} ({lo:.{digits}f}\u2013{hi:.{digits}f})"


def ci_cell(m, digits: int = 2) -> Markup:
    """A table cell: the value, and its CI in small type on a second line."""
    v, lo, hi = metric_parts(m)
    if v is None:
        return Markup("n/a")
    if lo is None or hi is None:
        return esc(fmt(v, digits))
    return Markup(f'{esc(fmt(v, digits))}<br><small class="ci">({lo:.{digits}f}\u2013{hi:.{digits}f})</small>')


def require(data: Mapping, key: str, where: str):
    """``data[key]`` or an InputError naming the key and what was found."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected a dict, got {type(data).__name__}")
    if key not in data:
        raise InputError(f"{where}: missing required key {key!r} (found keys: {sorted(map(str, data))})")
    return data[key]


def table(headers: list, rows: Iterable[list], *, caption=None, row_classes: Iterable[str] | None = None,
          cls: str = "data", max_rows: int = MAX_TABLE_ROWS, numeric: set[int] | None = None) -> Markup:
    """A table; cells are escaped unless Markup. Rows beyond ``max_rows`` are counted, not shown."""
    rows = list(rows)
    classes = list(row_classes) if row_classes is not None else [""] * len(rows)
    numeric = numeric or set()
    out = ['<div class="tablewrap">', f'<table class="{esc(cls)}">']
    if caption is not None:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for h in headers) + "</tr></thead><tbody>")
    for r, c in zip(rows[:max_rows], classes[:max_rows]):
        cells = []
        for i, v in enumerate(r):
            ca = ' class="num"' if i in numeric else ""
            cells.append(f"<td{ca}>{esc(v) if isinstance(v, Markup) else esc(fmt(v) if _isnum(v) or v is None else v)}</td>")
        out.append(f'<tr class="{esc(c)}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")  # a wide table scrolls inside its box, never the page
    if len(rows) > max_rows:
        out.append(f'<p class="note">{len(rows) - max_rows:,} more rows not shown (see the JSON file).</p>')
    return Markup("".join(out))


def dl(items: Iterable[tuple]) -> Markup:
    """A key/value list; values are escaped unless Markup."""
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v if isinstance(v, Markup) else fmt(v) if _isnum(v) or v is None or isinstance(v, bool) else v)}</dd>"
                   for k, v in items)
    return Markup(f'<dl class="kv">{body}</dl>')


def note(text, cls: str = "note") -> Markup:
    return Markup(f'<p class="{esc(cls)}">{esc(text)}</p>')


def section(title, body: Iterable, *, sid: str, cls: str = "", level: int = 2, data_attrs: Mapping | None = None) -> Markup:
    attrs = "".join(f' data-{esc(k)}="{esc(v)}"' for k, v in (data_attrs or {}).items())
    return Markup(f'<section id="{esc(sid)}" class="{esc(cls)}"{attrs} aria-labelledby="{esc(sid)}-h">'
                  f'<h{level} id="{esc(sid)}-h">{esc(title)}</h{level}>' + "".join(esc(b) for b in body) + "</section>")


_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
:root{--fg:#1a1a1a;--muted:#555;--line:#c8c8c8;--bg:#fff;--warn:#8a4b00;--bad:#a0001e;--ok:#005c38}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);
 background:var(--bg);margin:0 auto;max-width:1180px;padding:1.2rem 1.5rem 3rem}
h1{font-size:1.7rem;margin:.2rem 0 .3rem}h2{font-size:1.3rem;margin:2rem 0 .6rem;border-bottom:2px solid var(--fg);
 padding-bottom:.2rem}h3{font-size:1.08rem;margin:1.2rem 0 .4rem}
.meta{color:var(--muted);font-size:.88rem;margin:0 0 1rem}
nav.toc{font-size:.9rem;margin:.5rem 0 1rem}nav.toc a{margin-right:.9rem}
.tablewrap{max-width:100%;overflow-x:auto}
table.data{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.88rem}
table.data caption{text-align:left;font-weight:600;padding:.2rem 0}
table.data th,table.data td{border:1px solid var(--line);padding:.22rem .5rem;vertical-align:top}
table.data th{background:#f2f2f2;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.unreliable td,.unreliable-box{background:repeating-linear-gradient(135deg,#fff 0 6px,#ececec 6px 9px)}
table.data td{overflow-wrap:break-word}.nw,small.ci{white-space:nowrap}
.badge{display:inline-block;border:1px solid currentColor;border-radius:3px;padding:0 .35rem;font-size:.78rem;
 font-weight:600;margin-left:.3rem;white-space:nowrap}
.badge.unreliable{color:var(--warn)}.badge.bad{color:var(--bad)}.badge.ok{color:var(--ok)}
.summary{border:2px solid var(--fg);padding:.6rem 1rem;margin:1rem 0;background:#fafafa}
.summary li{margin:.2rem 0}
.note{color:var(--muted);font-size:.88rem}
.swatch{display:inline-block;width:2.6rem;height:1.6rem;border:1px solid #333;vertical-align:middle;margin-right:.5rem}
.typehead{display:flex;align-items:center;gap:.6rem;flex-wrap:wrap}
.typehead h3,.typehead h2{margin:0;border:0}
figure{margin:.6rem 0 1.2rem;break-inside:avoid}figcaption{font-size:.85rem;color:var(--muted);max-width:760px}
svg.plot{max-width:100%;height:auto;display:block;font-family:system-ui,"DejaVu Sans",sans-serif}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:0 1.2rem;align-items:start}
.grid>figure{min-width:0}.grid>p{grid-column:1/-1}
.thumbs{display:flex;flex-wrap:wrap;gap:.5rem;margin:.4rem 0 1rem}
.thumb{width:112px;font-size:.72rem;margin:0;overflow-wrap:anywhere}
.thumb img,.thumb .missing{display:block;width:96px;height:96px;object-fit:cover;border:1px solid var(--line)}
.thumb .missing{background:#e4e4e4;color:#444;font-size:.7rem;padding:.2rem;overflow:hidden}
.pairs{display:flex;flex-wrap:wrap;gap:1rem}.pair{display:flex;gap:.3rem;border:1px solid var(--line);padding:.3rem}
.cellgrid{display:grid;grid-template-columns:10rem 1fr 1fr;gap:.4rem 1rem;align-items:start}
.cellgrid>div.h{font-weight:600;border-bottom:1px solid var(--line)}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;font-size:.9rem;margin:.3rem 0 1rem}
dl.kv dt{font-weight:600}dl.kv dd{margin:0}
.typesec{border-left:6px solid var(--line);padding-left:.9rem;margin:1rem 0 1.5rem}
.cols{display:flex;flex-wrap:wrap;gap:0 2rem;align-items:flex-start}.cols table.data{margin-top:.3rem}
table.metrics td,table.metrics th{font-size:.8rem;padding:.18rem .35rem}.counts{margin:.3rem 0}
.pass{color:var(--ok);font-weight:700}.fail{color:var(--bad);font-weight:700}.undef{color:var(--warn);font-weight:700}
.neutral{color:var(--fg);font-weight:700;border-bottom:2px dotted var(--muted)}
.answer{border:2px solid var(--fg);padding:.3rem 1rem .6rem;margin:.8rem 0;background:#fafafa;min-width:0}
.answer h2{margin:.4rem 0;border:0;font-size:1.2rem}.headline{font-size:1.15rem;margin:.2rem 0 .4rem}
.why li{margin:.15rem 0}.answers{display:grid;grid-template-columns:1fr 1fr;gap:0 1rem}
@media (max-width:900px){.answers{grid-template-columns:1fr}}
table.glance{border-collapse:collapse;margin:.4rem 0 .8rem;font-size:1.02rem;width:100%}
table.glance caption{text-align:left;font-weight:700;padding-bottom:.2rem}
table.glance th,table.glance td{border:2px solid var(--fg);padding:.4rem .7rem;text-align:left;vertical-align:top}
table.glance th{width:45%;font-weight:600;background:#f2f2f2}
@media print{
 body{max-width:none;padding:0;font-size:10.5pt}
 nav.toc{display:none}
 .tablewrap{overflow:visible}
 h2{break-before:auto;break-after:avoid}h3{break-after:avoid}
 section.typesec,figure,table.data tr,.thumb,.pair{break-inside:avoid}
 a{color:inherit;text-decoration:none}
 tr.unreliable td,.unreliable-box{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .swatch,svg{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def page(title: str, body: Iterable, *, subtitle: str | None = None, toc: Iterable[tuple[str, str]] = (),
         defs: str = "") -> str:
    nav = ""
    toc = list(toc)
    if toc:
        nav = '<nav class="toc" aria-label="Contents">' + "".join(
            f'<a href="#{esc(sid)}">{esc(label)}</a>' for sid, label in toc) + "</nav>"
    sub = f'<p class="meta">{esc(subtitle)}</p>' if subtitle else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
            f"{defs}<header><h1>{esc(title)}</h1>{sub}{nav}</header><main>"
            + "".join(esc(b) for b in body) + "</main></body></html>\n")


def report_paths(path) -> tuple[Path, Path]:
    """The two files a report writes: the HTML at ``path`` and its data, ``path.with_suffix('.json')``.

    Raises :class:`InputError` when ``path`` does not end in .html (commands check this, and both
    paths, before they run)."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"html: the report path must end in .html, got {str(path)!r}")
    return path, path.with_suffix(".json")


def report_outputs(path, *, json_path=None) -> dict[str, Path]:
    """``{argument: path}`` of the files ``--html PATH`` writes, for
    :func:`fairskin.outputs.claim_outputs` (both follow the rule of every output); {} for None.

    ``json_path`` is the run's ``--json`` where the page renders that very document: when the
    page's data file is that file (``--json audit.json --html audit.html``), it is claimed once, as
    ``--json``, since both writes hold the same data."""
    if path is None:
        return {}
    page, data = report_paths(path)
    if json_path is not None and Path(json_path).resolve() == data.resolve():
        return {"html": page}
    return {"html": page, f"html (its data, {data.name})": data}


def write_report(html_text: str, data: Mapping, path) -> Path:
    """Write ``path`` (the HTML) and ``path.with_suffix('.json')`` (the data it renders), each atomically."""
    path, data_path = report_paths(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # plain JSON types already (the usual case): no copy
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(to_jsonable(data), allow_nan=False)
    atomic_write(data_path, text + "\n")
    atomic_write(path, html_text)
    return path
