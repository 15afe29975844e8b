import json

import pandas as pd
import pytest

from fairskin.errors import InputError
from fairskin.pipeline import run_demo


def test_demo_refuses_a_test_set_too_small_before_writing(tmp_path):
    with pytest.raises(InputError, match="n_test: expected at least 6"):
        run_demo(tmp_path / "demo", n=120, n_test=3, log=lambda *a: None)
    assert not (tmp_path / "demo").exists()


@pytest.mark.slow
def test_demo_runs_the_whole_loop(tmp_path):
    # a step count, not minutes: a minute budget trains less on a busy machine, and the gate then
    # rejected every image and the loop stopped after balance (seen with both CI workers busy)
    run = run_demo(tmp_path / "demo", n=120, train_minutes=None, train_steps=500, experiment_seeds=1, progress=False,
                   log=lambda *a: None)
    stages = [s for s, _ in run.steps]
    assert stages[:9] == ["demo-data", "demo test data", "label", "label report", "balance", "balance report",
                          "synthetic audit", "synthetic report", "experiment"]
    exp = json.loads((tmp_path / "demo" / "experiment" / "experiment.json").read_text())
    assert [c["candidate"] for c in exp["statistics"]["comparisons"]] == ["mixed"]
    # the classifier is audited on the separate test set (60 = n // 2 phantoms, every type equally likely), which the
    # generator never saw: every test image is in demo/test-data
    assert exp["data"]["test"] == str(tmp_path / "demo" / "test-data")
    assert exp["data"]["n_test"] + exp["data"]["n_test_unscored"] == 60
    test_meta = pd.read_csv(tmp_path / "demo" / "test-data" / "ddi_metadata.csv")
    assert len(test_meta) == 60 and set(test_meta["fst_true"]) == set(range(1, 7))
    # the generator trained on the classifier's training split alone: not its validation images either
    splits = pd.read_csv(tmp_path / "demo" / "experiment" / "splits.csv")
    n_train = int((splits["split"] == "train").sum())
    assert 0 < n_train < 120 and (splits["split"] == "val").any()
    cond = json.loads(next((tmp_path / "demo" / "balanced").rglob("conditioning.json")).read_text())
    assert cond["train"]["n_images"] == n_train
    manifest = pd.read_csv(tmp_path / "demo" / "balanced" / "manifest.csv")
    syn = manifest[manifest["synthetic"] == True]  # noqa: E712
    assert len(syn) > 0 and syn["seed"].notna().all() and syn["prompt"].notna().all()
    bal = json.loads((tmp_path / "demo" / "balance.json").read_text())
    fst56 = [s for s in bal["shares"] if s["set"] == "fst56"][0]
    assert abs(fst56["achieved"] - 0.25) <= 0.02
    for f in ("label-report.html", "balance-report.html", "synthetic-report.html"):
        assert (tmp_path / "demo" / f).stat().st_size > 10_000
