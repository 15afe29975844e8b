"""One answer to "which skin type does this row have" (fairskin.label.resolve_tones) through balance,
audit and experiment; balance on estimated types; audit's --fst-source and labeller's confusion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.errors import InputError

torch = pytest.importorskip("torch")

META = {"output": "probabilities", "mean": [0, 0, 0], "std": [1, 1, 1], "resize": 16, "crop": 16}
N = 24


class RedMean(torch.nn.Module):
    def forward(self, x):
        p = x[:, 0].mean(dim=(1, 2)).clamp(0, 1)
        return torch.stack([1 - p, p], dim=1)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict:
    """24 images: the first 10 with a clinician's type, the rest without; a labels.csv for all of
    them whose estimates disagree with the clinicians, and one abstention (no type, a reason)."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(3)
    rows, lab = [], []
    for i in range(N):
        Image.fromarray(np.full((20, 20, 3), (40 + 8 * i, 120, 90), np.uint8)).save(root / f"m{i:02d}.png")
        rows.append({"file_name": f"m{i:02d}.png", "malignant": bool(i % 2), "diagnosis": ["nevus", "bcc"][i % 2],
                     "fst": (1 + i % 3) if i < 10 else None, "patient_id": f"P{i // 2}"})
        abstain = i == 15
        lab.append({"image": f"m{i:02d}.png", "ita": 10.0, "fst": "" if abstain else str(1 + (i * 5) % 6),
                    "confidence": 0.7, "status": "no_skin" if abstain else "ok",
                    "reason": "no healthy skin" if abstain else ""})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    labels = tmp_path_factory.mktemp("mixed-labels") / "labels.csv"
    pd.DataFrame(lab).to_csv(labels, index=False)
    model = tmp_path_factory.mktemp("model") / "red.pt"
    torch.jit.save(torch.jit.script(RedMean()), str(model), _extra_files={"fairskin.json": json.dumps(META)})
    human = {f"m{i:02d}.png": 1 + i % 3 for i in range(10)}
    est = {r["image"]: int(r["fst"]) for r in lab if r["fst"]}
    expected = {img: human.get(img, est.get(img)) for img in (f"m{i:02d}.png" for i in range(N))}
    return {"root": root, "labels": labels, "model": model, "expected": expected}


def test_the_same_rows_get_the_same_types_through_balance_audit_and_experiment(mixed, tmp_path):
    from fairskin.audits.classifier import audit_model
    from fairskin.balance import balance
    from fairskin.conditioning import labelled_manifest
    from fairskin.experiment._data import _test_skin_types
    from fairskin.label import resolve_tones
    from fairskin.train import read_manifest

    root, labels, expected = mixed["root"], mixed["labels"], mixed["expected"]
    # balance: its manifest and its plan
    frame = labelled_manifest(root, labels=labels)
    got_balance = {i: (int(t) if not pd.isna(t) else None) for i, t in zip(frame["image"], frame["fst"])}
    assert got_balance == expected
    assert list(frame["tone_source"][:10]) == ["human"] * 10 and frame.loc[15, "tone_reason"].startswith(
        "no estimated skin type in labels.csv (no_skin: no healthy skin)")
    res = balance(root, out=tmp_path / "bal", labels=labels, target="fst56=0.3", max_per_real=50, dry_run=True,
                  accept_estimated_types=True)
    per_type = res.plan.cells.groupby("fst")["real"].sum().to_dict()
    assert per_type == pd.Series([t for t in expected.values() if t]).value_counts().to_dict()
    # audit: the types its predictions carry
    audit_model(mixed["model"], root, labels=labels, n_boot=5, progress=False, save_predictions=tmp_path / "p")
    pred = pd.read_csv(tmp_path / "p" / "red.pt.predictions.csv")
    assert dict(zip(pred["image"], pred["fst"])) == {k: v for k, v in expected.items() if v is not None}
    # experiment: its test set (read as the audit reads it)
    test_df = read_manifest(root, arg="test")
    types, _, usable, skipped, rec = _test_skin_types(test_df, labels=labels, fst_source="auto")
    got_exp = {img: (int(t) if u else None) for img, t, u in zip(test_df["image"].astype(str), types, usable)}
    assert got_exp == expected and rec["source"] == "mixed"
    assert skipped == [{"image": "m15.png", "status": "no_fst",
                        "reason": "no estimated skin type in labels.csv (no_skin: no healthy skin)"}]
    # the probability over types: one-hot for people, the estimator's confidence spread for estimates
    r = resolve_tones(read_manifest(root, arg="data"), labels=labels)
    assert r.kind == "mixed" and np.allclose(r.probability[0], np.eye(6)[0])
    assert r.probability[12].max() == pytest.approx(0.7) and np.allclose(r.probability[12].sum(), 1)
    assert r.probability[15].sum() == 0 and r.source[15] == ""
    # the experiment's training split (no labels.csv there): the same function as balance without labels
    train = labelled_manifest(read_manifest(root, arg="real"))
    assert list(train["fst"][:10]) == [expected[f"m{i:02d}.png"] for i in range(10)]
    src = train["tone_source"][10:]
    assert src.isin(["estimated", ""]).all() and (src == "estimated").any()  # measured on the images here
    assert train.loc[train["tone_source"] == "", "tone_reason"].str.startswith("the estimator gave no type").all()
    plain = labelled_manifest(root)  # balance without labels.csv: the same answer
    assert plain["fst"].astype("Int64").tolist() == train["fst"].astype("Int64").tolist()


