"""The analysis recovers a known truth, its statistics match published reference values, and the
report and the command line show it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fairskin.reader_study import (AnalyzeConfig, COVERAGE_SCENARIOS, Scenario, analyze_answers, coverage, dprime,
                                   fidelity_correlation, render_reader_study_report, simulate_study, true_accuracy,
                                   wilson)
from fairskin.reader_study._stats import krippendorff_alpha

CFG = AnalyzeConfig(n_boot=800, seed=1)


def _inside(m, truth) -> bool:
    return m["ci"][0] <= truth <= m["ci"][1]


@pytest.mark.parametrize("accuracy", [0.5, 0.8])
def test_known_truth_is_inside_the_intervals(accuracy):
    sc = Scenario("t", accuracy=accuracy, reader_sd=0.4, criterion_sd=0.3, image_sd=0.6)
    answers, key = simulate_study(sc, seed=11)
    out = analyze_answers(answers, key, config=CFG)
    acc = out["pooled"]["accuracy"]
    truth = true_accuracy(sc.d_prime, criterion=sc.criterion, scale=sc.scale)
    assert truth == pytest.approx(accuracy)
    assert _inside(acc, truth), acc
    if accuracy == 0.5:
        assert acc["p_value"] > 0.05  # no "better than chance" from readers at chance
    else:
        assert acc["p_value"] < 1e-6
    assert out["design"] == {"n_readers": 12, "n_images": 100, "n_synthetic": 50, "n_real": 50, "n_answers": 1200,
                             "complete_share": 1.0}
    for r in out["readers"]:
        assert r["n"] == 100 and r["accuracy"]["method"] == "Wilson score"
    # realism falls with the evidence of being synthetic: real images are rated more realistic, unless at chance
    diff = out["pooled"]["realism_difference"]
    assert (diff["ci"][0] > 0) == (accuracy > 0.5)


def test_d_prime_and_criterion_recovered_without_image_heterogeneity():
    sc = Scenario("t", accuracy=0.75, criterion=0.3, n_readers=15, n_images=200)
    answers, key = simulate_study(sc, seed=3)
    p = analyze_answers(answers, key, config=CFG)["pooled"]
    assert _inside(p["d_prime"], sc.d_prime) and _inside(p["criterion"], 0.3), (p["d_prime"], p["criterion"])


def test_diagnosis_accuracy_real_vs_synthetic():
    sc = Scenario("t", accuracy=0.6, n_readers=15, n_images=200, dx_accuracy_real=0.8, dx_accuracy_synthetic=0.5)
    answers, key = simulate_study(sc, seed=4)
    dx = analyze_answers(answers, key, config=CFG)["diagnosis"]
    assert _inside(dx["accuracy_real"], 0.8) and _inside(dx["accuracy_synthetic"], 0.5)
    assert dx["difference_real_minus_synthetic"]["ci"][0] > 0.2
    assert dx["share_not_sure"] == pytest.approx(0.1, abs=0.02)


def test_wilson_matches_newcombe_1998():
    lo, hi = wilson(81, 263)  # Newcombe (1998) Stat Med 17:857, example (a): 0.2553 - 0.3662
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


def test_dprime_reference():
    d, c = dprime(8_000_000, 10_000_000, 2_000_000, 10_000_000)  # H = .8, F = .2 (Macmillan & Creelman)
    assert float(d) == pytest.approx(1.6832, abs=1e-3) and float(c) == pytest.approx(0.0, abs=1e-6)
    d, c = dprime(10, 10, 0, 10)  # log-linear correction keeps perfect scores finite
    assert math.isfinite(float(d)) and float(d) == pytest.approx(2 * 1.6906, abs=1e-3)


def test_krippendorff_alpha_reference():
    nan = np.nan  # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
                     [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]])
    out = krippendorff_alpha(data, "nominal", n_boot=200, seed=0, ci_level=0.95)
    assert round(out["value"], 3) == 0.743 and out["n_images"] == 11
    assert out["ci"][0] < out["value"] < out["ci"][1]


def test_agreement_follows_reader_consistency():
    high = analyze_answers(*simulate_study(Scenario("t", accuracy=0.9), seed=1), config=CFG)["agreement"]
    low = analyze_answers(*simulate_study(Scenario("t", accuracy=0.5), seed=1), config=CFG)["agreement"]
    assert high["origin_call"]["ci"][0] > 0.4 and abs(low["origin_call"]["value"]) < 0.05


def test_fidelity_correlation_over_cells():
    cells = [{"fst": str(t), "diagnosis": None, "accuracy": {"value": a}, "d_prime": {"value": 2 * a}, "n_images": 20}
             for t, a in zip(range(1, 6), (0.5, 0.55, 0.6, 0.7, 0.8))]
    audit = {"schema": "fairskin.synthetic_audit/1", "cells": [
        {"fst": str(t), "diagnosis": None, "fid": {"value": f, "ci": None}, "kid": {"value": f / 1000},
         "ita_fidelity": {"fst_match": 1 - f / 100, "mean_abs_error": f / 10}}
        for t, f in zip(range(1, 7), (10.0, 12.0, 20.0, 35.0, 50.0, 70.0))]}
    out = fidelity_correlation(cells, [], audit)
    rho = {(c["detectability"], c["fidelity"]): c["rho"] for c in out["correlations"]}
    assert rho[("accuracy", "fid")] == pytest.approx(1.0) and rho[("accuracy", "ita_fst_match")] == pytest.approx(-1.0)
    assert {c["n_cells"] for c in out["correlations"]} == {5}  # type 6 is not in the study
    with pytest.raises(Exception, match="expected a fairskin.synthetic_audit/1 JSON"):
        fidelity_correlation(cells, [], {"schema": "other"})


def test_report_renders_and_escapes(tmp_path, evil):
    answers, key = simulate_study(Scenario("t", accuracy=0.7), seed=2)
    answers.loc[answers["reader"] == "reader-01", "reader"] = evil
    audit = {"schema": "fairskin.synthetic_audit/1", "cells": [
        {"fst": str(t), "diagnosis": None, "fid": {"value": 10.0 * t}, "kid": None} for t in range(1, 7)]}
    data = analyze_answers(answers, key, config=CFG, synthetic_audit=audit)
    path = render_reader_study_report(data, tmp_path / "report.html")
    html = path.read_text()
    for sid in ("summary", "readers", "types", "realism", "agreement", "diagnosis", "fidelity", "methods"):
        assert f'id="{sid}"' in html
    for t in range(1, 7):
        assert f'id="rs-type-{t}"' in html
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert json.loads(path.with_suffix(".json").read_text())["pooled"]["accuracy"]["method"] == \
        "percentile crossed bootstrap"


def test_coverage_function_runs_on_every_scenario():
    """A few simulations each (the slow test below measures coverage properly)."""
    for sc in COVERAGE_SCENARIOS:
        out = coverage(sc, n_sims=3, n_boot=200, seed=0)
        assert 0 <= out["coverage"] <= 1 and out["truth"] == pytest.approx(sc.accuracy)


@pytest.mark.slow
def test_crossed_bootstrap_covers_the_truth():
    """Fixed seeds: 300 simulated studies per design, 95% intervals; fail below 90% coverage, or when
    the test against 50% rejects more than 10% of studies of readers at chance."""
    for sc in COVERAGE_SCENARIOS:
        out = coverage(sc, n_sims=300, n_boot=1000, seed=2024)
        assert out["coverage"] >= 0.90, (sc.name, out["coverage"])
        if sc.accuracy == 0.5:
            assert out["rejection_rate_5pct"] <= 0.10, (sc.name, out["rejection_rate_5pct"])


def test_partial_study_warns_and_full_study_does_not():
    """Each reader answered 10 of 34 images: the analysis says so (a full study says nothing)."""
    sc = Scenario("t", accuracy=0.7, n_readers=6, n_images=34)
    answers, key = simulate_study(sc, seed=5)
    full = analyze_answers(answers, key, config=CFG)
    assert not [w for w in full["warnings"] if "only part" in w]
    part = analyze_answers(answers[answers["position"] < 10], key, config=CFG)
    assert part["design"]["complete_share"] == pytest.approx(10 / 34)
    (w,) = [w for w in part["warnings"] if "only part" in w]
    assert w.startswith("6 of 6 reader(s) answered only part of the study (median 10 of 34 images; fewest 10)")


def test_type_sentence_only_with_a_test_behind_it():
    """No skin type stands out at chance: no "easier to spot in type ..." sentence. When readers
    spot every synthetic type V image, the sentence names type V, with its test."""
    from fairskin.reader_study import summary_sentences

    sc = Scenario("t", accuracy=0.5, n_readers=12, n_images=120)
    answers, key = simulate_study(sc, seed=6)
    flat = analyze_answers(answers, key, config=CFG)
    text = " ".join(summary_sentences(flat))
    assert "easier to spot" not in text and "easiest" not in text
    assert "No skin type could be shown to differ from the others" in text
    assert [c["group"] for c in flat["type_comparisons"]] == ["I", "II", "III", "IV", "V", "VI"]
    truth = key.set_index("id")["origin"]
    fst = key.set_index("id")["fst"]
    spotted = answers.copy()
    five = spotted["item"].map(fst) == 5
    spotted.loc[five, "origin"] = spotted.loc[five, "item"].map(truth)  # every type V image answered right
    out = analyze_answers(spotted, key, config=CFG)
    (v,) = [c for c in out["type_comparisons"] if c["group"] == "V"]
    assert v["difference"]["value"] > 0.3 and v["p_holm"] < 0.05
    sentence = [s for s in summary_sentences(out) if "to spot in type" in s]
    assert sentence == [s for s in sentence if s.startswith("Synthetic images were easier to spot in type V than in "
                                                            "the other types")] and sentence


def test_uninformative_intervals_carry_a_caution():
    """A share whose 95% interval spans half the scale or more is printed with a caution, never bare."""
    import re

    from fairskin.reader_study import summary_sentences

    sc = Scenario("t", accuracy=0.6, n_readers=2, n_images=6, dx_accuracy_real=0.6, dx_accuracy_synthetic=0.6)
    answers, key = simulate_study(sc, seed=7)
    sentences = summary_sentences(analyze_answers(answers, key, config=CFG))
    wide = 0
    for s in sentences:
        for m in re.finditer(r"(\d+)% \(95% CI (\d+)%\u2013(\d+)%\)( \[too few answers \(\d+\) to say anything\])?", s):
            if int(m.group(3)) - int(m.group(2)) >= 50:
                wide += 1
                assert m.group(4), s
    assert wide >= 1  # this tiny study has such intervals, so the check above did check something
    assert "Too few images per skin type to compare the types" in " ".join(sentences)  # one image per type
