"""Abstention: a photo the estimator cannot read (a cut-out lesion on white or black, too little skin)
gets no type, status and a reason, the summary counts it, and --no-abstain gives a type anyway; the
learned estimator end to end through the command line (fit-estimator, label --estimator model.json)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fairskin.cli import main
from fairskin.label import ItaEstimator, label_dataset


@pytest.mark.parametrize("background, word", [(255, "clipped"), (0, "near-black")])
def test_cut_out_gets_no_type_and_a_reason(background, word, photos):
    est = ItaEstimator(abstain=True).estimate_rgb(photos.cut_out(background))
    assert est.status == "unreliable" and est.tone is None and word in est.reason
    plain = ItaEstimator().estimate_rgb(photos.cut_out(background))  # the library's default (the balance gate) reads it
    assert plain.status == "ok" and plain.tone is not None


def test_plain_skin_photo_is_read(photos):
    est = ItaEstimator(abstain=True).estimate_rgb(photos.skin(photos.CENTRES[3]))
    assert est.status == "ok" and est.tone == 3 and est.reason == ""


def test_under_exposed_skin_is_not_read(photos):
    est = ItaEstimator(abstain=True).estimate_rgb(photos.skin(0, L=13.0))  # below the darkest Monk swatch
    assert est.status == "unreliable" and "under-exposed" in est.reason


def test_the_darkest_skin_is_not_taken_for_under_exposure(photos):
    # L* 16-20: the darkest Monk swatches (MST 10 is L* 15.5); abstaining there would starve type VI
    for L in (16.0, 20.0):
        est = ItaEstimator(abstain=True).estimate_rgb(photos.skin(-60, L=L))
        assert est.status == "ok" and est.tone == 6, (L, est.status, est.reason)


def test_label_summary_counts_abstentions_and_no_abstain_gives_a_type(tmp_path, photos):
    data = photos.pad_folder(tmp_path / "pad")
    res = label_dataset(data, out=tmp_path / "l.csv", progress=False, n_boot=0)
    row = res.labels[res.labels["image"].str.contains("PAT_999")].iloc[0]
    assert row["status"] == "unreliable" and pd.isna(row["fst"]) and "clipped" in row["reason"]
    c = res.summary["counts"]
    assert c["abstained"] == 1 and c["abstained_by_reason"] == {"clipped white": 1} and c["labelled"] == 48
    anyway = label_dataset(data, out=tmp_path / "m.csv", progress=False, n_boot=0, abstain=False)
    row = anyway.labels[anyway.labels["image"].str.contains("PAT_999")].iloc[0]
    assert row["status"] == "ok" and not pd.isna(row["fst"])


def test_fit_estimator_and_label_with_it(tmp_path, capsys, photos):
    data = photos.pad_folder(tmp_path / "pad")
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