def test_human_only_and_estimated_only_follow_the_rule(mixed):
    from fairskin.label import resolve_tones
    from fairskin.train import read_manifest

    m = read_manifest(mixed["root"], arg="data")
    human = resolve_tones(m, labels=mixed["labels"], source="human")
    assert human.kind == "human" and (human.tone[10:] == 0).all()
    assert human.reason[12] == "no human Fitzpatrick label for this image"
    est = resolve_tones(m, labels=mixed["labels"], source="estimated")
    assert est.kind == "estimated" and est.tone[0] == 1 + 0 % 6 and est.tone[3] == 1 + 15 % 6
    with pytest.raises(InputError, match="fst_source='estimated' needs a labels.csv"):
        resolve_tones(m, source="estimated")
    with pytest.raises(InputError, match="fst_source: expected 'auto', 'human' or 'estimated', got 'people'"):
        resolve_tones(m, source="people")


def _summary_with_confusion(labels: Path, counts) -> Path:
    path = labels.with_name("labels.json")
    path.write_text(json.dumps({"schema": "fairskin.label/1", "labels_csv": str(labels), "label_confusion": {
        "schema": "fairskin.label-confusion/1", "counts": counts, "n": int(np.sum(counts)),
        "cross_validated": False}}))
    return path


def test_balance_refuses_estimated_types_of_unknown_or_poor_agreement_and_plans_on_corrected_shares(tmp_path):
    from fairskin.balance import balance

    # 60 images, no human types; the estimator calls 30 of them V-VI
    root = tmp_path / "d"
    root.mkdir()
    rows, lab = [], []
    for i in range(60):
        Image.fromarray(np.full((12, 12, 3), (150, 110, 90), np.uint8)).save(root / f"x{i:02d}.png")
        rows.append({"file_name": f"x{i:02d}.png", "malignant": False, "diagnosis": "nevus"})
        lab.append({"image": f"x{i:02d}.png", "fst": 6 if i < 20 else 5 if i < 30 else 2, "confidence": 0.9,
                    "status": "ok", "reason": ""})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    labels = tmp_path / "lab" / "labels.csv"
    labels.parent.mkdir()
    pd.DataFrame(lab).to_csv(labels, index=False)
    with pytest.raises(InputError) as e:  # agreement unknown: refused, stating the estimated share
        balance(root, out=tmp_path / "o1", labels=labels, target="fst56=0.25", dry_run=True)
    assert "60 of 60 images have estimated skin types, from an estimator whose agreement with people is unknown" \
        in str(e.value) and "V-VI 50.0%" in str(e.value) and "accept_estimated_types=True" in str(e.value)
    # a confusion where true II is read as V-VI half the time: poor agreement, refused with the figures
    counts = np.zeros((6, 6), int)
    counts[0, 0], counts[1, 1], counts[1, 4], counts[1, 5], counts[2, 2], counts[3, 3] = 20, 40, 10, 20, 20, 10
    counts[4, 4], counts[5, 5] = 2, 1
    _summary_with_confusion(labels, counts.tolist())
    with pytest.raises(InputError) as e:
        balance(root, out=tmp_path / "o2", labels=labels, target="fst56=0.25", dry_run=True)
    msg = str(e.value)
    assert "from 123 images with human types in labels.json" in msg and "quadratic-weighted kappa" in msg
    assert "V-VI: estimated 50.0%, corrected for the labeller's confusion" in msg
    # accepted: the plan counts the corrected share, so V-VI is far below 25% and images are planned
    res = balance(root, out=tmp_path / "o3", labels=labels, target="fst56=0.25", dry_run=True,
                  accept_estimated_types=True, max_per_real=100)
    (share,) = res.plan.shares()
    assert share["share_before"] < 0.15 and res.plan.n_generate > 0
    assert res.plan.estimated_types["counted_as"] == "posterior over true types"
    assert any("corrected for the labeller's confusion" in n for n in res.plan.notes)
    doc = json.loads((tmp_path / "o3" / "plan.json").read_text())
    assert doc["estimated_types"]["confusion"].endswith("labels.json")


