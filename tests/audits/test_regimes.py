"""The audit in the regimes users meet (issue 27): groups of one malignant or one benign image,
readings that agree with their printed intervals, groups without benign images, few clusters."""

from __future__ import annotations

import numpy as np
import pytest

from fairskin.audits.classifier import Design, audit_predictions, simulate_predictions


def _frame(sizes_pos_neg, seed=0):
    """One row per image: per type t (1..6) ``P`` malignant and ``N`` benign, binormal scores
    (malignant ~ N(1, 1), benign ~ N(-1, 1) on the logit scale), from the package's simulator."""
    sizes = tuple(P + N for P, N in sizes_pos_neg)
    return simulate_predictions(Design(sizes=sizes, positives=tuple(P for P, _ in sizes_pos_neg)), seed)


@pytest.mark.parametrize("last", [(1, 20), (20, 1), (1, 1)], ids=["one malignant", "one benign", "one of each"])
def test_a_group_with_one_malignant_or_one_benign_image_is_audited(last):
    df = _frame([(20, 40)] * 4 + [(0, 0), last])  # V-VI is type VI alone
    res = audit_predictions(df, n_boot=200, group_level="group")
    m = res.model()
    pair = next(f for f in m["fairness"] if f["name"] == "auroc_gap" and f["method"] == "pair")
    assert not res.group("V-VI")["reliable"]
    assert pair["value"] is not None
    # an AUROC on one malignant (or benign) image is nearly unknown: the interval says so
    assert pair["ci_low"] is not None and pair["ci_high"] - pair["ci_low"] > 0.3
    res_t = audit_predictions(df, n_boot=200, group_level="type")
    au = res_t.group("VI")["metrics"]["auroc"]
    assert au["ci_low"] is not None and au["ci_low"] <= au["value"] <= au["ci_high"]
    assert au["ci_high"] - au["ci_low"] > 0.3


def test_a_reading_never_contradicts_the_interval_printed_beside_it():
    """The case users met: "no evidence of a gap" beside 0.161 (0.003-0.281). The reading now names the
    simultaneous interval it is read from, and says "not conclusive" where the test and it disagree."""
    from fairskin.audits.classifier import gap_reading

    base = {"name": "auroc_gap", "value": 0.161, "ci_low": 0.003, "ci_high": 0.281, "ci_level_simultaneous": 0.99375}
    ev, text = gap_reading({**base, "p_value_holm": 0.21, "ci_low_simultaneous": -0.05, "ci_high_simultaneous": 0.33})
    assert ev == "no_evidence" and "-0.050 to 0.330" in text and "simultaneous" in text
    ev, text = gap_reading({**base, "p_value_holm": 0.01, "ci_low_simultaneous": -0.01, "ci_high_simultaneous": 0.33})
    assert ev == "inconclusive" and "not conclusive" in text
    ev, _ = gap_reading({**base, "p_value_holm": 0.30, "ci_low_simultaneous": 0.01, "ci_high_simultaneous": 0.33})
    assert ev == "inconclusive"
    ev, _ = gap_reading({**base, "p_value_holm": 0.01, "ci_low_simultaneous": 0.02, "ci_high_simultaneous": 0.3})
    assert ev == "gap"


@pytest.mark.parametrize("seed", range(4))
def test_every_audit_reading_agrees_with_its_simultaneous_interval(seed):
    df = _frame([(30, 60)] * 4 + [(12, 40), (6, 30)], seed=seed)
    df.loc[df["fst"] >= 5, "score"] = df.loc[df["fst"] >= 5, "score"] ** 0.6  # more positives flagged on V-VI
    for f in audit_predictions(df, n_boot=300, seed=seed).model()["fairness"]:
        if f["evidence"] in ("gap", "no_evidence"):
            lo, hi = f["ci_low_simultaneous"], f["ci_high_simultaneous"]
            assert lo <= f["ci_low"] + 1e-12 and hi >= f["ci_high"] - 1e-12  # wider than the plain interval
            assert (lo > 0 or hi < 0) == (f["evidence"] == "gap"), f
            assert (f["p_value_holm"] < 0.05) == (f["evidence"] == "gap"), f


def test_saliency_says_significant_only_from_the_family_adjusted_p():
    from fairskin.reports._why import saliency_lines as _saliency_summary

    tests = [{"name": "lesion_share_gap", "groups": ["I-II", "V-VI"], "value": 0.1, "ci_low": 0.01, "ci_high": 0.2,
              "p_value": 0.03} for _ in range(3)]
    lines = _saliency_summary({"model": "m", "tests": tests}, 0.05)
    assert not any("; significant" in x for x in lines) and sum("not significant" in x for x in lines) == 3
    for t, adj in zip(tests, (0.03, 0.03, 0.03)):
        t["p_value_holm"] = adj
    assert sum("; significant" in x for x in _saliency_summary({"model": "m", "tests": tests}, 0.05)) == 3


