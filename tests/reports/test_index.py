"""The demo's index page: both questions answered first, colours that follow the statistics, and a
link to every report."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from fairskin.reports import render_demo_index
from fairskin.reports._index import gap_answer, help_answer

DATA = Path(__file__).parent / "data"


@pytest.fixture
def doc() -> dict:
    d = json.loads((DATA / "experiment_mixed.json").read_text())
    d["context"] = {"baseline_gap": {"seeds": [{"seed": s, "value": 0.06, "evidence": "gap", "reading": "gap"}
                                               for s in range(3)]},
                    "synthetic_audit": {"cells": 13, "mode_collapse": 8, "mode_collapse_cells": ["V / nevus"]}}
    return d


def _seeds(doc, evidence, value=0.06):
    for s, ev in zip(doc["context"]["baseline_gap"]["seeds"], evidence):
        s["evidence"], s["value"] = ev, value


def test_gap_answer_follows_the_per_seed_tests(doc):
    assert gap_answer(doc) == ("Yes: worse on FST V-VI in all 3 baseline models (a significant gap)", "fail")
    _seeds(doc, ["gap", "no_evidence", "gap"])
    assert gap_answer(doc) == ("Unclear: a significant gap in 2 of the 3 baseline models", "neutral")
    _seeds(doc, ["no_evidence"] * 3)
    assert gap_answer(doc)[1] == "neutral" and gap_answer(doc)[0].startswith("Not shown")
    del doc["context"]
    assert gap_answer(doc) == ("Not tested: see the numbers below", "neutral")


@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_help_answer_is_coloured_only_when_conclusive(doc, verdict):
    c = copy.deepcopy(doc["statistics"]["comparisons"][0])
    c["verdict"], c["conclusive"] = verdict, False
    words, cls = help_answer(c)
    assert cls == "neutral" and words.startswith("Not conclusive")
    c["conclusive"] = True
    words, cls = help_answer(c)
    assert cls == verdict and words.startswith("Yes" if verdict == "pass" else "No")
    assert help_answer(None)[1] == "neutral"


def test_page_answers_first_and_links_every_report(doc, tmp_path):
    reports = [("label report", "label-report.html"), ("audit report", "audit-report.html")]
    html = render_demo_index(doc, tmp_path / "index.html", reports=reports).read_text()
    main = html[html.index("<main>"):]
    # the two answers are the first things in the page body, in order, before the links
    assert main.index('id="q-gap"') < main.index('id="q-synthetic"') < main.index('id="reports"')
    head1 = re.search(r'id="q-gap".*?<p class="headline"><span class="(\w+)">([^<]+)</span>', html, re.S)
    assert head1.groups() == ("fail", "Yes: worse on FST V-VI in all 3 baseline models (a significant gap)")
    head2 = re.search(r'id="q-synthetic".*?<p class="headline"><span class="(\w+)">([^<]+)</span>', html, re.S)
    assert head2.group(1) == "neutral"  # the fixture's verdict: pass, but an interval crosses a bound
    for _, href in reports:
        assert f'<a href="{href}">' in html
    assert "mode collapse (too little variety) in 8 of 13 cells" in html
    assert (tmp_path / "index.json").is_file()
