"""`fairskin label --hair-removal`: DullRazor before the skin mask, recorded in the summary."""

from __future__ import annotations

import json

import pandas as pd

from fairskin.cli import main
from fairskin.data import DemoConfig, write_demo_dataset


def test_label_with_hair_removal_records_it_and_changes_only_hairy_images(tmp_path):
    data = tmp_path / "data"
    write_demo_dataset(data, DemoConfig(n=12, size=96, seed=4))
    for flag, name in (([], "plain"), (["--hair-removal"], "hr")):
        assert main(["label", str(data), "--out", str(tmp_path / f"{name}.csv"), "--json", str(tmp_path / f"{name}.json"),
                     "-q", *flag]) == 0
    assert json.loads((tmp_path / "hr.json").read_text())["config"]["hair_removal"] is True
    assert json.loads((tmp_path / "plain.json").read_text())["config"]["hair_removal"] is False
    meta = pd.read_csv(data / "ddi_metadata.csv")
    plain, hr = (pd.read_csv(tmp_path / f"{n}.csv").set_index("image")["ita"] for n in ("plain", "hr"))
    hairless = ["images/" + f for f in meta.loc[meta["hair"] == 0, "DDI_file"]]
    hairy = ["images/" + f for f in meta.loc[meta["hair"] > 0, "DDI_file"]]
    assert hairless and hairy
    assert (plain[hairless] - hr[hairless]).abs().max() < 1.0  # hairless: under a degree
    assert (plain[hairy] - hr[hairy]).abs().max() > 0  # hairy: the step did something
