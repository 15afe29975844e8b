"""One progress shape (the library reports ProgressEvents, the CLI draws them) and one naming rule for
errors (the library names Python arguments, the command line its flags)."""

from __future__ import annotations

import pandas as pd
import pytest

from fairskin.audits.classifier import read_skin_types
from fairskin.cli import main
from fairskin.cli._common import ProgressView, flag_message
from fairskin.errors import InputError, arguments_named, rename_arguments
from fairskin.progress import ProgressEvent, counter, report, track


def test_counts_and_lines_reach_the_callback_in_one_shape():
    events = []
    report(None, "ignored", 1, 2)  # None reports nothing
    report(False, "ignored", 1, 2)
    assert list(track(["a", "b", "c"], events.append, "reading")) == ["a", "b", "c"]
    tick = counter(events.append, "scoring", 10)
    tick(advance=4)
    tick("2 img/s", advance=6)
    report(events.append, "training", message="epoch 1: done")
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("reading", 0, 3), ("reading", 1, 3), ("reading", 2, 3), ("reading", 3, 3),
        ("scoring", 0, 10), ("scoring", 4, 10), ("scoring", 10, 10), ("training", None, None)]
    assert str(events[6]) == "scoring: 10 of 10 (2 img/s)" and events[-1].is_line and str(events[-1]) == "epoch 1: done"


def test_the_cli_view_prints_lines_and_a_count_line_only_when_quiet_for_long():
    lines = []
    view = ProgressView(lines.append, every=0.0)  # not a terminal, every count due
    view(ProgressEvent("labelling", 3, 10, "5 img/s"))
    view(ProgressEvent("training", message="epoch 1: train loss 0.5"))
    slow = ProgressView(lines.append, every=3600.0)
    slow(ProgressEvent("labelling", 4, 10))  # within the interval: nothing
    ProgressView()(ProgressEvent("x", message="quiet"))  # --quiet: nothing
    assert lines == ["    labelling: 3 of 10 (5 img/s)", "epoch 1: train loss 0.5"]


def test_renaming_touches_argument_references_only():
    msg = "labels: none of the 3 images is in x.csv (first image: 'a'); pass labels=... (fst_source='estimated')"
    assert rename_arguments(msg, {"labels": "test_labels", "fst_source": "test_fst_source", "image": "no"}) == (
        "test_labels: none of the 3 images is in x.csv (first image: 'a'); pass test_labels=... "
        "(test_fst_source='estimated')")
    assert flag_message(msg, {"labels": "--labels", "fst_source": "--fst-source"}) == (
        "--labels: none of the 3 images is in x.csv (first image: 'a'); pass --labels ... (--fst-source estimated)")
    assert flag_message("--labels: as given; test_labels=x", {"labels": "--labels"}) == "--labels: as given; test_labels=x"
    with pytest.raises(InputError, match=r"^test_fst_source: expected"):
        with arguments_named({"fst_source": "test_fst_source"}):
            raise InputError("fst_source: expected 'auto', 'human' or 'estimated', got 'x'")


def test_the_library_names_the_argument_and_the_cli_the_flag(demo_data, tmp_path, capsys):
    frame = pd.DataFrame({"image": ["a.png"]})
    with pytest.raises(InputError) as e:
        read_skin_types(frame, labels=None, fst_source="estimated")
    assert str(e.value) == "fst_source='estimated' needs a labels.csv from fairskin label (labels=...)"
    model = tmp_path / "model.pt"
    model.write_bytes(b"not read: the skin types are resolved first")
    assert main(["audit", str(model), "--data", str(demo_data), "--fst-source", "estimated", "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == "error: --fst-source estimated needs a labels.csv from fairskin label (--labels ...)"


def test_converted_library_messages_reach_the_user_as_flags(demo_data, tmp_path, capsys):
    """The library says calibrate=True / estimator='ita' / label_confusion=None / scale: (Python);
    the command line the flags, a bare flag for True and the command's --no- flag for None."""
    from fairskin.label import label_dataset

    with pytest.raises(InputError) as e:
        label_dataset(demo_data, out=tmp_path / "l.csv", estimator="monk", calibrate=True, progress=False)
    assert str(e.value) == ("calibrate=True fits ITA cut-points to human Fitzpatrick types; it applies to "
                            "estimator='ita', not 'monk'")
    assert main(["label", str(demo_data), "--out", str(tmp_path / "l.csv"), "--estimator", "monk", "--calibrate",
                 "-q"]) == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        "error: --calibrate fits ITA cut-points to human Fitzpatrick types; it applies to --estimator ita, not 'monk'")

    assert main(["label", str(demo_data), "--out", str(tmp_path / "l.csv"), "--scale", "nope", "-q"]) == 2
    assert " ".join(capsys.readouterr().err.split()).startswith("error: --scale: unknown scale 'nope'; built-in scales")

    model, confusion = tmp_path / "model.pt", tmp_path / "confusion.json"
    model.write_bytes(b"not read: the inputs are checked first")
    confusion.write_text("{}")
    assert main(["audit", str(model), "--data", str(demo_data), "--fst-source", "human", "--label-confusion",
                 str(confusion), "-q"]) == 2
    assert " ".join(capsys.readouterr().err.split()) == (
        "error: --label-confusion: a labeller's confusion corrects estimated skin types, but --fst-source human says "
        "the types are people's labels; give --no-label-confusion, or audit estimated types (--fst-source estimated)")


def test_an_output_key_with_its_qualifier_and_a_boolean_are_written_as_flags():
    flags = {"save_predictions": "--save-predictions", "overwrite": "--overwrite", "tone": "--tone"}
    msg = "save_predictions (model.pt): /x already exists; pass overwrite=True to replace it (tone=False: none)"
    assert flag_message(msg, flags, {"tone": "--no-tone"}) == (
        "--save-predictions (model.pt): /x already exists; pass --overwrite to replace it (--no-tone: none)")
    assert flag_message("a (b): label_confusion=None", flags) == "a (b): label_confusion=None"  # no flag: Python words
    assert rename_arguments(msg, {"save_predictions": "saved"}).startswith("saved (model.pt): /x")
