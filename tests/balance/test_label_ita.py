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
