"""Property tests: every CSV fairskin reads, given arbitrary bytes or arbitrary well-formed-looking
tables (any encoding, delimiter, quoting, header and values), gives a result or a clear
InputError, never another exception (which the command line would print as a traceback).

Readers covered: the one CSV reader (fairskin.data.read_csv_table), every data set metadata reader
(read_dataset for each format), labels.csv (fairskin.label.read_labels_csv, and balance's
labelled_manifest), predictions (read, clean, audit, and `fairskin audit` end to end), manifests
(train's read_manifest, audit-synthetic's reader) and ITA scale CSVs (get_scale)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fairskin.errors import InputError  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

CELLS = ["", " ", "1", "6", "0", "7", "-1", "3.0", "III", "vi", "I-II", "56", "12", "nan", "NaN", "inf", "-inf",
         "1e400", "-0.5", "0.5", "1.5", "0,5", "True", "false", "yes", "malignant", "benign", "unknown",
         "=cmd|' /C calc'!A0", "'=x", "+1+1", "@SUM(1)", "x.png", "images/x.png", "../x.png", "/etc/passwd",
         "a\nb", 'say "hi"', "é", "ü\u200b", "a,b", "a;b", "\t", "0000001.png", "NA", "None", "<NA>"]
cell = st.one_of(st.sampled_from(CELLS), st.text(max_size=10))


def _encode(rows: list[list[str]], *, delimiter: str, quoting: int, encoding: str, newline: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=newline, escapechar="\\"
                   if quoting == csv.QUOTE_NONE else None)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding, errors="replace")


@st.composite
def tables(draw, columns: list[str], *, max_rows: int = 8) -> bytes:
    """A CSV whose header has some of ``columns`` (usually all), maybe extras and repeats, and
    rows of awkward values, in a drawn encoding, delimiter, quoting and line ending."""
    header = [c for c in columns if draw(st.floats(0, 1)) < 0.92]
    header += draw(st.lists(st.sampled_from(["extra", "", "fst", "image", "Unnamed: 0", "=bad"]), max_size=2))
    header = draw(st.permutations(header)) if header else ["x"]
    n = draw(st.integers(0, max_rows))
    rows = [header]
    for _ in range(n):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        rows.append([draw(cell) for _ in range(max(width, 0))])
    return _encode(rows, delimiter=draw(st.sampled_from([",", ";", "\t"])),
                   quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE])),
                   encoding=draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"])),
                   newline=draw(st.sampled_from(["\n", "\r\n"])))


raw_bytes = st.one_of(st.binary(max_size=300),
                      st.text(max_size=200).map(lambda t: t.encode("utf-8", errors="replace")))


def _write(data: bytes, name: str = "x.csv") -> Path:
    d = Path(tempfile.mkdtemp(prefix="fairskin-fuzz-"))
    p = d / name
    p.write_bytes(data)
    return p


def _result_or_input_error(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        assert str(exc).strip(), "an InputError must say what is wrong"
        return None


# --------------------------------------------------------------------------- the one reader

@FUZZ
@given(data=st.one_of(raw_bytes, tables(["image", "score", "label", "fst"])))
def test_read_csv_table_gives_text_cells_or_an_input_error(data):
    from fairskin.data import read_csv_table

    out = _result_or_input_error(read_csv_table, _write(data), arg="--x")
    if out is not None:
        df, warnings = out
        assert all(isinstance(c, str) and c for c in df.columns)
        assert df.columns.is_unique
        assert all(isinstance(v, str) for v in df.to_numpy().ravel())
        assert all(isinstance(w, str) for w in warnings)


# --------------------------------------------------------------------------- data set metadata

_FORMATS = {
    "ddi": ("ddi_metadata.csv", ["DDI_ID", "DDI_file", "skin_tone", "malignant", "disease"]),
    "fitzpatrick17k": ("fitzpatrick17k.csv", ["md5hash", "fitzpatrick_scale", "label", "three_partition_label"]),
    "ham10000": ("HAM10000_metadata.csv", ["lesion_id", "image_id", "dx"]),
    "isic": ("ISIC_2020_Training_GroundTruth.csv", ["image_name", "patient_id", "target", "benign_malignant"]),
    "pad-ufes-20": ("metadata.csv", ["patient_id", "lesion_id", "img_id", "diagnostic", "fitspatrick"]),
    "folder": ("metadata.csv", ["file_name", "diagnosis", "malignant", "fst", "image_id"]),
}


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """A few real images, some in sub-folders and with the same name in two of them."""
    from PIL import Image

    root = tmp_path_factory.mktemp("fuzz-images")
    rgb = np.full((16, 16, 3), (200, 150, 120), np.uint8)
    for rel in ("x.png", "images/x.png", "a/0000001.png", "b/0000001.png", "ISIC_1.jpg", "=cmd.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / rel)
    return root


@pytest.mark.parametrize("fmt", list(_FORMATS))
def test_dataset_metadata_readers(fmt, image_folder):
    from fairskin.data import read_dataset

    name, columns = _FORMATS[fmt]

    @FUZZ
    @given(data=st.one_of(tables(columns), raw_bytes))
    def check(data):
        for p in image_folder.glob("*.csv"):
            p.unlink()
        (image_folder / name).write_bytes(data)
        df = _result_or_input_error(read_dataset, image_folder, format=fmt)
        if df is not None:
            assert len(df) > 0
            assert set(df["status"].dropna()) <= {"ok", "missing", "duplicate", "ambiguous", "bad_metadata"}
            assert df.loc[df["status"] != "ok", "reason"].fillna("").str.len().gt(0).all()
            assert df["fst_human"].dropna().between(1, 6).all()

    check()


# --------------------------------------------------------------------------- labels.csv

LABEL_COLUMNS = ["image", "image_id", "ita", "fst", "confidence", "status", "reason", "scale"]


@FUZZ
@given(data=st.one_of(tables(LABEL_COLUMNS), raw_bytes))
def test_labels_csv_reader(data):
    from fairskin.label import read_labels_csv

    from fairskin.skintone import parse_fst

    df = _result_or_input_error(read_labels_csv, _write(data, "labels.csv"))
    if df is not None:
        assert df["image"].is_unique
        assert all(s in (None, "no_fst") for s in parse_fst(df["fst"].tolist(), groups=False)[2])


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("fuzz-demo")
    write_demo_dataset(root, DemoConfig(n=12, size=32, seed=3, fst_weights=(1, 1, 1, 1, 1, 1)))
    return root


def test_labels_csv_given_to_balance(small_set):
    from fairskin.balance import plan_balance
    from fairskin.conditioning import labelled_manifest

    images = [f"images/{i:06d}.png" for i in range(1, 13)]

    @FUZZ
    @given(rows=st.lists(st.tuples(st.sampled_from(images + ["nope.png", ""]), cell), max_size=30),
           delimiter=st.sampled_from([",", ";"]))
    def check(rows, delimiter):
        data = _encode([["image", "fst", "scale"]] + [[i, f, "x"] for i, f in rows], delimiter=delimiter,
                       quoting=csv.QUOTE_MINIMAL, encoding="utf-8", newline="\n")
        frame = _result_or_input_error(labelled_manifest, small_set, labels=_write(data, "labels.csv"))
        if frame is not None:
            assert frame["fst"].dropna().between(1, 6).all()
            _result_or_input_error(plan_balance, frame, target="fst56=0.3", max_per_real=5)

    check()


# --------------------------------------------------------------------------- predictions

PRED_COLUMNS = ["image", "score", "label", "fst", "diagnosis"]


@FUZZ
@given(data=st.one_of(tables(PRED_COLUMNS, max_rows=12), raw_bytes), scores=st.sampled_from(["probabilities",
                                                                                               "logits"]))
def test_predictions_read_clean_and_audit(data, scores):
    from fairskin.audits.classifier import audit_predictions

    res = _result_or_input_error(audit_predictions, _write(data, "preds.csv"), n_boot=5, scores=scores)
    if res is not None:
        m = res.to_dict()["models"][0]
        assert m["counts"]["n_used"] + sum(m["counts"]["skipped"].values()) == m["counts"]["n_input"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.one_of(tables(PRED_COLUMNS, max_rows=12), raw_bytes))
def test_audit_command_never_prints_a_traceback(data, capsys):
    from fairskin.cli import main

    path = _write(data, "preds.csv")
    code = main(["audit", str(path), "--n-boot", "5", "-q", "--json", str(path.with_suffix(".json"))])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert err.startswith("error: ")


# --------------------------------------------------------------------------- manifests

MANIFEST_COLUMNS = ["image", "image_id", "diagnosis", "malignant", "fst_human", "fst_group_human", "status",
                    "synthetic", "fst", "fst_requested", "gate", "seed", "source_image"]


@FUZZ
@given(data=st.one_of(tables(MANIFEST_COLUMNS), raw_bytes))
def test_manifest_readers(data, image_folder):
    from fairskin.audits.synthetic import audit_synthetic
    from fairskin.train import read_manifest

    path = _write(data, "manifest.csv")
    df = _result_or_input_error(read_manifest, path)
    if df is not None:
        assert "image" in df.columns and df.attrs["root"]
    import fairskin.audits.synthetic._synthetic as syn  # the manifest reading step of audit-synthetic (no features)

    _result_or_input_error(syn._read_synthetic, path, None)
    assert callable(audit_synthetic)


# --------------------------------------------------------------------------- ITA scale CSVs

SCALE_COLUMNS = ["scale", "category", "ita_above", "ita_at_most", "source"]


@st.composite
def scale_tables(draw) -> bytes:
    """Six rows like a real scale's, with drawn damage (a bad number, a gap, a missing row)."""
    cuts = sorted(draw(st.lists(st.floats(-60, 80, allow_nan=False), min_size=5, max_size=5, unique=True)),
                  reverse=True)
    bounds = [("", f"{cuts[0]}")] + [(f"{cuts[i]}", f"{cuts[i - 1]}") for i in range(1, 5)] + [(f"{cuts[4]}", "")]
    bounds = [(lo, hi) for hi, lo in bounds]
    rows = [SCALE_COLUMNS] + [["mine", f"T{k}", lo, hi, "test"] for k, (lo, hi) in enumerate(bounds)]
    for _ in range(draw(st.integers(0, 2))):
        r = draw(st.integers(1, len(rows) - 1))
        c = draw(st.integers(0, 4))
        if c < len(rows[r]):
            rows[r][c] = draw(cell)
    if draw(st.booleans()):
        rows.pop(draw(st.integers(1, len(rows) - 1)))
    return _encode(rows, delimiter=",", quoting=csv.QUOTE_MINIMAL, encoding="utf-8", newline="\n")


