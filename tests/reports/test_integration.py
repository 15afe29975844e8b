"""The reports on dicts written by the real stages (label_dataset, audit_predictions), not by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fairskin.reports import plain_summary, render_audit_report, render_label_report


def test_label_report_from_label_dataset(demo_data, tmp_path):
    from fairskin.label import label_dataset

    res = label_dataset(demo_data, out=tmp_path / "labels.csv", progress=False, n_boot=50)
    path = render_label_report(res.summary, tmp_path / "report.html")
    html = path.read_text()
    for k in "123456":
        assert f'id="type-{k}"' in html
    assert html.count('data-kind="type-histogram"') == 6
    assert "Known answer (phantom data" in html  # the demo data's truth block
    assert (tmp_path / "report.json").exists()


@pytest.fixture(scope="module")
def predictions():
    """The package's own simulator with a gap built in: on FST I-II malignant and benign scores lie
    four SDs apart (AUROC ~1.0), on V-VI they are drawn from the same distribution (AUROC 0.5)."""
    from fairskin.audits.classifier import Design, simulate_predictions

    design = Design(sizes=(60, 90, 80, 60, 60, 60), prevalence=0.35,
                    mu_pos=(2.0, 2.0, 0.8, 0.7, 0.0, 0.0), mu_neg=(-2.0, -2.0, -0.8, -0.7, 0.0, 0.0))
    df = simulate_predictions(design, 3)
    df["diagnosis"] = np.where(df["label"] == 1, "melanoma", "nevus")
    return df


def test_audit_report_from_audit_predictions(predictions, tmp_path):
    from fairskin.audits.classifier import audit_predictions

    res = audit_predictions(predictions, n_boot=60, seed=0, name="model.pt", group_level="group")
    data = res.to_dict()
    path = render_audit_report(data, tmp_path / "report.html")
    html = path.read_text()
    for t in ("I", "II", "III", "IV", "V", "VI"):
        assert f'id="m0-type-{t}"' in html
    assert 'id="m0-group-V-VI"' in html
    line = plain_summary(data)[0]
    # the gap is built in (AUROC ~1.0 on I-II, 0.5 on V-VI), so the reading is determined: below, a gap
    assert re.match(r"model\.pt: AUROC on FST V-VI is \d\.\d\d \(\d\.\d\d\u2013\d\.\d\d\), \d\.\d\d below FST I-II "
                    r"\(difference 0\.\d\d \(0\.\d\d\u2013\d\.\d\d\)\): a gap "
                    r"\(Holm-adjusted p [=<] [\d.]+", line), line
    # the audit JSON carries curve points: the report draws them rather than its "no curve points" note
    assert "ROC curves per group (model.pt)" in html
    assert "No ROC curve points" not in html
