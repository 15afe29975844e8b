"""A reader completes a whole small study in headless Chromium through the UI: invite link,
calibration, answers by mouse and by keyboard shortcuts, zoom, a reload and a closed browser in
the middle (both resume at the same image), the end page; no console error or CSP violation.

Needs Debian's chromium and chromium-driver (``.ci/install-chromium``) and selenium (the test
extra); skipped, saying which is missing, without them.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from fairskin.reader_study import ServeConfig, invite_readers, start_server
from fairskin.reader_study._store import open_store

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("FAIRSKIN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FAIRSKIN_CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")


@pytest.fixture
def browser_factory(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install 'fairskin[test]')")
    from selenium.webdriver.chrome.service import Service

    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            pytest.skip(f"{path} not found: install Debian's {what} (.ci/install-chromium) to run this test")
    drivers = []

    def make(size=(1280, 1000)):
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--window-size={size[0]},{size[1]}", f"--user-data-dir={tmp_path / f'profile-{len(drivers)}'}"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        d.set_page_load_timeout(60)
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        d.quit()


def _item(driver) -> str:
    return driver.find_element("name", "item").get_attribute("value")


def _at(driver, text: str) -> bool:
    """Wait (a page load is asynchronous to clicks and keys) until the progress line says ``text``."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    def ready(d):
        try:
            return text in d.find_element("id", "progress-text").text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        except WebDriverException as exc:  # Chromium's own word for a stale element, mid-navigation on a busy machine
            if "does not belong to the document" in str(exc):
                return False
            raise

    WebDriverWait(driver, 30).until(ready)
    return True


def _console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def test_a_reader_completes_a_study_through_the_ui(study_factory, browser_factory):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    study = study_factory(n=6, calibration=2)
    invite = next(i for i in invite_readers(study, readers=1) if i.role == "reader")
    server = start_server(study, config=ServeConfig(port=0, threads=4))
    link = invite.link.replace("http://127.0.0.1:8000", server.url)
    try:
        d = browser_factory(size=(820, 1180))  # a tablet in portrait
        d.get(link)
        assert d.current_url.endswith("/calibration")
        assert len(d.find_elements("css selector", "figure.cal img")) == 2
        d.find_element("id", "start").click()
        assert _at(d, "image 1 of 6")
        # one column on a tablet: the questions sit under the image
        cols = d.execute_script("return getComputedStyle(document.querySelector('.study')).gridTemplateColumns")
        assert len(cols.split()) == 1, cols

        # 1: by mouse (touch-sized labels), with a diagnosis and a comment
        first = _item(d)
        for el in ("origin-real", "realism-6", "confidence-4"):
            d.find_element("css selector", f"label:has(#{el})").click()
        Select(d.find_element("id", "diagnosis")).select_by_value("melanoma")
        d.find_element("id", "comment").send_keys("<b>looks real</b>")
        d.find_element("id", "submit").click()
        assert _at(d, "image 2 of 6")

        # 2: by keyboard shortcuts, after zooming in and back
        img = d.find_element("id", "photo")
        d.find_element("tag name", "body").send_keys("+")
        assert "scale(1.5)" in img.get_attribute("style")
        d.find_element("css selector", "[data-zoom=reset]").click()
        assert "scale(1)" in img.get_attribute("style")
        ActionChains(d).send_keys("s").send_keys("2").key_down(Keys.SHIFT).send_keys("5").key_up(Keys.SHIFT).perform()
        assert d.find_element("id", "origin-synthetic").is_selected()
        assert d.find_element("id", "realism-2").is_selected() and d.find_element("id", "confidence-5").is_selected()
        ActionChains(d).send_keys(Keys.ENTER).perform()
        assert _at(d, "image 3 of 6")

        # reload: the same image again, nothing lost
        third = _item(d)
        d.refresh()
        assert _at(d, "image 3 of 6") and _item(d) == third
        errors = _console_errors(d)
        d.quit()

        # the browser is closed; the reader opens the link again in a new one and resumes
        d = browser_factory()
        d.get(link)
        assert d.current_url.endswith("/study") and _item(d) == third
        for k in range(3, 7):
            assert _at(d, f"image {k} of 6")
            ActionChains(d).send_keys("r" if k % 2 else "s").send_keys(str(k)).key_down(Keys.SHIFT).send_keys("3") \
                .key_up(Keys.SHIFT).send_keys(Keys.ENTER).perform()
        WebDriverWait(d, 30).until(lambda d: d.current_url.endswith("/done"))
        assert "You have answered 6 of 6 images" in d.find_element("id", "done").text
        d.get(server.url + "/me")
        assert "&lt;b&gt;looks real&lt;/b&gt;" in d.page_source and "<b>looks real</b>" not in d.page_source
        errors += _console_errors(d)
    finally:
        server.stop()
    assert errors == []
    store = open_store(study)
    df = store.answers_frame().sort_values("position")
    store.dispose()
    assert list(df["position"]) == list(range(6)) and df["item"].is_unique
    assert df.iloc[0][["item", "origin", "realism", "confidence", "diagnosis", "comment"]].tolist() == \
        [first, "real", 6, 4, "melanoma", "<b>looks real</b>"]
    assert df.iloc[1][["origin", "realism", "confidence"]].tolist() == ["synthetic", 2, 5]
    assert df.iloc[2]["item"] == third and df["client_ms"].notna().all() and (df["server_ms"] >= 0).all()
    assert [re.fullmatch(r"[0-9a-f]{16}", i) is not None for i in df["item"]] == [True] * 6


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def _contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""
    def lum(c):
        ch = [v / 255 for v in _rgb(c)]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


