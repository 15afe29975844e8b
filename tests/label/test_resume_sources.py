"""Issue 28 row 6: an image replaced between an interrupted label run and its resume is labelled
again, not kept with its old type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.label import label_dataset


class _Stop(Exception):
    pass


def _stop(summary):
    raise _Stop  # every row is in <out>.partial; the run ends before labels.csv is final


def _skin(path, tone):
    rng = np.random.default_rng(0)
    px = np.clip(np.array(tone)[None, None] + rng.normal(0, 4, (64, 64, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(px).save(path)


def test_a_resumed_run_relabels_an_image_replaced_since_the_interrupted_run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _skin(data / "a.png", (235, 200, 180))  # light
    _skin(data / "b.png", (200, 160, 130))
    out = tmp_path / "labels.csv"
    with pytest.raises(_Stop):
        label_dataset(data, out=out, progress=False, finish=_stop)
    assert out.with_name("labels.csv.partial").exists()
    _skin(data / "a.png", (90, 60, 45))  # now dark: a fresh run gives another type
    resumed = label_dataset(data, out=out, progress=False, overwrite=True)
    fresh = label_dataset(data, out=tmp_path / "fresh.csv", progress=False)
    r = resumed.labels.set_index("image")
    f = fresh.labels.set_index("image")
    assert r.loc["a.png", "fst"] == f.loc["a.png", "fst"]
    assert r.loc["a.png", "ita"] == pytest.approx(f.loc["a.png", "ita"])
    assert resumed.summary["run"]["redone_changed_sources"] == 1
    assert resumed.summary["run"]["resumed_from_previous_run"] == 1  # b.png kept
    assert list(pd.read_csv(out)["image"]) == ["a.png", "b.png"]
