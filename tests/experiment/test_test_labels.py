"""The experiment's test set with skin types from `fairskin label` instead of human labels:
phantom test images whose human types are stripped, labelled by label_dataset itself; the
per-type groups follow the labels.csv, experiment.json and the report say where the types came
from and which rows were left out, the fingerprint follows the labels; exact errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fairskin.errors import InputError
from fairskin.experiment import run_experiment
from fairskin.train._train import TINY_ARCH

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}
FAST = dict(arms=["real"], seeds=1, arch=TINY_ARCH, image_size=32, epochs=1, n_boot=20)
NO_FST = "no estimated skin type in labels.csv (no_skin: no healthy skin)"


@pytest.fixture(scope="module")
def unlabelled(tmp_path_factory) -> dict[str, Path]:
    """Training phantoms (human groups) and a test set whose manifest has no human skin type,
    with the test set's labels.csv as fairskin label writes it and a copy with two rows damaged:
    one image missing, one left without a type (status no_skin)."""
    from fairskin.data import DemoConfig, read_dataset, write_demo_dataset
    from fairskin.label import label_dataset

    root = tmp_path_factory.mktemp("test-labels")
    write_demo_dataset(root / "train", DemoConfig(n=80, size=48, seed=11, fst_weights=(1,) * 6))
    write_demo_dataset(root / "test", DemoConfig(n=48, size=48, seed=12, fst_weights=(1,) * 6,
                                                 malignant_rate=(0.4,) * 6))
    label_dataset(root / "test", out=root / "labels.csv", progress=False, n_boot=0)
    manifest = root / "test" / "manifest.csv"  # images relative to test/, as in labels.csv
    read_dataset(root / "test").assign(fst_human=pd.NA, fst_group_human=pd.NA).to_csv(manifest, index=False)
    lab = pd.read_csv(root / "labels.csv", dtype=str, keep_default_na=False)
    damaged = lab.iloc[1:].copy()  # the first test image is not in it
    damaged.loc[damaged.index[0], ["fst", "status", "reason"]] = ["", "no_skin", "no healthy skin"]
    damaged.to_csv(root / "damaged.csv", index=False)
    return {"train": root / "train", "test": manifest, "labels": root / "labels.csv",
            "damaged": root / "damaged.csv", "first": lab["image"].iloc[0], "no_type": lab["image"].iloc[1]}


def _message(text: str) -> str:
    return " ".join(text.split())


def test_estimated_types_end_to_end_with_the_cli(unlabelled, tmp_path, capsys):
    from fairskin.cli import main

    out, html = tmp_path / "exp", tmp_path / "report.html"
    code = main(["experiment", "--real", str(unlabelled["train"]), "--test", str(unlabelled["test"]),
                 "--test-labels", str(unlabelled["damaged"]), "--out", str(out), "--arms", "real", "--seeds", "1",
                 "--arch", TINY_ARCH, "--image-size", "32", "--epochs", "1", "--n-boot", "20", "--html", str(html)])
    text = _message(capsys.readouterr().out)
    assert code == 0
    assert "test skin types: estimated (ITA) from damaged.csv; 46 of 48 test rows used, 2 left out" in text
    assert "caution: The test set's skin types are estimated from ITA" in text

    doc = json.loads((out / "experiment.json").read_text())
    fst = doc["data"]["test_skin_types"]
    lab = pd.read_csv(unlabelled["damaged"], dtype=str, keep_default_na=False)
    lab = lab[lab["fst"] != ""]
    assert {k: fst[k] for k in ("source", "detail", "fst_source", "labels", "labels_rows", "matched", "n_rows",
                                "n_with_type", "n_skipped", "skipped_by_reason", "skipped_csv")} == {
        "source": "estimated", "detail": "estimated (ITA) from damaged.csv", "fst_source": "auto",
        "labels": str(unlabelled["damaged"]), "labels_rows": 47, "matched": 47, "n_rows": 48, "n_with_type": 46,
        "n_skipped": 2, "skipped_by_reason": {"not in damaged.csv": 1, NO_FST.replace("labels.csv", "damaged.csv"): 1},
        "skipped_csv": "test_skipped.csv"}
    assert "adjacent" in fst["caution"]
    skipped = pd.read_csv(out / "test_skipped.csv")
    assert skipped.to_dict("records") == [
        {"image": unlabelled["first"], "status": "no_fst", "reason": "not in damaged.csv"},
        {"image": unlabelled["no_type"], "status": "no_fst", "reason": NO_FST.replace("labels.csv", "damaged.csv")}]

    # per-type groups, counted from the labels.csv (the manifest has no type at all)
    groups = doc["statistics"]["arms"]["real"]["groups"]
    want = lab["fst"].astype(int).value_counts()
    assert {g["group"]: g["n"] for g in groups if g["level"] == "type"} == {ROMAN[t]: int(n) for t, n in want.items()}
    assert next(g for g in groups if g["group"] == "all")["n"] == doc["data"]["n_test"] == 46
    assert sum(v["n"] for v in doc["data"]["test_by_group"].values()) == 46
    # the run's own predictions (and so its audit.json) carry the same types
    pred = pd.read_csv(out / "runs" / "real" / "seed-0" / "predictions.csv", dtype=str, keep_default_na=False)
    assert dict(zip(pred["image"], pred["fst"])) == {**dict(zip(lab["image"], lab["fst"])), unlabelled["first"]: "",
                                                     unlabelled["no_type"]: ""}

    page = _message(html.read_text())
    assert '<section id="test-set"' in page and 'class="unreliable-box estimated-types"' in page
    assert ("Skin types of the test set: estimated (ITA) from damaged.csv, 46 of 48 test rows; 2 test row(s) had no "
            "usable image or skin type and were left out (listed in test_skipped.csv).") in page
    assert "Skin-type groups of the test set: estimated (ITA) from damaged.csv (see the caution above)." in page


def test_the_fingerprint_follows_the_test_labels(unlabelled, tmp_path):
    kw = dict(test=unlabelled["test"], out=tmp_path, **FAST)
    res = run_experiment(unlabelled["train"], test_labels=unlabelled["labels"], **kw)
    assert res.doc["data"]["test_skin_types"]["n_skipped"] == 0
    msgs = []
    run_experiment(unlabelled["train"], test_labels=unlabelled["labels"], progress=lambda e: msgs.append(e.message), **kw)
    assert "[1/1] real seed 0: finished earlier, skipped" in msgs
    changed = pd.read_csv(unlabelled["labels"], dtype=str, keep_default_na=False)
    img = changed["image"].iloc[5]
    changed.loc[5, "fst"] = "1" if changed.loc[5, "fst"] != "1" else "6"  # one image, another type
    changed.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(InputError, match=r"^out: run real/seed-0 in .* was made with other settings or data"):
        run_experiment(unlabelled["train"], test_labels=tmp_path / "labels.csv", **kw)
    pred = pd.read_csv(tmp_path / "runs" / "real" / "seed-0" / "predictions.csv", dtype=str)
    assert pred.set_index("image").at[img, "fst"] != changed.loc[5, "fst"]  # made with the first labels


def test_config_file_keys(unlabelled, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'test = "{unlabelled["test"].as_posix()}"\ntest_labels = "{unlabelled["labels"].as_posix()}"\n'
                   'test_fst_source = "human"\n')
    with pytest.raises(InputError) as e:  # the file's test_fst_source is used, so its error comes up
        run_experiment(unlabelled["train"], out=tmp_path / "o", config=cfg, **FAST)
    assert str(e.value).startswith("test_fst_source='human': no image has a human Fitzpatrick label")
    res = run_experiment(unlabelled["train"], out=tmp_path / "o", config=cfg, test_fst_source="estimated",
                         dry_run=True, **FAST)  # an argument beats the file
    assert [r.arm for r in res.runs] == ["real"]


def test_labels_file_without_the_columns_is_refused(unlabelled, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"image": ["a.png"], "skin": [1]}).to_csv(bad, index=False)
    with pytest.raises(InputError) as e:
        run_experiment(unlabelled["train"], test=unlabelled["test"], test_labels=bad, out=tmp_path / "o", **FAST)
    assert str(e.value) == (f"test_labels: {bad} lacks column(s) 'fst'; found: image, skin; expected a labels.csv "
                            "written by fairskin label (image, ita, fst, confidence, status, reason)")


def test_labels_of_other_images_are_refused(unlabelled, tmp_path):
    other = tmp_path / "other.csv"
    lab = pd.read_csv(unlabelled["labels"], dtype=str, keep_default_na=False)
    lab.assign(image="elsewhere/" + lab["image"]).to_csv(other, index=False)
    with pytest.raises(InputError) as e:
        run_experiment(unlabelled["train"], test=unlabelled["test"], test_labels=other, out=tmp_path / "o", **FAST)
    assert str(e.value) == (
        f"test_labels: none of the 48 images is in {other} (first image: {unlabelled['first']!r}; first "
        f"image there: {'elsewhere/' + unlabelled['first']!r}); give the labels.csv that `fairskin label` wrote for "
        "these images, whose 'image' column holds the same relative paths")


def test_human_source_without_human_labels_is_refused(unlabelled, tmp_path, capsys):
    from fairskin.cli import main

    code = main(["experiment", "--real", str(unlabelled["train"]), "--test", str(unlabelled["test"]),
                 "--test-labels", str(unlabelled["labels"]), "--test-fst-source", "human", "--out", str(tmp_path),
                 "--arms", "real", "--seeds", "1", "--arch", TINY_ARCH, "--image-size", "32", "--epochs", "1"])
    assert code == 2
    assert _message(capsys.readouterr().err) == (
        "error: --test-fst-source human: no image has a human Fitzpatrick label; run `fairskin label` on the images "
        "and pass its labels.csv (--test-labels ..., --test-fst-source estimated)")


def test_no_types_at_all_and_unknown_source_are_refused(unlabelled, tmp_path):
    with pytest.raises(InputError) as e:
        run_experiment(unlabelled["train"], test=unlabelled["test"], out=tmp_path, **FAST)
    assert str(e.value) == ("test: no test image has a human Fitzpatrick type or group and no test_labels were given; "
                            "the experiment compares skin types: run `fairskin label TEST` and pass its labels.csv "
                            "(test_labels=...)")
    with pytest.raises(InputError) as e:
        run_experiment(unlabelled["train"], test=unlabelled["test"], test_labels=unlabelled["labels"],
                       test_fst_source="dermatologist", out=tmp_path, **FAST)
    assert str(e.value) == "test_fst_source: expected 'auto', 'human' or 'estimated', got 'dermatologist'"


def test_human_types_are_read_as_before_and_recorded(tmp_path):
    """Phantoms in DDI's layout carry human groups only: without labels those are the types, source human."""
    from fairskin.data import DemoConfig, read_dataset, write_demo_dataset
    from fairskin.experiment._data import _test_skin_types

    write_demo_dataset(tmp_path, DemoConfig(n=12, size=32, seed=3))
    df = read_dataset(tmp_path)
    df.loc[df.index[0], "status"] = "missing"
    df.loc[df.index[0], "reason"] = "image file not found"
    types, groups, usable, skipped, rec = _test_skin_types(df, labels=None, fst_source="auto")
    assert (types == 0).all() and list(groups[1:]) == df["fst_group_human"].astype(str).tolist()[1:]
    assert usable.tolist() == [False] + [True] * 11
    assert skipped == [{"image": df["image"].iloc[0], "status": "missing", "reason": "image file not found"}]
    assert rec["source"] == "human" and rec["detail"] == "human Fitzpatrick groups (DDI skin_tone 12/34/56)"
    assert rec["labels"] is None and "caution" not in rec
    assert (rec["n_rows"], rec["n_with_type"], rec["n_skipped"]) == (12, 11, 1)
