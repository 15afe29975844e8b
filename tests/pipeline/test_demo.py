import json

import pandas as pd
import pytest

from fairskin.pipeline import run_demo


@pytest.mark.slow
def test_demo_runs_the_whole_loop(tmp_path):
    run = run_demo(tmp_path / "demo", n=120, train_minutes=0.3, experiment_seeds=1, progress=False,
                   log=lambda *a: None)
    stages = [s for s, _ in run.steps]
    assert stages[:8] == ["demo-data", "label", "label report", "balance", "balance report", "synthetic audit",
                          "synthetic report", "experiment"]
    exp = json.loads((tmp_path / "demo" / "experiment" / "experiment.json").read_text())
    assert [c["candidate"] for c in exp["statistics"]["comparisons"]] == ["mixed"]
    manifest = pd.read_csv(tmp_path / "demo" / "balanced" / "manifest.csv")
    syn = manifest[manifest["synthetic"] == True]  # noqa: E712
    assert len(syn) > 0 and syn["seed"].notna().all() and syn["prompt"].notna().all()
    bal = json.loads((tmp_path / "demo" / "balance.json").read_text())
    fst56 = [s for s in bal["shares"] if s["set"] == "fst56"][0]
    assert abs(fst56["achieved"] - 0.25) <= 0.02
    for f in ("label-report.html", "balance-report.html", "synthetic-report.html"):
        assert (tmp_path / "demo" / f).stat().st_size > 10_000