_RECTS = """const q = s => { const r = document.querySelector(s).getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
return {vw: innerWidth, vh: innerHeight, scrollH: document.documentElement.scrollHeight, scrollY: scrollY,
        photo: q('#photo'), submit: q('#submit')};"""


@pytest.mark.parametrize("size", [(820, 1180), (1180, 820)], ids=["portrait", "landscape"])
def test_tablet_layout(study_factory, browser_factory, size, tmp_path):
    """On a tablet in either orientation (the viewport set exactly, as on an iPad Air): the image
    and the Save button are on screen without a scroll, so nothing jumps after a save; the Enter
    badge and a chosen answer are readable; diagnoses read as names; "My answers" shows no nan."""
    from PIL import Image
    from selenium.webdriver.support.select import Select

    study = study_factory(n=4, calibration=2)
    invite = next(i for i in invite_readers(study, readers=1) if i.role == "reader")
    server = start_server(study, config=ServeConfig(port=0, threads=4))
    link = invite.link.replace("http://127.0.0.1:8000", server.url)
    try:
        d = browser_factory(size=size)
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
        d.get(link)
        d.find_element("id", "start").click()
        assert _at(d, "image 1 of 4")
        shot = tmp_path / f"tablet-{size[0]}x{size[1]}.png"
        d.save_screenshot(str(shot))
        assert Image.open(shot).size == size
        f = d.execute_script(_RECTS)
        assert (f["vw"], f["vh"]) == size
        for name in ("photo", "submit"):  # whole, on screen, no scroll
            r = f[name]
            assert r["top"] >= 0 and r["left"] >= 0 and r["bottom"] <= f["vh"] and r["right"] <= f["vw"], (name, f)
        assert f["scrollH"] <= f["vh"], f  # the page itself needs no scroll
        assert f["photo"]["bottom"] - f["photo"]["top"] >= 0.4 * min(size), f  # and the image is not a stamp

        badge = d.find_element("css selector", "#submit kbd")
        assert badge.text == "Enter"
        assert _contrast(badge.value_of_css_property("color"), badge.value_of_css_property("background-color")) >= 4.5

        label = d.find_element("css selector", "label:has(#origin-real)")
        before = label.value_of_css_property("background-color")
        label.click()
        after = label.value_of_css_property("background-color")
        assert _contrast(before, after) >= 3, (before, after)  # chosen: plainly different from the others
        assert _contrast(label.value_of_css_property("color"), after) >= 4.5

        options = [o.text for o in Select(d.find_element("id", "diagnosis")).options]
        assert options[0] == "not sure" and len(options) > 1
        assert all("-" not in o and "_" not in o and o[0].isupper() for o in options[1:]), options
        for el in ("realism-5", "confidence-3"):
            d.find_element("css selector", f"label:has(#{el})").click()
        d.find_element("id", "submit").click()
        assert _at(d, "image 2 of 4")
        f = d.execute_script(_RECTS)
        assert f["scrollY"] == 0 and f["scrollH"] <= f["vh"]
        d.get(server.url + "/me")
        table = d.find_element("css selector", "table.answers").text
        assert "nan" not in table.lower().split() and "not sure" in table
        assert not _console_errors(d)
    finally:
        server.stop()
