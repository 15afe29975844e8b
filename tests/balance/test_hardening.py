"""`fairskin balance` inputs: labels.csv with duplicates or invalid skin types, and --target
grammar (issue 19, rows 6 and 11)."""

from __future__ import annotations

import pandas as pd
import pytest

from fairskin.balance import parse_target, plan_balance
from fairskin.cli import main
from fairskin.conditioning import labelled_manifest
from fairskin.errors import InputError


def _labels(small_labels, tmp_path, edit) -> str:
    df = pd.read_csv(small_labels, dtype=str, keep_default_na=False)
    df = edit(df)
    path = tmp_path / "labels.csv"
    df.to_csv(path, index=False)
    return path


def test_conflicting_duplicate_rows_in_labels_csv_are_refused(small_demo, small_labels, tmp_path):
    def clash(df):
        row = df.iloc[[0]].assign(fst="6" if df["fst"].iloc[0] != "6" else "1")
        return pd.concat([df, row], ignore_index=True)

    path = _labels(small_labels, tmp_path, clash)
    with pytest.raises(InputError) as e:
        labelled_manifest(small_demo, labels=path)
    msg = str(e.value)
    assert msg.startswith(f"labels: {path}: 1 image(s) appear more than once with different skin types "
                          f"(e.g. 'images/000001.png' on lines 2, 42: fst ")
    assert msg.endswith("which one is right cannot be known: keep one row per image")


def test_repeated_identical_rows_count_once_and_are_reported(small_demo, small_labels, tmp_path):
    ref = labelled_manifest(small_demo, labels=small_labels)
    path = _labels(small_labels, tmp_path, lambda df: pd.concat([df, df[df["fst"].isin(["5", "6"])]],
                                                               ignore_index=True))
    frame = labelled_manifest(small_demo, labels=path)
    pd.testing.assert_series_equal(frame["fst"], ref["fst"])  # shares unchanged by the repeats
    n = int(ref["fst"].isin([5, 6]).sum())
    assert frame.attrs["label_warnings"] == [f"labels: labels.csv: {n} repeated row(s) of {n} image(s) with the "
                                             "same skin type; each image counted once"]
    plan = plan_balance(frame, target="fst56=0.4", max_per_real=5)
    assert plan.n_real == len(ref)


@pytest.mark.parametrize("bad", ["7", "abc", "0", "V-VI"])
def test_invalid_skin_types_in_labels_csv_are_refused(small_demo, small_labels, tmp_path, bad):
    path = _labels(small_labels, tmp_path, lambda df: df.assign(fst=[bad] * 3 + list(df["fst"].iloc[3:])))
    with pytest.raises(InputError) as e:
        labelled_manifest(small_demo, labels=path)
    assert str(e.value) == (f"labels: {path}: 3 row(s) have an fst that is not a skin type 1-6 ({bad!r}, {bad!r}, "
                            f"{bad!r}; line(s) 2, 3, 4); fairskin label writes 1-6, or leaves it empty for an image it "
                            "could not label: fix or empty those cells")


@pytest.mark.parametrize("target, message", [
    ("uniform,fst5=0.2", "target: 'uniform' already gives every type I-VI one sixth and cannot be combined with other "
                         "shares ('uniform,fst5=0.2'); give either 'uniform' or shares such as 'fst5=0.12,fst6=0.13'"),
    ("fst56=0", "target: share 0 in 'fst56=0' must be greater than 0 and less than 1 (a fraction of the balanced "
                "data set, e.g. 0.25 for a quarter): a share of 0 asks for no image of these types, which balancing "
                "(it only adds images) cannot reach; leave the types out of target=... instead"),
    ("fst5=-0.1", "target: share -0.1 in 'fst5=-0.1' must be greater than 0 and less than 1 (a fraction of the "
                  "balanced data set, e.g. 0.25 for a quarter): a share cannot be negative"),
])
def test_target_messages_say_what_is_wrong(target, message):
    with pytest.raises(InputError) as e:
        parse_target(target)
    assert str(e.value) == message


def test_balance_json_and_html_follow_the_output_rule(small_demo, small_labels, tmp_path, capsys):
    (tmp_path / "b.json").write_text("mine")
    code = main(["balance", str(small_demo), "--out", str(tmp_path / "out"), "--labels", str(small_labels),
                 "--target", "fst56=0.4", "--json", str(tmp_path / "b.json")])
    assert code == 2
    assert " ".join(capsys.readouterr().err.split()) == (f"error: --json: {tmp_path / 'b.json'} already exists; pass "
                                                         "--overwrite to replace it, or choose another path")
    assert (tmp_path / "b.json").read_text() == "mine" and not (tmp_path / "out" / "plan.json").exists()


def test_diagnoses_differing_only_in_case_get_distinct_file_names(tmp_path):
    """Issue 28 row 12: ``melanoma`` and ``Melanoma`` wrote the same files (fst6-melanoma-00000-a1.png),
    so the gate table counted 4 accepted and the manifest held 2."""
    frame = pd.DataFrame({"fst": [1] * 12 + [6] * 4,
                          "diagnosis": ["melanoma", "Melanoma", "nevus"] * 4 + ["melanoma", "Melanoma"] * 2})
    plan = plan_balance(frame, target="fst6=0.4", max_per_real=10)
    slots = [s["slot"] for s in plan.slots()]
    assert len(slots) == plan.n_generate > 0
    assert len(set(slots)) == len(slots)
    assert {s["diagnosis"] for s in plan.slots()} == {"melanoma", "Melanoma"}
    assert any("'Melanoma', 'melanoma' differ only in case" in n for n in plan.notes)
