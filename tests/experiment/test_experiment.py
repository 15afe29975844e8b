"""The experiment: runs planned, resumed and listed exactly; seed-pooled statistics against the
audit's own values; ratio selection and generation plans with known counts; exact errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fairskin.audits.classifier import audit_predictions, default_criteria
from fairskin.errors import InputError
from fairskin.experiment import (
    ARMS,
    arm_statistics,
    load_config_file,
    plan_requests,
    plan_runs,
    run_experiment,
    select_ratio,
)


def _test_frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    grp = rng.choice(["I-II", "III-IV", "V-VI"], n)
    y = (rng.random(n) < 0.4).astype(int)
    return pd.DataFrame({"image": [f"t{i}.png" for i in range(n)], "label": y, "fst_type": 0, "fst_group": grp})


def _scores(frame, skill, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, len(frame)) + frame["label"].to_numpy() * skill
    return 1 / (1 + np.exp(-(z - skill / 2)))


def test_dry_run_lists_exactly_the_runs_and_touches_no_data(tmp_path):
    res = run_experiment(out=tmp_path, arms=["mixed", "ratio_0.5"], seeds=2, dry_run=True)
    assert [(r.arm, r.seed, r.status) for r in res.runs] == [
        ("real", 0, "todo"), ("real", 1, "todo"), ("mixed", 0, "todo"), ("mixed", 1, "todo"),
        ("ratio_0.5", 0, "todo"), ("ratio_0.5", 1, "todo")]
    assert [p.name for p in tmp_path.iterdir()] == []  # the demo data were not even written


def test_finished_runs_are_skipped_and_stale_ones_flagged(tmp_path):
    d = tmp_path / "runs" / "real" / "seed-1"
    d.mkdir(parents=True)
    (d / "done.json").write_text(json.dumps({"fingerprint": "abc"}))
    runs = plan_runs(tmp_path, ["real"], 3, "abc")
    assert [r.status for r in runs] == ["todo", "done", "todo"]
    assert [r.status for r in plan_runs(tmp_path, ["real"], 3, "other")] == ["todo", "stale", "todo"]
    res = run_experiment(out=tmp_path, arms=["real"], seeds=3, dry_run=True)
    assert [r.status for r in res.runs] == ["todo", "done", "todo"]


def test_hair_removal_runs_every_arm_a_second_time(tmp_path):
    res = run_experiment(out=tmp_path, arms=["real", "mixed"], seeds=1, hair_removal=True, dry_run=True)
    assert [r.arm for r in res.runs] == ["real", "mixed", "real+hair_removal", "mixed+hair_removal"]
    assert res.runs[2].dir == tmp_path / "runs" / "real+hair_removal" / "seed-0"


def test_unknown_arm_suggests_the_closest(tmp_path):
    with pytest.raises(InputError) as e:
        run_experiment(out=tmp_path, arms=["mixd"], dry_run=True)
    assert str(e.value) == (f"arms: unknown arm 'mixd'; expected some of {', '.join(ARMS)} (or 'all'). "
                            "Did you mean 'mixed'?")


def test_augmented_arms_without_synthetic_images_are_refused(demo_data, tmp_path):
    with pytest.raises(InputError) as e:
        run_experiment(demo_data, out=tmp_path, arms=["mixed"])
    assert str(e.value) == ("synthetic: arms mixed need synthetic images: give synthetic=MANIFEST (fairskin balance's "
                            "manifest.csv) or conditioning=DIR (fairskin train-conditioning) to generate them here")


def test_config_file_json_and_toml(tmp_path):
    (tmp_path / "c.toml").write_text('arms = ["real", "mixed"]\nseeds = 2\nepochs = 3\n')
    assert load_config_file(tmp_path / "c.toml") == {"arms": ("real", "mixed"), "seeds": 2, "epochs": 3}
    (tmp_path / "c.json").write_text(json.dumps({"seed": 2}))
    with pytest.raises(InputError, match=r"^config: unknown experiment setting 'seed' in .*Did you mean 'seeds'\?$"):
        load_config_file(tmp_path / "c.json")
    (tmp_path / "p.toml").write_text('[label]\nwork_side = 96\n[experiment]\nseeds = 2\n')  # a project's file
    assert load_config_file(tmp_path / "p.toml") == {"seeds": 2}
    res = run_experiment(out=tmp_path / "o", config=tmp_path / "c.toml", seeds=1, dry_run=True)
    assert [(r.arm, r.seed) for r in res.runs] == [("real", 0), ("mixed", 0)]  # argument beats the file


def test_one_seed_matches_the_audit_and_identical_seeds_change_nothing():
    frame = _test_frame()
    s = _scores(frame, 2.0, 1)
    crit = default_criteria("group")
    one = arm_statistics(frame, {"real": s[None]}, baseline="real", criteria=crit, n_boot=200)
    audit = audit_predictions(pd.DataFrame({"image": frame["image"], "score": s, "label": frame["label"],
                                            "fst": frame["fst_group"]}), n_boot=50)
    for g in ("I-II", "III-IV", "V-VI", "all"):
        mine = next(x for x in one["arms"]["real"]["groups"] if x["group"] == g)["metrics"]
        theirs = audit.group(g)["metrics"]
        for m in ("auroc", "sensitivity", "specificity"):
            assert mine[m]["value"] == pytest.approx(theirs[m]["value"], abs=1e-12)
    # the audit reports the worst-case and the mean EOD between groups: pick the worst case by its key
    (eod,) = [f for f in audit.to_dict()["models"][0]["fairness"]
              if f["name"] == "equalized_odds_difference" and f["method"] == "between_groups"
              and f["agg"] == "worst_case"]
    assert one["arms"]["real"]["equalized_odds_difference"]["value"] == pytest.approx(eod["value"], abs=1e-12)
    # three identical seeds: same point and same interval as one seed (seed resampling adds nothing)
    three = arm_statistics(frame, {"real": np.stack([s, s, s])}, baseline="real", criteria=crit, n_boot=200)
    a = one["arms"]["real"]["groups"][2]["metrics"]["auroc"]
    b = three["arms"]["real"]["groups"][2]["metrics"]["auroc"]
    assert (a["value"], a["ci_low"], a["ci_high"]) == pytest.approx((b["value"], b["ci_low"], b["ci_high"]))


def test_seed_variation_widens_the_interval_and_verdict_follows_the_criteria():
    frame = _test_frame(900, seed=2)
    dark = frame["fst_group"].to_numpy() == "V-VI"
    base = np.stack([_scores(frame, 1.0, k) for k in range(3)])
    # candidate: much better on V-VI, same elsewhere -> passes
    better = base.copy()
    for k in range(3):
        better[k, dark] = _scores(frame, 3.0, 10 + k)[dark]
    crit = default_criteria("group")
    st = arm_statistics(frame, {"real": base, "better": better, "same": base.copy()}, baseline="real",
                        criteria=crit, n_boot=300)
    cmp = {c["candidate"]: c for c in st["comparisons"]}
    assert cmp["better"]["verdict"] == "pass"
    assert cmp["same"]["verdict"] == "fail"  # no gain on V-VI
    same_gain = next(c for c in cmp["same"]["criteria"] if c["group"] == "V-VI")
    assert same_gain["observed"] == 0.0
    # seeds that disagree give a wider interval than one seed alone
    noisy = np.stack([_scores(frame, sk, 20 + k) for k, sk in enumerate((0.5, 1.5, 2.5))])
    wide = arm_statistics(frame, {"real": noisy}, baseline="real", criteria=crit, n_boot=300)
    narrow = arm_statistics(frame, {"real": noisy[1:2]}, baseline="real", criteria=crit, n_boot=300)
    w = wide["arms"]["real"]["groups"][-1]["metrics"]["auroc"]
    n = narrow["arms"]["real"]["groups"][-1]["metrics"]["auroc"]
    assert w["ci_high"] - w["ci_low"] > 1.5 * (n["ci_high"] - n["ci_low"])


def test_ratio_selection_counts_per_cell():
    train = pd.DataFrame({"image": [f"r{i}" for i in range(30)], "fst_group_human": ["V-VI"] * 10 + ["I-II"] * 20,
                          "diagnosis": ["melanoma"] * 10 + ["nevus"] * 20, "malignant": [True] * 10 + [False] * 20})
    syn = pd.DataFrame({"image": [f"s{i}" for i in range(40)], "fst": [5] * 20 + [6] * 10 + [1] * 10,
                        "diagnosis": ["melanoma"] * 30 + ["nevus"] * 10})
    syn.attrs["root"] = "/x"
    counts = {r: len(select_ratio(syn, train, r, seed=0)) for r in (0.25, 0.5, 1.0)}
    # V-VI melanoma: 10 real -> 2 (round 2.5 -> 2), 5, 10 of 30; I-II nevus: 20 real -> 5, 10, 10 (only 10 exist)
    assert counts == {0.25: 2 + 5, 0.5: 5 + 10, 1.0: 10 + 10}


def test_generation_plan_reaches_the_malignant_share_of_the_other_groups():
    train = pd.DataFrame({
        "image": [f"i{i}" for i in range(140)],
        "fst_group_human": ["I-II"] * 100 + ["V-VI"] * 40,
        "malignant": [True] * 40 + [False] * 60 + [True] * 4 + [False] * 36,
        "diagnosis": ["melanoma"] * 40 + ["nevus"] * 60 + ["melanoma"] * 4 + ["nevus"] * 36,
        "fst_human": [2] * 100 + [5, 6, 5, 6] + [5] * 36,
    })
    reqs, plan = plan_requests(train)
    # r = 0.4; ceil(0.4 * 36 / 0.6) = 24 malignant needed, 4 there -> 20
    assert plan["requested"] == 20 and len(reqs) == 20
    assert {r.source_image for r in reqs} == {"i100", "i101", "i102", "i103"}
    assert [r.fst for r in reqs[:4]] == [5, 6, 5, 6] and all(r.malignant for r in reqs)
    assert {r.style for r in reqs} == {"dermoscopy"}  # no style column
    styled, _ = plan_requests(train.assign(style=["clinical"] * 102 + ["dermoscopy"] * 38))
    assert [r.style for r in styled[:4]] == ["clinical", "clinical", "dermoscopy", "dermoscopy"]  # the source's


@pytest.mark.slow
def test_small_experiment_end_to_end_and_resume(demo_data, tmp_path):
    """Two arms x one seed on the test phantoms with 1 epoch; a rerun redoes nothing."""
    msgs = []
    res = run_experiment(demo_data, out=tmp_path / "exp", arms=["real"], seeds=1, arch="test_resnet", image_size=32,
                         epochs=1, n_boot=50, test_fraction=0.3, progress=lambda e: msgs.append(e.message))
    assert res.doc["statistics"]["arms"]["real"]["n_seeds"] == 1
    # the baseline's gap test from its own audit is in experiment.json, for the report without the demo
    from fairskin.experiment import baseline_gap

    written = json.loads((tmp_path / "exp" / "experiment.json").read_text())["context"]["baseline_gap"]
    assert written == res.doc["context"]["baseline_gap"] == baseline_gap(tmp_path / "exp", seeds=1)
    assert written["arm"] == "real" and [s["seed"] for s in written["seeds"]] == [0]
    model = tmp_path / "exp" / "runs" / "real" / "seed-0" / "model.pt"
    before = model.stat().st_mtime_ns
    msgs.clear()
    run_experiment(demo_data, out=tmp_path / "exp", arms=["real"], seeds=1, arch="test_resnet", image_size=32,
                   epochs=1, n_boot=50, test_fraction=0.3, progress=lambda e: msgs.append(e.message))
    assert "[1/1] real seed 0: finished earlier, skipped" in msgs
    assert model.stat().st_mtime_ns == before
    with pytest.raises(InputError, match=r"^out: run real/seed-0 in .* was made with other settings or data"):
        run_experiment(demo_data, out=tmp_path / "exp", arms=["real"], seeds=1, arch="test_resnet", image_size=32,
                       epochs=2, n_boot=50, test_fraction=0.3)


@pytest.mark.slow
def test_hard_case_loop_records_each_round_on_the_demo(tmp_path):
    """One round on a small built-in demo: targeted images start from misclassified validation
    images only, untargeted ones from training images, same count."""
    from fairskin.experiment import DemoSetup

    setup = DemoSetup(n_train=160, n_test=90, size=48, epochs=1, patience=1, n_boot=50, generator="phantom")
    res = run_experiment(out=tmp_path, arms=["real"], seeds=1, rounds=1, per_round=6, demo=setup)
    assert {"V-VI", "all"} <= set(res.doc["rounds"]["round_0"]["test"])
    rounds = res.doc["rounds"]["rounds"]
    assert len(rounds) == 1
    rec = rounds[0]
    assert rec["requested"] == 6 and rec["untargeted_accepted"] <= rec["targeted_accepted"] <= 6
    splits = pd.read_csv(tmp_path / "splits.csv")
    val = set(splits.loc[splits["split"] == "val", "image"])
    train = set(splits.loc[splits["split"] == "train", "image"])
    t = pd.read_csv(tmp_path / "rounds" / "round-1" / "targeted" / "manifest.csv")
    u = pd.read_csv(tmp_path / "rounds" / "round-1" / "untargeted" / "manifest.csv")
    assert len(t) == rec["targeted_accepted"] and len(u) == rec["untargeted_accepted"]
    assert set(t["source_image"]) <= val  # hard cases come from the validation split only
    assert set(u["source_image"]) <= train
    assert (t["gate"] == "accepted").all() and (t["base_model"] == "phantom-renderer").all()
    assert set(rec["test"]) == {"untargeted", "targeted"}
    assert {"V-VI", "all"} <= set(rec["test"]["targeted"])
    assert val and train and not (val & train)


def test_demo_default_trains_its_generator_on_the_training_split_only(tmp_path, monkeypatch):
    """The built-in default's generator (the tiny Stable Diffusion) sees the training split's images
    and nothing else: not the validation split, not the test set."""
    import fairskin.experiment._synthetic as run_mod
    from fairskin.experiment import DemoSetup
    from fairskin.experiment._generate import PhantomGenerator

    seen = {}

    class Recorded(PhantomGenerator):  # stands in for the trained tiny model (trained in the slow test below)
        name = "recorded"

    def fake_generator(cond_dir, train, demo, cfg, say):  # records what it would train on
        seen["images"] = set(train["image"].astype(str))
        return Recorded(size=demo.size)

    monkeypatch.setattr(run_mod, "_demo_generator", fake_generator)
    setup = DemoSetup(n_train=160, n_test=90, size=48, epochs=1, patience=1, n_boot=50)
    res = run_experiment(out=tmp_path, arms=["real", "mixed"], seeds=1, demo=setup)
    splits = pd.read_csv(tmp_path / "splits.csv")
    assert seen["images"] == set(splits.loc[splits["split"] == "train", "image"])
    assert "tiny Stable Diffusion" in res.doc["synthetic"]["note"]


@pytest.mark.slow
def test_demo_generator_is_trained_once_and_reused(small_demo, tmp_path):
    """_demo_generator trains the tiny model on the frame it is given, records which images, and
    reuses the trained model when called again with the same images."""
    from fairskin.data import read_dataset
    from fairskin.experiment import DemoSetup, ExperimentConfig
    from fairskin.experiment._synthetic import _demo_generator

    frame = read_dataset(small_demo)
    frame["split"] = "train"
    setup = DemoSetup(generator_minutes=0.02, generator_vae_steps=2)
    cond = tmp_path / "conditioning"
    gen = _demo_generator(cond, frame, setup, ExperimentConfig(device="cpu"), say=lambda m: None)
    stamp = json.loads((cond / "trained_on.json").read_text())
    assert stamp["n_images"] == len(frame) == json.loads((cond / "conditioning.json").read_text())["train"]["n_images"]
    assert gen.name.endswith("base")
    before = (cond / "conditioning.json").stat().st_mtime_ns
    messages = []
    _demo_generator(cond, frame, setup, ExperimentConfig(device="cpu"), say=messages.append)
    assert (cond / "conditioning.json").stat().st_mtime_ns == before and "reusing" in messages[0]


def test_cli_dry_run_lists_the_runs(tmp_path, capsys):
    from fairskin.cli import main

    code = main(["experiment", "--out", str(tmp_path), "--arms", "real,pretrain_finetune", "--seeds", "2",
                 "--dry-run"])
    assert code == 0
    text = capsys.readouterr().out
    assert "4 runs, 4 to do (dry run: nothing trained)" in text
    assert "todo  pretrain_finetune seed 1" in text


@pytest.mark.slow
def test_conditioned_generator_goes_through_the_gate_with_provenance(small_demo, tiny_conditioning, tmp_path):
    """fairskin balance's generator (tiny untrained Stable Diffusion), image-to-image from real images:
    every attempt is gated and counted; accepted rows carry the base model and their source."""
    from fairskin.data import read_dataset
    from fairskin.experiment import ConditionedImageGenerator, GenerationRequest, generate_synthetic

    df = read_dataset(small_demo)
    rows = df.iloc[:3]
    reqs = [GenerationRequest(fst=5, diagnosis=str(r.diagnosis), malignant=bool(r.malignant), source_image=r.image)
            for r in rows.itertuples()]
    gen = ConditionedImageGenerator(tiny_conditioning, steps=2, device="cpu")
    syn = generate_synthetic(reqs, generator=gen, out=tmp_path, root=small_demo, max_attempts=1)
    assert syn.attrs["attempts"] == 3
    assert len(syn) + syn.attrs["failed"] == 3 and syn.attrs["rejected"] == syn.attrs["failed"]
    assert set(syn["source_image"]) <= set(rows["image"])
    assert (syn["base_model"] == gen.name).all()
    asked = [gen.cond.tone_request(5, int(seed)) for seed in syn["seed"]]
    assert np.allclose(syn["ita_requested"].to_numpy(float), np.array(asked, float), atol=1e-3, equal_nan=True)


def test_phantom_stand_in_renders_the_requested_style_and_records_its_tone(tmp_path):
    """The known-answer generator draws an ITA inside the requested type, records it as the row's
    ita_requested (the label estimator reads it back), and renders the request's photo style: a
    dermoscope's dark frame in the corners for dermoscopy, skin there for clinical."""
    from fairskin.experiment import GenerationRequest, PhantomGenerator, generate_synthetic
    from fairskin.label import LabelConfig, get_scale

    reqs = [GenerationRequest(fst=k, diagnosis="melanoma", malignant=True, style=st)
            for k in range(1, 7) for st in ("dermoscopy", "clinical") for _ in range(4)]
    syn = generate_synthetic(reqs, generator=PhantomGenerator(size=64), out=tmp_path, root=tmp_path)
    assert len(syn) == len(reqs) - syn.attrs["failed"] >= 44
    scale = get_scale(LabelConfig().scale)
    asked = syn["ita_requested"].to_numpy(float)
    assert all(scale.fst(a) == k for a, k in zip(asked, syn["fst_requested"]))
    miss = syn["ita_measured"].to_numpy(float) - asked
    assert np.median(np.abs(miss)) < 1.5 and np.mean(np.abs(miss) < 3) >= 0.9
    index = {f"syn-{i:05d}": r.style for i, r in enumerate(reqs)}
    from PIL import Image
    for row in syn.itertuples():
        corner = np.asarray(Image.open(tmp_path / row.image))[:3, :3].mean()
        assert (corner < 30) == (index[row.image_id] == "dermoscopy"), (row.image_id, corner)


