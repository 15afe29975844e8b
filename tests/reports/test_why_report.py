"""The why-sections of the audit report say their main results: every saliency test (the
significant one first), saliency and counterfactuals in the plain-words box, a reason for each
image not explained, what a score change means, and a Method section without Python reprs."""

from __future__ import annotations

import re

from fairskin.reports import render_audit_report
from fairskin.reports._why import counterfactual_lines, saliency_lines


def _audit(helpers, phantom_root) -> dict:
    data = helpers.audit(phantom_root)
    data.update(helpers.why(phantom_root))
    sal = data["saliency"][0]
    # the case: the significant result was the skin share, and the summary left it out
    sal["tests"].insert(1, {"name": "skin_share_gap", "groups": ["I", "VI"], "definition": "skin share of VI minus I",
                            "value": 0.098, "ci_low": 0.04, "ci_high": 0.16, "p_value": 0.002,
                            "p_value_method": "bootstrap", "flags": []})
    sal["tests"][0]["p_value"] = 0.3  # lesion share gap: not significant
    sal["tests"][2]["p_value"] = 0.4
    sal["bad_rows"] = [{"image": f"images/x{i}.png", "status": "zero_attribution",
                        "reason": "the attribution map is zero everywhere"} for i in range(3)] + [
                       {"image": "images/y.png", "status": "unreadable", "reason": "cannot identify image file"}]
    sal["n_bad"] = 4
    return data


def test_saliency_summary_lists_every_test_significant_first(helpers, phantom_root):
    sal = _audit(helpers, phantom_root)["saliency"][0]
    lines = saliency_lines(sal, 0.05)
    tests = [x for x in lines if "significant" in x]
    assert len(tests) == 3
    assert "healthy skin" in tests[0] and "skin share of VI minus I +0.098" in tests[0] and "; significant, Holm-adjusted p = 0.006" in tests[0]  # 3 tests, no Holm p in the file: Bonferroni
    assert all("not significant" in x for x in tests[1:])
    assert any("4 of 200 images could not be explained (3 zero attribution, 1 unreadable)" in x for x in lines)


def test_plain_words_box_has_saliency_and_counterfactual(helpers, phantom_root, tmp_path):
    html = render_audit_report(_audit(helpers, phantom_root), tmp_path / "r.html").read_text()
    box = html[html.index('id="summary"'):html.index("</section>", html.index('id="summary"'))]
    assert "Where the model looks (saliency): base.pt: on FST VI the map puts 10% more of its weight on the healthy " \
           "skin" in box
    assert "Counterfactual skin tone: base.pt: re-toning the healthy skin" in box


def test_every_image_not_explained_has_its_reason(helpers, phantom_root, tmp_path):
    html = render_audit_report(_audit(helpers, phantom_root), tmp_path / "r.html").read_text()
    sec = html[html.index('id="why-saliency-0"'):html.index('id="why-counterfactual-0"')]
    table = re.search(r"<caption>Images not explained, and why</caption>.*?</table>", sec, re.S).group(0)
    assert table.count("<tr class=") == 4 and table.count("zero attribution") == 3
    assert "cannot identify image file" in table


def test_counterfactual_summary_says_what_a_score_change_means(helpers, phantom_root):
    cf = _audit(helpers, phantom_root)["counterfactual"][0]
    lines = counterfactual_lines(cf)
    assert any("a model that read only the lesion would change by 0" in x for x in lines)
    # the fixture's type-level sources: toward darker +0.08 (0.03 to 0.13) excludes 0 for I..V
    assert sum("re-toned darker: the malignancy score rises by 0.080" in x for x in lines) == 5


def test_method_section_has_no_python_reprs(helpers, phantom_root, tmp_path):
    data = _audit(helpers, phantom_root)
    data["meta"]["ci_methods"] = {"wilson": "Wilson score interval", "extremum": "recentred bootstrap"}
    data["meta"]["label_confusion"] = [{"a": 1}]
    html = render_audit_report(data, tmp_path / "r.html").read_text()
    sec = html[html.index('<section id="method"'):]
    assert "{&#x27;" not in sec and "{'" not in sec and "[{" not in sec
    assert "<dt>wilson</dt><dd>Wilson score interval</dd>" in sec
