"""The four HTML reports, without a browser: sections, escaping, JSON beside, size caps."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from fairskin.errors import InputError
from fairskin.reports import (ThumbBudget, plain_summary, render_audit_report, render_balance_report,
                              render_label_report, render_synthetic_report)

EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _render(kind, data, tmp_path):
    path = tmp_path / kind / "report.html"
    fn = {"label": render_label_report, "audit": render_audit_report, "balance": render_balance_report,
          "synthetic": render_synthetic_report}[kind]
    out = fn(data, path)
    assert out == path
    return path.read_text(encoding="utf-8")


@pytest.fixture
def reports(tmp_path, label_dict, audit_dict, balance_dict, synthetic_dict):
    audit_dict["synthetic"] = synthetic_dict
    data = {"label": label_dict, "audit": audit_dict, "balance": balance_dict, "synthetic": synthetic_dict}
    return {k: (_render(k, v, tmp_path), v, tmp_path / k / "report.html") for k, v in data.items()}


KINDS = ("label", "audit", "balance", "synthetic")


# -- escaping ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_script_in_data_is_text(reports, kind):
    html, _, _ = reports[kind]
    assert EVIL_ESCAPED in html
    assert "<script" not in html.lower()  # the pages have no scripts at all
    assert "&amp;lt;" not in html  # nothing escaped twice


@pytest.mark.parametrize("kind", KINDS)
def test_no_markup_escaped_by_mistake(reports, kind):
    """Every '&lt;' in the page comes from data or from text like 'n<30', never from our own tags."""
    html, _, _ = reports[kind]
    rest = html.replace(EVIL_ESCAPED, "")
    stray = re.findall(r"&lt;/?(?:section|div|span|svg|g|rect|table|tr|td|figure|p|ul|li|h\d|img)\b", rest)
    assert stray == []


def test_attribute_injection_is_escaped(tmp_path, label_dict):
    bad = '"><img src=x onerror=alert(2)>'
    label_dict["least_confident"][0]["image"] = f"images/{bad}.png"
    label_dict["data"]["root"] = str(tmp_path / f"root{bad}")
    html = _render("label", label_dict, tmp_path)
    assert "<img src=x" not in html
    assert "onerror=alert(2)&gt;" in html


def test_escaping_in_svg_text(tmp_path, balance_dict):
    html = _render("balance", balance_dict, tmp_path)
    for svg in re.findall(r"<svg class=\"plot.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)  # well-formed XML, so no raw '<' from data inside text
    assert "&lt;/script&gt;</text>" in html  # the diagnosis, as a label of the acceptance plot


# -- structure ---------------------------------------------------------------------------------

def _ids(html):
    return set(re.findall(r'\sid="([^"]+)"', html))


def _kinds(html):
    return re.findall(r'data-kind="([^"]+)"', html)


def test_label_sections_and_plots(reports):
    html, _, _ = reports["label"]
    ids = _ids(html)
    for sid in ("summary", "distribution", "ita", "types", "agreement", "thumbnails", "bad-rows", "provenance",
                *(f"type-{k}" for k in "123456")):
        assert sid in ids, sid
    kinds = _kinds(html)
    assert kinds.count("type-histogram") == 6
    assert {"distribution", "ita-histogram", "confusion"} <= set(kinds)
    # the scale's five cut-points in every histogram (1 overall + 6 per type)
    assert html.count('class="cut"') == 5 * 7
    # small types marked unreliable, in text
    assert html.count("unreliable: n&lt;30") >= 2
    assert "1 more" not in html  # small lists: nothing left out


def test_label_without_human_labels(tmp_path, label_dict):
    label_dict["fst_distribution"]["human"] = None
    label_dict["agreement"] = None
    html = _render("label", label_dict, tmp_path)
    assert "No human skin-type labels" in html
    assert "human label" not in html.split('id="types"')[0].split("<main>")[1].split("Skin-type distribution")[0]


def test_audit_sections_and_plots(reports):
    html, _, _ = reports["audit"]
    ids = _ids(html)
    for m in ("m0", "m1"):
        for sid in ("metrics", "curves", "types", "fairness", "intersections", "bad-rows"):
            assert f"{m}-{sid}" in ids, f"{m}-{sid}"
        for t in ("I", "II", "III", "IV", "V", "VI"):
            assert f"{m}-type-{t}" in ids
        for g in ("I-II", "III-IV", "V-VI", "all"):
            assert f"{m}-group-{g}" in ids
    assert {"summary", "comparison-0", "method", "syn-summary", "syn-types", "syn-memorisation", "syn-embedding"} <= ids
    kinds = _kinds(html)
    assert kinds.count("roc") == 4  # two levels x two models
    assert kinds.count("calibration") == 4
    for k in ("forest-auroc", "forest-sensitivity", "forest-specificity", "forest-ece", "ratios", "deltas", "embedding"):
        assert k in kinds, k
    assert "FAIL" in html and "dark_skin_auroc_gain" in html
    ratios = html.split('data-kind="ratios"')[1].split("</svg>")[0]
    assert ratios.count('class="bound"') == 2  # ratio_bounds 0.8 and 1.25


def test_audit_without_curves_says_which_key_is_missing(tmp_path, audit_dict):
    for m in audit_dict["models"]:
        for g in m["groups"] + [m["overall"]]:
            g.pop("roc", None)
            g.pop("calibration", None)
    html = _render("audit", audit_dict, tmp_path)
    assert 'data-kind="roc"' not in html
    assert "has no &#x27;roc&#x27; key" in html and "has no &#x27;calibration&#x27; key" in html


def test_plain_summary_states_the_gap(audit_dict):
    lines = plain_summary(audit_dict)
    assert lines[0] == ("base.pt: AUROC on FST V-VI is 0.57 (0.51\u20130.63), 0.15 below FST I-II (difference 0.15 "
                        "(0.05\u20130.26)): a gap (p = 0.004). FST V-VI is a small group: treat this with caution.")
    assert lines[-1] == "augmented.pt against base.pt: FAIL \u2014 1 of 2 criteria failed: dark_skin_auroc_gain."


def test_plain_summary_not_significant(audit_dict):
    gap = audit_dict["models"][0]["fairness"][1]
    gap.update(value=-0.04, ci_low=-0.12, ci_high=0.05, p_value=0.31, p_value_delong=None, flags=[])
    line = plain_summary(audit_dict)[0]
    assert line == ("base.pt: AUROC on FST V-VI is 0.57 (0.51\u20130.63), 0.04 above FST I-II (difference -0.04 "
                    "(-0.12\u20130.05)): no evidence of a gap (p = 0.310).")
    gap.update(p_value_holm=0.62, evidence="no_evidence")  # a version-2 audit says Holm's adjusted p-value
    assert plain_summary(audit_dict)[0].endswith("no evidence of a gap (Holm-adjusted p = 0.620).")


def test_balance_sections(reports):
    html, _, _ = reports["balance"]
    ids = _ids(html)
    assert {"summary", "totals", "cells", "types", "provenance", *(f"type-{k}" for k in "123456")} <= ids
    assert {"balance-totals", "acceptance"} <= set(_kinds(html))
    assert html.count('class="badge bad">short') == 3
    assert "\u2717 rejected" in html and "\u2713 accepted" in html


def test_synthetic_sections(reports):
    html, _, _ = reports["synthetic"]
    ids = _ids(html)
    assert {"summary", "metrics", "types", "memorisation", "embedding", *(f"type-{k}" for k in "123456")} <= ids
    assert {"forest-fid", "forest-kid", "forest-precision", "forest-recall", "embedding"} <= set(_kinds(html))
    assert "MODE COLLAPSE" in html
    assert html.count('class="pair"') == 2


@pytest.mark.parametrize("kind", KINDS)
def test_figures_have_text_alternatives(reports, kind):
    html, _, _ = reports[kind]
    svgs = re.findall(r"<svg class=\"plot.*?</svg>", html, flags=re.S)
    assert svgs
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
        ids = root.get("aria-labelledby").split()
        ns = "{http://www.w3.org/2000/svg}"
        texts = {e.get("id"): (e.text or "") for e in root.iter() if e.tag in (ns + "title", ns + "desc")}
        assert all(texts.get(i, "").strip() for i in ids), svg[:200]
    for img in re.findall(r"<img [^>]*>", html):
        assert re.search(r'alt="[^"]+"', img), img


@pytest.mark.parametrize("kind", KINDS)
def test_self_contained_and_printable(reports, kind):
    html, _, _ = reports[kind]
    assert "@media print" in html
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), [r for r in refs if not r.startswith(("data:", "#"))]
    assert "Content-Security-Policy" in html


# -- JSON beside ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_json_written_beside(reports, kind):
    _, data, path = reports[kind]
    beside = path.with_suffix(".json")
    assert json.loads(beside.read_text()) == json.loads(json.dumps(data))


def test_json_beside_has_no_nan(tmp_path, label_dict):
    import numpy as np

    label_dict["truth"]["ita_mae"] = float("nan")
    label_dict["counts"]["total"] = np.int64(560)
    render_label_report(label_dict, tmp_path / "r.html")
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text
    back = json.loads(text)
    assert back["truth"]["ita_mae"] is None and back["counts"]["total"] == 560


# -- errors --------------------------------------------------------------------------------------

def test_wrong_schema(tmp_path, audit_dict):
    with pytest.raises(InputError) as e:
        render_label_report(audit_dict, tmp_path / "r.html")
    assert str(e.value) == "render_label_report: expected schema 'fairskin.label/1', got 'fairskin.audit/1'"


def test_missing_cell_key(tmp_path, balance_dict):
    del balance_dict["cells"][2]["target"]
    with pytest.raises(InputError, match=r"render_balance_report: cells\[2\]: missing required key 'target'"):
        render_balance_report(balance_dict, tmp_path / "r.html")


def test_html_suffix_required(tmp_path, label_dict):
    with pytest.raises(InputError, match="report path must end in .html"):
        render_label_report(label_dict, tmp_path / "r.txt")


def test_missing_images_still_render(tmp_path, label_dict):
    html = _render("label", label_dict, tmp_path)
    assert "missing: file not found" in html  # images/nope.png
    assert "unreadable:" in html  # images/broken.png


# -- size caps -----------------------------------------------------------------------------------

def _data_uris(html):
    return re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html)


def test_thumbnail_budget_caps_count_and_size(phantom_root):
    b = ThumbBudget(max_count=5, side=48)
    items = [{"image": f"images/real_{k}_{i}.png"} for k in "123456" for i in range(3)]
    html = b.strip(items, phantom_root)
    uris = _data_uris(html)
    assert len(uris) == 5 and b.skipped == 13
    assert "13 more not shown" in html
    for u in uris:
        im = Image.open(io.BytesIO(base64.b64decode(u)))
        assert max(im.size) <= 48


def test_report_on_100000_images_stays_small(tmp_path, label_dict, balance_dict, synthetic_dict):
    """Label JSON of a 100,000-image data set whose lists were not capped, a balance plan with
    84 cells x 50 samples, a synthetic audit with 100,000 embedding points: each report < 20 MB,
    at most 96 thumbnails, at most 200 rows per table, 4,000 points."""
    scale = 100_000 / 560
    for k, v in label_dict["fst_distribution"]["estimated"].items():
        label_dict["fst_distribution"]["estimated"][k] = int(v * scale)
    label_dict["counts"]["total"] = 100_000
    # big phantom-like images so that the size cap is about down-scaling, not small inputs
    big = tmp_path / "big"
    big.mkdir()
    from fairskin.data import PhantomSpec, render_phantom

    for i in range(4):  # 1024 px photographs (a phantom scaled up: rendering one at 1024 px is slow)
        small = Image.fromarray(render_phantom(PhantomSpec(ita=20.0 + 10 * i, size=128, seed=i)))
        small.resize((1024, 1024), Image.Resampling.BICUBIC).save(big / f"b{i}.png")
    label_dict["data"]["root"] = str(big)
    label_dict["unlabelled"] = [{"image": f"b{i % 4}.png", "status": "no_skin", "reason": "x"} for i in range(5000)]
    label_dict["least_confident"] = [{"image": f"b{i % 4}.png", "ita": 20.0, "fst": 4, "confidence": 0.5}
                                     for i in range(5000)]
    label_dict["bad_rows"] = [{"image": f"img_{i}.png", "status": "unreadable", "reason": "truncated file " * 3}
                              for i in range(20_000)]
    html = _render("label", label_dict, tmp_path)
    assert len(html.encode()) < 20_000_000
    assert len(_data_uris(html)) <= 96
    assert max(len(base64.b64decode(u)) for u in _data_uris(html)) < 12_000
    assert html.count("<tr") <= 6 * 210
    assert "19,800 more rows not shown" in html

    cells = []
    for k in "123456":
        for d in range(14):
            cells.append({"fst": k, "diagnosis": f"dx{d}", "real": 500, "target": 900, "synthetic": 400, "generated": 500,
                          "samples": {"synthetic": [{"image": f"b{i % 4}.png", "ita": 1.0} for i in range(50)],
                                      "real": [{"image": f"b{i % 4}.png"} for i in range(50)]}})
    balance_dict.update(cells=cells, image_root=str(big))
    html = _render("balance", balance_dict, tmp_path)
    assert len(html.encode()) < 20_000_000 and len(_data_uris(html)) <= 96

    import numpy as np

    rng = np.random.default_rng(0)
    synthetic_dict["embedding"]["points"] = [{"x": float(x), "y": float(y), "source": "real" if i % 2 else "synthetic",
                                              "fst": str(1 + i % 6)} for i, (x, y) in enumerate(rng.normal(size=(100_000, 2)))]
    html = _render("synthetic", synthetic_dict, tmp_path)
    emb = html.split('data-kind="embedding"')[1].split("</svg>")[0]
    n_markers = len(re.findall(r"<(?:circle|rect|polygon|path) ", emb))
    assert 3500 <= n_markers <= 4100 + 60  # 4,000 points plus axes, legend
    assert len(html.encode()) < 20_000_000


# -- colour ----------------------------------------------------------------------------------------

def test_swatch_has_the_ita_it_claims():
    """Known answer: convert the swatch back to CIELAB; its ITA is the one asked for (up to
    8-bit rounding), and darker types give darker swatches."""
    import numpy as np

    from fairskin.label import ita_degrees, srgb_to_lab
    from fairskin.reports._palette import representative_ita, skin_swatch

    lightness = []
    for k in "123456":
        ita = representative_ita(k)
        hexs = skin_swatch(ita)
        rgb = np.array([[int(hexs[i:i + 2], 16) for i in (1, 3, 5)]], dtype=np.uint8)
        L, a, b = srgb_to_lab(rgb)[0]
        assert abs(float(ita_degrees(L, b)) - ita) < 1.5, (k, ita, L, b)  # 8-bit rounding moves b* by up to ~0.6
        lightness.append(L)
    assert all(x > y for x, y in zip(lightness, lightness[1:]))


def test_nice_ticks_and_histogram_checks():
    from fairskin.reports._svg import histogram, nice_ticks

    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-60, 90) == [-50, 0, 50]
    with pytest.raises(ValueError, match="len\\(bin_edges\\) == len\\(counts\\) \\+ 1, got 3 and 3"):
        histogram([0, 1, 2], [1, 2, 3], title="t", desc="d")
    svg = histogram([0, 1, 2], [1, 2], title="t", desc="d", cuts=[(1.0, "a"), (5.0, "outside")])
    assert svg.count('class="cut"') == 1
    assert math.isfinite(len(svg))


def test_optional_keys_of_the_producers(tmp_path, balance_dict, synthetic_dict, phantom_root):
    """Keys the balance and synthetic-audit stages write beyond the minimum: shares, real_root,
    is_source_image, reliable, mode_collapse None."""
    balance_dict["shares"] = [{"set": "FST56", "types": "V-VI", "target": 0.25, "real": 80, "final": 200,
                               "share_before": 0.12, "share_after": 0.25}]
    html = _render("balance", balance_dict, tmp_path)
    assert "Target shares" in html and "12.0%" in html

    pair = synthetic_dict["memorisation"]["pairs"][0]
    pair["real"] = "real_5_0.png"  # relative to real_root, not image_root
    pair["is_source_image"] = True
    synthetic_dict["real_root"] = str(phantom_root / "images")
    synthetic_dict["cells"][0].update(mode_collapse=None, mode_collapse_reason="fewer than 20 images", reliable=False)
    html = _render("synthetic", synthetic_dict, tmp_path)
    first_pair = html.split('class="pair"')[1]
    assert first_pair.count('src="data:image/jpeg') == 2
    assert "its own source image" in first_pair
    assert "not judged<br><small>fewer than 20 images</small>" in html
    row = html.split('id="type-1"')[1].split("</section>")[0]
    assert 'class="unreliable"' in row


@pytest.mark.parametrize("kind,data", [
    ("label", {"schema": "fairskin.label/1", "counts": {"total": 0}, "fst_distribution": {"estimated": {}}}),
    ("audit", {"schema": "fairskin.audit/1", "models": []}),
    ("audit", {"schema": "fairskin.audit/1", "models": [{"name": "m", "groups": [], "overall": None}]}),
    ("balance", {"schema": "fairskin.balance/1", "cells": []}),
    ("synthetic", {"schema": "fairskin.synthetic_audit/1", "cells": []}),
])
def test_minimal_inputs_render(tmp_path, kind, data):
    html = _render(kind, data, tmp_path)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_plain_summary_when_gaps_are_over_types(audit_dict):
    """At type level the AUROC pair gap is still I-II vs V-VI: its AUROC comes from the group entry."""
    audit_dict["meta"]["group_level"] = "type"
    assert plain_summary(audit_dict)[0].startswith("base.pt: AUROC on FST V-VI is 0.57 (0.51\u20130.63), 0.15 below FST I-II")


@pytest.mark.parametrize("extractor_id, is_fid, name", [
    ("colour-texture-v2", False, "FD (colour-texture)"),
    ("inception-v3-compat-95628859-0a1b2c3d4e5f", False, "FD (inception)"),  # Inception, unverified weights
    ("inception-v3-compat-95628859-6726825d0000", True, "FID"),
    ("hf-dino-abc-224", False, "FD (hf)"),
])
def test_the_frechet_distance_is_called_fid_only_for_verified_inception(synthetic_dict, extractor_id, is_fid, name):
    from fairskin.reports._synthetic import build_synthetic_html

    data = dict(synthetic_dict, extractor_id=extractor_id, fid_is_inception=is_fid)
    html = build_synthetic_html(data)
    assert f"{name} per cell" in html
    if name != "FID":
        assert "FID" not in re.sub(r"<[^>]+>", " ", html).replace("FID weights", "")


def test_balance_real_captions_show_the_measured_ita_or_why_not(balance_dict, tmp_path):
    from fairskin.reports import render_balance_report

    def real_columns(html):
        return [part.split("data-col=")[0] for part in html.split('<div data-col="real">')[1:]]

    cols = real_columns(render_balance_report(balance_dict, tmp_path / "a.html").read_text())
    assert len(cols) == 13 and "ITA 62.0\u00b0" in cols[0] and not any("n/a" in c for c in cols)
    for c in balance_dict["cells"]:
        for r in (c.get("samples") or {}).get("real") or []:
            r["ita"] = None
    cols = real_columns(render_balance_report(balance_dict, tmp_path / "b.html").read_text())
    assert all("ITA not measured (no --labels)" in c for c in cols if "<img" in c)
