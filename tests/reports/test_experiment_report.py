"""The experiment report (``fairskin.experiment/1``): sections per arm and group, escaping, the
summary sentence against the JSON's numbers, the stand-in-generator warning, JSON beside, and one
load in headless Chromium.

Fixtures in ``data/`` are trimmed copies of real ``fairskin experiment`` outputs (per-seed values,
three unused metrics and the demo block dropped, floats rounded to 4 places).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from fairskin.errors import InputError
from fairskin.reports import render_experiment_report

DATA = Path(__file__).parent / "data"
SAMPLES = ("experiment_mixed.json", "experiment_hardcase.json")


def _load(name) -> dict:
    return json.loads((DATA / name).read_text())


@pytest.fixture(params=SAMPLES)
def sample(request):
    return _load(request.param)


def _render(data, tmp_path) -> str:
    p = render_experiment_report(data, tmp_path / "report.html")
    return p.read_text()


def test_renders_every_arm_and_group(sample, tmp_path):
    html = _render(sample, tmp_path)
    stats = sample["statistics"]
    for sid in ("summary", "runs", "metric-auroc", "metric-sensitivity", "eod", "verdict", "synthetic", "method"):
        assert f'<section id="{sid}"' in html, sid
    for arm in stats["arms"]:
        for g in stats["arms"][arm]["groups"]:
            # one forest row per (group, arm) in each metric plot
            assert html.count(f'data-group="{g["group"]} \u00b7 {arm}"') == 2, (g["group"], arm)
    for c in stats["comparisons"]:
        assert f'<section id="cmp-{c["candidate"]}"' in html
        assert f'data-verdict="{c["verdict"]}"' in html
    assert html.count("<tr class=") >= len(sample["runs"])
    assert len(re.findall(r"<svg\b[^>]*>\s*<title", html)) >= 3 and "<desc" in html


def test_hard_case_rounds_only_when_present(tmp_path):
    hc = _render(_load("experiment_hardcase.json"), tmp_path / "hc")
    mixed = _render(_load("experiment_mixed.json"), tmp_path / "mixed")
    assert '<section id="rounds"' in hc and "targeted vs untargeted" in hc
    for r in _load("experiment_hardcase.json")["rounds"]["rounds"]:
        assert f'data-group="round {r["round"]} \u00b7 V-VI \u00b7 targeted"' in hc
    assert '<section id="rounds"' not in mixed
    r1 = _load("experiment_hardcase.json")["rounds"]["rounds"][0]["test"]
    assert (f"round 1: test AUROC on FST V-VI {r1['targeted']['V-VI']['value']:.2f} with targeted generation vs "
            f"{r1['untargeted']['V-VI']['value']:.2f} with untargeted") in hc


def test_summary_sentence_matches_the_numbers(tmp_path):
    data = _load("experiment_mixed.json")
    c = data["statistics"]["comparisons"][0]
    d = next(x for x in c["deltas"] if x["group"] == "V-VI" and x["metric"] == "auroc")
    html = _render(data, tmp_path)
    lead = re.search(r'<p class="lead">([^<]*)</p>', html).group(1)
    want = (f"changed AUROC on FST V-VI from {d['baseline']:.2f} to {d['candidate']:.2f}, "
            f"{100 * d['relative']:+.0f}% relative (CI {100 * d['relative_ci_low']:+.0f}% to "
            f"{100 * d['relative_ci_high']:+.0f}%)")
    assert want in lead
    assert "0.69 to 0.85, +24% relative (CI +6% to +51%)" in lead  # the fixture's actual values
    assert "verdict: passes the criteria, not conclusively" in lead
    # the numbers come from the data: change them and the sentence follows
    d["candidate"], d["relative"] = 0.5, -0.27
    c["verdict"] = "fail"
    for cr in c["criteria"]:
        cr["confident"] = True
    lead2 = re.search(r'<p class="lead">([^<]*)</p>', _render(data, tmp_path / "b")).group(1)
    assert "to 0.50, -27% relative" in lead2 and "verdict: fails the criteria." in lead2


def test_stand_in_warning_follows_the_generator(tmp_path):
    data = _load("experiment_mixed.json")
    assert data["synthetic"]["generator"] == "phantom-renderer"
    html = _render(data, tmp_path / "a")
    assert html.count('<p class="unreliable-box stand-in"') == 2  # in the summary and the source section, as markup
    assert '<div class="summary"><p class="lead">' in html and "&lt;p" not in html
    data["synthetic"]["generator"] = "stable-diffusion"
    data["synthetic"].pop("note", None)
    assert "stand-in" not in _render(data, tmp_path / "b")
    data["synthetic"]["note"] = "synthetic images come from the built-in tiny Stable Diffusion (a toy model)"
    html = _render(data, tmp_path / "c")
    assert html.count("a toy model") == 2 and "stand-in" not in html  # the generator's caveat in the summary too


def test_data_strings_are_escaped(tmp_path):
    data = _load("experiment_mixed.json")
    evil = "<script>alert(1)</script>"
    data["arms"]["mixed"] = evil
    data["synthetic"]["source"] = evil
    data["statistics"]["comparisons"][0]["verdict_reason"] = evil
    html = _render(data, tmp_path)
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3


def test_unreliable_group_is_marked(tmp_path):
    data = _load("experiment_mixed.json")
    for a in data["statistics"]["arms"].values():
        a["groups"][2]["reliable"] = False
        a["groups"][2]["n"] = 12
    html = _render(data, tmp_path)
    assert "unreliable: n&lt;30" in html or "unreliable: n<30" in html
    assert 'class="unreliable-label"' in html
    ok = _render(_load("experiment_mixed.json"), tmp_path / "b")
    assert "unreliable: n" not in ok and "unreliable-label" not in ok and "fill=\"url(#fs-hatch)\"" not in ok


def test_json_beside_and_schema_checked(tmp_path):
    data = _load("experiment_hardcase.json")
    p = render_experiment_report(data, tmp_path / "out" / "exp.html")
    assert json.loads(p.with_suffix(".json").read_text()) == data
    bad = copy.deepcopy(data)
    bad["schema"] = "fairskin.audit/1"
    with pytest.raises(InputError):
        render_experiment_report(bad, tmp_path / "bad.html")


@pytest.mark.browser
@pytest.mark.parametrize("name", SAMPLES)
def test_experiment_report_in_chromium(chromium, helpers, tmp_path, name):
    data = _load(name)
    data["arms"]["real"] = "<script>alert(1)</script>"
    p = render_experiment_report(data, tmp_path / "report.html")
    dom, console = chromium.dump_dom(p)
    png = tmp_path / name.replace(".json", ".png")
    console = console + chromium.screenshot(p, png)
    keep = os.environ.get("FAIRSKIN_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(png, os.path.join(keep, png.name))
    assert dom.strip() and console == []
    for sid in ("summary", "runs", "metric-auroc", "metric-sensitivity", "eod", "verdict", "synthetic", "method")\
            + (("rounds",) if data.get("rounds") else ()):
        assert re.search(rf'<section id="{sid}"', dom), sid
    assert len(re.findall(r"<svg\b", dom)) >= 4
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom and "<script" not in dom.lower()
    assert helpers.not_blank(png)
