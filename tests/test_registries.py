"""The registries dispatch: a per-group metric and an interval method registered here, inside the
test, reach the audit JSON, the terminal table and the HTML report with no other edit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fairskin.audits.classifier import (
    GROUP_METRICS,
    INTERVALS,
    THRESHOLD_METRICS,
    CI_METHODS,
    Design,
    GroupMetric,
    audit_predictions,
    ratio,
    register_interval,
    register_metric,
    simulate_predictions,
)


@pytest.fixture
def registries():
    """Undo every registration of the test: the registries as they were."""
    saved = [(d, dict(d)) for d in (GROUP_METRICS, INTERVALS, CI_METHODS)]
    yield
    for d, before in saved:
        d.clear()
        d.update(before)


def _toy_interval(case):
    """A plain percentile interval of the bootstrap samples, under its own name."""
    s = np.asarray(case.samples, float)
    s = s[~np.isnan(s)]
    a = (1 - case.level) / 2
    return float(np.quantile(s, a)), float(np.quantile(s, 1 - a))


def test_a_registered_metric_and_interval_reach_json_terminal_and_report(registries, monkeypatch):
    register_interval("toy_percentile", _toy_interval, "percentile of the bootstrap samples, by a test",
                      reference="Efron 1979")
    register_metric(GroupMetric("miss_rate", "miss rate", "FN / (TP + FN): malignant lesions missed",
                                "toy_percentile", from_counts=lambda c: ratio(c["fn"], c["tp"] + c["fn"]),
                                headline=True))
    assert "miss_rate" in THRESHOLD_METRICS  # the views follow the registry

    preds = simulate_predictions(Design(sizes=(60,) * 6), seed=4)
    d = audit_predictions(preds, n_boot=60, seed=2).to_dict()

    # JSON: every group carries it, with the registered interval method, equal to 1 - sensitivity
    assert d["meta"]["ci_methods"]["toy_percentile"] == "percentile of the bootstrap samples, by a test (Efron 1979)"
    assert [m["name"] for m in d["meta"]["metrics"]][-1] == "miss_rate"
    for g in d["models"][0]["groups"] + [d["models"][0]["overall"]]:
        entry, sens = g["metrics"]["miss_rate"], g["metrics"]["sensitivity"]["value"]
        assert math.isclose(entry["value"], 1 - sens, abs_tol=1e-12)
        assert entry["ci_method"] == "toy_percentile"
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]

    # terminal: a headline metric is a column of the per-group table
    from fairskin.cli import console
    from fairskin.cli.audit import print_audit

    monkeypatch.setattr(console, "width", 400)  # one line per table row
    with console.capture() as cap:
        print_audit(d)
    header = next(line for line in cap.get().splitlines() if "malignant" in line and "AUROC" in line)
    assert "miss rate" in header

    # report: a column of every group's metric table, a forest plot, and its definition in the Method section
    from fairskin.reports._audit import build_audit_html

    html = build_audit_html(d)
    overall = d["models"][0]["overall"]["metrics"]["miss_rate"]
    assert html.count('<th scope="col">miss rate</th>') == len(d["models"][0]["groups"]) + 1
    assert f"<td>{overall['value']:.2f}<br><small class=\"ci\">({overall['ci_low']:.2f}" in html
    assert "forest-miss_rate" in html and "miss rate per skin type and group" in html
    assert "FN / (TP + FN): malignant lesions missed" in html


def test_registration_errors_name_what_is_missing(registries):
    with pytest.raises(ValueError, match="needs from_counts"):
        register_metric(GroupMetric("brier", "Brier", "mean squared error", "percentile"))
    with pytest.raises(ValueError, match="names interval method 'nope'"):
        register_metric(GroupMetric("x", "x", "x", "nope", from_counts=lambda c: c["tp"]))
    with pytest.raises(ValueError, match="already registered"):
        register_interval("wilson", _toy_interval, "again")
    with pytest.raises(ValueError, match="needs a description"):
        register_interval("unknown_method", _toy_interval)


def test_the_registries_are_restored_after_a_test():
    assert "miss_rate" not in GROUP_METRICS and "toy_percentile" not in INTERVALS
    assert "toy_percentile" not in CI_METHODS and "miss_rate" not in THRESHOLD_METRICS


def test_a_registered_fidelity_metric_reaches_json_terminal_and_report(tmp_path, demo_data, monkeypatch):
    """A feature-space metric registered here is measured in every synthetic cell, listed in the
    JSON's ``metrics``, a column of the terminal table and of the report's per-type tables, and a
    forest plot of the report."""
    import pandas as pd

    from fairskin.audits.synthetic import (
        FIDELITY_METRICS, Column, FidelityMetric, SyntheticAuditConfig, audit_synthetic, register_fidelity,
    )

    saved = dict(FIDELITY_METRICS)

    def mean_gap(fs, fr, ctx):
        return {"mean_gap": {"value": float(np.linalg.norm(fs.mean(0) - fr.mean(0))), "ci": None}}

    try:
        register_fidelity(FidelityMetric("mean_gap", mean_gap, (
            Column("mean_gap", "mean gap", "distance between the mean features", digits=3,
                   reading="lower = closer to real"),)))
        meta = pd.read_csv(demo_data / "ddi_metadata.csv").head(24)
        manifest = tmp_path / "manifest.csv"
        pd.DataFrame({"image": "images/" + meta["DDI_file"], "fst_requested": meta["fst_true"],
                      "diagnosis": meta["disease"], "synthetic": True, "gate": "accepted"}).to_csv(manifest, index=False)
        res = audit_synthetic(manifest, real=demo_data, image_root=demo_data, extractor="colour-texture",
                              config=SyntheticAuditConfig(extractor="colour-texture", kid_subsets=5))
        d = res.data
        assert [c["key"] for c in d["metrics"]][-1] == "mean_gap"
        measured = [c for c in d["cells"] if c["n_real"] and c["n_synthetic"]]
        assert measured and all(c["mean_gap"]["value"] >= 0 for c in measured)
        assert all(c["mean_gap"] is None for c in d["cells"] if not (c["n_real"] and c["n_synthetic"]))

        from fairskin.cli import console
        from fairskin.cli.audit_synthetic import _print

        monkeypatch.setattr(console, "width", 400)
        with console.capture() as cap:
            _print(d)
        header = next(line for line in cap.get().splitlines() if "KID" in line)
        assert "mean gap" in header

        from fairskin.reports._synthetic import build_synthetic_html

        import json

        html = build_synthetic_html(json.loads(res.write(tmp_path / "out")["json"].read_text()))
        assert "forest-mean_gap" in html and "Mean gap per cell (lower = closer to real)" in html
        assert html.count('<th scope="col">mean gap</th>') == len({c["fst"] for c in d["cells"]})
    finally:
        FIDELITY_METRICS.clear()
        FIDELITY_METRICS.update(saved)

