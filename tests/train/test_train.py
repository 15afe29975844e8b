"""Training: patient-level splits, the test-set refusals (exact messages), and a saved model that
`fairskin audit` loads and scores exactly as training's validation did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairskin.errors import InputError
from fairskin.train import check_test_isolation, group_ids, split_manifest, train_classifier


def _frame(n=300, n_patients=60, seed=0, root="/data"):
    rng = np.random.default_rng(seed)
    pat = rng.integers(0, n_patients, n)
    df = pd.DataFrame({
        "image": [f"images/{i:04d}.png" for i in range(n)],
        "malignant": rng.random(n) < 0.3,
        "fst_group_human": rng.choice(["I-II", "III-IV", "V-VI"], n),
        "patient_id": [f"P{p}" for p in pat],
        "lesion_id": [f"L{i // 2}" for i in range(n)],
    })
    df.attrs["root"] = root
    return df


def test_split_never_puts_one_patient_on_two_sides():
    df = _frame()
    split = split_manifest(df, val_fraction=0.2, test_fraction=0.2, seed=3)
    per_patient = pd.Series(split).groupby(df["patient_id"].to_numpy()).nunique()
    assert per_patient.max() == 1
    shares = pd.Series(split).value_counts(normalize=True)
    assert set(shares.index) == {"train", "val", "test"}
    assert 0.1 < shares["val"] < 0.3 and 0.1 < shares["test"] < 0.3
    # same seed, same split; another seed, another split
    assert (split_manifest(df, val_fraction=0.2, test_fraction=0.2, seed=3) == split).all()
    assert (split_manifest(df, val_fraction=0.2, test_fraction=0.2, seed=4) != split).any()


def test_split_unit_is_patient_then_lesion_then_image():
    df = _frame()
    assert group_ids(df)[1] == "patient_id"
    assert group_ids(df.drop(columns="patient_id"))[1] == "lesion_id"
    lesion_split = split_manifest(df.drop(columns="patient_id"), val_fraction=0.3, seed=0)
    assert pd.Series(lesion_split).groupby(df["lesion_id"].to_numpy()).nunique().max() == 1
    assert group_ids(df.drop(columns=["patient_id", "lesion_id"]))[1] == "image"


def test_split_units_follow_the_one_resampling_rule():
    from fairskin.data import resampling_units

    df = pd.DataFrame({"image": ["a.png", "b.png", "c.png", "a.png"], "patient_id": ["p1", " ", "p1", None],
                       "lesion_id": ["l1", "l2", "l3", "l4"]})
    units, col = group_ids(df)
    assert col == "patient_id" and list(units) == list(resampling_units(df["patient_id"])[0])
    assert list(units) == ["p1", "row:1", "p1", "row:3"]  # a row without an id is its own unit
    assert list(group_ids(df, group_by="lesion_id")[0]) == ["l1", "l2", "l3", "l4"]
    assert list(group_ids(df, group_by="image")[0]) == ["row:0", "row:1", "row:2", "row:3"]


def test_validation_images_in_the_test_set_are_refused():
    df = _frame(40)
    train, val, test = df.iloc[:20], df.iloc[20:30], df.iloc[27:40]
    for p in (train, val, test):
        p.attrs["root"] = "/data"
    with pytest.raises(InputError) as e:
        check_test_isolation(train=train, val=val, test=test.drop(columns=["patient_id", "lesion_id"]))
    assert str(e.value) == ("val: 3 of the 10 validation images are in the held-out test set (e.g. "
                            "'/data/images/0027.png'); the test set must never be used for model selection or early "
                            "stopping")


def test_training_images_in_the_test_set_are_refused():
    df = _frame(40)
    train, test = df.iloc[:20], df.iloc[19:30]
    with pytest.raises(InputError) as e:
        check_test_isolation(train=train, val=None, test=test)
    assert str(e.value) == ("train: 1 of the 20 training images are in the held-out test set (e.g. "
                            "'/data/images/0019.png'); a test image must never be trained on")


def test_a_patient_on_both_sides_is_refused():
    df = _frame(40)
    train, test = df.iloc[:20].copy(), df.iloc[20:].copy()
    test["patient_id"] = "Q"
    test.iloc[3, test.columns.get_loc("patient_id")] = train["patient_id"].iloc[5]
    with pytest.raises(InputError) as e:
        check_test_isolation(train=train, val=None, test=test)
    assert str(e.value) == (f"patient_id: 1 patient(s) have images both in the training data and in the held-out test "
                            f"set (e.g. {train['patient_id'].iloc[5]!r}); split by patient_id so that one patient "
                            "never sits on both sides")


def test_synthetic_image_made_from_a_test_image_is_refused():
    df = _frame(40).drop(columns=["patient_id", "lesion_id"])
    train, test = df.iloc[:30].copy(), df.iloc[30:].copy()
    syn = pd.DataFrame({"image": ["images/s1.png", "images/s2.png"], "malignant": [True, True], "synthetic": True,
                        "source_image": ["images/0003.png", "images/0033.png"]})
    syn.attrs["root"] = "/data/out"
    # source_image is relative to the real data root
    with pytest.raises(InputError) as e:
        check_test_isolation(train=train, val=None, test=test, synthetic=syn)
    assert str(e.value) == ("synthetic: 1 synthetic image(s) were generated from held-out test images (source_image "
                            "'images/0033.png'); a synthetic training image must never start from a test image: "
                            "regenerate them from training images only")
    # the same relative name in another data set's test folder is not a leak
    other = test.copy()
    other.attrs["root"] = "/elsewhere"
    check_test_isolation(train=train, val=None, test=other, synthetic=syn)


def test_train_classifier_refuses_a_planted_test_source_before_training(demo_data, tmp_path):
    from fairskin.data import read_dataset

    df = read_dataset(demo_data)
    df["split"] = ["test" if i < 20 else "val" if i < 40 else "train" for i in range(len(df))]
    planted = df["image"].iloc[4]
    syn = pd.DataFrame({"image": [df["image"].iloc[50]], "malignant": [True], "synthetic": [True],
                        "source_image": [planted]})
    syn.attrs["root"] = str(demo_data)
    with pytest.raises(InputError) as e:
        train_classifier(df, out=tmp_path / "m.pt", arch="test_resnet", synthetic=syn, epochs=1, image_size=32)
    assert str(e.value) == (f"synthetic: 1 synthetic image(s) were generated from held-out test images (source_image "
                            f"{planted!r}); a synthetic training image must never start from a test image: "
                            "regenerate them from training images only")
    assert not (tmp_path / "m.pt").exists()


def test_train_classifier_refuses_validation_on_the_test_set(demo_data, tmp_path):
    from fairskin.data import read_dataset

    df = read_dataset(demo_data)
    df["split"] = ["val" if i < 30 else "train" for i in range(len(df))]
    test = df.iloc[:10].drop(columns="split").copy()
    test.attrs = dict(df.attrs)
    with pytest.raises(InputError, match=r"^val: 10 of the 30 validation images are in the held-out test set"):
        train_classifier(df, out=tmp_path / "m.pt", arch="test_resnet", test=test, epochs=1, image_size=32)


def test_unknown_arch_suggests_the_closest(demo_data, tmp_path):
    with pytest.raises(InputError) as e:
        train_classifier(demo_data, out=tmp_path / "m.pt", arch="resnet81", epochs=1, image_size=32)
    assert str(e.value).startswith("arch: 'resnet81' is not a timm model name")
    assert "Did you mean" in str(e.value)


def test_settings_come_from_one_train_config_and_keywords_win(demo_data, tmp_path):
    """train_classifier copied TrainConfig field by field; now it merges the config with the keywords."""
    from fairskin.train import TrainConfig

    with pytest.raises(InputError, match=r"^arch: 'resnet81' is not a timm model name"):
        train_classifier(demo_data, out=tmp_path / "m.pt", config=TrainConfig(arch="resnet81"))
    with pytest.raises(InputError, match=r"^image_size: expected a whole number >= 8, got 4$"):
        train_classifier(demo_data, out=tmp_path / "m.pt", config=TrainConfig(image_size=64), image_size=4)
    with pytest.raises(InputError, match=r"^train_classifier: unknown setting 'epoch'.*Did you mean 'epochs'\?$"):
        train_classifier(demo_data, out=tmp_path / "m.pt", epoch=1)


def test_bad_out_suffix_is_refused(demo_data, tmp_path):
    with pytest.raises(InputError) as e:
        train_classifier(demo_data, out=tmp_path / "m.pkl", arch="test_resnet", epochs=1)
    assert str(e.value) == ("out: 'm.pkl' must end in .pt, .pth or .safetensors (a state dict, which `fairskin audit` "
                            "loads without `--trust-model`)")


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_saved_model_loads_in_the_audit_and_scores_like_validation(demo_data, tmp_path, suffix):
    """The audit loads the file without trust_model and, with the saved preprocessing, gives the
    validation images the same scores training computed."""
    from fairskin.audits.classifier import load_model, predict
    from fairskin.data import read_dataset

    out = tmp_path / f"model{suffix}"
    res = train_classifier(demo_data, out=out, arch="test_resnet", epochs=1, image_size=32, batch_size=16, seed=1)
    meta = json.loads(Path(str(out) + ".json").read_text())
    assert meta["arch"] == "test_resnet" and meta["crop"] == 32 and meta["resize"] == 37
    assert meta["positive_class"] == "malignant" and meta["training"]["split_unit"] == "image"
    model = load_model(out)  # no trust_model
    assert model.kind == ("safetensors" if suffix == ".safetensors" else "state_dict")
    df = read_dataset(demo_data)
    val = df[df["image"].isin(res.val_predictions["image"])].set_index("image").loc[res.val_predictions["image"]]
    val = val.reset_index()
    val.attrs = dict(df.attrs)
    scores, status, _ = predict(model, val, device="cpu", progress=False)
    assert set(status) == {"ok"}
    np.testing.assert_allclose(scores, res.val_predictions["score"].to_numpy(), atol=1e-5)


def test_cli_train_classifier_writes_an_auditable_model(demo_data, tmp_path):
    from fairskin.cli import main

    out = tmp_path / "cli.pt"
    code = main(["train-classifier", str(demo_data), "--out", str(out), "--arch", "test_resnet", "--epochs", "1",
                 "--image-size", "32", "--batch-size", "32"])
    assert code == 0
    assert out.is_file() and Path(str(out) + ".json").is_file()


def test_hair_removal_is_saved_and_repeated_by_the_audit(demo_data, tmp_path):
    """--hair-removal inpaints hair before training; the metadata says so and the audit inpaints the
    same way: its scores of the validation images equal training's (they would not without it)."""
    from fairskin.audits.classifier import load_model, predict
    from fairskin.data import read_dataset

    out = tmp_path / "hr.pt"
    res = train_classifier(demo_data, out=out, arch="test_resnet", epochs=1, image_size=32, batch_size=16, seed=1,
                           hair_removal=True)
    assert json.loads(Path(str(out) + ".json").read_text())["hair_removal"] is True
    df = read_dataset(demo_data)
    val = df.set_index("image").loc[res.val_predictions["image"]].reset_index()
    val.attrs = dict(df.attrs)
    model = load_model(out)
    scores, _, _ = predict(model, val, device="cpu", progress=False)
    np.testing.assert_allclose(scores, res.val_predictions["score"].to_numpy(), atol=1e-5)
    without, _, _ = predict(model, val, device="cpu", progress=False, preprocess={"hair_removal": False})
    assert np.abs(without - scores).max() > 1e-4