def test_the_corrected_audit_stays_in_bounds_and_tests_what_it_reports():
    from fairskin.audits.classifier import Design, calibration_confusion, ita_like_confusion, simulate_predictions

    design = Design(sizes=(150,) * 6, confusion=ita_like_confusion(), calibration_per_type=60,
                    mu_pos=(1.0,) * 4 + (0.5,) * 2)
    for r in range(3):
        df = simulate_predictions(design, [5, r])
        res = audit_predictions(df.drop(columns=["fst_true"]), n_boot=200, seed=r, group_level="group",
                                fst_source="estimated", label_confusion=calibration_confusion(design, [5, r, 1]))
        m = res.model()
        for g in m["groups"]:
            for name, e in g["metrics"].items():
                if e["value"] is None:
                    continue
                assert 0 <= e["value"] <= 1, (g["group"], name, e)
                assert e["ci_low"] is None or 0 <= e["ci_low"] <= e["value"] + 1e-9 <= e["ci_high"] + 2e-9 <= 1 + 3e-9
        tested = [f for f in m["fairness"] if f["p_value"] is not None]
        assert tested and all(f["p_value_method"] == "bootstrap" for f in tested)  # on the corrected groups
        for f in tested:
            if f["evidence"] == "gap":
                assert f["ci_low_simultaneous"] > 0 or f["ci_high_simultaneous"] < 0


def test_a_confusion_too_close_to_singular_is_audited_uncorrected_and_says_what_would_work():
    from fairskin.audits.classifier import LabelConfusion

    df = _frame([(30, 60)] * 6)
    counts = np.full((6, 6), 10.0)  # a labeller that guesses: no type can be told from another
    res = audit_predictions(df, n_boot=100, group_level="group", fst_source="estimated",
                            label_confusion=LabelConfusion(counts, source="test"))
    g = res.group("V-VI")
    assert "not_corrected" in g["metrics"]["auroc"]["flags"]
    failed = res.to_dict()["meta"]["fst_correction"]["not_corrected"]
    assert "group" in failed and "what would work" in failed["group"] and "calibration set" in failed["group"]


def test_a_group_without_benign_images_has_no_auprc():
    df = _frame([(20, 40)] * 5 + [(8, 0)])
    au = audit_predictions(df, n_boot=100).group("VI")["metrics"]["auprc"]
    assert au["value"] is None and "undefined" in au["flags"] and "no benign" in au["reason"]


def test_reliability_flags_count_lesions_not_images():
    rng = np.random.default_rng(3)
    df = _frame([(30, 60)] * 6)
    df["lesion_id"] = [f"{t}-{i // 10}" if t == 6 else f"{t}-{i}" for t, i in zip(df["fst"], range(len(df)))]
    df = df.sort_values(["fst", "label"]).reset_index(drop=True)
    vi = df["fst"] == 6
    # type VI: 90 images of 9 lesions, each lesion one label
    df.loc[vi, "lesion_id"] = [f"6-{i // 10}" for i in range(int(vi.sum()))]
    df.loc[vi, "score"] = np.clip(df.loc[vi, "score"] + rng.normal(0, 0.01, int(vi.sum())), 0, 1)
    g = audit_predictions(df, n_boot=100).group("VI")
    assert not g["reliable"] and "small_n" in g["flags"] and "few_positives" in g["flags"]


def test_a_threshold_chosen_on_the_audited_rows_is_resampled_with_them():
    df = _frame([(40, 80)] * 6, seed=4)
    chosen = audit_predictions(df, n_boot=300, target_sensitivity=0.8)
    fixed = audit_predictions(df, n_boot=300, threshold=chosen.model()["threshold"])
    assert chosen.to_dict()["meta"]["threshold_resampled"] and not fixed.to_dict()["meta"]["threshold_resampled"]

    def width(res, g, m):
        e = res.group(g)["metrics"][m]
        return e["ci_high"] - e["ci_low"]

    wider = [width(chosen, g, "specificity") / width(fixed, g, "specificity") for g in ("I", "II", "III", "IV", "V", "VI")]
    assert np.mean(wider) > 1.05  # the threshold's own noise: each resample would have chosen another


