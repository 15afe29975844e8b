"""The demo's last step on saved runs: the baseline gap read from each seed's audit, the audit of
both arms, and index.html (without training anything)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from fairskin.pipeline import audit_arms, demo_context
from fairskin.reports import render_audit_report


def _runs(tmp_path, arms=("real", "mixed"), seeds=2, n=180):
    from fairskin.audits.classifier import audit_predictions

    rng = np.random.default_rng(0)
    fst = np.repeat(np.arange(1, 7), n // 6)
    label = (rng.random(n) < 0.4).astype(int)
    for a, arm in enumerate(arms):
        for s in range(seeds):
            # dark skin (V-VI) scored worse by the baseline: the audit should find the gap
            noise = np.where(fst >= 5, 1.2 - 0.6 * a, 0.3)
            score = 1 / (1 + np.exp(-(2 * label - 1) * 1.5 + rng.normal(0, 1, n) * noise * 2))
            pred = pd.DataFrame({"image": [f"images/{i}.png" for i in range(n)], "score": score, "label": label,
                                 "fst": fst, "diagnosis": ""})
            d = tmp_path / "runs" / arm / f"seed-{s}"
            d.mkdir(parents=True)
            pred.to_csv(d / "predictions.csv", index=False)
            audit_predictions(pred, n_boot=200, seed=0, name=f"{arm}/seed-{s}").to_json(d / "audit.json")
    return tmp_path


def test_context_reads_each_seeds_gap_and_the_synthetic_flags(tmp_path):
    exp = _runs(tmp_path / "experiment")
    doc = {"baseline": "real", "config": {"seeds": 2}, "statistics": {"arms": {"real": {}, "mixed": {}}}}
    syn = {"cells": [{"fst": "5", "diagnosis": "melanoma", "mode_collapse": True},
                     {"fst": "6", "diagnosis": None, "mode_collapse": False}]}
    bal = {"counts": {"attempts": 90, "synthetic_accepted": 60, "rejected": 30}}
    ctx = demo_context(exp, doc, balance=bal, synthetic=syn)
    seeds = ctx["baseline_gap"]["seeds"]
    assert [s["seed"] for s in seeds] == [0, 1]
    for s in seeds:
        saved = json.loads((exp / "runs" / "real" / f"seed-{s['seed']}" / "audit.json").read_text())
        pair = next(f for f in saved["models"][0]["fairness"] if f["name"] == "auroc_gap" and f["method"] == "pair")
        assert s["value"] == pair["value"] and s["evidence"] == pair["evidence"] and s["reading"] == pair["reading"]
    assert ctx["synthetic_audit"] == {"cells": 2, "mode_collapse": 1, "report": "synthetic-report.html",
                                      "mode_collapse_cells": ["V / melanoma"]}
    assert (ctx["synthetic_origin"]["generated"], ctx["synthetic_origin"]["accepted"]) == (90, 60)


def test_audit_of_both_arms_compares_them(tmp_path):
    exp = _runs(tmp_path / "experiment", seeds=1)
    doc = {"baseline": "real", "statistics": {"arms": {"mixed": {}, "real": {}}}}
    audit = audit_arms(exp, doc, n_boot=200)
    assert [m["name"] for m in audit["models"]] == ["real images only (seed 0)", "real + synthetic (seed 0)"]
    assert [(c["baseline"], c["candidate"]) for c in audit["comparisons"]] == [
        ("real images only (seed 0)", "real + synthetic (seed 0)")]
    html = render_audit_report(audit, tmp_path / "audit-report.html").read_text()
    assert 'id="comparison-0"' in html and 'id="m1-metrics"' in html
