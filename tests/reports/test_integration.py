"""The reports on dicts written by the real stages (label_dataset, audit_predictions), not by hand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
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
    rng = np.random.default_rng(3)
    rows = []
    for fst, n, sep in ((1, 60, 2.0), (2, 90, 2.0), (3, 80, 1.6), (4, 60, 1.4), (5, 30, 0.5), (6, 20, 0.4)):
        y = rng.random(n) < 0.35
        y[:3] = True
        y[3:6] = False
        s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + sep * (y - 0.5))))
        rows += [{"image": f"img_{fst}_{i}.png", "score": float(v), "label": int(t), "fst": fst,
                  "diagnosis": "melanoma" if t else "nevus"} for i, (v, t) in enumerate(zip(s, y))]
    return pd.DataFrame(rows)


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
    assert re.match(r"model\.pt: AUROC on FST V-VI is \d\.\d\d \(\d\.\d\d\u2013\d\.\d\d\), \d\.\d\d (below|above) FST I-II "
                    r"\(difference -?\d\.\d\d \(-?\d\.\d\d\u2013-?\d\.\d\d\)\): (a gap|no evidence of a gap) "
                    r"\(Holm-adjusted p [=<] [\d.]+", line), line
    # the audit JSON carries curve points: the report draws them rather than its "no curve points" note
    assert "ROC curves per group (model.pt)" in html
    assert "No ROC curve points" not in html
