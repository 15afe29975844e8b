"""The balance report's real thumbnails are captioned with the ITA that ``fairskin label`` measured
(the issue: every real thumbnail read "ITA n/a" even with --labels)."""

from __future__ import annotations

import pandas as pd

from fairskin.balance._run import _label_ita


def test_label_ita_reads_the_labels_csv(tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"image": ["images/a.png", "images/b.png", "images/c.png"], "ita": [31.25, "", -20.5],
                  "fst": [3, "", 6], "status": ["ok", "no_skin", "ok"], "scale": "kinyanjui_fst"}).to_csv(labels, index=False)
    assert _label_ita(labels) == {"images/a.png": 31.25, "images/c.png": -20.5}
    assert _label_ita(None) == {}


def test_balance_summary_captions_real_samples_with_the_labels_ita(small_demo, small_labels, tiny_conditioning,
                                                                     tmp_path):
    import pytest

    pytest.importorskip("diffusers")
    from fairskin.balance import GenerateConfig, balance

    res = balance(small_demo, out=tmp_path / "o", labels=small_labels, target="fst56=0.5",
                  conditioning=tiny_conditioning, generate=GenerateConfig(steps=2, batch_size=4, tolerance=6,
                                                                          max_attempts=2))
    want = _label_ita(small_labels)
    real = [(s["image"], s["ita"]) for c in res.summary["cells"] for s in c["samples"]["real"]]
    assert real and all(ita is not None for _, ita in real)
    for image, ita in real:  # the samples' paths are absolute; labels.csv's are relative to the data root
        assert any(image.endswith(k) and ita == v for k, v in want.items())