def test_audit_honours_fst_source_for_predictions_and_refuses_contradictions(tmp_path, capsys):
    from fairskin.audits.classifier import audit
    from fairskin.cli import main

    rng = np.random.default_rng(0)
    n = 300
    y = rng.random(n) < 0.4
    df = pd.DataFrame({"image": [f"i{k}.png" for k in range(n)], "score": np.clip(0.3 + 0.4 * y +
                       rng.normal(0, 0.2, n), 0, 1), "label": y.astype(int), "fst": rng.integers(1, 7, n)})
    csv = tmp_path / "pred.csv"
    df.to_csv(csv, index=False)
    res = audit(csv, fst_source="estimated", n_boot=5)
    assert res.meta["fst_source"] == "estimated"
    assert res.meta["fst_source_detail"] == "predictions column 'fst' (estimated skin types, as --fst-source says)"
    assert audit(csv, n_boot=5).meta["fst_source"] == "given"
    assert main(["audit", str(csv), "--fst-source", "estimated", "--n-boot", "5", "-q"]) == 0
    assert "warning: skin types are estimated and taken as right" in capsys.readouterr().out
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"schema": "fairskin.label-confusion/1", "counts": np.eye(6, dtype=int).tolist()}))
    with pytest.raises(InputError) as e:
        audit(csv, fst_source="human", label_confusion=conf, n_boot=5)
    assert str(e.value).startswith("label_confusion: a labeller's confusion corrects estimated skin types, but "
                                   "fst_source='human' says the types are people's labels")
    assert main(["audit", str(csv), "--fst-source", "human", "--label-confusion", str(conf), "-q"]) == 2


def test_audit_applies_the_labellers_confusion_found_beside_labels_by_default(mixed, tmp_path, capsys):
    from fairskin.audits.classifier import audit_model

    labels = tmp_path / "labels.csv"
    labels.write_bytes(mixed["labels"].read_bytes())
    counts = (np.eye(6) * 30 + 3).astype(int).tolist()  # a well-conditioned labeller
    _summary_with_confusion(labels, counts)
    res = audit_model(mixed["model"], mixed["root"], labels=labels, fst_source="estimated", n_boot=5,
                      progress=False, group_level="group")
    auto = res.meta["label_confusion_auto"]
    assert auto["applied"] and auto["source"].endswith("labels.json") and auto["n"] == 288
    assert res.meta["fst_correction"] is not None
    off = audit_model(mixed["model"], mixed["root"], labels=labels, fst_source="estimated", n_boot=5,
                      progress=False, group_level="group", label_confusion=None)
    assert "label_confusion_auto" not in off.meta and not off.meta["fst_correction"]
    mixed_rows = audit_model(mixed["model"], mixed["root"], labels=labels, n_boot=5, progress=False)
    assert mixed_rows.meta["fst_source"] == "mixed" and not mixed_rows.meta["label_confusion_auto"]["applied"]
