"""Annotation fixtures: a phantom data set with a known skin type (``write_demo_dataset``), a small
annotation folder drawn from it, and annotators' links."""

from __future__ import annotations

import pytest

pytest.importorskip("flask", reason="the reader extra (pip install 'fairskin[reader]') is not installed")
pytest.importorskip("sqlalchemy", reason="the reader extra (pip install 'fairskin[reader]') is not installed")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("phantoms")
    write_demo_dataset(root, DemoConfig(n=60, size=48, seed=5, fst_weights=(3, 3, 2, 1, 1, 1)))
    return root


@pytest.fixture
def make_annotation(phantoms, tmp_path):
    from fairskin.annotate import AnnotateConfig, create_annotation

    def make(n: int = 12, per_image: int = 3, scale: str = "fitzpatrick", name: str = "ann", **kw):
        out = tmp_path / name
        create_annotation(phantoms, out=out, config=AnnotateConfig(n=n, per_image=per_image, scale=scale, image_size=64),
                          progress=False, **kw)
        return out

    return make


def fake_truth(folder):
    """The phantoms' true types of an annotation's images, by image id (from the demo metadata)."""
    import json

    import pandas as pd

    key = pd.read_csv(folder / "private" / "answer_key.csv", dtype={"id": str, "image_id": str})
    data = json.loads((folder / "annotate.json").read_text())["data"]
    meta = pd.read_csv(f"{data}/ddi_metadata.csv", dtype={"DDI_ID": str})
    truth = dict(zip(meta["DDI_ID"], meta["fst_true"]))
    return {r.id: int(truth[r.image_id]) for r in key.itertuples()}
