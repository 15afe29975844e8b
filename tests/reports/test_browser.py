"""The reports opened in headless Chromium: the page loads without console messages, the per-type
sections and plots are in the rendered DOM, data strings stay text, and a screenshot is not blank.

Skipped when /usr/bin/chromium is missing (``.ci/install-chromium`` installs it). Set
FAIRSKIN_SCREENSHOTS=<dir> to keep the screenshots for a look.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from fairskin.reports import render_audit_report, render_balance_report, render_label_report, render_synthetic_report

pytestmark = pytest.mark.browser

KINDS = ("label", "audit", "balance", "synthetic")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, phantom_root, chromium, helpers):
    """Each report rendered once and loaded twice in Chromium (DOM dump, screenshot)."""
    _label_dict, _audit_dict, _balance_dict, _synthetic_dict = helpers.label, helpers.audit, helpers.balance, helpers.synthetic
    tmp = tmp_path_factory.mktemp("browser")
    audit = _audit_dict(phantom_root)
    audit["synthetic"] = _synthetic_dict(phantom_root)
    audit.update(helpers.why(phantom_root))
    makers = {"label": (render_label_report, _label_dict(phantom_root)), "audit": (render_audit_report, audit),
              "balance": (render_balance_report, _balance_dict(phantom_root)),
              "synthetic": (render_synthetic_report, _synthetic_dict(phantom_root))}
    from concurrent.futures import ThreadPoolExecutor

    paths = {kind: fn(data, tmp / kind / "report.html") for kind, (fn, data) in makers.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:  # chromium start-up is mostly waiting
        doms = {k: pool.submit(chromium.dump_dom, p) for k, p in paths.items()}
        shots = {k: pool.submit(chromium.screenshot, p, tmp / f"{k}.png") for k, p in paths.items()}
        out = {}
        for k, p in paths.items():
            dom, console = doms[k].result()
            console = console + shots[k].result()
            out[k] = {"dom": dom, "console": console, "png": tmp / f"{k}.png", "path": p}
    keep = os.environ.get("FAIRSKIN_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        for k in out:
            shutil.copy(out[k]["png"], os.path.join(keep, f"{k}.png"))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_loads_without_console_messages(rendered, kind):
    r = rendered[kind]
    assert r["dom"].strip(), "chromium returned an empty DOM"
    assert r["console"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_screenshot_is_not_blank(rendered, kind, helpers):
    assert helpers.not_blank(rendered[kind]["png"])


@pytest.mark.parametrize("kind", KINDS)
def test_data_strings_stay_text_in_the_dom(rendered, kind):
    dom = rendered[kind]["dom"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the browser re-serialises text nodes escaped
    assert "<script" not in dom.lower()  # no script element was created from data
    assert re.search(r"<title>[^<]*</title>", dom)


def _count(dom, pattern):
    return len(re.findall(pattern, dom))


def test_label_dom_has_types_and_plots(rendered):
    dom = rendered["label"]["dom"]
    for k in "123456":
        assert f'id="type-{k}"' in dom
    assert _count(dom, r'<svg[^>]*class="plot type-histogram"') == 6
    assert _count(dom, r'<svg[^>]*class="plot (?:distribution|ita-histogram|confusion)"') == 3
    assert _count(dom, r'<img src="data:image/jpeg') >= 10  # thumbnails decoded into the page


def test_audit_dom_has_types_and_plots(rendered):
    dom = rendered["audit"]["dom"]
    for t in ("I", "II", "III", "IV", "V", "VI"):
        assert f'id="m0-type-{t}"' in dom
    assert 'id="summary"' in dom and ("): a gap (" in dom or "no evidence of a gap" in dom)
    assert _count(dom, r'<svg[^>]*class="plot roc"') == 4
    assert _count(dom, r'<svg[^>]*class="plot calibration"') == 4
    assert _count(dom, r'class="band"') >= 20  # CI bands of the ROC curves
    assert 'id="syn-embedding"' in dom


def test_audit_dom_has_the_why_sections(rendered):
    """Saliency per skin type (forest plots, a section per type with its overlays) and the
    counterfactual flips; the overlay that is not a data: image is not drawn."""
    dom = rendered["audit"]["dom"]
    assert 'id="why-saliency-0"' in dom and 'id="why-counterfactual-0"' in dom
    assert _count(dom, r'<svg[^>]*class="plot saliency-(?:lesion|skin)"') == 2
    for t in ("I", "II", "III", "IV", "V", "VI"):
        assert f'id="why-saliency-0-{t}"' in dom
    section = dom[dom.index('id="why-saliency-0"'):dom.index('id="why-counterfactual-0"')]
    assert _count(section, r'<img src="data:image/jpeg') == 18  # 3 per type; the javascript: one is not drawn
    assert "javascript:" not in dom and "not shown: not an embedded image" in section
    assert _count(dom, r'<svg[^>]*class="plot counterfactual-flips"') == 1
    assert _count(dom[dom.index('id="why-counterfactual-0"'):], r'<img src="data:image/jpeg') == 12


def test_balance_and_synthetic_dom(rendered):
    for kind in ("balance", "synthetic"):
        dom = rendered[kind]["dom"]
        for k in "123456":
            assert f'id="type-{k}"' in dom, (kind, k)
    assert _count(rendered["synthetic"]["dom"], r'<svg[^>]*class="plot forest-') == 4
    assert _count(rendered["balance"]["dom"], r'<img src="data:image/jpeg') >= 20


def test_prints_to_pdf(chromium, rendered, tmp_path):
    """The print stylesheet gives a multi-page PDF with the plots in it (vector SVG, not blank pages)."""
    pdf = tmp_path / "label.pdf"
    assert chromium.print_pdf(rendered["label"]["path"], pdf) == []
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 3, pages
    assert len(data) > 50_000


# -- the checks themselves can fail ---------------------------------------------------------------

def test_console_check_catches_errors(chromium, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>throw new Error('boom')</script></body></html>")
    _, console = chromium.dump_dom(page)
    assert any("Uncaught Error: boom" in line for line in console)


def test_console_check_catches_injected_script_blocked_by_csp(chromium, tmp_path, label_dict):
    """If escaping ever failed, the page's Content-Security-Policy would block the script and
    Chromium would report it: the console test above would fail."""
    path = render_label_report(label_dict, tmp_path / "r.html")
    html = path.read_text().replace("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>", 1)
    path.write_text(html)
    dom, console = chromium.dump_dom(path)
    assert any("Content Security Policy" in line for line in console)


def test_blank_screenshot_is_detected(chromium, tmp_path, helpers):
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body style='background:#fff'></body></html>")
    png = tmp_path / "blank.png"
    chromium.screenshot(page, png, size=(800, 600))
    assert not helpers.not_blank(png)


def test_console_parser(helpers):
    err = ('[1:1:1122/062223.128763:INFO:CONSOLE:1] "Uncaught Error: boom", source: file:///x.html (1)\n'
           "[1:1:1122/062223.407116:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n")
    assert helpers.console_messages(err) == [err.splitlines()[0]]
