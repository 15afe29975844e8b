"""The one 'patient id, else the row itself' rule every resampling and fold uses."""

import numpy as np
import pandas as pd

from fairskin.data import manifest_units, resampling_units


def test_missing_ids_are_each_their_own_unit():
    units, kind = resampling_units(pd.Series(["p1", None, "", "nan", "p1", " p2 "]))
    assert kind == "patient"
    assert units[0] == units[4] == "p1" and units[5] == "p2"
    # three rows without an id: three different units, none pooled with a patient
    assert len({units[1], units[2], units[3]}) == 3 and not {units[1], units[2], units[3]} & {"p1", "p2"}


def test_no_ids_means_images_are_the_unit():
    units, kind = manifest_units(pd.DataFrame({"image": ["a.png", "b.png"]}))
    assert kind == "image" and len(set(units)) == 2


def test_label_balance_and_audit_agree_on_units():
    from fairskin.audits.stats import unit_ids
    from fairskin.label import patient_groups

    m = pd.DataFrame({"image": ["a", "b", "c"], "patient_id": ["x", pd.NA, "x"]})
    groups = patient_groups(m)
    audit_units, kind = unit_ids(m, m["image"])
    assert kind == "patient"
    # the same partition of rows into units
    same = lambda u: [[i for i in range(3) if u[i] == u[j]] for j in range(3)]  # noqa: E731
    assert same(np.asarray(groups)) == same(audit_units)