def test_cohort_label_sampling_from_the_command_line(tmp_path, capsys):
    import json

    from fairskin.cli import main

    csv, out = tmp_path / "p.csv", tmp_path / "a.json"
    _frame([(3, 57)] * 6, seed=2).to_csv(csv, index=False)
    assert main(["audit", str(csv), "--n-boot", "50", "--label-sampling", "cohort", "--json", str(out)]) == 0
    meta = json.loads(out.read_text())["meta"]
    assert meta["label_sampling"] == "cohort" and "within each skin type" in meta["resampling"]
    printed = capsys.readouterr().out
    assert "simultaneous" in printed  # the interval every reading is read from
    assert main(["audit", str(csv), "--n-boot", "50", "--label-sampling", "sometimes", "--json",
                 str(tmp_path / "b.json")]) == 2
    assert "--label-sampling" in capsys.readouterr().err  # the CLI names its flag


def test_clopper_pearson_is_the_exact_interval_and_covers_where_wilson_does_not():
    from scipy import stats

    from fairskin.audits.stats._intervals import clopper_pearson, wilson

    for k, n in ((0, 1), (1, 1), (2, 3), (5, 9)):
        ref = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert np.allclose(clopper_pearson(k, n), (ref.low, ref.high))
    # exact coverage at a sensitivity of 0.84 on n = 1..9 malignant images (binomial sums, no simulation)
    p = 0.84

    def coverage(method, n):
        return sum(stats.binom.pmf(k, n, p) for k in range(n + 1) if method(k, n)[0] <= p <= method(k, n)[1])

    assert min(coverage(clopper_pearson, n) for n in range(1, 10)) >= 0.95
    assert coverage(wilson, 1) < 0.85 and coverage(wilson, 3) < 0.94  # why the audit switches under 10


def test_a_rate_on_few_images_takes_the_exact_interval_and_says_so():
    df = _frame([(30, 60)] * 5 + [(3, 40)])
    g = audit_predictions(df, n_boot=100).group("VI")
    sens = g["metrics"]["sensitivity"]
    assert sens["ci_method"] == "clopper_pearson" and "few_events" in sens["flags"]
    assert "3 images" in sens["reason"] and "Clopper-Pearson" in sens["reason"]
    spec = g["metrics"]["specificity"]  # 40 benign: Wilson, no flag
    assert spec["ci_method"] == "wilson" and "few_events" not in spec["flags"]
    from fairskin.audits.stats._intervals import clopper_pearson

    tp = round(sens["value"] * 3)
    assert np.allclose((sens["ci_low"], sens["ci_high"]), clopper_pearson(tp, 3))


def test_few_lesions_widen_the_auroc_and_are_flagged():
    design = Design(sizes=(60,) * 5 + (15,), cluster_range=(1, 12), mu_pos=(1.0,) * 4 + (0.4,) * 2)
    df = simulate_predictions(design, [3, 0])
    g = audit_predictions(df, n_boot=300, group_level="type").group("VI")
    au = g["metrics"]["auroc"]
    assert "few_clusters" in au["flags"] and "lesions" in au["reason"]
    # at least Hanley & McNeil's SD on the lesions of each class (the bootstrap of ~4 lesions is narrower)
    from fairskin.audits.stats._intervals import hanley_mcneil_variance, logit_wald

    pc = df[(df.fst == 6) & (df.label == 1)]["lesion_id"].nunique()
    nc = df[(df.fst == 6) & (df.label == 0)]["lesion_id"].nunique()
    v = au["value"]
    if 0 < v < 1:
        lo, hi = logit_wald(v, np.sqrt(hanley_mcneil_variance(v, pc, nc)) / (v * (1 - v)), df=min(pc, nc) - 1)
        assert au["ci_low"] <= lo + 1e-9 and au["ci_high"] >= hi - 1e-9


def test_the_worst_group_bound_from_the_groups_own_intervals():
    from fairskin.audits.stats._intervals import min_of_intervals

    assert min_of_intervals([0.6, 0.7, 0.5], [0.9, 0.8, 0.85]) == (0.5, 0.8)
    assert min_of_intervals([0.6, None], [0.9, None]) == (0.6, 0.9)
    assert min_of_intervals([], []) == (None, None)


