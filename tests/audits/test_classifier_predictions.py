"""Auditing a predictions table: bad input, thresholds, comparisons, the JSON schema and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fairskin.audits.classifier import (Criterion, Design, ThresholdPolicy, audit_predictions, compare_audits,
                                        parse_threshold, simulate_predictions)
from fairskin.cli import main
from fairskin.errors import InputError


def _df(n=900, seed=0, dark_skill=1.0):
    """``n`` images in random order (about n / 6 per type), labels drawn with prevalence 0.4,
    binormal scores with ``dark_skill`` (2.0 elsewhere) between the classes' means on V-VI, from
    the package's simulator; diagnoses drawn per label, with a rare benign one."""
    sizes = tuple(n // 6 + (t < n % 6) for t in range(6))
    skill = (2.0,) * 4 + (dark_skill,) * 2
    design = Design(sizes=sizes, prevalence=0.4, cohort=True, mu_pos=tuple(k / 2 for k in skill),
                    mu_neg=tuple(-k / 2 for k in skill))
    df = simulate_predictions(design, seed).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    rng = np.random.default_rng([seed, 1])
    y = df["label"].to_numpy() == 1
    df["image"] = [f"i{k}.png" for k in range(n)]
    df["diagnosis"] = np.where(y, rng.choice(["melanoma", "bcc"], n),
                               rng.choice(["nevus", "sk", "rare"], n, p=[0.6, 0.38, 0.02]))
    return df


# --- bad input -----------------------------------------------------------------------------

def test_missing_column_names_found_and_expected():
    df = _df(50).rename(columns={"score": "prob"})
    with pytest.raises(InputError) as e:
        audit_predictions(df, n_boot=10)
    assert str(e.value) == ("predictions: missing column(s) 'score'; found: image, prob, label, fst, diagnosis; "
                            "expected: image, score, label, fst (optional: diagnosis, patient_id, lesion_id)")


def test_logits_refused_unless_declared():
    df = _df(200)
    logits = np.log(df["score"] / (1 - df["score"]))
    bad = df.assign(score=logits)
    n_out = int(((logits < 0) | (logits > 1)).sum())
    with pytest.raises(InputError) as e:
        audit_predictions(bad, n_boot=10)
    assert str(e.value) == (
        f"score: {n_out} of 200 values are outside [0, 1] (min {logits.min():.4g}, max {logits.max():.4g}); these look "
        "like logits. Pass scores='logits' to apply a sigmoid, or give probabilities")
    as_logits = audit_predictions(bad, scores="logits", n_boot=10)
    as_probs = audit_predictions(df, n_boot=10)
    for m in ("auroc", "ece", "sensitivity"):
        assert as_logits.group("all")["metrics"][m]["value"] == pytest.approx(
            as_probs.group("all")["metrics"][m]["value"], abs=1e-9)
    assert as_logits.meta["scores"] == "logits"


def test_non_binary_labels_refused():
    df = _df(60)
    df.loc[:2, "label"] = 2
    with pytest.raises(InputError) as e:
        audit_predictions(df, n_boot=10)
    assert str(e.value) == (
        "label: expected binary labels (1/0, True/False, malignant/benign), found 3 distinct values: 0, 1, 2. For "
        "multi-class data choose a positive class (positive_class=...) or map diagnoses to "
        "malignant first")


def test_bad_rows_reported_and_skipped_with_counts():
    df = _df(300).astype({"score": object, "fst": object, "label": object})
    df.loc[0, "score"] = np.nan
    df.loc[1, "score"] = "high"
    df.loc[2, "fst"] = 7
    df.loc[3, "fst"] = ""
    df.loc[4, "label"] = None
    df.loc[5, "fst"] = "V-VI"  # a group only: usable, type unknown
    res = audit_predictions(df, n_boot=10)
    m = res.model()
    assert m["counts"] == {"n_input": 300, "n_used": 295,
                           "skipped": {"bad_score": 2, "bad_fst": 1, "no_fst": 1, "no_label": 1}}
    reasons = {r["image"]: (r["status"], r["reason"]) for r in m["bad_rows"]}
    assert reasons["i0.png"] == ("bad_score", "score=nan is not a finite number")
    assert reasons["i1.png"] == ("bad_score", "score='high' is not a finite number")
    assert reasons["i2.png"] == ("bad_fst", "fst=7 is not a Fitzpatrick type (1-6, I-VI) or group (I-II, III-IV, "
                                            "V-VI, 12, 34, 56)")
    assert reasons["i3.png"] == ("no_fst", "fst is empty")
    assert reasons["i4.png"] == ("no_label", "label is empty")
    # the group-only row counts in V-VI but in no type; gaps fall back to groups
    n_types = sum(g["n"] for g in m["groups"] if g["level"] == "type")
    n_groups = sum(g["n"] for g in m["groups"] if g["level"] == "group")
    assert (n_types, n_groups) == (294, 295)
    assert res.meta["group_level"] == "group"


def test_everything_skipped_is_an_error():
    df = _df(20).assign(fst="")
    with pytest.raises(InputError, match=r"^no usable rows: every one of the 20 row\(s\) was skipped; first: '.+': "
                                         r"fst is empty$"):
        audit_predictions(df, n_boot=10)


def test_predictions_csv_file_not_found(tmp_path):
    with pytest.raises(InputError) as e:
        audit_predictions(tmp_path / "nope.csv")
    assert str(e.value) == f"predictions: file not found: {tmp_path / 'nope.csv'}"


# --- thresholds, groups, ratios ------------------------------------------------------------

def test_target_sensitivity_threshold():
    df = _df(500, seed=2)
    res = audit_predictions(df, target_sensitivity=0.9, n_boot=10)
    t = res.model()["threshold"]
    pos = np.sort(df.loc[df["label"] == 1, "score"].to_numpy())
    assert (pos >= t).mean() >= 0.9
    assert (pos > t).mean() < 0.9  # the largest such threshold
    assert res.meta["threshold_policy"] == "target_sensitivity"
    assert res.group("all")["metrics"]["sensitivity"]["value"] == pytest.approx((pos >= t).mean())


def test_ddi_thresholds():
    res = audit_predictions(_df(200), threshold="ddi:DeepDerm", n_boot=10)
    assert res.model()["threshold"] == 0.687 and res.meta["threshold_policy"] == "ddi"
    with pytest.raises(InputError) as e:
        audit_predictions(_df(50), threshold="ddi:DeepDerma", n_boot=10)
    assert str(e.value) == ("threshold: 'ddi:DeepDerma' names no DDI model; expected one of ddi:HAM10000, ddi:DeepDerm, "
                            "ddi:GroupDRO, ddi:CORAL, ddi:CDANN. Did you mean 'ddi:DeepDerm'?")
    with pytest.raises(InputError) as e:
        audit_predictions(_df(50), threshold=1.5, n_boot=10)
    assert str(e.value) == "threshold: expected a number in [0, 1], 'model' or 'ddi:NAME', got 1.5"


def test_ddi_groups_only_and_ratio_flags():
    df = _df(900, seed=3, dark_skill=0.3)
    df["fst"] = df["fst"].map({1: "12", 2: "12", 3: "34", 4: "34", 5: "56", 6: "56"})
    res = audit_predictions(df, n_boot=50, reference_group="I-II")
    m = res.model()
    assert [g["group"] for g in m["groups"]] == ["I-II", "III-IV", "V-VI"]
    assert res.meta["levels"] == ["group"] and res.meta["group_level"] == "group"
    auroc_ratio = next(r for r in m["ratios"] if r["group"] == "V-VI" and r["metric"] == "auroc")
    v = res.group("V-VI")["metrics"]["auroc"]["value"] / res.group("I-II")["metrics"]["auroc"]["value"]
    assert auroc_ratio["value"] == pytest.approx(v)
    assert v < 0.8 and auroc_ratio["flags"][0] == "outside_bounds" and auroc_ratio["p_value"] < 0.05
    pair = next(g for g in m["fairness"] if g["name"] == "auroc_gap" and g["method"] == "pair")
    assert pair["groups"] == ["I-II", "V-VI"] and pair["value"] > 0.1
    assert pair["p_value"] < 0.05 and pair["p_value_delong"] < 0.05
    with pytest.raises(InputError) as e:
        audit_predictions(df, n_boot=10, reference_group="II")
    assert str(e.value) == "reference_group: 'II' is not a group present in the data; expected one of I-II, III-IV, V-VI"


def test_intersections_mask_small_cells():
    res = audit_predictions(_df(900), n_boot=10, min_cell_n=10)
    cells = res.model()["intersections"]["cells"]
    rare = [c for c in cells if c["diagnosis"] == "rare"]
    assert rare and all(c["masked"] and c["accuracy"] is None for c in rare if c["n"] < 10)
    mel = next(c for c in cells if c["diagnosis"] == "melanoma" and c["group"] == "I")
    assert not mel["masked"] and mel["specificity"] is None and mel["positives"] == mel["n"]


# --- comparisons ---------------------------------------------------------------------------

def _pair(improve_dark: float, hurt_light: float):
    """Candidate = baseline's scores, re-drawn with more skill on V-VI and less on type I."""
    base = _df(1500, seed=7, dark_skill=0.8)
    rng = np.random.default_rng(8)
    y = base["label"].to_numpy().astype(bool)
    fst = base["fst"].to_numpy()
    new = rng.normal(0, 1, len(base))
    dark, light = fst >= 5, fst == 1
    score = base["score"].to_numpy().copy()
    s_dark = 0.8 + improve_dark
    score[dark] = 1 / (1 + np.exp(-(new[dark] + y[dark] * s_dark - s_dark / 2)))
    if hurt_light:
        s_light = 2.0 - hurt_light
        score[light] = 1 / (1 + np.exp(-(new[light] + y[light] * s_light - s_light / 2)))
    cand = base.assign(score=score)
    return (audit_predictions(base, name="base", n_boot=200, seed=1),
            audit_predictions(cand.sample(frac=1.0, random_state=0), name="augmented", n_boot=200, seed=1))


def test_compare_pass_and_fail():
    a, b = _pair(improve_dark=1.2, hurt_light=0.0)
    res = compare_audits([a, b])
    c = res.comparisons[0]
    assert (c["baseline"], c["candidate"], c["paired"], c["n_common"]) == ("base", "augmented", True, 1500)
    gain = next(x for x in c["criteria"] if x["group"] == "V-VI")
    base_v = res.group("V-VI", model="base")["metrics"]["auroc"]["value"]
    cand_v = res.group("V-VI", model="augmented")["metrics"]["auroc"]["value"]
    assert gain["observed"] == pytest.approx((cand_v - base_v) / base_v)
    assert gain["passed"] and gain["confident"]
    assert [x["group"] for x in c["criteria"]] == ["V-VI", "I", "II", "III"]
    assert c["verdict"] == "pass" and c["verdict_reason"] == "all 4 criteria met"
    delta = next(d for d in c["deltas"] if d["group"] == "V-VI" and d["metric"] == "auroc")
    assert delta["delta"] == pytest.approx(cand_v - base_v) and delta["ci_low"] > 0 and delta["p_value"] < 0.05

    a, b = _pair(improve_dark=1.2, hurt_light=1.0)
    c = compare_audits([a, b]).comparisons[0]
    assert c["verdict"] == "fail"
    assert c["verdict_reason"].startswith("not met: AUROC on I down by no more than 2% (relative)")
    # user-set criteria: a smaller gain needed, only V-VI
    c = compare_audits([a, b], criteria=[Criterion("g", "V-VI", "auroc", "min_relative_gain", 0.05, "gain")]).comparisons[0]
    assert c["verdict"] == "pass"


def test_compare_needs_one_row_per_image():
    a, b = _pair(0.5, 0.0)
    first = b.frames["augmented"]["image"].iloc[0]
    dup = pd.concat([b.frames["augmented"], b.frames["augmented"].iloc[:1]])
    b.frames["augmented"] = dup
    with pytest.raises(InputError) as e:
        compare_audits([a, b])
    assert str(e.value) == (f"augmented: image {first!r} appears more than once (1 duplicated rows); comparing "
                            "models needs one row per image")


def test_a_comparison_keeps_each_audits_threshold_policy():
    """compare_audits relabelled fixed and DDI thresholds as 'model'; each model keeps its own now."""
    df = _df(300, seed=4)
    fixed = audit_predictions(df, threshold=0.4, n_boot=10, name="fixed")
    ddi = audit_predictions(df, threshold="ddi:DeepDerm", n_boot=10, name="ddi")
    res = compare_audits([fixed, ddi])
    assert [(m["name"], m["threshold_policy"], m["threshold"]) for m in res.models] == [
        ("fixed", "fixed", 0.4), ("ddi", "ddi", 0.687)]
    assert res.meta["threshold_policy"] == "mixed" and not res.meta["threshold_resampled"]
    assert res.policies["ddi"] == ThresholdPolicy("ddi", 0.687, "ddi:DeepDerm")
    same = compare_audits([fixed, audit_predictions(df, threshold=0.4, n_boot=10, name="again")])
    assert same.meta["threshold_policy"] == "fixed"
    chosen = compare_audits([fixed, audit_predictions(df, target_sensitivity=0.8, n_boot=10, name="ts")])
    assert [m["threshold_policy"] for m in chosen.models] == ["fixed", "target_sensitivity"]
    assert chosen.meta["target_sensitivity"] == 0.8 and chosen.meta["threshold_resampled"]


def test_the_threshold_is_parsed_once_into_a_policy():
    assert parse_threshold("0.3") == ThresholdPolicy("fixed", 0.3, "0.3")
    assert parse_threshold("model") == ThresholdPolicy("model", None, "model")
    assert parse_threshold(0.5, 0.9) == ThresholdPolicy("target_sensitivity", 0.9, "target sensitivity 0.9")
    policy = ThresholdPolicy("fixed", 0.25, "given")
    assert parse_threshold(policy) is policy
    res = audit_predictions(_df(200), threshold=policy, n_boot=10)
    assert res.model()["threshold"] == 0.25 and res.config.threshold is policy
    with pytest.raises(InputError, match=r"^threshold: expected a number in \[0, 1\], 'model' or 'ddi:NAME', "
                                         r"got 'half'$"):
        parse_threshold("half")
    with pytest.raises(InputError, match=r"^target_sensitivity: expected a value in \(0, 1\], got 0$"):
        parse_threshold(0.5, 0)


def test_audit_predictions_takes_a_settings_file_and_arguments_win(tmp_path):
    cfg = tmp_path / "fairskin.toml"
    cfg.write_text('[audit]\nn_boot = 12\nthreshold = "model"\nratio_bounds = [0.7, 1.3]\nseed = 3\n')
    df = _df(200)
    df.attrs["threshold"] = 0.33  # saved with the model
    res = audit_predictions(df, config=cfg, seed=5)
    assert (res.meta["n_boot"], res.meta["seed"], res.meta["ratio_bounds"]) == (12, 5, [0.7, 1.3])
    assert res.model()["threshold"] == 0.33 and res.meta["threshold_policy"] == "model"
    assert res.config.threshold == ThresholdPolicy("model", None, "model") and res.config.ratio_bounds == (0.7, 1.3)
    with pytest.raises(InputError, match=r"^audit: unknown setting 'n_bot'.*Did you mean 'n_boot'\?$"):
        audit_predictions(_df(50), n_bot=10)
    with pytest.raises(InputError, match=r"^arch: a setting of auditing a model file"):
        audit_predictions(_df(50), arch="resnet18")
    (tmp_path / "cli.toml").write_text('[audit]\nhtml = "r.html"\n')
    with pytest.raises(InputError, match=r"^config: 'html' in .* is the command line's --html"):
        audit_predictions(_df(50), config=tmp_path / "cli.toml")


def test_a_settings_file_may_give_a_ddi_threshold(tmp_path):
    """'ddi:DeepDerm' looks like module:Class but names DDI's published threshold: a settings file
    may hold it (a code reference there is still refused)."""
    cfg = tmp_path / "fairskin.toml"
    cfg.write_text('[audit]\nthreshold = "ddi:DeepDerm"\nn_boot = 10\n')
    res = audit_predictions(_df(200), config=cfg)
    assert res.meta["threshold_policy"] == "ddi" and res.model()["threshold"] == 0.687
    cfg.write_text('[audit]\nthreshold = "mypkg.thresholds:Pick"\n')
    with pytest.raises(InputError, match=r"setting 'threshold' in .* names code"):
        audit_predictions(_df(50), config=cfg)


# --- JSON ----------------------------------------------------------------------------------

def test_json_follows_docs_schema(tmp_path):
    a, b = _pair(1.2, 0.0)
    res = compare_audits([a, b])
    path = res.to_json(tmp_path / "audit.json")
    d = json.loads(path.read_text())
    assert list(d) == ["schema", "fairskin_version", "created", "meta", "data", "models", "comparisons"]
    assert d["schema"] == "fairskin.audit/2"
    assert d["meta"]["reference_group"] == "I"  # the lightest group with >= 30 images
    assert list(d["meta"]) == ["fst_source", "fst_source_detail", "tone_scale", "tone_groups", "group_level", "levels",
                               "threshold_policy", "target_sensitivity", "threshold_resampled", "n_boot", "seed",
                               "ci_level", "metrics", "ci_method", "ci_methods",
                               "extremum_kappa", "resampling", "label_sampling", "cluster_by", "fst_correction", "p_value_method",
                               "reference_group", "ratio_bounds", "min_group_n", "min_group_positives",
                               "min_group_negatives", "min_cell_n", "ece_bins", "positive_class", "scores"]
    m = d["models"][0]
    assert list(m) == ["name", "path", "kind", "threshold", "threshold_policy", "counts", "bad_rows", "warnings", "overall", "groups", "fairness",
                       "ratios", "intersections"]
    g = m["groups"][0]
    assert list(g) == ["group", "level", "types", "n", "positives", "negatives", "reliable", "flags", "metrics",
                       "roc", "roc_reason", "calibration"]
    assert list(g["metrics"]) == ["auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "balanced_accuracy",
                                  "f1", "ece", "selection_rate"]
    assert list(g["metrics"]["auroc"]) == ["value", "ci_low", "ci_high", "ci_method", "flags", "reason"]
    assert {k: v["ci_method"] for k, v in g["metrics"].items()} == {
        "auroc": "logit_delong", "auprc": "logit_auprc", "sensitivity": "wilson", "specificity": "wilson",
        "ppv": "wilson", "npv": "wilson", "balanced_accuracy": "mover", "f1": "logit_f1", "ece": "extremum",
        "selection_rate": "wilson"}
    assert set(d["meta"]["ci_methods"]) >= {v["ci_method"] for v in g["metrics"].values()}
    assert [x["group"] for x in m["groups"]] == ["I", "II", "III", "IV", "V", "VI", "I-II", "III-IV", "V-VI"]
    assert m["overall"]["group"] == "all" and m["overall"]["level"] == "all"
    assert list(m["fairness"][0]) == ["name", "method", "agg", "groups", "value", "ci_low", "ci_high", "ci_method",
                                      "p_value", "p_value_holm", "p_value_delong", "p_value_method", "flags",
                                      "reason", "fairlearn", "ci_low_simultaneous", "ci_high_simultaneous",
                                      "ci_level_simultaneous", "evidence", "reading"]
    assert [f["p_value_method"] for f in m["fairness"]] == [
        "permutation_within_label", "permutation_within_label", "permutation_within_label",
        "permutation_within_label", "permutation_within_label", "permutation", "delong_chi2", "delong", None]
    assert [(f["name"], f["method"], f["agg"]) for f in m["fairness"]] == [
        ("equalized_odds_difference", "between_groups", "worst_case"),
        ("equalized_odds_difference", "between_groups", "mean"),
        ("equalized_odds_difference", "to_overall", "worst_case"),
        ("equalized_odds_difference", "to_overall", "mean"),
        ("equal_opportunity_difference", "between_groups", None),
        ("demographic_parity_difference", "between_groups", None),
        ("auroc_gap", "between_groups", None), ("auroc_gap", "pair", None), ("worst_group_auroc", "min", None)]
    assert [f["ci_method"] for f in m["fairness"]] == ["extremum"] * 7 + ["mover", "extremum"]
    assert list(m["ratios"][0]) == ["group", "reference", "metric", "value", "ci_low", "ci_high", "ci_method",
                                    "p_value", "p_value_holm", "flags", "reason"]
    c = d["comparisons"][0]
    assert list(c) == ["baseline", "candidate", "paired", "n_common", "deltas", "criteria", "verdict", "conclusive",
                       "verdict_reason", "verdict_title"]
    assert list(c["deltas"][0]) == ["group", "level", "metric", "baseline", "candidate", "delta", "ci_low", "ci_high",
                                    "relative", "relative_ci_low", "relative_ci_high", "ci_method", "p_value",
                                    "p_value_holm", "flags"]
    assert list(c["criteria"][0]) == ["name", "description", "group", "metric", "kind", "bound", "observed", "ci_low",
                                      "ci_high", "passed", "confident", "reason"]
    assert "NaN" not in path.read_text()


# --- CLI -----------------------------------------------------------------------------------

def test_cli_predictions_csv_json_and_html(tmp_path, monkeypatch, capsys):
    import fairskin.reports as reports

    csv = tmp_path / "preds.csv"
    _df(300).to_csv(csv, index=False)
    calls = []
    monkeypatch.setattr(reports, "render_audit_report", lambda d, p: calls.append((d, p)), raising=False)
    out = tmp_path / "a.json"
    rc = main(["audit", str(csv), "--n-boot", "50", "--json", str(out), "--html", str(tmp_path / "a.html")])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["models"][0]["name"] == "preds.csv" and d["meta"]["n_boot"] == 50 and d["meta"]["fst_source"] == "given"
    assert len(calls) == 1 and calls[0][0]["models"][0]["name"] == "preds.csv" and str(calls[0][1]).endswith("a.html")
    assert "Per skin type" in capsys.readouterr().out

    monkeypatch.delattr(reports, "render_audit_report", raising=False)
    rc = main(["audit", str(csv), "--n-boot", "20", "--html", str(tmp_path / "b.html")])
    assert rc == 2
    assert ("--html: the audit report renderer (fairskin.reports.render_audit_report) is not available in this "
            "installation; write --json and render it later") in " ".join(capsys.readouterr().err.split())


def test_cli_logits_message_and_exit_code(tmp_path, capsys):
    csv = tmp_path / "logits.csv"
    _df(40).assign(score=lambda d: np.log(d["score"] / (1 - d["score"]))).to_csv(csv, index=False)
    assert main(["audit", str(csv), "--n-boot", "10"]) == 2
    assert "these look like logits" in " ".join(capsys.readouterr().err.split())
    assert main(["audit", str(csv), "--n-boot", "10", "--scores", "logits"]) == 0


def test_positive_class_on_a_predictions_csv(tmp_path):
    from fairskin.audits.classifier import audit

    df = _df(300)
    df.to_csv(tmp_path / "p.csv", index=False)
    res = audit(tmp_path / "p.csv", positive_class="melanoma", n_boot=10)
    assert res.group("all")["positives"] == int((df["diagnosis"] == "melanoma").sum())
    assert res.meta["positive_class"] == "melanoma"
    df.drop(columns="diagnosis").to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(InputError) as e:
        audit(tmp_path / "q.csv", positive_class="melanoma", n_boot=10)
    assert str(e.value) == ("positive_class: q.csv has no 'diagnosis' column to choose the positive class from; "
                            "found: image, score, label, fst")


def test_reference_group_skips_small_light_groups():
    df = _df(900)
    df = df[(df["fst"] != 1) | (df.index % 20 == 0)]  # ~8 type-I rows
    res = audit_predictions(df, n_boot=10)
    assert res.group("I")["n"] < 30 and res.meta["reference_group"] == "II"
    assert {r["reference"] for r in res.model()["ratios"]} == {"II"}
