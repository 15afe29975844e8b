"""Layout facts of every report in headless Chromium (Selenium), at desktop 1280x800 and tablet
820x1180: the verdict (or the plain-words summary) is above the fold, every table cell sits under
its own header, nothing overflows sideways, the balance grid's columns hold what their headers
say, and a screenshot of each is not blank.

Needs Debian's chromium and chromium-driver (``.ci/install-chromium``) and selenium (the test
extra); skipped, saying which is missing, without them. FAIRSKIN_SCREENSHOTS=<dir> keeps the
screenshots.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest

from fairskin.reports import (render_audit_report, render_balance_report, render_demo_index, render_experiment_report,
                              render_label_report, render_synthetic_report)

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("FAIRSKIN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FAIRSKIN_CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
SIZES = {"desktop": (1280, 800), "tablet": (820, 1180)}
DATA = Path(__file__).parent / "data"

#: per report: the CSS selector of what must be above the fold (the verdict, else the summary)
VERDICT = {"label": "#summary .summary", "balance": "#summary .summary", "synthetic": "#summary .summary",
           "audit": "#summary p.verdict", "why": "#summary .summary", "experiment": "#summary .summary p.lead",
           "experiment-verdict": "#summary .summary p.lead:nth-of-type(4)", "index": "#at-a-glance tr:last-child td"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install 'fairskin[test]')")
    from selenium.webdriver.chrome.service import Service

    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            pytest.skip(f"{path} not found: install Debian's {what} (.ci/install-chromium) to run this test")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
              f"--user-data-dir={tmp_path_factory.mktemp('layout-profile')}"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(120)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def pages(tmp_path_factory, phantom_root, helpers):
    """Every report rendered once from the hand-built inputs (conftest) and the experiment fixture."""
    tmp = tmp_path_factory.mktemp("layout")
    audit = helpers.audit(phantom_root)
    why = helpers.audit(phantom_root)
    why["models"], why["comparisons"] = why["models"][:1], []
    why.update(helpers.why(phantom_root))
    exp = json.loads((DATA / "experiment_mixed.json").read_text())
    exp["context"] = {"baseline_gap": {"seeds": [{"seed": s, "value": 0.06, "evidence": "gap", "reading": "gap"}
                                                 for s in range(3)]},
                      "synthetic_audit": {"cells": 13, "mode_collapse": 8, "mode_collapse_cells": ["V / nevus"]}}
    makers = {"label": (render_label_report, helpers.label(phantom_root)), "audit": (render_audit_report, audit),
              "why": (render_audit_report, why), "balance": (render_balance_report, helpers.balance(phantom_root)),
              "synthetic": (render_synthetic_report, helpers.synthetic(phantom_root)),
              "experiment": (render_experiment_report, copy.deepcopy(exp))}
    out = {k: fn(data, tmp / k / "report.html") for k, (fn, data) in makers.items()}
    out["index"] = render_demo_index(exp, tmp / "index" / "index.html", audit=audit,
                                     reports=[("audit report", "../audit/report.html")])
    return out


def _load(driver, path, size):
    w, h = SIZES[size]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return [innerWidth, innerHeight]") == [w, h]


_TABLE_CHECK = """
const bad = [];
document.querySelectorAll('table.data').forEach((t, ti) => {
  const hs = [...t.querySelectorAll('thead th')].map(h => h.getBoundingClientRect());
  if (!hs.length || t.getBoundingClientRect().width === 0) return;
  t.querySelectorAll('tbody tr').forEach((r, ri) => {
    const cs = [...r.children];
    if (cs.length !== hs.length) { bad.push(`table ${ti} row ${ri}: ${cs.length} cells under ${hs.length} headers`); return; }
    cs.forEach((c, ci) => {
      const b = c.getBoundingClientRect();
      if (Math.abs(b.left - hs[ci].left) > 1.5 || Math.abs(b.right - hs[ci].right) > 1.5)
        bad.push(`table ${ti} row ${ri} cell ${ci} at ${b.left}-${b.right}, its header at ${hs[ci].left}-${hs[ci].right}`);
    });
  });
});
return bad;
"""


def _top(driver, selector):
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (!e) return null;"
        "const r = e.getBoundingClientRect(); return [r.top + scrollY, r.bottom + scrollY, r.height];", selector)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("kind", ["label", "audit", "why", "balance", "synthetic", "experiment", "index"])
def test_layout(driver, pages, kind, size, helpers, tmp_path):
    _load(driver, pages[kind], size)
    h = SIZES[size][1]
    box = _top(driver, VERDICT[kind])
    assert box is not None, f"{VERDICT[kind]} not in the {kind} report"
    top, bottom, height = box
    assert height > 0 and bottom <= h, f"{kind} at {size}: {VERDICT[kind]} ends at {bottom:.0f} px, the fold is at {h}"
    assert driver.execute_script("return document.documentElement.scrollWidth") <= SIZES[size][0], \
        f"{kind} at {size}: the page scrolls sideways"
    assert driver.execute_script(_TABLE_CHECK) == []
    png = tmp_path / f"{kind}-{size}.png"
    driver.save_screenshot(str(png))
    keep = os.environ.get("FAIRSKIN_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(png, os.path.join(keep, png.name))
    assert helpers.not_blank(png)
    logs = [x for x in driver.get_log("browser") if x.get("level") in ("SEVERE", "WARNING")]
    assert logs == []


@pytest.mark.parametrize("size", list(SIZES))
def test_experiment_and_index_verdicts_above_the_fold(driver, pages, size):
    """The comparison's verdict sentence of the experiment summary, and both answers of the index."""
    h = SIZES[size][1]
    _load(driver, pages["experiment"], size)
    text = driver.execute_script("return document.querySelector(arguments[0]).textContent", VERDICT["experiment-verdict"])
    assert "verdict:" in text
    assert _top(driver, VERDICT["experiment-verdict"])[1] <= h
    _load(driver, pages["index"], size)
    for sel in ("#at-a-glance tr:first-child td", "#at-a-glance tr:last-child td"):
        assert _top(driver, sel)[1] <= h, sel


