"""The one Fitzpatrick vocabulary: every spelling a data set uses parses to the same type."""

import math

import numpy as np
import pandas as pd
import pytest

from fairskin.errors import InputError
from fairskin.skintone import FST_GROUPS, ROMAN, group_of, parse_fst, roman, type_label, types_of


def test_types_and_groups_parse_from_every_spelling():
    values = [5, "5", "5.0", 5.0, "V", " v ", "V-VI", "56", "5-6", None, math.nan, pd.NA, "", "unknown", "7", "x",
              "2.5", "-1"]
    types, groups, status = parse_fst(values, unknown={"-1"})
    assert types.tolist() == [5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert groups.tolist() == ["V-VI"] * 9 + [""] * 9
    assert status == [None] * 9 + ["no_fst"] * 5 + ["bad_fst"] * 3 + ["no_fst"]


def test_groups_can_be_refused():
    types, groups, status = parse_fst(["III", "III-IV", "12"], groups=False)
    assert types.tolist() == [3, 0, 0]
    assert status == [None, "bad_fst", "bad_fst"]


def test_names_round_trip():
    assert [roman(t) for t in range(1, 7)] == list(ROMAN)
    assert [group_of(t) for t in range(1, 7)] == ["I-II", "I-II", "III-IV", "III-IV", "V-VI", "V-VI"]
    assert {g: types_of(g) for g in FST_GROUPS} == FST_GROUPS
    assert types_of("56") == (5, 6) and types_of("IV") == (4,) and types_of("all") == ()
    assert type_label("3") == "III" and type_label("V-VI") == "V-VI"
    with pytest.raises(InputError, match="Fitzpatrick type must be 1-6, got 7"):
        roman(7)
    assert np.array_equal(parse_fst(ROMAN)[0], np.arange(1, 7))
