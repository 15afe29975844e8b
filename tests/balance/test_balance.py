"""balance end to end on tiny models: manifest, provenance, gate, resume, process split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fairskin.balance import GenerateConfig, balance, gate_image, slot_seed  # noqa: E402
from fairskin.balance import _run  # noqa: E402
from fairskin.conditioning import Conditioning, StyleMix, image_styles, labelled_manifest  # noqa: E402
from fairskin.data import PhantomSpec, render_phantom  # noqa: E402
from fairskin.data._manifest import MANIFEST_COLUMNS, SYNTHETIC_COLUMNS  # noqa: E402
from fairskin.errors import InputError  # noqa: E402
from fairskin.label import estimate_image  # noqa: E402

#: 2 inference steps; the untrained tiny model's tones are arbitrary, so most tests accept any type
FAST = GenerateConfig(steps=2, batch_size=4, tolerance=6, max_attempts=2)
PROVENANCE = ["fst_requested", "ita_requested", "ita_measured", "fst_measured", "gate", "attempt", "prompt", "negative_prompt", "seed",
              "base_model", "base_model_sha256", "conditioning", "conditioning_sha256", "scheduler", "steps", "guidance"]


def test_gate_accepts_the_right_type_and_rejects_the_wrong_one():
    dark = render_phantom(PhantomSpec(ita=-20.0, size=64, seed=1))  # type VI on the default scale
    assert gate_image(dark, 6, tolerance=0).accepted
    r = gate_image(dark, 5, tolerance=0)
    assert not r.accepted and r.fst == 6
    assert r.reason.startswith("fst_mismatch: measured 6 (ITA ") and r.reason.endswith("asked 5, tolerance 0")
    assert gate_image(dark, 5, tolerance=1).accepted


def test_gate_measures_through_the_estimator_registry(monkeypatch):
    """The gate asks fairskin.skintone's registry for its estimator: a registered one reaches it
    (here one that always measures type III), and one on another tone scale is refused by name."""
    from dataclasses import dataclass

    from fairskin.balance import gate_estimator
    from fairskin.skintone import FITZPATRICK, ToneEstimate, _estimators, get_estimator, register_estimator

    @dataclass(frozen=True)
    class AlwaysThree:
        name = "always-three"
        tone_scale = FITZPATRICK
        columns = ("fst", "confidence", "status", "reason", "scale", "ita")
        scale_name = "none"
        work_side = None
        config: object = None

        def settings(self):
            return {}

        def estimate_rgb(self, rgb, *, valid=None, lesion_mask=None):
            return ToneEstimate(FITZPATRICK, tone=3, confidence=1.0, scale="none", values={"ita": 30.0})

    monkeypatch.setattr(_estimators, "_REGISTRY", dict(_estimators._REGISTRY))  # registered for this test only
    register_estimator("always-three", AlwaysThree)
    dark = render_phantom(PhantomSpec(ita=-20.0, size=64, seed=1))
    est = gate_estimator(estimator="always-three")
    assert gate_image(dark, 3, tolerance=0, estimator=est).accepted
    assert gate_image(dark, 6, tolerance=0, estimator=est).reason == ("fst_mismatch: measured 3 (ITA 30.0), asked 6, "
                                                                     "tolerance 0")
    # the default gate is the label default's ITA estimator, as get_estimator("ita") builds it
    assert gate_estimator().settings() == get_estimator("ita").settings()
    with pytest.raises(InputError, match="gate estimator 'monk' labels on the monk scale"):
        gate_estimator(estimator="monk")


def test_default_tolerance_is_exact_for_v_and_vi():
    g = GenerateConfig()
    assert [g.tolerance_for(k) for k in range(1, 7)] == [1, 1, 1, 1, 0, 0]


def test_slot_seed_is_stable():
    assert slot_seed(0, "fst5-melanoma-00000", 1) == slot_seed(0, "fst5-melanoma-00000", 1)
    assert slot_seed(0, "fst5-melanoma-00000", 1) != slot_seed(0, "fst5-melanoma-00000", 2)
    assert slot_seed(0, "fst5-melanoma-00000", 1) != slot_seed(1, "fst5-melanoma-00000", 1)


def test_image_does_not_depend_on_batch(tiny_conditioning):
    from fairskin.conditioning import Conditioning, StableDiffusionGenerator

    cond = Conditioning.load(tiny_conditioning)
    g1 = StableDiffusionGenerator(cond, config=GenerateConfig(steps=2, batch_size=1).sampling)
    g3 = StableDiffusionGenerator(cond, config=GenerateConfig(steps=2, batch_size=3).sampling)
    prompts, fst, seeds = ["a photo on <fst-5> skin"] * 3, [5, 6, 5], [11, 12, 13]
    a, b = g1.generate_prompts(prompts, fst, seeds), g3.generate_prompts(prompts, fst, seeds)
    assert all(np.abs(x.astype(int) - y.astype(int)).max() <= 1 for x, y in zip(a, b))
    assert np.abs(a[0].astype(int) - a[2].astype(int)).max() > 0  # different seeds, different images


def test_dry_run_writes_plan_only(small_demo, small_labels, tmp_path):
    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", dry_run=True)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["n_generate"] == res.plan.n_generate > 0
    assert (tmp_path / "plan.csv").is_file()
    assert not (tmp_path / "images").exists() and not (tmp_path / "conditioning").exists()


def _share56(manifest: pd.DataFrame) -> float:
    return float(manifest["fst"].isin([5, 6]).mean())


def test_balance_end_to_end(small_demo, small_labels, tiny_conditioning, tmp_path):
    # the shipped gate (exact type for V and VI): the 2-step model's tones sit around the IV / V cut
    # (ITA 18-25 deg), so requests for V pass now and then and requests for VI are rejected
    gen = GenerateConfig(steps=2, batch_size=4, max_attempts=3)
    assert (gen.tolerance_for(5), gen.tolerance_for(6)) == (0, 0)
    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5",
                  conditioning=tiny_conditioning, generate=gen, json_path=tmp_path / "s.json")
    log = _run._read_attempts(tmp_path)
    accepted, rejected = log[log["gate"] == "accepted"], log[log["gate"] == "rejected"]
    assert len(accepted) > 0 and len(rejected) > 0 and len(accepted) + len(rejected) == len(log)
    # every decision is the requested type against the type measured again on the saved file
    for row in log.itertuples():
        est = estimate_image(tmp_path / row.image)
        hit = est.fst == int(row.fst_requested)
        assert row.fst_measured == ("" if est.fst is None else str(est.fst))
        assert (row.gate, row.image.split("/")[0]) == (("accepted", "images") if hit else ("rejected", "rejected"))
        if not hit and est.fst is not None:
            assert row.gate_reason == (f"fst_mismatch: measured {est.fst} (ITA {est.ita:.1f}), asked "
                                       f"{row.fst_requested}, tolerance 0")
    # a slot is retried only after a rejection, and stops at its first acceptance or the third attempt
    for slot, tries in log.groupby("slot"):
        gates = list(tries.sort_values("attempt")["gate"])
        assert list(tries.sort_values("attempt")["attempt"]) == [str(i) for i in range(1, len(gates) + 1)]
        assert "accepted" not in gates[:-1] and (gates[-1] == "accepted" or len(gates) == 3)
    m = pd.read_csv(res.manifest)
    assert list(m.columns) == list(MANIFEST_COLUMNS) + list(SYNTHETIC_COLUMNS) + ["image_path"]
    real, syn = m[~m["synthetic"]], m[m["synthetic"]]
    assert len(real) == 40 and sorted(syn["image"]) == sorted(accepted["image"])
    assert len(syn) < res.plan.n_generate  # slots the gate turned down stay empty, not filled with a miss
    assert (syn["fst"] == syn["fst_requested"]).all() and (syn["fst_measured"] == syn["fst_requested"]).all()
    assert _share56(m) == pytest.approx((real["fst"].isin([5, 6]).sum() + len(syn)) / len(m))
    assert syn[PROVENANCE].notna().all().all()
    cond = Conditioning.load(tiny_conditioning)  # the tone each image asked for, as generation drew it
    asked = [cond.tone_request(int(f), int(s)) for f, s in zip(log["fst_requested"], log["seed"])]
    assert np.allclose(log["ita_requested"].to_numpy(float), asked, atol=1e-3)
    assert (syn["gate"] == "accepted").all() and (syn["fst_source"] == "requested").all()
    assert (syn["guidance"] == 1.0).all()  # "auto" guidance of the built-in tiny model, recorded as used
    # each prompt names the photo style of a real image of its cell, drawn by the attempt's seed
    mix = StyleMix(labelled_manifest(small_demo, labels=small_labels))
    styles = [mix.draw(int(f), d, int(q)) for f, d, q in zip(log["fst_requested"], log["diagnosis"], log["seed"])]
    assert [p.split(" photo of ")[0] for p in log["prompt"]] == [f"a {st}" for st in styles]
    assert set(styles) == {"clinical", "dermoscopy"}  # the demo has both
    assert syn["source"].eq("synthetic").all() and syn["image_id"].is_unique
    assert (real["fst_source"] == "estimated (kinyanjui_fst)").all()
    assert all((tmp_path / p).is_file() for p in m["image"])  # real paths relative to OUT too
    meta = pd.read_csv(res.metadata)
    assert len(meta) == len(syn) and all((tmp_path / "images" / f).is_file() for f in meta["file_name"])
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["schema"] == "fairskin.balance/1"
    v = [c for c in s["cells"] if c["fst"] in ("5", "6")]
    assert sum(c["synthetic"] for c in v) == len(syn) and sum(c["generated"] for c in v) == len(log)
    for c in v:
        tried = log[(log["fst_requested"] == c["fst"]) & (log["diagnosis"] == c["diagnosis"])]
        if len(tried):
            assert c["acceptance_rate"] == pytest.approx((tried["gate"] == "accepted").mean())
            kinds = tried.loc[tried["gate"] == "rejected", "gate_reason"].str.split(":").str[0]
            assert c["rejected_reasons"] == kinds.value_counts().to_dict()
    assert s["counts"]["synthetic_accepted"] == len(syn)
    assert any("short of their target" in w for w in res.summary["warnings"])


def test_rejections_are_retried_and_logged(small_demo, small_labels, tiny_conditioning, tmp_path):
    # the barely trained tiny model makes dark images, so asking for type I with an exact gate
    # rejects most of them: each slot is retried with a new seed up to max_attempts, then left short
    gen = GenerateConfig(steps=2, batch_size=4, tolerance=0, max_attempts=2)
    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst1=0.3", conditioning=tiny_conditioning,
                  generate=gen)
    log = _run._read_attempts(tmp_path)
    rejected = log[log["gate"] == "rejected"]
    assert len(rejected) > 0
    assert set(log["attempt"]) <= {"1", "2"}
    retried = set(log.loc[log["attempt"] == "2", "slot"])
    assert retried <= set(log.loc[(log["attempt"] == "1") & (log["gate"] == "rejected"), "slot"])
    assert all((tmp_path / p).is_file() and p.startswith("rejected/") for p in rejected["image"])
    accepted = log[log["gate"] == "accepted"]
    assert (accepted["fst_measured"] == "1").all()
    m = pd.read_csv(res.manifest)
    assert int(m["synthetic"].sum()) == len(accepted)
    if len(accepted) < res.plan.n_generate:
        assert any("short of their target" in w for w in res.summary["warnings"])


def test_killed_run_resumes_without_duplicates(small_demo, small_labels, tiny_conditioning, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_save = _run._save_png

    def dying_save(path, rgb):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # killed after 5 images
        real_save(path, rgb)

    monkeypatch.setattr(_run, "_save_png", dying_save)
    with pytest.raises(KeyboardInterrupt):
        balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", conditioning=tiny_conditioning,
                generate=FAST)
    assert len(_run._read_attempts(tmp_path)) == 5
    # a half-written log line (killed mid-write) is dropped on resume
    with open(next(tmp_path.glob("attempts-*.csv")), "a") as fh:
        fh.write("images/partial")
    monkeypatch.setattr(_run, "_save_png", real_save)
    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", conditioning=tiny_conditioning,
                  generate=FAST)
    log = _run._read_attempts(tmp_path)
    assert log["slot"].is_unique and len(log) == res.plan.n_generate
    # the same images as an uninterrupted run (same seeds per slot)
    ref = tmp_path.parent / (tmp_path.name + "-ref")
    balance(small_demo, out=ref, labels=small_labels, target="fst56=0.5", conditioning=tiny_conditioning, generate=FAST)
    ref_log = _run._read_attempts(ref).set_index("slot")
    assert (log.set_index("slot")["seed"] == ref_log.loc[log["slot"], "seed"]).all()
    assert not list(tmp_path.glob("images/*.tmp*"))


def test_resume_keeps_the_columns_of_an_older_attempt_log(tmp_path):
    old = [c for c in _run.ATTEMPT_COLUMNS if c != "ita_requested"]  # a log begun before tone requests
    path = tmp_path / "attempts-0.csv"
    path.write_text(",".join(old) + "\n" + ",".join("x" for _ in old) + "\n")
    log = _run._AttemptLog(path)
    log.write({c: "y" for c in _run.ATTEMPT_COLUMNS})
    log.close()
    df = _run._read_attempts(tmp_path)
    assert list(df.columns) == old and list(df["image"]) == ["x", "y"]


def test_other_plan_in_out_is_refused(small_demo, small_labels, tiny_conditioning, tmp_path):
    balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", dry_run=True)
    with pytest.raises(InputError) as e:
        balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.45", dry_run=True)
    assert "holds the output of a different plan" in str(e.value) and "overwrite=True" in str(e.value)
    balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.45", dry_run=True, overwrite=True)


def test_two_processes_split_the_plan(small_demo, small_labels, tiny_conditioning, tmp_path, monkeypatch):
    for rank in (1, 0):  # rank 0 merges, so it finishes last
        monkeypatch.setattr(_run, "_process_split", lambda r=rank: (r, 2))
        res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5",
                      conditioning=tiny_conditioning, generate=FAST)
    a0 = pd.read_csv(tmp_path / "attempts-0.csv")
    a1 = pd.read_csv(tmp_path / "attempts-1.csv")
    assert not set(a0["slot"]) & set(a1["slot"])
    assert len(a0) + len(a1) == res.plan.n_generate
    assert int(pd.read_csv(res.manifest)["synthetic"].sum()) == res.plan.n_generate


def test_image_to_image_retones_a_lighter_real_image(small_demo, small_labels, tiny_conditioning, tmp_path):
    gen = GenerateConfig(mode="image", strength=0.6, steps=2, batch_size=4, tolerance=6, max_attempts=1)
    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5",
                  conditioning=tiny_conditioning, generate=gen)
    m = pd.read_csv(res.manifest)
    syn = m[m["synthetic"]]
    assert (syn["strength"] == 0.6).all() and syn["source_image"].notna().all()
    labels = pd.read_csv(small_labels).set_index("image")["fst"]
    assert (labels.loc[syn["source_image"]].to_numpy() < syn["fst_requested"].to_numpy()).all()
    frame = labelled_manifest(small_demo, labels=small_labels)  # the prompt names the source's photo style
    style = dict(zip(frame["image"], image_styles(frame)))
    assert all(p.startswith(f"a {style[src]} photo of ") for p, src in zip(syn["prompt"], syn["source_image"]))


def test_html_report(small_demo, small_labels, tiny_conditioning, tmp_path):
    import fairskin.reports as reports

    kw = dict(labels=small_labels, target="fst56=0.5", conditioning=tiny_conditioning, generate=FAST,
              html=tmp_path / "r.html")
    if not hasattr(reports, "render_balance_report"):
        with pytest.raises(InputError, match="balance report renderer"):
            balance(small_demo, out=tmp_path / "o", **kw)
    else:
        balance(small_demo, out=tmp_path / "o", **kw)
        assert (tmp_path / "r.html").stat().st_size > 0


def test_balance_trains_conditioning_when_none_given(small_demo, small_labels, tmp_path):
    from fairskin.conditioning import TrainConfig

    res = balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", generate=FAST,
                  train_config=TrainConfig(steps=2, vae_steps=1, batch_size=4))
    cfg = json.loads((tmp_path / "conditioning" / "conditioning.json").read_text())
    assert cfg["train"]["steps_done"] == 2
    # every attempt, accepted or not (a 2-step model's images may all miss the gate), names what made it
    tried = pd.concat([pd.read_csv(p) for p in tmp_path.glob("attempts-*.csv")])
    synthetic = pd.concat([tried, pd.read_csv(res.manifest).query("synthetic")])
    assert len(tried) > 0
    assert synthetic["conditioning"].str.endswith("conditioning/conditioning.json").all()
    assert (synthetic["base_model_sha256"] == cfg["base_model_sha256"]).all()


def test_base_model_with_trained_conditioning_is_refused(small_demo, small_labels, tiny_conditioning, tmp_path):
    with pytest.raises(InputError, match="a trained conditioning folder records its base model"):
        balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5", conditioning=tiny_conditioning,
                base_model=tmp_path, generate=FAST)
