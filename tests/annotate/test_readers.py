"""A human-consensus labels.csv (``fairskin annotate analyze``) is read as human skin types by the
stages that take a labels.csv: ``audit`` (auto source), ``balance``'s labelled manifest, and
``label --human-labels`` for calibration; an estimator's labels.csv stays an estimate."""

from __future__ import annotations

import pandas as pd
import pytest

from fairskin.errors import InputError


@pytest.fixture(scope="module")
def consensus(phantoms, tmp_path_factory):
    """A consensus labels.csv of every phantom at its true type, and an estimator-style one."""
    from fairskin.data import read_dataset

    df = read_dataset(phantoms)
    meta = pd.read_csv(phantoms / "ddi_metadata.csv")
    true = dict(zip(meta["DDI_file"], meta["fst_true"]))
    folder = tmp_path_factory.mktemp("consensus")
    rows = pd.DataFrame({"image": df["image"], "fst": [true[i.split("/")[-1]] for i in df["image"]],
                         "confidence": 0.9, "status": "ok", "reason": "", "source": "human consensus"})
    rows.to_csv(folder / "human.csv", index=False)
    rows.drop(columns="source").to_csv(folder / "estimated.csv", index=False)
    return folder / "human.csv", folder / "estimated.csv", df


def test_read_labels_csv_tells_human_consensus_from_estimates(consensus):
    from fairskin.label import read_labels_csv

    human, estimated, _ = consensus
    assert read_labels_csv(human).attrs["human"] is True
    assert read_labels_csv(estimated).attrs["human"] is False


def test_audit_reads_the_consensus_as_human_types(consensus):
    from fairskin.audits.classifier._run import read_skin_types

    human, estimated, df = consensus
    vals, _, source, detail, _ = read_skin_types(df, labels=human, fst_source="auto")
    assert source == "human" and "human consensus" in detail and all(v is not None for v in vals)
    assert read_skin_types(df, labels=estimated, fst_source="auto")[2] == "estimated"
    assert read_skin_types(df, labels=human, fst_source="estimated")[2] == "estimated"  # the user's word wins


def test_balance_marks_consensus_types_as_human(consensus, phantoms):
    from fairskin.conditioning import labelled_manifest

    human, estimated, _ = consensus
    m = labelled_manifest(phantoms, labels=human)
    assert (m["fst_source"] == "human consensus").all()
    assert m.loc[0, "fst"] == int(pd.read_csv(human).set_index("image").loc[m.loc[0, "image"], "fst"])
    assert labelled_manifest(phantoms, labels=estimated)["fst_source"].str.startswith("estimated").all()


def test_label_calibrates_to_the_consensus(consensus, phantoms, tmp_path):
    from fairskin.label import label_dataset

    human, estimated, _ = consensus
    res = label_dataset(phantoms, out=tmp_path / "labels.csv", calibrate=True, human_labels=human, progress=False,
                        confusion_path=tmp_path / "confusion.json")
    assert res.calibrated_scale is not None and "human labels" in res.calibrated_scale.source
    out = pd.read_csv(tmp_path / "labels.csv")
    assert out["fst_human"].notna().all()
    with pytest.raises(InputError, match="human_labels:.*not a human-consensus"):
        label_dataset(phantoms, out=tmp_path / "other.csv", human_labels=estimated, progress=False)
