"""A real two-process ``accelerate launch`` of ``fairskin balance`` (CPU, gloo): the plan is split
across the processes without overlap, and rank 0 merges one manifest."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("accelerate")


@pytest.mark.slow
def test_accelerate_launch_two_processes(small_demo, small_labels, tiny_conditioning, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
           "-m", "fairskin", "balance", str(small_demo), "--labels", str(small_labels), "--target", "fst56=0.5",
           "--conditioning", str(tiny_conditioning), "--steps", "2", "--tolerance", "6", "--max-attempts", "1",
           "--batch-size", "4", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("ITA gate per cell") == 1 and "its share of the plan is done" in proc.stdout
    a0, a1 = (pd.read_csv(out / f"attempts-{r}.csv") for r in (0, 1))
    assert len(a0) and len(a1), "each process generated part of the plan"
    assert not set(a0["slot"]) & set(a1["slot"])
    plan = pd.read_csv(out / "plan.csv")
    m = pd.read_csv(out / "manifest.csv")
    assert len(a0) + len(a1) == int(plan["generate"].sum()) == int(m["synthetic"].sum())
    assert m.loc[m["synthetic"], "image"].is_unique


def test_several_processes_do_not_each_train_a_conditioning(small_demo, small_labels, tmp_path, monkeypatch):
    from fairskin.balance import _run
    from fairskin.balance._run import balance
    from fairskin.errors import InputError

    monkeypatch.setattr(_run, "_process_split", lambda: (0, 2))
    with pytest.raises(InputError, match="train it once first"):
        balance(small_demo, out=tmp_path, labels=small_labels, target="fst56=0.5")
