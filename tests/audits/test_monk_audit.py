"""Monk Skin Tone labels are usable where Fitzpatrick types are in ``fairskin audit``: tones
MST 1-10 and groups 1-3 / 4-7 / 8-10, stated in the JSON, the terminal and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairskin.audits.classifier import audit_predictions, default_criteria
from fairskin.cli import main
from fairskin.errors import InputError
from fairskin.skintone import MONK

torch = pytest.importorskip("torch")


def _monk_predictions(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Binormal scores whose separation falls with the tone: the darker the tone, the lower the AUROC."""
    rng = np.random.default_rng(seed)
    mst = rng.integers(1, 11, n)
    y = rng.random(n) < 0.3
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + y * (2.0 - 0.15 * mst))))
    return pd.DataFrame({"image": [f"i{i}.png" for i in range(n)], "score": score, "label": y.astype(int),
                         "mst": mst}), mst


def test_an_mst_column_groups_by_monk_tone_and_group():
    preds, mst = _monk_predictions()
    res = audit_predictions(preds, n_boot=100)
    meta = res.meta
    assert meta["tone_scale"] == "monk" and meta["fst_source_detail"] == "predictions column 'mst'"
    assert meta["tone_groups"] == {"1-3": ["MST 1", "MST 2", "MST 3"], "4-7": ["MST 4", "MST 5", "MST 6", "MST 7"],
                                   "8-10": ["MST 8", "MST 9", "MST 10"]}
    m = res.model()
    assert [g["group"] for g in m["groups"]] == [f"MST {k}" for k in range(1, 11)] + ["1-3", "4-7", "8-10"]
    for g in m["groups"]:  # each group holds exactly its tones' rows
        want = {int(g["group"][4:])} if g["level"] == "type" else set(MST_GROUP_TONES[g["group"]])
        assert g["n"] == int(np.isin(mst, list(want)).sum()) and set(g["types"]) == want
    auc = {g["group"]: g["metrics"]["auroc"]["value"] for g in m["groups"]}
    assert auc["1-3"] > auc["4-7"] > auc["8-10"]  # the simulated fall with tone
    pair = next(f for f in m["fairness"] if f["name"] == "auroc_gap" and f["method"] == "pair")
    assert pair["groups"] == ["1-3", "8-10"] and pair["value"] == pytest.approx(auc["1-3"] - auc["8-10"])
    crit = default_criteria("group", scale=MONK)
    assert [c.group for c in crit] == ["8-10", "1-3", "4-7"]


MST_GROUP_TONES = {"1-3": (1, 2, 3), "4-7": (4, 5, 6, 7), "8-10": (8, 9, 10)}


def test_tones_outside_the_scale_are_skipped_with_a_reason():
    preds, _ = _monk_predictions(300)
    preds["mst"] = preds["mst"].astype(str)
    preds.loc[:2, "mst"] = ["11", "", "8-10"]
    res = audit_predictions(preds, n_boot=20)
    bad = {r["image"]: r for r in res.model()["bad_rows"]}
    assert bad["i0.png"]["reason"] == "mst='11' is not a monk tone (1-10) or group (1-3, 4-7, 8-10)"
    assert bad["i1.png"]["reason"] == "mst is empty"
    assert "i2.png" not in bad  # a group alone is usable at the group level


