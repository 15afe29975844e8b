"""Planning: exact numbers worked out by hand (see each test's comment)."""

import pandas as pd
import pytest

from fairskin.balance import parse_target, plan_balance
from fairskin.errors import InputError


@pytest.fixture
def frame():
    # 100 real images: I 40 (30 nevus, 10 melanoma), III 40 nevus, V 12 (8 nevus, 4 melanoma), VI 8 nevus
    rows = ([(1, "nevus")] * 30 + [(1, "melanoma")] * 10 + [(3, "nevus")] * 40 + [(5, "nevus")] * 8
            + [(5, "melanoma")] * 4 + [(6, "nevus")] * 8)
    return pd.DataFrame(rows, columns=["fst", "diagnosis"])


def cell(plan, fst, dx):
    c = plan.cells
    return int(c.loc[(c.fst == fst) & (c.diagnosis == dx), "generate"].iloc[0])


def test_group_target_exact_numbers(frame):
    # N' = 80 / 0.75 = 106.67; V-VI wants round(26.67) = 27, has 20 -> 7, split 8:4:8 over
    # (V nevus, V melanoma, VI nevus) = 2.8, 1.4, 2.8 -> 3, 1, 3 (largest remainder)
    plan = plan_balance(frame, target="fst56=0.25")
    assert plan.n_generate == 7 and plan.n_final == 107
    assert (cell(plan, 5, "nevus"), cell(plan, 5, "melanoma"), cell(plan, 6, "nevus")) == (3, 1, 3)
    assert cell(plan, 1, "nevus") == 0 and cell(plan, 3, "nevus") == 0
    (s,) = plan.shares()
    assert s["final"] == 27 and abs(s["share_after"] - 0.25) < 0.01


def test_per_type_targets(frame):
    # N' = 80 / 0.75 = 106.67: V wants round(12.8) = 13 (has 12 -> 1, split 8:4 -> 0.67, 0.33 -> 1, 0),
    # VI wants round(13.87) = 14 (has 8 -> 6)
    plan = plan_balance(frame, target="fst5=0.12,fst6=0.13")
    assert (cell(plan, 5, "nevus"), cell(plan, 5, "melanoma"), cell(plan, 6, "nevus")) == (1, 0, 6)


def test_uniform():
    rows = [(t, "nevus") for t in range(1, 7) for _ in range([10, 6, 6, 5, 3, 2][t - 1])]
    plan = plan_balance(pd.DataFrame(rows, columns=["fst", "diagnosis"]), target="uniform", max_per_real=5)
    # every type ends at max(real) = 10
    assert plan.cells["final"].tolist() == [10] * 6
    assert plan.cells["generate"].tolist() == [0, 4, 4, 5, 7, 8]


def test_diagnosis_share_kept_within_type(frame):
    plan = plan_balance(frame, target="fst56=0.4")
    v = plan.cells[plan.cells.fst == 5]
    # V: 8 nevus : 4 melanoma stays 2:1 (to rounding)
    assert abs(v.final.iloc[1] / v.final.sum() - 8 / 12) < 0.05


def test_slots_are_unique_and_count(frame):
    plan = plan_balance(frame, target="fst56=0.25")
    slots = [s["slot"] for s in plan.slots()]
    assert len(slots) == 7 == len(set(slots))
    assert slots[0] == "fst5-melanoma-00000"


def test_cap_error_says_what_would_work(frame):
    with pytest.raises(InputError) as e:
        plan_balance(frame, target="fst56=0.6")
    msg = str(e.value)
    assert "type V x melanoma has 4 real image(s) and would need 20 synthetic ones (5.00 per real image)" in msg
    assert "max_per_real=5" in msg and "fst56=0.43" in msg
    # and what it suggests does work
    plan_balance(frame, target="fst56=0.43")


@pytest.mark.parametrize("target,expected", [
    ("fst56=1.5", "share 1.5 in 'fst56=1.5' must be greater than 0 and less than 1"),
    ("fst7=0.1", "'fst7=0.1' names Fitzpatrick type 7; types are 1-6"),
    ("fst56=abc", "share 'abc' in 'fst56=abc' is not a number"),
    ("dark=0.3", "cannot read 'dark=0.3'"),
    ("fst5=0.6,fst6=0.5", "the shares add up to 1.1, more than 1"),
    ("fst5=0.1,fst56=0.2", "type 5 appears in both 'fst5=0.1' and 'fst56=0.2'"),
])
def test_malformed_targets(target, expected):
    with pytest.raises(InputError, match=None) as e:
        parse_target(target)
    assert expected in str(e.value)


def test_unreachable_share_cannot_shrink(frame):
    with pytest.raises(InputError) as e:
        plan_balance(frame, target="fst1=0.2")
    assert "type I is already 40.0% of the data set (target 20.0%)" in str(e.value)
    assert "fst1>=0.40" in str(e.value)


def test_type_without_real_images(frame):
    with pytest.raises(InputError) as e:
        plan_balance(frame, target="uniform")
    assert "no real image of type II" in str(e.value)


def test_unknown_types_count_in_total(frame):
    extra = pd.concat([frame, pd.DataFrame({"fst": [pd.NA] * 20, "diagnosis": ["nevus"] * 20})])
    extra["fst"] = extra["fst"].astype("Int64")
    plan = plan_balance(extra, target="fst56=0.25")
    # N' = 100 / 0.75 = 133.3, V-VI wants round(33.3) = 33, has 20 -> 13
    assert plan.n_generate == 13 and plan.n_unknown_fst == 20
    assert "20 image(s) have no skin type" in plan.notes[0]


def test_fingerprint_changes_with_target(frame):
    a = plan_balance(frame, target="fst56=0.25").fingerprint()
    assert a == plan_balance(frame, target="fst56=0.25").fingerprint()
    assert a != plan_balance(frame, target="fst56=0.3").fingerprint()
