"""The notebook API: fairskin.audit, fairskin.label and fairskin.balance at the top level, results
with a short repr, a tidy to_frame() and _repr_html_, and ``import fairskin`` that stays light."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import fairskin
from fairskin.notebook import TIDY_COLUMNS


def _predictions(n: int = 600, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fst = rng.integers(1, 7, n)
    y = rng.random(n) < 0.4
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 0.8 * (fst >= 5) * y)))
    return pd.DataFrame({"image": np.arange(n).astype(str), "score": score, "label": y, "fst": fst})


def test_import_fairskin_stays_light():
    code = ("import sys, fairskin; heavy = [m for m in ('pandas', 'numpy', 'torch', 'fairskin.audits', "
            "'fairskin.label') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    assert {"audit", "label", "balance"} <= set(fairskin.__all__)


def test_audit_at_the_top_level_has_a_short_repr_a_tidy_frame_and_html():
    res = fairskin.audit(_predictions(), n_boot=100, seed=0)
    text = repr(res)
    assert len(text) < 1000 and text.startswith("AuditResult(1 model(s), fitzpatrick types, 95% CIs")
    assert "AUROC I " in text and "gaps with evidence:" in text
    f = res.to_frame()
    assert tuple(f.columns) == TIDY_COLUMNS
    # one row per group (6 types, 3 groups, all) x metric, each the number of the JSON
    assert len(f) == 10 * len(res.models[0]["overall"]["metrics"])
    row = f[(f["group"] == "V-VI") & (f["metric"] == "auroc")].iloc[0]
    m = res.group("V-VI")["metrics"]["auroc"]
    assert (row["value"], row["low"], row["high"]) == (m["value"], m["ci_low"], m["ci_high"])
    assert row["low"] <= row["value"] <= row["high"]
    gaps = res.to_frame("gaps")
    assert tuple(gaps.columns) == TIDY_COLUMNS and len(gaps) == len(res.models[0]["fairness"])
    assert gaps["flags"].str.contains("gap|no_evidence|inconclusive|estimate").all()
    html = res._repr_html_()
    assert html.startswith('<div class="fairskin-result"><strong>Audit of ') and "<table" in html
    assert html.count("<tr") == 1 + 6 + 1  # header, six types (the audit's level), all
    with pytest.raises(ValueError, match="kind"):
        res.to_frame("nope")


def test_label_and_balance_are_callable_modules(small_demo, tmp_path):
    from fairskin.label import LabelConfig, label_dataset  # the subpackage still imports as one

    assert fairskin.label.label_dataset is label_dataset and LabelConfig
    res = fairskin.label(small_demo, out=tmp_path / "labels.csv", progress=False, n_boot=0)
    text = repr(res)
    assert text.startswith("LabelResult(ita; 40 of 40 images labelled") and len(text) < 1000
    f = res.to_frame()
    assert tuple(f.columns) == TIDY_COLUMNS
    images = f[f["metric"] == "images"]
    assert images["value"].sum() == res.summary["counts"]["labelled"] == 40
    assert f[f["metric"] == "share"]["value"].sum() == pytest.approx(1.0)
    assert "<table" in res._repr_html_()
    plan = fairskin.balance(small_demo, out=tmp_path / "balanced", labels=tmp_path / "labels.csv", target="fst56=0.5",
                            dry_run=True)
    assert repr(plan).startswith("BalanceResult(plan; dry run") and tuple(plan.to_frame().columns) == TIDY_COLUMNS
    assert "dry run" in plan._repr_html_()


def test_balance_frame_has_one_row_per_cell_and_count(tmp_path):
    from fairskin.balance import BalanceResult

    cells = [{"fst": "5", "diagnosis": "melanoma", "real": 4, "target": 10, "synthetic": 5, "generated": 8,
              "acceptance_rate": 5 / 8},
             {"fst": "6", "diagnosis": "nevus", "real": 3, "target": 6, "synthetic": 3, "generated": 3,
              "acceptance_rate": 1.0}]
    res = BalanceResult(out=tmp_path, plan=None, manifest=tmp_path / "manifest.csv",
                        summary={"generator": {"name": "phantom"}, "cells": cells,
                                 "counts": {"real": 7, "synthetic_accepted": 8, "final": 15, "attempts": 11,
                                            "rejected": 3}, "warnings": ["1 cell(s) short of their target"]})
    f = res.to_frame()
    assert len(f) == 2 * 5 and set(f["group"]) == {"V / melanoma", "VI / nevus"}
    assert f[f["group"] == "V / melanoma"]["flags"].eq("short").all()  # 4 + 5 < 10
    assert f[f["group"] == "VI / nevus"]["flags"].eq("").all()
    assert repr(res).startswith("BalanceResult(phantom; 7 real + 8 synthetic = 15 images (11 attempts, 3 rejected")
    assert "warning: 1 cell(s) short" in res._repr_html_()
