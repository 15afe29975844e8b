"""The balance and train-conditioning commands are thin: options reach the library unchanged."""

from __future__ import annotations

import json

from fairskin.cli import main


def test_balance_dry_run_cli(small_demo, small_labels, tmp_path, capsys):
    rc = main(["balance", str(small_demo), "--labels", str(small_labels), "--target", "fst56=0.5", "--out",
               str(tmp_path), "--dry-run"])
    assert rc == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "V-VI: " in out and "(target 50.0%)" in out and "dry run: nothing generated" in out
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["target"] == "fst56=0.5" and plan["max_per_real"] == 2.0


def test_balance_cli_error_is_exact(small_demo, small_labels, tmp_path, capsys):
    rc = main(["balance", str(small_demo), "--labels", str(small_labels), "--target", "fst56=1.5", "--out",
               str(tmp_path), "--dry-run"])
    assert rc == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "share 1.5 in 'fst56=1.5' must be greater than 0 and less than 1" in err


def test_train_conditioning_cli(small_demo, small_labels, tmp_path, capsys):
    rc = main(["train-conditioning", str(small_demo), "--labels", str(small_labels), "--out", str(tmp_path),
               "--steps", "2", "--vae-steps", "1", "--batch-size", "4", "--lr-schedule", "constant", "--ema-decay", "0",
               "--type-sampling", "natural"])
    assert rc == 0
    assert "trained 2 steps" in " ".join(capsys.readouterr().out.split())
    cfg = json.loads((tmp_path / "conditioning.json").read_text())
    assert cfg["train"]["steps_done"] == 2 and cfg["train"]["batch_size"] == 4
    assert (cfg["train"]["lr_schedule"], cfg["train"]["ema_decay"], cfg["train"]["type_sampling"]) == ("constant", 0.0, "natural")
    assert cfg["train"]["tone"] and sorted(cfg["tone"]["requests"]) == [str(k) for k in range(1, 7)]