@FUZZ
@given(data=st.one_of(scale_tables(), tables(SCALE_COLUMNS), raw_bytes))
def test_scale_csv_reader(data):
    from fairskin.skintone import get_scale

    sc = _result_or_input_error(get_scale, _write(data, "scale.csv"))
    if sc is not None:
        assert len(sc.cuts) == 5 and list(sc.cuts) == sorted(sc.cuts, reverse=True)
        assert sc.fst(np.array([sc.cuts[0] + 1, sc.cuts[-1] - 1])).tolist() == [1, 6]


# --------------------------------------------------------------------------- issue 28: nothing silently dropped

def _preds_rows(n: int = 60) -> list[list[str]]:
    rng = np.random.default_rng(3)
    return [[f"i{k:03d}.png", f"{rng.random():.3f}", str(int(k % 3 == 0)), str(1 + k % 6), "mel"] for k in range(n)]


def _audit_rows(tmp_path, rows: list[list[str]], encoding: str, capsys) -> tuple[dict, str]:
    """`fairskin audit` of a predictions CSV of ``rows``: (the model's JSON, the terminal text)."""
    import json

    from fairskin.cli import main

    path = tmp_path / "preds.csv"
    path.write_bytes(_encode([PRED_COLUMNS] + rows, delimiter=",", quoting=csv.QUOTE_MINIMAL, encoding=encoding,
                             newline="\n"))
    js = tmp_path / "a.json"
    assert main(["audit", str(path), "--n-boot", "5", "--json", str(js)]) == 0
    return json.loads(js.read_text())["models"][0], " ".join(capsys.readouterr().out.split())


