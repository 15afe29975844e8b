"""The cheap-fix arms and the synthesis-vs-best-cheap-fix comparison: every arm is one registration
with its family, the comparison's answer follows known score differences, and the report opens
with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairskin.audits.classifier import default_criteria
from fairskin.experiment import ARMS, CHEAP_FIXES, arm_family, arm_statistics, run_experiment


def _frame(n=900, seed=0):
    rng = np.random.default_rng(seed)
    grp = rng.choice(["I-II", "III-IV", "V-VI"], n)
    y = (rng.random(n) < 0.4).astype(int)
    return pd.DataFrame({"image": [f"t{i}.png" for i in range(n)], "label": y, "fst_type": 0, "fst_group": grp})


def _scores(frame, skill_dark, seed, k=3, skill=1.5):
    """k seeds of scores; skill (label shift) ``skill_dark`` on V-VI, ``skill`` elsewhere."""
    rng = np.random.default_rng(seed)
    s = np.where(frame["fst_group"] == "V-VI", skill_dark, skill)
    z = rng.normal(0, 1, (k, len(frame))) + frame["label"].to_numpy() * s
    return 1 / (1 + np.exp(-z))


def test_every_cheap_fix_is_registered_with_its_family_and_needs_no_synthetic_images():
    assert set(CHEAP_FIXES) == {"resample", "reweight", "retone_aug", "ita_jitter", "group_dro"}
    for name in CHEAP_FIXES:
        assert not ARMS[name].needs_synthetic and arm_family(name) == "cheap_fix"
    assert arm_family("real") == "baseline" and arm_family("mixed") == "synthetic"
    assert arm_family("mixed+hair_removal") == "other"


def _versus(frame, syn_skill, cheap_skills, n_boot=300):
    scores = {"real": _scores(frame, 0.5, 1), "mixed": _scores(frame, syn_skill, 2)}
    fam = {"real": "baseline", "mixed": "synthetic"}
    for i, (name, sk) in enumerate(cheap_skills.items()):
        scores[name] = _scores(frame, sk, 10 + i)
        fam[name] = "cheap_fix"
    st = arm_statistics(frame, scores, baseline="real", criteria=default_criteria("group"), n_boot=n_boot,
                        families=fam)
    return st, st["synthesis_vs_cheap_fix"]


def test_synthesis_far_better_than_every_cheap_fix_answers_yes():
    st, v = _versus(_frame(), 3.0, {"resample": 0.6, "reweight": 1.0})
    assert v["answer"] == "yes" and v["best_cheap_fix"] == "reweight" and v["best_synthetic"] == "mixed"
    assert 0 < v["ci_low"] < v["delta"] < v["ci_high"]
    g = {a: next(x for x in st["arms"][a]["groups"] if x["group"] == "V-VI")["metrics"]["auroc"]["value"]
         for a in ("mixed", "reweight")}
    assert v["delta"] == pytest.approx(g["mixed"] - g["reweight"])
    assert v["sentence"].startswith("Synthesis beat the best cheap fix: AUROC on FST V-VI")
    # every arm is still compared with real by the same statistics
    assert {c["candidate"] for c in st["comparisons"]} == {"mixed", "resample", "reweight"}


def test_a_better_cheap_fix_answers_no_and_equal_ones_unclear():
    _, v = _versus(_frame(), 0.6, {"reweight": 3.0})
    assert v["answer"] == "no" and v["ci_high"] < 0
    assert v["sentence"].startswith("Synthesis did not beat the best cheap fix")
    _, same = _versus(_frame(seed=3), 1.5, {"reweight": 1.5})
    assert same["answer"] == "unclear" and same["ci_low"] < 0 < same["ci_high"]


def test_the_best_cheap_fix_is_chosen_inside_each_replicate():
    """Two cheap fixes as good as synthesis: the per-replicate maximum over them is at least either
    one, so the interval against the best lies below the interval against each."""
    frame = _frame(seed=5)
    _, both = _versus(frame, 1.5, {"resample": 1.5, "reweight": 1.5})
    _, one = _versus(frame, 1.5, {"resample": 1.5})
    assert both["ci_high"] <= one["ci_high"] + 1e-12


def test_no_cheap_fix_or_a_tiny_group_gives_no_answer():
    frame = _frame()
    st = arm_statistics(frame, {"real": _scores(frame, 0.5, 1), "mixed": _scores(frame, 2, 2)}, baseline="real",
                        criteria=default_criteria("group"), n_boot=50, families={"real": "baseline",
                                                                                 "mixed": "synthetic"})
    v = st["synthesis_vs_cheap_fix"]
    assert v["answer"] == "inconclusive" and v["reason"] == "no cheap-fix arm was run"
    assert v["sentence"] == "Synthesis vs the best cheap fix: no answer (no cheap-fix arm was run)."
    small = _frame(60)
    _, v = _versus(small, 3.0, {"reweight": 0.5}, n_boot=50)
    assert v["answer"] == "inconclusive" and v["reason"].startswith("group V-VI is too small to judge")


def test_report_opens_with_the_answer():
    from fairskin.reports._experiment import experiment_summary

    st, v = _versus(_frame(), 3.0, {"reweight": 1.0}, n_boot=100)
    lines = experiment_summary({"statistics": st, "criteria": [], "baseline": "real"})
    assert lines[0] == v["sentence"]


def test_dry_run_plans_the_cheap_fix_arms(tmp_path):
    res = run_experiment(out=tmp_path, arms=["resample", "group_dro"], seeds=1, dry_run=True)
    assert [r.arm for r in res.runs] == ["real", "resample", "group_dro"]
