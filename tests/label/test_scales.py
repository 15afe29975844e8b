import math

import numpy as np
import pytest

from fairskin.errors import InputError
from fairskin.label import get_scale, list_scales
from fairskin.skintone import ItaScale, load_scale_file


def test_registry_has_published_scales_with_sources():
    assert {"chardon", "kinyanjui_fst", "groh_fst"} <= set(list_scales())
    for name in list_scales():
        assert get_scale(name).source.strip() not in ("", "same")


@pytest.mark.parametrize("name", ["chardon", "kinyanjui_fst", "groh_fst"])
def test_boundaries_belong_to_exactly_one_type(name):
    s = get_scale(name)
    # a row covers ita_above < ITA <= ita_at_most: the cut between types k and k+1 is the
    # darker row's ita_at_most, so it belongs to type k+1
    for k, cut in enumerate(s.cuts, start=1):
        assert s.fst(cut) == k + 1
        assert s.fst(np.nextafter(cut, math.inf)) == k
        lo, hi = s.interval(k + 1)
        assert lo < cut <= hi
    values = np.linspace(-180, 180, 100_001)
    types = s.fst(values)
    assert set(np.unique(types)) == {1, 2, 3, 4, 5, 6}
    assert np.all(np.diff(types) <= 0)  # monotone: higher ITA never a darker type


def test_chardon_minus_30_is_dark():
    # a peer returns None at exactly -30 degrees
    assert get_scale("chardon").fst(-30.0) == 6
    assert get_scale("chardon").fst(-29.999) == 5


def test_nan_gives_no_type():
    assert get_scale().fst(float("nan")) == 0


def test_unknown_scale_suggests_closest():
    with pytest.raises(InputError, match=r"unknown scale 'kinyanjui'.*Did you mean 'kinyanjui_fst'\?"):
        get_scale("kinyanjui")


def test_scale_file_round_trip(tmp_path):
    s = ItaScale("mine", ("I", "II", "III", "IV", "V", "VI"), (50.0, 35.5, 20.0, 5.0, -12.25), "test")
    s.save(tmp_path / "s.csv")
    back = load_scale_file(tmp_path / "s.csv")
    assert back.cuts == s.cuts and back.name == "mine"
    assert get_scale(tmp_path / "s.csv").fst(35.5) == 3


def test_scale_file_with_gap_is_refused(tmp_path):
    p = tmp_path / "gap.csv"
    p.write_text("scale,category,ita_above,ita_at_most,source\n"
                 "g,I,50,,x\ng,II,40,50,x\ng,III,30,39,x\ng,IV,20,30,x\ng,V,10,20,x\ng,VI,,10,x\n")
    with pytest.raises(InputError, match=r"leaves a gap or overlap between 'II' \(above 40.0\) and 'III' \(at most 39.0\)"):
        load_scale_file(p)


def test_missing_scale_file():
    with pytest.raises(InputError, match="scale: file not found: nope.csv"):
        get_scale("nope.csv")