def test_cli_audits_a_model_on_monk_labels_and_the_report_states_the_grouping(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "data"
    root.mkdir()
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for i in range(120):
        red = int(rng.integers(30, 230))
        Image.fromarray(np.full((32, 32, 3), (red, 100, 60), np.uint8)).save(root / f"u{i:03d}.png")
        rows.append({"file_name": f"u{i:03d}.png", "malignant": bool(rng.random() < 0.4 + red / 1000), "fst": 3})
        labels.append({"image": f"u{i:03d}.png", "mst": 1 + i % 10, "confidence": 0.9, "status": "ok",
                       "reason": "", "scale": "monk", "delta_e": 3.0})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    pd.DataFrame(labels).to_csv(tmp_path / "mst.csv", index=False)

    class RedMean(torch.nn.Module):
        def forward(self, x):
            p = x[:, 0].mean(dim=(1, 2)).clamp(0, 1)
            return torch.stack([1 - p, p], dim=1)

    model = tmp_path / "red.pt"
    torch.jit.save(torch.jit.script(RedMean()), str(model),
                   _extra_files={"fairskin.json": json.dumps({"output": "probabilities", "mean": [0, 0, 0],
                                                              "std": [1, 1, 1], "resize": 24, "crop": 24})})
    out = tmp_path / "a.json"
    assert main(["audit", str(model), "--data", str(root), "--labels", str(tmp_path / "mst.csv"), "--n-boot", "30",
                 "--min-group-n", "5", "--json", str(out), "--html", str(tmp_path / "a.html"),
                 "--save-predictions", str(tmp_path / "preds"), "-q"]) == 0
    d = json.loads(out.read_text())
    assert d["meta"]["tone_scale"] == "monk"
    assert d["meta"]["fst_source_detail"] == "estimated (monk scale, groups 1-3 / 4-7 / 8-10) from mst.csv"
    assert [g["n"] for g in d["models"][0]["groups"] if g["level"] == "type"] == [12] * 10
    assert "skin tones on the monk scale, grouped 1-3 / 4-7 / 8-10" in capsys.readouterr().out
    html = (tmp_path / "a.html").read_text()
    assert "Monk Skin Tone, grouped MST 1-3 / 4-7 / 8-10" in html and "FST MST" not in html
    assert 'aria-label="Monk Skin Tone 10 reference colour' in html
    # the saved predictions keep the scale's column and audit again to the same groups
    saved = pd.read_csv(tmp_path / "preds" / "red.pt.predictions.csv")
    assert "mst" in saved.columns and "fst" not in saved.columns
    again = audit_predictions(tmp_path / "preds" / "red.pt.predictions.csv", n_boot=30, min_group_n=5)
    assert [g["n"] for g in again.model()["groups"]] == [g["n"] for g in d["models"][0]["groups"]]
    # stages that generate per Fitzpatrick type refuse a Monk labels.csv, saying why
    with pytest.raises(InputError, match="holds Monk Skin Tone labels .* groups images by Fitzpatrick type"):
        from fairskin.label import read_labels_csv

        read_labels_csv(tmp_path / "mst.csv")
    with pytest.raises(InputError, match="label_confusion: a labeller's confusion corrects estimated Fitzpatrick"):
        audit_predictions(saved, label_confusion={"counts": [[1]]}, n_boot=5)


#: the audit JSON of :func:`golden_predictions` written by the audit before its per-row columns became
#: scale-neutral (``tone``/``tone_group`` instead of ``fst_type``/``fst_group``), ``created`` dropped;
#: rewritten once for issue 27 after checking each of its 82 differences was one of that issue's changes
#: (``meta.label_sampling`` default "cohort", the clopper_pearson method and flags few_clusters/few_events,
#: the clustered AUROC's Hanley-McNeil floor); no gap, resample or per-row column changed. Then 2 lower bounds of
#: MST 1 (sensitivity 1.0 on its patients, and the balanced accuracy built from it): a clustered rate at 0 or 1
#: now rests on its clusters, not its images (effective_size)
GOLDEN = Path(__file__).parent / "golden" / "monk_audit_before_tone_columns.json"


def golden_predictions(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """Monk predictions with tones 1-10, some rows knowing only their group, diagnoses and patients."""
    rng = np.random.default_rng(seed)
    mst = rng.integers(1, 11, n)
    y = rng.random(n) < 0.3
    score = np.round(1 / (1 + np.exp(-(rng.normal(0, 1, n) + y * (2.0 - 0.15 * mst)))), 4)
    tone = mst.astype(object)
    tone[:40] = np.array(["1-3", "4-7", "8-10"])[np.digitize(mst[:40], [4, 8])]
    return pd.DataFrame({"image": [f"i{i}.png" for i in range(n)], "score": score, "label": y.astype(int),
                         "mst": tone, "diagnosis": rng.choice(["nevus", "melanoma", "bcc"], n),
                         "patient_id": [f"p{i // 2}" for i in range(n)]})


def _first_difference(a, b, path="$"):
    """Where two JSON documents differ (floats to 1e-12 relative), or None where they agree."""
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            return f"{path}: keys {sorted(set(a) ^ set(b))} in one document only"
        return next((d for k in sorted(a) if (d := _first_difference(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _first_difference(x, y, f"{path}[{i}]"))), None)
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return None if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) else f"{path}: {a!r} vs {b!r}"
    return None if (type(a) is type(b) and a == b) else f"{path}: {a!r} vs {b!r}"


def test_monk_tones_travel_in_scale_neutral_columns_and_the_json_is_unchanged():
    """A Monk predictions CSV's audited frame holds its tones in ``tone``/``tone_group`` (never an
    ``fst`` column), and the audit JSON is the one the audit wrote before the rename."""
    preds = golden_predictions()
    res = audit_predictions(preds, n_boot=40, seed=1, min_group_n=10)
    frame = res.frames[res.model()["name"]]
    assert not [c for c in frame.columns if c.startswith("fst")], list(frame.columns)
    assert frame.attrs["tone_scale"] == "monk"
    typed = frame[frame["tone"] > 0]
    assert sorted(set(typed["tone"])) == list(range(1, 11))
    assert set(frame["tone_group"]) == {"1-3", "4-7", "8-10"}
    expect_group = pd.cut(typed["tone"], [0, 3, 7, 10], labels=["1-3", "4-7", "8-10"]).astype(str)
    assert (typed["tone_group"] == expect_group).all()
    d = res.to_dict()
    d.pop("created")
    # meta.metrics (the registry's metric table, for the report) came after the golden file: every number is as before
    assert [m["name"] for m in d["meta"].pop("metrics")] == list(d["models"][0]["overall"]["metrics"])
    d = json.loads(json.dumps(d, allow_nan=False))
    before = json.loads(GOLDEN.read_text())
    for m in d["models"]:  # an additive key written after the golden (docs/audit-json.md): each model's policy
        assert m.pop("threshold_policy") == d["meta"]["threshold_policy"] == "fixed"
    assert [g["group"] for g in before["models"][0]["groups"]] == [f"MST {k}" for k in range(1, 11)] + \
        ["1-3", "4-7", "8-10"]
    assert _first_difference(d, before) is None, _first_difference(d, before)
