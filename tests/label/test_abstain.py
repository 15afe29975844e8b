"""Abstention: a photo the estimator cannot read (a cut-out lesion on white or black, too little skin)
gets no type, status and a reason, the summary counts it, and --no-abstain gives a type anyway; the
learned estimator end to end through the command line (fit-estimator, label --estimator model.json)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.cli import main
from fairskin.label import ItaEstimator, lab_to_srgb, label_dataset

CENTRES = {1: 60.0, 2: 45.0, 3: 32.0, 4: 22.0, 5: 12.0, 6: -5.0}


def skin(ita: float, size=96, seed=0, L=None) -> np.ndarray:
    """Textured skin of a given ITA (b* 18 unless ``L`` is given), 8-bit sRGB."""
    rng = np.random.default_rng(seed)
    b = 18.0
    L = 50 + b * np.tan(np.radians(ita)) if L is None else L
    lab = np.zeros((size, size, 3), np.float32)
    lab[..., 0] = L + rng.normal(0, 1.0, (size, size))
    lab[..., 1] = 11.0 + rng.normal(0, 0.8, (size, size))
    lab[..., 2] = b + rng.normal(0, 0.8, (size, size))
    return (np.clip(lab_to_srgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)


def cut_out(background: int, size=96) -> np.ndarray:
    """A lesion with a thin rim of skin pasted on a uniform background (the figures and
    segmentation cut-outs found among copies of PAD-UFES-20)."""
    img = np.full((size, size, 3), background, np.uint8)
    yy, xx = np.ogrid[:size, :size]
    blob = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.3) ** 2
    img[blob] = skin(30.0, size)[blob]
    return img


@pytest.mark.parametrize("background, word", [(255, "clipped"), (0, "near-black")])
def test_cut_out_gets_no_type_and_a_reason(background, word):
    est = ItaEstimator(abstain=True).estimate_rgb(cut_out(background))
    assert est.status == "unreliable" and est.tone is None and word in est.reason
    plain = ItaEstimator().estimate_rgb(cut_out(background))  # the library's default (the balance gate) reads it
    assert plain.status == "ok" and plain.tone is not None


def test_plain_skin_photo_is_read():
    est = ItaEstimator(abstain=True).estimate_rgb(skin(CENTRES[3]))
    assert est.status == "ok" and est.tone == 3 and est.reason == ""


def test_under_exposed_skin_is_not_read():
    est = ItaEstimator(abstain=True).estimate_rgb(skin(0, L=13.0))  # below the darkest Monk swatch
    assert est.status == "unreliable" and "under-exposed" in est.reason


def test_the_darkest_skin_is_not_taken_for_under_exposure():
    # L* 16-20: the darkest Monk swatches (MST 10 is L* 15.5); abstaining there would starve type VI
    for L in (16.0, 20.0):
        est = ItaEstimator(abstain=True).estimate_rgb(skin(-60, L=L))
        assert est.status == "ok" and est.tone == 6, (L, est.status, est.reason)


def _pad_folder(root, n=48, seed=0):
    """A PAD-UFES-20-layout folder: one photo per patient, skin of its type's ITA plus noise, and a cut-out."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        t = int(rng.choice([1, 2, 3, 4, 5], p=[0.2, 0.3, 0.25, 0.15, 0.1]))
        name = f"PAT_{i}_{i}_{i}.png"
        Image.fromarray(skin(CENTRES[t] + rng.normal(0, 3), seed=i)).save(root / "images" / name)
        rows.append({"patient_id": f"PAT_{i}", "lesion_id": i, "fitspatrick": float(t), "diagnostic": "NEV",
                     "img_id": name, "biopsed": False})
    Image.fromarray(cut_out(255)).save(root / "images" / "PAT_999_1_1.png")
    rows.append({"patient_id": "PAT_999", "lesion_id": 999, "fitspatrick": "", "diagnostic": "NEV",
                 "img_id": "PAT_999_1_1.png", "biopsed": False})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


def test_label_summary_counts_abstentions_and_no_abstain_gives_a_type(tmp_path):
    data = _pad_folder(tmp_path / "pad")
    res = label_dataset(data, out=tmp_path / "l.csv", progress=False, n_boot=0)
    row = res.labels[res.labels["image"].str.contains("PAT_999")].iloc[0]
    assert row["status"] == "unreliable" and pd.isna(row["fst"]) and "clipped" in row["reason"]
    c = res.summary["counts"]
    assert c["abstained"] == 1 and c["abstained_by_reason"] == {"clipped white": 1} and c["labelled"] == 48
    anyway = label_dataset(data, out=tmp_path / "m.csv", progress=False, n_boot=0, abstain=False)
    row = anyway.labels[anyway.labels["image"].str.contains("PAT_999")].iloc[0]
    assert row["status"] == "ok" and not pd.isna(row["fst"])


def test_fit_estimator_and_label_with_it(tmp_path, capsys):
    data = _pad_folder(tmp_path / "pad")
    model = tmp_path / "model.json"
    assert main(["fit-estimator", str(data), "--out", str(model), "--keep", "0.9"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "cross-validated" in out and "grouped by patient" in out
    saved = json.loads(model.read_text())
    assert saved["cross_validated"]["kappa"] > 0.6  # the type is in the colour here: the held-out folds find it
    assert main(["fit-estimator", str(data), "--out", str(model)]) == 2  # never replaced without --overwrite
    capsys.readouterr()
    labels = tmp_path / "l.csv"
    assert main(["label", str(data), "--estimator", str(model), "--out", str(labels), "--json",
                 str(tmp_path / "l.json"), "-q"]) == 0
    df = pd.read_csv(labels)
    assert {f"p_fst{k}" for k in range(1, 7)} <= set(df.columns)
    cut = df[df["image"].str.contains("PAT_999")].iloc[0]
    assert cut["status"] == "unreliable" and pd.isna(cut["fst"])
    summary = json.loads((tmp_path / "l.json").read_text())
    assert summary["label_confusion"]["cross_validated"] is True  # from the fit, not in-sample
    assert summary["counts"]["abstained"] >= 1
