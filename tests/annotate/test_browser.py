"""End to end in headless Chromium: phantoms from ``fairskin demo-data``, an annotation created
and three annotators invited through the CLI, each labelling through the pages (by keyboard, by
mouse and touch-sized tiles on a tablet, and one who closes the browser half-way and resumes with
their link), then ``fairskin annotate analyze`` writes labels.csv and the report.

Needs Debian's chromium and chromium-driver (``.ci/install-chromium``) and selenium (the test
extra); skipped, saying which is missing, without them.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fairskin.cli import main

from ..reader_study.test_browser import _at, _console_errors, _item, browser_factory  # noqa: F401 (the fixture)
from .conftest import fake_truth

pytestmark = pytest.mark.browser

N = 6


def _by_keyboard(driver, tone: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(str(tone)).perform()
    assert driver.find_element("id", f"tone-{tone}").is_selected()
    ActionChains(driver).send_keys(Keys.ENTER).perform()


def _by_mouse(driver, tone: int) -> None:
    driver.find_element("css selector", f"label[for=tone-{tone}]").click()
    driver.find_element("id", "submit").click()


def test_three_annotators_label_resume_and_analyze(browser_factory, tmp_path, capsys):  # noqa: F811
    from selenium.webdriver.support.wait import WebDriverWait

    from fairskin.annotate import start_annotation_server

    data, folder = tmp_path / "phantoms", tmp_path / "ann"
    assert main(["demo-data", str(data), "--n", "40", "--size", "64", "--seed", "2"]) == 0
    assert main(["annotate", "create", str(data), "--out", str(folder), "--n", str(N), "--per-image", "3",
                 "--size", "96", "-q"]) == 0
    assert main(["annotate", "invite", str(folder), "--annotators", "3"]) == 0
    capsys.readouterr()
    links = pd.read_csv(folder / "private" / "invites.csv")
    truth = fake_truth(folder)
    server = start_annotation_server(folder)
    errors: list[str] = []
    try:
        link = {r.name: r.link.replace("http://127.0.0.1:8000", server.url) for r in links.itertuples()}
        # annotator 1, desktop, keyboard only: always the true type
        d = browser_factory(size=(1280, 900))
        d.get(link["reader-01"])
        cols = d.execute_script("return getComputedStyle(document.querySelector('.annotate')).gridTemplateColumns")
        assert len(cols.split()) == 2, cols  # image beside the swatches
        for k in range(N):
            _at(d, f"image {k + 1}:")
            _by_keyboard(d, truth[_item(d)])
        WebDriverWait(d, 30).until(lambda d: d.current_url.endswith("/done"))
        errors += _console_errors(d)

        # annotator 2, a tablet in portrait, by touch-sized tiles: one type darker where it can
        t = browser_factory(size=(820, 1180))
        t.get(link["reader-02"])
        cols = t.execute_script("return getComputedStyle(document.querySelector('.annotate')).gridTemplateColumns")
        assert len(cols.split()) == 1, cols  # the swatches sit under the image
        for k in range(N):
            _at(t, f"image {k + 1}:")
            _by_mouse(t, min(6, truth[_item(t)] + 1))
        WebDriverWait(t, 30).until(lambda d: d.current_url.endswith("/done"))
        errors += _console_errors(t)

        # annotator 3 labels two, closes the browser, and resumes in a new one with the link
        b = browser_factory()
        b.get(link["reader-03"])
        for k in range(2):
            _at(b, f"image {k + 1}:")
            _by_keyboard(b, truth[_item(b)])
        _at(b, "image 3:")
        third = _item(b)
        errors += _console_errors(b)
        b.quit()
        b = browser_factory()
        b.get(link["reader-03"])
        _at(b, "image 3: you labelled 2")
        assert _item(b) == third
        for k in range(2, N):
            _at(b, f"image {k + 1}:")
            _by_keyboard(b, truth[_item(b)])
        WebDriverWait(b, 30).until(lambda d: d.current_url.endswith("/done"))
        assert f"You labelled {N} image(s)" in b.find_element("id", "done-text").text
        errors += _console_errors(b)
    finally:
        server.stop()
    assert errors == []
    assert main(["annotate", "analyze", str(folder), "--n-boot", "200"]) == 0
    assert f"{N} of {N} images have a consensus type from {3 * N} labels by 3 annotators" in \
        capsys.readouterr().out.replace("\n", " ")
    labels = pd.read_csv(folder / "analysis" / "labels.csv", dtype={"image": str})
    key = pd.read_csv(folder / "private" / "answer_key.csv", dtype={"id": str, "image": str}).set_index("image")
    assert (labels["source"] == "human consensus").all()
    assert all(int(f) == truth[key.loc[img, "id"]] for img, f in zip(labels["image"], labels["fst"]))
    assert (folder / "analysis" / "report.html").is_file()