@pytest.mark.parametrize("size", list(SIZES))
def test_balance_grid_columns_hold_what_their_headers_say(driver, pages, size):
    """Each row of the 'synthetic next to real' grid: synthetic images under 'synthetic', real ones
    under 'real', every row in its own line (a note never becomes a fourth child)."""
    _load(driver, pages["balance"], size)
    res = driver.execute_script("""
      const out = [];
      document.querySelectorAll('.cellgrid').forEach((g, gi) => {
        const heads = {};
        [...g.children].slice(0, 3).forEach(h => heads[h.dataset.col] = h.getBoundingClientRect().left);
        const kids = [...g.children].slice(3);
        out.push({grid: gi, n: kids.length, type: g.closest('section').id,
                  wrong: kids.filter((k, i) => k.dataset.col !== ['cell', 'synthetic', 'real'][i % 3]).length,
                  offset: kids.filter(k => Math.abs(k.getBoundingClientRect().left - heads[k.dataset.col]) > 1.5).length,
                  rows: kids.filter((k, i) => i % 3 && Math.abs(k.getBoundingClientRect().top - kids[i - i % 3]
                                                            .getBoundingClientRect().top) > 1.5).length,
                  synAlt: [...g.querySelectorAll('[data-col=synthetic] img')].map(i => i.alt),
                  realAlt: [...g.querySelectorAll('[data-col=real] img')].map(i => i.alt),
                  synText: [...g.querySelectorAll('[data-col=synthetic]')].map(k => k.textContent)});
      });
      return out;""")
    assert len(res) == 6
    for g in res:
        assert g["n"] % 3 == 0 and g["wrong"] == 0 and g["offset"] == 0 and g["rows"] == 0, g
        assert all(a.startswith("synthetic image") for a in g["synAlt"]), g["synAlt"]
        assert g["realAlt"] and all(a.startswith("real image") for a in g["realAlt"]), g["realAlt"]
    assert sum(len(g["synAlt"]) for g in res) > 0


def test_layout_check_catches_a_shifted_grid(driver, pages, tmp_path):
    """The check above fails on the old layout: a fourth child in a 3-column grid shifts the rest."""
    html = pages["balance"].read_text().replace('<div data-col="synthetic">', '<p>3 more not shown</p><div data-col="synthetic">', 1)
    bad = tmp_path / "shifted.html"
    bad.write_text(html)
    _load(driver, bad, "desktop")
    offset = driver.execute_script("""
      const g = document.querySelector('.cellgrid');
      const heads = {}; [...g.children].slice(0, 3).forEach(h => heads[h.dataset.col] = h.getBoundingClientRect().left);
      return [...g.children].slice(3).filter(k => k.dataset.col &&
             Math.abs(k.getBoundingClientRect().left - heads[k.dataset.col]) > 1.5).length;""")
    assert offset > 0
