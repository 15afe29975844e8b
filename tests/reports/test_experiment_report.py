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


def _leads(html) -> list[str]:
    return re.findall(r'<p class="lead">([^<]*)</p>', html)


def test_summary_sentence_matches_the_numbers(tmp_path):
    data = _load("experiment_mixed.json")
    c = data["statistics"]["comparisons"][0]
    d = next(x for x in c["deltas"] if x["group"] == "V-VI" and x["metric"] == "auroc")
    html = _render(data, tmp_path)
    lead = next(x for x in _leads(html) if "adding synthetic images" in x)
    want = (f"changed AUROC on FST V-VI from {d['baseline']:.2f} to {d['candidate']:.2f}, "
            f"{100 * d['relative']:+.0f}% relative (CI {100 * d['relative_ci_low']:+.0f}% to "
            f"{100 * d['relative_ci_high']:+.0f}%)")
    assert want in lead
    assert "0.69 to 0.85, +24% relative (CI +6% to +51%)" in lead  # the fixture's actual values
    # one criterion's interval crosses its bound: not conclusive, not "passes"
    assert "verdict: not conclusive (the point estimates pass the criteria" in lead
    # the numbers come from the data: change them and the sentence follows
    d["candidate"], d["relative"] = 0.5, -0.27
    c["verdict"] = "fail"
    for cr in c["criteria"]:
        cr["confident"] = True
    lead2 = next(x for x in _leads(_render(data, tmp_path / "b")) if "adding synthetic images" in x)
    assert "to 0.50, -27% relative" in lead2 and "verdict: fails the criteria." in lead2


def _verdict_span(html) -> tuple[str, str]:
    m = re.search(r'<p class="verdict">Verdict: <span class="([^"]+)">([^<]*)</span>', html)
    return m.group(1), m.group(2)


@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_a_verdict_not_conclusive_is_never_red_or_green(tmp_path, verdict):
    """The issue's case: V-VI +0.8% (CI -12% to +17%) was shown as a red "fail"."""
    data = _load("experiment_mixed.json")
    c = data["statistics"]["comparisons"][0]
    c["verdict"], c["conclusive"] = verdict, False
    cls, words = _verdict_span(_render(data, tmp_path / "a"))
    assert cls == "neutral" and words.startswith("not conclusive")
    c["conclusive"] = True
    cls, words = _verdict_span(_render(data, tmp_path / "b"))
    assert cls == verdict and words == f"{verdict}{'es' if verdict == 'pass' else 's'} the criteria"


def test_summary_states_the_baseline_gap_first(tmp_path):
    data = _load("experiment_mixed.json")
    stats = data["statistics"]
    by = {g["group"]: g["metrics"] for g in stats["arms"]["real"]["groups"]}
    leads = _leads(_render(data, tmp_path / "a"))
    first = leads[0]
    assert first.startswith("Baseline model (real images only, mean of 3 seeds)")
    assert f"AUROC {by['I-II']['auroc']['value']:.2f} (95% CI {by['I-II']['auroc']['ci_low']:.2f} to" in first
    assert f"and {by['V-VI']['auroc']['value']:.2f} (95% CI {by['V-VI']['auroc']['ci_low']:.2f} to" in first
    assert leads[1].startswith("Not tested here")  # no test in the file: said, not implied
    # with the per-seed audits' test in the context block, the reading is stated
    data["context"] = {"baseline_gap": {"seeds": [
        {"seed": s, "value": 0.06, "evidence": ev, "reading": f"{ev} (CI ...)"} for s, ev in
        ((0, "gap"), (1, "no_evidence"), (2, "gap"))]}}
    leads = _leads(_render(data, tmp_path / "b"))
    assert leads[1].startswith("The audit finds a gap (AUROC I-II minus V-VI) in 2 of the 3 baseline models")
    assert "seed 1: +0.06 (no_evidence (CI ...))" in leads[1]


def test_summary_surfaces_sensitivity_eod_and_mode_collapse(tmp_path):
    data = _load("experiment_mixed.json")
    arms = data["statistics"]["arms"]
    sens = {a: next(g for g in arms[a]["groups"] if g["group"] == "V-VI")["metrics"]["sensitivity"] for a in arms}
    data["context"] = {"synthetic_audit": {"cells": 13, "mode_collapse": 8, "mode_collapse_cells": ["V / nevus"]},
                       "synthetic_origin": {"made_by": "the demo's balance step", "generated": 90, "accepted": 60}}
    html = _render(data, tmp_path)
    text = " ".join(_leads(html))
    assert (f"Sensitivity on FST V-VI (malignant lesions caught): real {sens['real']['value']:.2f} (95% CI "
            f"{sens['real']['ci_low']:.2f} to {sens['real']['ci_high']:.2f}), mixed {sens['mixed']['value']:.2f}") in text
    eod = arms["mixed"]["equalized_odds_difference"]
    assert f"mixed {eod['value']:.2f} (95% CI {eod['ci_low']:.2f} to {eod['ci_high']:.2f}); not tested as a change" in text
    assert "flags mode collapse (too little variety) in 8 of 13 cells (V / nevus)" in text
    assert "60 of 90 generated images passed the ITA gate" in text


def test_provenance_of_a_given_manifest(tmp_path):
    data = _load("experiment_mixed.json")
    data["synthetic"] = {"source": "demo/balanced/manifest.csv", "generator": "given manifest", "base_model": None, "n": 60}
    html = _render(data, tmp_path / "a")
    sec = html[html.index('<section id="synthetic"'):html.index('<section id="method"')]
    assert "did not generate them" in sec and "attempts-*.csv" in sec and "n/a" not in sec
    data["context"] = {"synthetic_origin": {"made_by": "this demo's fairskin balance", "generated": 90, "accepted": 60,
                                            "rejected": 30, "report": "balance-report.html"}}
    html = _render(data, tmp_path / "b")
    sec = html[html.index('<section id="synthetic"'):html.index('<section id="method"')]
    assert "this demo&#x27;s fairskin balance" in sec and "<dd>90</dd>" in sec and "given manifest" not in sec


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