def test_a_generator_without_tone_requests_leaves_ita_requested_empty(tmp_path):
    from fairskin.experiment import GenerationRequest, PhantomGenerator, generate_synthetic

    class OwnGenerator:  # a user's generator: a name and generate(), nothing else
        name = "own"

        def generate(self, requests, seeds, *, root):
            return PhantomGenerator(size=48).generate(requests, seeds, root=root)

    reqs = [GenerationRequest(fst=2, diagnosis="melanoma", malignant=True)] * 3
    syn = generate_synthetic(reqs, generator=OwnGenerator(), out=tmp_path, root=tmp_path)
    assert len(syn) == 3 - syn.attrs["failed"] > 0
    assert syn["ita_requested"].isna().all() and (syn["base_model"] == "own").all()


def test_a_group_too_small_to_judge_never_gives_a_conclusive_verdict():
    frame = _test_frame(900, seed=3)
    dark = np.flatnonzero(frame["fst_group"].to_numpy() == "V-VI")
    keep = np.ones(len(frame), bool)
    keep[dark[12:]] = False  # V-VI left with 12 test images
    small = frame[keep].reset_index(drop=True)
    base = _scores(small, 1.0, 0)[None]
    better = base.copy()
    d = small["fst_group"].to_numpy() == "V-VI"
    better[0, d] = _scores(small, 4.0, 1)[d]
    st = arm_statistics(small, {"real": base, "better": better}, baseline="real",
                        criteria=default_criteria("group"), n_boot=200)
    v56 = next(g for g in st["arms"]["real"]["groups"] if g["group"] == "V-VI")
    assert v56["n"] == 12 and v56["reliable"] is False
    crit = next(c for c in st["comparisons"][0]["criteria"] if c["group"] == "V-VI")
    assert crit["confident"] is False
    assert crit["reason"].startswith("group V-VI is too small to judge: 12 test images, ")