@pytest.mark.slow
def test_same_seed_same_weights(demo_data, tmp_path):
    import torch

    kw = dict(arch="test_resnet", epochs=1, image_size=32, batch_size=16)
    train_classifier(demo_data, out=tmp_path / "a.pt", seed=5, **kw)
    train_classifier(demo_data, out=tmp_path / "b.pt", seed=5, **kw)
    train_classifier(demo_data, out=tmp_path / "c.pt", seed=6, **kw)
    a, b, c = (torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_balance_manifest_sources_are_resolved_against_the_balance_input(tmp_path):
    """fairskin balance writes real rows relative to its OUT folder and source_image relative to
    its input data root (plan.json 'data'); a test image used as a source is still caught."""
    from fairskin.train import read_manifest

    data, out = tmp_path / "data", tmp_path / "balanced"
    out.mkdir()
    (out / "plan.json").write_text(json.dumps({"data": str(data)}))
    pd.DataFrame({"image": ["../data/images/0001.png", "images/s1.png"], "malignant": [False, True],
                  "synthetic": [False, True], "source_image": ["", "images/0009.png"]}).to_csv(out / "manifest.csv",
                                                                                                index=False)
    df = read_manifest(out / "manifest.csv")
    syn = df[df["synthetic"] == "True"].copy()
    syn.attrs = dict(df.attrs)
    train = df[df["synthetic"] == "False"].copy()
    train.attrs = dict(df.attrs)
    test = pd.DataFrame({"image": ["images/0009.png"], "malignant": [True]})
    test.attrs["root"] = str(data)
    with pytest.raises(InputError, match=r"^synthetic: 1 synthetic image\(s\) were generated from held-out test "
                                         r"images \(source_image 'images/0009.png'\)"):
        check_test_isolation(train=train, val=None, test=test, synthetic=syn)