def test_a_prediction_row_with_too_many_cells_is_counted_with_its_line(tmp_path, capsys):
    """Row 4: the row was dropped and the audit said "300 of 300 rows used"."""
    rows = _preds_rows()
    rows[9] = rows[9] + ["surplus"]
    m, out = _audit_rows(tmp_path, rows, "utf-8", capsys)
    assert m["counts"]["n_input"] == 60 and m["counts"]["n_used"] == 59 and m["counts"]["skipped"] == {"bad_row": 1}
    assert m["bad_rows"][0]["image"] == "i009.png" and "line 11" in m["bad_rows"][0]["reason"]
    assert "59 of 60 rows used; skipped: bad_row 1" in out and "line 11 has 6 cells" in out


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    """Row 5: the second ``score`` was silently renamed ``score.1``."""
    from fairskin.data import read_csv_table

    path = tmp_path / "preds.csv"
    path.write_text("image,score,label,score\na.png,0.1,0,0.9\n")
    with pytest.raises(InputError, match=r"preds.csv: the header names column 'score' more than once \(columns 2 "
                                         r"and 4\)"):
        read_csv_table(path, arg="predictions")


def test_an_encoding_fallback_is_said_in_the_terminal_and_the_json(tmp_path, capsys):
    """Row 5: a latin-1 predictions file was read, and the warning never shown."""
    rows = _preds_rows()
    rows[4][4] = "naevus é"
    m, out = _audit_rows(tmp_path, rows, "latin-1", capsys)
    warnings = m["warnings"]
    assert len(warnings) == 1 and "not UTF-8 (lines 6); read as Windows-1252" in warnings[0]
    assert "not UTF-8 (lines 6); read as Windows-1252" in out


@FUZZ
@given(data=tables(PRED_COLUMNS, max_rows=12))
def test_every_row_of_a_predictions_file_is_used_or_reported(data):
    """Rows used + rows reported = the file's data rows (empty lines aside), whatever their damage."""
    from fairskin.audits.classifier import audit_predictions
    from fairskin.data import read_csv_table

    path = _write(data, "preds.csv")
    table = _result_or_input_error(read_csv_table, path, arg="predictions")
    res = _result_or_input_error(audit_predictions, path, n_boot=5)
    if table is not None and res is not None:
        df, _ = table
        m = res.to_dict()["models"][0]
        assert m["counts"]["n_input"] == len(df) + len(df.attrs["skipped_rows"])
        assert m["counts"]["n_used"] + sum(m["counts"]["skipped"].values()) == m["counts"]["n_input"]
