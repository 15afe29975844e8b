"""label_dataset end to end: outputs, resume after a crash, workers, no silent overwrite."""

import json

import numpy as np
import pandas as pd
import pytest

import fairskin.label._run as run
from fairskin.cli import main
from fairskin.errors import InputError
from fairskin.label._run import LABEL_COLUMNS, label_dataset


def test_labels_csv_and_summary(demo_data, tmp_path):
    res = label_dataset(demo_data, out=tmp_path / "labels.csv", json_path=tmp_path / "s.json", progress=False, n_boot=100)
    df = pd.read_csv(tmp_path / "labels.csv")
    assert list(df.columns[: len(LABEL_COLUMNS)]) == LABEL_COLUMNS
    assert len(df) == 120 and (df["status"] == "ok").all()
    assert df["image"].str.startswith("images/").all()
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["schema"] == "fairskin.label/1"
    assert s["truth"]["ita_within_3"] >= 0.95 and s["truth"]["fst_exact"] >= 0.9
    assert s["agreement"]["level"] == "group" and s["agreement"]["n"] == 120
    assert sum(s["fst_distribution"]["estimated"].values()) == s["counts"]["labelled"] == 120
    assert res.summary["scale"]["name"] == "kinyanjui_fst"
    assert not (tmp_path / "labels.csv.partial").exists()


def test_resume_after_crash_redoes_nothing(demo_data, tmp_path, monkeypatch):
    out = tmp_path / "labels.csv"
    calls = {"n": 0}
    real = run._label_one

    def crashing(task):
        calls["n"] += 1
        if calls["n"] > 50:
            raise KeyboardInterrupt  # the machine goes down mid-run
        return real(task)

    monkeypatch.setattr(run, "_label_one", crashing)
    with pytest.raises(KeyboardInterrupt):
        label_dataset(demo_data, out=out, progress=False, n_boot=0)
    assert not out.exists()
    partial = out.with_name("labels.csv.partial")
    assert len(pd.read_csv(partial)) == 50
    with open(partial, "a") as fh:  # a torn line, as a crash mid-write leaves
        fh.write("images/000099.png,12.3")
    seen = []
    monkeypatch.setattr(run, "_label_one", lambda t: (seen.append(t[0]), real(t))[1])
    res = label_dataset(demo_data, out=out, progress=False, n_boot=0)
    assert len(seen) == 70 and res.summary["run"]["resumed_from_previous_run"] == 50
    clean = label_dataset(demo_data, out=tmp_path / "clean.csv", progress=False, n_boot=0)
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(tmp_path / "clean.csv"))
    assert clean.summary["counts"] == res.summary["counts"]


def test_resume_refuses_other_settings(demo_data, tmp_path):
    out = tmp_path / "labels.csv"
    out.with_name("labels.csv.partial").write_text("image,status\n")
    out.with_name("labels.csv.partial.json").write_text(json.dumps({"config": "other"}))
    with pytest.raises(InputError, match="is an unfinished run with other settings"):
        label_dataset(demo_data, out=out, progress=False)


def test_workers_give_identical_results(demo_data, tmp_path):
    a = label_dataset(demo_data, out=tmp_path / "a.csv", workers=1, progress=False, n_boot=0).labels
    b = label_dataset(demo_data, out=tmp_path / "b.csv", workers=2, progress=False, n_boot=0).labels
    pd.testing.assert_frame_equal(a, b)


def test_existing_output_is_not_overwritten(demo_data, tmp_path):
    out = tmp_path / "labels.csv"
    out.write_text("precious")
    with pytest.raises(InputError, match="already exists; pass overwrite=True"):
        label_dataset(demo_data, out=out, progress=False)
    assert out.read_text() == "precious"


def test_bad_rows_reported_and_run_goes_on(demo_data, tmp_path):
    import shutil

    data = tmp_path / "d"
    shutil.copytree(demo_data, data)
    (data / "images" / "000001.png").write_bytes(b"")
    (data / "images" / "000002.png").unlink()
    (data / "images" / "000003.png").write_bytes((data / "images" / "000004.png").read_bytes()[:300])
    res = label_dataset(data, out=tmp_path / "l.csv", progress=False, n_boot=0)
    st = res.labels.set_index("image")["status"]
    assert st["images/000001.png"] == "unreadable" and st["images/000003.png"] == "unreadable"
    assert st["images/000002.png"] == "missing"
    assert res.summary["counts"]["by_status"] == {"ok": 117, "unreadable": 2, "missing": 1}
    assert {r["image"] for r in res.summary["bad_rows"]} == {"images/000001.png", "images/000002.png", "images/000003.png"}


def test_user_masks_directory(pad_sample, tmp_path):
    res = label_dataset(pad_sample, out=tmp_path / "l.csv", masks=pad_sample / "masks", progress=False, n_boot=0)
    assert (res.labels["status"] == "ok").sum() + (res.labels["status"] == "no_skin").sum() == 61
    assert res.labels["reason"].where(res.labels["status"] != "ok", "x").ne("").all()


def test_calibrate_writes_scale_and_cross_validates(pad_sample, tmp_path):
    res = label_dataset(pad_sample, out=tmp_path / "l.csv", calibrate=True, progress=False, n_boot=50)
    scale_file = tmp_path / "l_scale.csv"
    assert scale_file.exists()
    assert res.labels.loc[res.labels["status"] == "ok", "scale"].eq("calibrated_l").all()
    cal = res.summary["calibration"]
    assert cal["agreement_cross_validated"]["n"] == 46
    # the saved scale works in a later run
    again = label_dataset(pad_sample, out=tmp_path / "m.csv", scale=scale_file, progress=False, n_boot=0)
    np.testing.assert_array_equal(again.labels["fst"].to_numpy(), res.labels["fst"].to_numpy())


def test_cli_label_and_errors(demo_data, tmp_path, capsys):
    assert main(["label", str(demo_data), "--out", str(tmp_path / "l.csv"), "--json", str(tmp_path / "l.json"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "120 of 120 images labelled" in out and "Against the phantoms' known answer" in out
    assert main(["label", str(tmp_path / "nope"), "--out", str(tmp_path / "x.csv"), "-q"]) == 2
    assert f"DATA: directory not found: {tmp_path / 'nope'}" in capsys.readouterr().err.replace("\n", "")
    assert main(["label", str(demo_data), "--out", str(tmp_path / "y.csv"), "--scale", "chardn", "-q"]) == 2
    assert "Did you mean 'chardon'?" in capsys.readouterr().err.replace("\n", "")


def test_label_works_without_generation_extras(demo_data, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('diffusers', 'peft', 'transformers', 'accelerate', 'torch'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (blocked by the test)')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from fairskin.cli import main\n"
        f"sys.exit(main(['label', {str(demo_data)!r}, '--out', {str(tmp_path / 'l.csv')!r}, '-q']))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
