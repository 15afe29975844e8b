"""The training-time cheap fixes: cell weights, Group DRO's weights, the colour augmentations, and
train_classifier recording which it used."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from fairskin.errors import InputError  # noqa: E402
from fairskin.train import train_classifier  # noqa: E402
from fairskin.train._fairness import GroupDRO, RetoneBank, cell_weights, ita_jitter, row_groups  # noqa: E402


def test_row_groups_use_the_human_group_then_the_type_and_keep_unknowns():
    df = pd.DataFrame({"fst_group_human": ["V-VI", None, None, None], "fst_human": [None, 2, None, None],
                       "fst": [None, None, 4, None]})
    assert row_groups(df).tolist() == ["V-VI", "I-II", "III-IV", ""]


def test_cell_weights_are_inverse_frequencies_with_mean_one():
    g = np.array(["I-II"] * 6 + ["V-VI"] * 2)
    d = np.array(["nevus"] * 4 + ["melanoma"] * 2 + ["nevus", "melanoma"])
    w, cells = cell_weights(g, d)
    assert cells == {"I-II x melanoma": 2, "I-II x nevus": 4, "V-VI x melanoma": 1, "V-VI x nevus": 1}
    assert w.mean() == pytest.approx(1.0)
    # each cell gets the same total weight
    totals = pd.Series(w).groupby([f"{a} x {b}" for a, b in zip(g, d)]).sum()
    np.testing.assert_allclose(totals.to_numpy(), totals.iloc[0])


def test_group_dro_moves_weight_to_the_worst_group():
    dro = GroupDRO(3, step=0.5)
    ce = torch.tensor([0.1, 0.1, 2.0, 2.0, 0.5])
    g = torch.tensor([0, 0, 1, 1, 2])
    w = torch.ones(5)
    loss = dro.loss(ce, g, w)
    q = dro.q
    expect = np.exp(0.5 * np.array([0.1, 2.0, 0.5])) / np.exp(0.5 * np.array([0.1, 2.0, 0.5])).sum()
    np.testing.assert_allclose(q.numpy(), expect, rtol=1e-6)
    assert float(loss) == pytest.approx(float((torch.tensor(expect) * torch.tensor([0.1, 2.0, 0.5])).sum()), rel=1e-5)
    # a group absent from the batch keeps its weight (before renormalising)
    dro.loss(torch.tensor([1.0]), torch.tensor([0]), torch.ones(1))
    assert dro.q[1] / dro.q[2] == pytest.approx(q[1] / q[2])


def test_ita_jitter_shifts_lightness_within_its_range_and_is_seeded():
    from fairskin.skintone import srgb_to_lab

    x = torch.full((3, 8, 8), 150, dtype=torch.uint8)
    a = ita_jitter(x, np.random.default_rng(1))
    b = ita_jitter(x, np.random.default_rng(1))
    assert torch.equal(a, b) and not torch.equal(a, x)
    dl = srgb_to_lab(a.permute(1, 2, 0).numpy())[..., 0].mean() - srgb_to_lab(x.permute(1, 2, 0).numpy())[..., 0].mean()
    assert abs(dl) <= 15.0 + 0.5


def test_retone_bank_changes_the_skin_and_leaves_the_lesion(demo_data):
    from fairskin.audits.classifier import CounterfactualConfig, retone_many
    from fairskin.data import load_rgb, read_dataset

    df = read_dataset(demo_data).iloc[:3]
    imgs = np.stack([load_rgb(demo_data / p).rgb[::2, ::2] for p in df["image"]])
    images = torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()
    types = df["fst_true"].to_numpy(int)  # the phantoms' own types: their re-toned versions go to the other five
    bank = RetoneBank(images, types)
    assert bank.summary()["retoned_versions"] > 0
    for i in range(3):
        v = bank.versions[i]
        if v is None:
            continue
        lesion = retone_many(imgs[i], [2], config=CounterfactualConfig(correction_rounds=0))[0].lesion
        for k in range(len(v)):
            got = v[k].permute(1, 2, 0).numpy()
            assert (got[lesion] == imgs[i][lesion]).all()  # the lesion is copied unchanged
            assert (got[~lesion] != imgs[i][~lesion]).any()  # the skin is re-toned
    assert RetoneBank(images, types).versions is bank.versions  # the next seed reuses it


@pytest.mark.parametrize("opts,key", [({"group_balance": "reweight"}, "cells"), ({"group_balance": "resample"}, "cells"),
                                      ({"group_dro": True}, "dro_final_q"), ({"augment": "ita_jitter"}, None)])
def test_train_classifier_records_the_cheap_fix(demo_data, tmp_path, opts, key):
    res = train_classifier(demo_data, out=tmp_path / "m.pt", arch="test_resnet", epochs=1, image_size=32,
                           batch_size=16, seed=1, **opts)
    rec = json.loads((tmp_path / "m.pt.json").read_text())["training"]["mitigation"]
    assert rec == res.metadata["training"]["mitigation"]
    for k, v in opts.items():
        assert rec[k] == v
    if key:
        assert key in rec and sum(rec[key].values()) > 0
    if opts.get("augment") == "ita_jitter":
        assert "CIELAB jitter" in res.metadata["training"]["augmentation"]


@pytest.mark.parametrize("opts,msg", [({"group_balance": "oversample"}, "group_balance: expected one of none, "
                                       "reweight, resample, got 'oversample'"),
                                      ({"augment": "hue"}, "augment: expected one of none, retone, ita_jitter, got 'hue'"),
                                      ({"dro_step": 0}, "dro_step: expected a positive number, got 0")])
def test_bad_cheap_fix_options_are_refused(demo_data, tmp_path, opts, msg):
    with pytest.raises(InputError) as e:
        train_classifier(demo_data, out=tmp_path / "m.pt", arch="test_resnet", epochs=1, image_size=32, **opts)
    assert str(e.value) == msg
