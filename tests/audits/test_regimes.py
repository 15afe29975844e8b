"""The audit in the regimes users meet (issue 27): groups of one malignant or one benign image,
readings that agree with their printed intervals, groups without benign images, few clusters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairskin.audits.classifier import audit_predictions


def _frame(sizes_pos_neg, seed=0):
    """One row per image: per type t (1..6) ``P`` malignant and ``N`` benign, binormal scores."""
    rng = np.random.default_rng(seed)
    parts = []
    for t, (P, N) in enumerate(sizes_pos_neg, start=1):
        y = np.r_[np.ones(P, bool), np.zeros(N, bool)]
        x = np.where(y, rng.normal(1, 1, P + N), rng.normal(-1, 1, P + N))
        parts.append(pd.DataFrame({"image": [f"t{t}-{i}" for i in range(P + N)], "score": 1 / (1 + np.exp(-x)),
                                   "label": y.astype(int), "fst": t}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("last", [(1, 20), (20, 1), (1, 1)], ids=["one malignant", "one benign", "one of each"])
def test_a_group_with_one_malignant_or_one_benign_image_is_audited(last):
    df = _frame([(20, 40)] * 4 + [(0, 0), last])  # V-VI is type VI alone
    res = audit_predictions(df, n_boot=200, group_level="group")
    m = res.model()
    pair = next(f for f in m["fairness"] if f["name"] == "auroc_gap" and f["method"] == "pair")
    assert not res.group("V-VI")["reliable"]
    assert pair["value"] is not None
    # an AUROC on one malignant (or benign) image is nearly unknown: the interval says so
    assert pair["ci_low"] is not None and pair["ci_high"] - pair["ci_low"] > 0.3
    res_t = audit_predictions(df, n_boot=200, group_level="type")
    au = res_t.group("VI")["metrics"]["auroc"]
    assert au["ci_low"] is not None and au["ci_low"] <= au["value"] <= au["ci_high"]
    assert au["ci_high"] - au["ci_low"] > 0.3