def test_the_corrected_worst_group_interval_holds_the_groups_bonferroni_bounds():
    from fairskin.audits.classifier import calibration_confusion, ita_like_confusion

    design = Design(sizes=(150,) * 6, confusion=ita_like_confusion(), calibration_per_type=60,
                    mu_pos=(1.0,) * 4 + (0.5,) * 2)
    df = simulate_predictions(design, [6, 0])
    res = audit_predictions(df.drop(columns=["fst_true"]), n_boot=200, seed=0, group_level="group",
                            fst_source="estimated", label_confusion=calibration_confusion(design, [6, 0, 1]))
    m = res.model()
    worst = next(f for f in m["fairness"] if f["name"] == "worst_group_auroc")
    aurocs = [g["metrics"]["auroc"] for g in m["groups"] if g["level"] == "group"]
    assert worst["ci_low"] <= min(a["ci_low"] for a in aurocs) + 1e-9
    assert worst["ci_high"] >= min(a["ci_high"] for a in aurocs) - 1e-9


def test_the_population_threshold_reaches_the_target_sensitivity():
    from fairskin.audits.classifier import population_threshold

    design = Design(mu_pos=(1.0,) * 4 + (0.4,) * 2, target_sensitivity=0.8)
    t = population_threshold(design)
    big = simulate_predictions(Design(sizes=(20000,) * 6, mu_pos=design.mu_pos), 1)
    sens = (big.loc[big.label == 1, "score"] >= t).mean()
    assert abs(sens - 0.8) < 0.01 and t < 0.5  # a lower threshold than 0.5 reaches 0.8 here
    assert population_threshold(Design()) == 0.5


def test_label_sampling_defaults_to_cohort_in_the_library_and_the_command_line(tmp_path):
    import json

    from fairskin.cli import main

    df = _frame([(6, 54)] * 6, seed=1)
    assert audit_predictions(df, n_boot=20).to_dict()["meta"]["label_sampling"] == "cohort"
    csv, out = tmp_path / "p.csv", tmp_path / "a.json"
    df.to_csv(csv, index=False)
    assert main(["audit", str(csv), "--n-boot", "20", "--json", str(out)]) == 0
    meta = json.loads(out.read_text())["meta"]
    assert meta["label_sampling"] == "cohort" and "within each skin type" in meta["resampling"]


def test_a_high_auroc_on_few_malignant_against_many_benign_is_flagged():
    """AUROC >= 0.95 on < 200 malignant against >= 5x as many benign: the logit-DeLong interval
    under-covers there (benchmarks/bench_auroc_interval.py), so the group's AUROC says so."""
    from fairskin.audits.stats._groups import _undercovering_auroc

    mu = 3.3  # true AUROC 0.99
    design = Design(sizes=(330,) * 6, positives=(30,) * 6, mu_pos=(mu / 2,) * 6, mu_neg=(-mu / 2,) * 6)
    df = simulate_predictions(design, 4)
    res = audit_predictions(df, n_boot=50, group_level="type")
    for g in res.model()["groups"]:
        au = g["metrics"]["auroc"]
        expect = _undercovering_auroc(au["value"], {"positives": g["positives"], "negatives": g["negatives"]})
        assert ("high_auroc_imbalanced" in au["flags"]) == expect
        if expect:
            assert "optimistic" in au["reason"] and str(g["negatives"]) in au["reason"]
    assert any("high_auroc_imbalanced" in g["metrics"]["auroc"]["flags"] for g in res.model()["groups"])
    plain = audit_predictions(_frame([(30, 300)] * 6), n_boot=50)  # AUROC 0.92: no flag
    assert not any("high_auroc_imbalanced" in g["metrics"]["auroc"]["flags"] for g in plain.model()["groups"])
    assert _undercovering_auroc(0.96, {"positives": 20, "negatives": 100})
    assert not _undercovering_auroc(0.96, {"positives": 20, "negatives": 99})
    assert not _undercovering_auroc(0.99, {"positives": 200, "negatives": 4000})


def test_a_clustered_rate_at_0_or_1_rests_on_its_clusters_not_its_images():
    """Three lesions all detected are three observations: the effective size falls back to the
    clusters when the bootstrap (no variance at 0 or 1) cannot measure a design effect."""
    from fairskin.audits.stats._intervals import clopper_pearson, effective_size

    ones = np.ones(200)
    assert effective_size(1.0, 20, ones, clusters=3) == 3.0
    assert effective_size(0.0, 20, np.zeros(200), clusters=3) == 3.0
    assert effective_size(1.0, 20, ones) == 20.0  # independent rows: the rows are the units
    assert effective_size(1.0, 2, ones, clusters=5) == 2.0  # never more than the rows
    assert clopper_pearson(3, 3)[0] < 0.3 < clopper_pearson(20, 20)[0]  # what the fallback changes
