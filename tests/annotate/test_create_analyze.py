"""``fairskin annotate create`` and ``analyze`` through ``fairskin.cli.main``: the sample is spread
over the estimator's types, masks grey the lesion, nothing is replaced without --overwrite, and
the consensus files are read back by the stages that take them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.cli import main
from fairskin.errors import InputError

from .conftest import fake_truth


def test_create_spreads_the_sample_over_the_estimated_types(phantoms, tmp_path, capsys):
    out = tmp_path / "ann"
    assert main(["annotate", "create", str(phantoms), "--out", str(out), "--n", "18", "--size", "48", "-q"]) == 0
    assert "next: fairskin annotate invite" in capsys.readouterr().out
    plan = json.loads((out / "private" / "sample.json").read_text())
    drawn = {k: v["drawn"] for k, v in plan["strata"].items()}
    avail = {k: v["available"] for k, v in plan["strata"].items()}
    assert sum(drawn.values()) == 18
    # every stratum gets its even share, or all it has
    share = max(drawn.values())
    assert all(d == min(share, avail[k]) or d == share - 1 for k, d in drawn.items()), (drawn, avail)
    key = pd.read_csv(out / "private" / "answer_key.csv", dtype={"id": str})
    assert len(key) == 18 and key["id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert sorted(p.stem for p in (out / "images").iterdir()) == sorted(key["id"])
    assert main(["annotate", "create", str(phantoms), "--out", str(out), "--n", "18", "-q"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_masks_grey_the_lesion(phantoms, tmp_path, make_annotation):
    masks = tmp_path / "masks"
    masks.mkdir()
    for p in (phantoms / "images").iterdir():
        m = np.zeros((48, 48), np.uint8)
        m[16:32, 16:32] = 255
        Image.fromarray(m).save(masks / f"{p.stem}_mask.png")
    folder = make_annotation(n=6, masks=masks)
    key = pd.read_csv(folder / "private" / "answer_key.csv", dtype={"id": str})
    assert key["masked"].all()
    rgb = np.asarray(Image.open(folder / "images" / f"{key['id'][0]}.png").convert("RGB"), float)
    centre = rgb[28:36, 28:36]
    assert np.abs(centre - 128).max() < 12  # the lesion's square is grey, up to JPEG
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(unrelated / "someone_else_mask.png")
    with pytest.raises(InputError, match="no mask matches"):
        make_annotation(n=6, masks=unrelated, name="other")


def test_labels_of_another_scale_are_refused(phantoms, tmp_path, make_annotation):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": ["images/000001.png"], "fst": [2]}).to_csv(labels, index=False)
    with pytest.raises(InputError, match="labels:"):
        make_annotation(n=4, scale="monk", labels=labels)


def _answer(folder, noise: dict[str, float], seed: int = 0):
    """Annotators answer through the store: the true type plus Gaussian noise of their own sd."""
    import uuid

    from fairskin.reader_study import invite_readers, open_store, read_study_file, reader_order

    invites = [i for i in invite_readers(folder, names=list(noise)) if i.role == "reader"]
    truth = fake_truth(folder)
    items = read_study_file(folder).items
    rng = np.random.default_rng(seed)
    store = open_store(folder)
    for inv in invites:
        reader = store.reader_by_token(inv.token)
        order = [items[i] for i in reader_order(len(items), reader.order_seed)]
        for n, item in enumerate(order):
            tone = int(np.clip(round(truth[item] + rng.normal(0, noise[inv.name])), 1, 6))
            v = {"origin": "fitzpatrick", "realism": tone, "confidence": 0, "diagnosis": None, "comment": None,
                 "nonce": uuid.uuid4().hex, "client_ms": None}
            assert store.record_answer(reader, order=order, item=item, values=v).status == "stored"
    store.dispose()
    return truth


def test_analyze_writes_labels_the_other_stages_read(make_annotation, tmp_path, capsys):
    from fairskin.audits.classifier import read_label_confusion
    from fairskin.label import read_labels_csv

    folder = make_annotation(n=18, per_image=0)
    truth = _answer(folder, {"careful": 0.3, "fair": 0.6, "noisy": 1.5})
    assert main(["annotate", "analyze", str(folder), "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "Krippendorff's alpha (ordinal)" in out and "18 of 18 images" in out and "temperature" in out
    labels = read_labels_csv(folder / "analysis" / "labels.csv")
    assert labels.attrs["tone_scale"] == "fitzpatrick" and (labels["source"] == "human consensus").all()
    key = pd.read_csv(folder / "private" / "answer_key.csv", dtype={"id": str, "image": str})
    right = np.mean([int(f) == truth[i] for i, f in zip(key["id"], labels.set_index("image").loc[key["image"], "fst"])])
    assert right > 0.8
    p = labels[[f"p_{t}" for t in range(1, 7)]].astype(float)
    assert np.allclose(p.sum(axis=1), 1, atol=1e-3)
    assert np.allclose(labels["confidence"].astype(float), p.max(axis=1), atol=1e-4)
    conf = read_label_confusion(folder / "analysis" / "label_confusion.json")
    assert conf.counts.sum() == 18
    report = json.loads((folder / "analysis" / "report.json").read_text())
    careful = next(a for a in report["per_annotator"] if a["annotator"] == "careful")
    noisy = next(a for a in report["per_annotator"] if a["annotator"] == "noisy")
    assert careful["vs_others_consensus"]["exact"] > noisy["vs_others_consensus"]["exact"]
    assert report["alpha"]["value"] > 0.5 and "annotators x images" in report["alpha"]["intervals"]
    assert "Each annotator" in (folder / "analysis" / "report.html").read_text()
    assert main(["annotate", "analyze", str(folder), "--n-boot", "200"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # the probabilities carry the bootstrap temperature; --calibration-boot 0 gives the plug-in posterior
    assert 0 < report["consensus"]["temperature"] <= 2 and report["consensus"]["calibration_boot"] == 20
    assert main(["annotate", "analyze", str(folder), "--n-boot", "200", "--calibration-boot", "0", "--overwrite"]) == 0
    plain = json.loads((folder / "analysis" / "report.json").read_text())["consensus"]
    assert plain["temperature"] == 1.0 and plain["calibration_boot"] == 0
    assert (plain["mean_probability"] > report["consensus"]["mean_probability"]) == (report["consensus"]["temperature"] < 1)


def test_analyze_without_labels_says_so(make_annotation, capsys):
    from fairskin.reader_study import invite_readers

    folder = make_annotation(n=4)
    invite_readers(folder, readers=1)
    assert main(["annotate", "analyze", str(folder)]) == 2
    assert "no labels yet" in capsys.readouterr().err


def test_the_answer_key_is_spreadsheet_safe_and_read_back_exactly(phantoms, tmp_path):
    """A diagnosis from the user's metadata that a spreadsheet would run (``=HYPERLINK(...)``) is
    written quoted (outputs.write_csv) and read back as it was (load_labels, via read_csv_table)."""
    import shutil

    from fairskin.annotate._analyze import load_labels

    data = tmp_path / "data"
    shutil.copytree(phantoms, data)
    meta = pd.read_csv(data / "ddi_metadata.csv", dtype=str, keep_default_na=False)
    meta["disease"] = '=HYPERLINK("http://x","y")'  # DDI's diagnosis column
    meta.to_csv(data / "ddi_metadata.csv", index=False)
    out = tmp_path / "ann"
    assert main(["annotate", "create", str(data), "--out", str(out), "--n", "6", "--size", "48", "-q"]) == 0
    raw = (out / "private" / "answer_key.csv").read_text()
    assert "'=HYPERLINK" in raw
    with pytest.raises(InputError, match=r"does not exist; invite readers first \(`fairskin annotate invite "):
        load_labels(out)  # the annotation's own command, not the reader study's
    assert main(["annotate", "invite", str(out), "--annotators", "2"]) == 0
    key, _ = load_labels(out)
    assert (key["diagnosis"] == '=HYPERLINK("http://x","y")').all() and len(key) == 6
    assert str(key["estimated"].dtype) == "Int64" and key["estimated"].notna().all()
