"""The Monk Skin Tone estimator against the published reference colours: an image filled with
swatch k is MST k with high confidence, one between two swatches is either with about even odds;
fairskin label --estimator monk writes the mst column and states the 1-3 / 4-7 / 8-10 groups."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.cli import main
from fairskin.errors import InputError
from fairskin.label import MonkEstimator, estimate_tone_image, get_estimator, label_dataset
from fairskin.label._run import label_columns
from fairskin.skintone import MONK_SWATCHES, lab_to_srgb


def swatch_rgb(k: int, size: int = 96) -> np.ndarray:
    h = MONK_SWATCHES.hex[k - 1]
    return np.full((size, size, 3), [int(h[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)


def lab_image(lab, size: int = 96) -> np.ndarray:
    return np.full((size, size, 3), np.round(lab_to_srgb(np.asarray(lab)) * 255), np.uint8)


@pytest.mark.parametrize("k", range(1, 11))
def test_a_swatch_is_labelled_as_itself(k):
    est = get_estimator("monk").estimate_rgb(swatch_rgb(k))
    assert est.status == "ok" and est.mst == k and est.delta_e < 0.5
    assert est.confidence >= (0.9 if k <= 2 else 0.99)  # MST 1 and 2 are 2.7 Delta E apart
    assert est.mst_group == ("1-3" if k <= 3 else "4-7" if k <= 7 else "8-10")


@pytest.mark.parametrize("k", range(1, 10))
def test_between_two_swatches_confidence_is_lower(k):
    m = get_estimator("monk")
    mid = m.estimate_rgb(lab_image((MONK_SWATCHES.lab[k - 1] + MONK_SWATCHES.lab[k]) / 2))
    ends = [m.estimate_rgb(swatch_rgb(j)).confidence for j in (k, k + 1)]
    assert mid.mst in (k, k + 1) and mid.confidence < 0.75 and mid.confidence < min(ends)


def test_lesion_and_size_do_not_change_the_tone():
    m = get_estimator("monk")
    rgb = swatch_rgb(6, size=256)
    rgb[90:170, 90:170] = (70, 30, 40)  # a dark red lesion in the middle
    est = m.estimate_rgb(rgb)
    assert est.mst == 6 and est.delta_e < 1.0
    assert m.estimate_rgb(swatch_rgb(6, size=600)).mst == 6


def test_no_skin_is_a_status_with_a_reason():
    est = get_estimator("monk").estimate_rgb(np.full((96, 96, 3), (40, 90, 200), np.uint8))  # a blue drape
    assert est.status == "no_skin" and est.mst is None and "healthy skin" in est.reason


def test_monk_refuses_an_ita_scale():
    with pytest.raises(InputError, match="scale='chardon': ITA cut-point scales apply to estimator='ita'"):
        get_estimator("monk", scale="chardon")


@pytest.fixture(scope="module")
def swatch_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("swatches")
    for k in range(1, 11):
        for r in range(2):
            Image.fromarray(swatch_rgb(k, size=80 + 16 * r)).save(root / f"mst{k:02d}_{r}.png")
    Image.fromarray(np.full((80, 80, 3), (40, 90, 200), np.uint8)).save(root / "drape.png")
    return root


def test_label_dataset_with_monk(swatch_folder, tmp_path):
    res = label_dataset(swatch_folder, out=tmp_path / "l.csv", json_path=tmp_path / "l.json", estimator="monk",
                        progress=False, n_boot=0)
    df = pd.read_csv(tmp_path / "l.csv")
    assert list(df.columns) == label_columns(MonkEstimator())
    ok = df[df["status"] == "ok"]
    truth = ok["image"].str.extract(r"mst(\d\d)_")[0].astype(int)
    assert len(ok) == 20 and (ok["mst"] == truth).all() and (ok["scale"] == "monk_skin_tone").all()
    assert df.set_index("image").at["drape.png", "status"] == "no_skin"
    s = json.loads((tmp_path / "l.json").read_text())
    assert s["estimator"] == {"name": "monk", "tone_scale": "monk", "column": "mst",
                              "groups": {"1-3": [1, 2, 3], "4-7": [4, 5, 6, 7], "8-10": [8, 9, 10]},
                              "grouping": "1-3 / 4-7 / 8-10"}
    assert s["tone_distribution"]["estimated"] == {str(k): 2 for k in range(1, 11)}
    assert s["tone_distribution"]["groups"] == {"1-3": 6, "4-7": 8, "8-10": 6}
    assert s["scale"]["swatches"] == list(MONK_SWATCHES.hex) and "skintone.google" in s["scale"]["source"]
    assert s["counts"]["labelled"] == 20 and res.summary["counts"]["by_status"] == {"ok": 20, "no_skin": 1}


def test_resume_refuses_another_estimator(swatch_folder, tmp_path, monkeypatch):
    import fairskin.label._run as run

    out = tmp_path / "l.csv"
    calls = {"n": 0}
    real = run._label_one

    def crashing(task):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(run, "_label_one", crashing)
    with pytest.raises(KeyboardInterrupt):
        label_dataset(swatch_folder, out=out, estimator="monk", progress=False, n_boot=0)
    monkeypatch.setattr(run, "_label_one", real)
    with pytest.raises(InputError, match="is an unfinished run with other settings"):
        label_dataset(swatch_folder, out=out, estimator="ita", progress=False, n_boot=0)
    res = label_dataset(swatch_folder, out=out, estimator="monk", progress=False, n_boot=0)
    assert res.summary["run"]["resumed_from_previous_run"] == 5


def test_cli_label_estimator_monk(swatch_folder, tmp_path, capsys):
    assert main(["label", str(swatch_folder), "--estimator", "monk", "--out", str(tmp_path / "l.csv"),
                 "--html", str(tmp_path / "r.html"), "-q"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "20 of 21 images labelled with scale monk_skin_tone" in out
    assert "groups (1-3 / 4-7 / 8-10): 1-3 6 (30.0%), 4-7 8 (40.0%), 8-10 6 (30.0%)" in out
    html = (tmp_path / "r.html").read_text()
    assert "groups 1-3 / 4-7 / 8-10: 1-3 6 (30.0%), 4-7 8 (40.0%), 8-10 6 (30.0%)" in html
    assert all(f"background:{h}" in html for h in MONK_SWATCHES.hex)
    assert main(["label", str(swatch_folder), "--estimator", "monk", "--scale", "chardon",
                 "--out", str(tmp_path / "m.csv"), "-q"]) == 2
    assert "ITA cut-point scales apply to --estimator ita" in capsys.readouterr().err.replace("\n", " ")
    assert main(["label", str(swatch_folder), "--estimator", "monk", "--calibrate",
                 "--out", str(tmp_path / "n.csv"), "-q"]) == 2
    assert "--calibrate fits ITA cut-points" in capsys.readouterr().err.replace("\n", " ")
    assert main(["label", str(swatch_folder), "--estimator", "mnk", "--out", str(tmp_path / "o.csv"), "-q"]) == 2
    assert "Did you mean 'monk'?" in capsys.readouterr().err.replace("\n", "")


def test_unreadable_file_is_a_row(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"")
    est = estimate_tone_image(bad, get_estimator("monk"))
    assert est.status == "unreadable" and est.mst is None and np.isnan(est.delta_e)


def test_fitzpatrick_stages_say_what_a_monk_labels_csv_is(swatch_folder, tmp_path):
    from fairskin.label import read_labels_csv

    label_dataset(swatch_folder, out=tmp_path / "l.csv", estimator="monk", progress=False, n_boot=0)
    with pytest.raises(InputError, match=r"labels: .*l.csv holds Monk Skin Tone labels \(column 'mst', from "
                                         r"`fairskin label --estimator monk`\); this stage groups images by "
                                         r"Fitzpatrick type"):
        read_labels_csv(tmp_path / "l.csv")
