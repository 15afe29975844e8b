"""The PAD-UFES-20 agreement figures of docs/label.md, pinned: each table is regenerated from its
sample (61 photos, 46 with a clinician's type) and must read exactly as documented. The full-size
sample's table (the figures fairskin.label.PAD_AGREEMENT quotes to users) is checked where that
sample is found; the reduced copy shipped in tests/data has its own table, checked on every clone.
The data, the code and the bootstrap seed are fixed, so the figures are exact; a change to the
estimator that moves them must update the documentation with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fairskin.label import PAD_AGREEMENT, label_dataset

DOC = Path(__file__).resolve().parents[2] / "docs" / "label.md"
SHIPPED = Path(__file__).resolve().parents[1] / "data" / "pad-ufes-20-sample"
#: the header of each documented table: full-size sample, shipped copy
FULL_HEAD = "| | exact | within one | weighted kappa | Spearman rho(ITA, type) |"
SHIPPED_HEAD = "| shipped test copy (192 px) | exact | within one | weighted kappa | Spearman rho(ITA, type) |"
#: the table's rows, by their first cell, and how each is made
ROWS = {
    "automatic lesion segmentation (default scale)": dict(masks=False, calibrate=False),
    "with the sample's lesion masks (`--masks`; 3 images left without a type, with the reason)":
        dict(masks=True, calibrate=False),
    "`--calibrate`, 5-fold cross-validated (folds grouped by patient), masks": dict(masks=True, calibrate=True),
}
#: exact counts behind the full-size percentages: (images with a clinician's type and an
#: estimate, exact, within one type)
COUNTS = dict(zip(ROWS, (PAD_AGREEMENT["default"], PAD_AGREEMENT["masks"], PAD_AGREEMENT["calibrated_cv"])))
AUTO, MASKS = list(ROWS)[:2]


def _documented_rows(head: str) -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    rows = {}
    for line in text[text.index(head):].splitlines()[2:]:
        if not line.strip().startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.0f}"


def _table_row(a: dict, *, rank: bool) -> list[str]:
    """One row as docs/label.md writes it: percentages with their 95% interval, kappa, rho."""
    cells = [f"{_pct(a[k])}% ({_pct(a[k + '_ci'][0])}-{_pct(a[k + '_ci'][1])}%)" for k in ("exact", "within_one")]
    cells.append(f"{a['weighted_kappa']:.2f}")
    rho = a["spearman_ita"]
    cells.append(f"{rho['rho']:.2f} ({rho['ci'][0]:.2f} to {rho['ci'][1]:.2f})" if rank else "")
    return cells


def _measure(sample: Path, out: Path) -> dict[str, dict]:
    got = {}
    for i, (name, how) in enumerate(ROWS.items()):
        res = label_dataset(sample, out=out / f"{i}.csv", masks=sample / "masks" if how["masks"] else None,
                            calibrate=how["calibrate"], progress=False)  # the default bootstrap: 1000, seed 0
        s = res.summary
        got[name] = {"agreement": s["calibration"]["agreement_cross_validated"] if how["calibrate"] else s["agreement"],
                     "counts": s["counts"], "folds": s["calibration"]["folds"] if how["calibrate"] else None}
    return got


@pytest.fixture(scope="module")
def measured(full_pad_sample, tmp_path_factory) -> dict[str, dict]:
    return _measure(full_pad_sample, tmp_path_factory.mktemp("pad-agreement"))


@pytest.fixture(scope="module")
def measured_shipped(tmp_path_factory) -> dict[str, dict]:
    return _measure(SHIPPED, tmp_path_factory.mktemp("pad-agreement-shipped"))


def _check_table(head: str, measured: dict) -> None:
    documented = _documented_rows(head)
    assert list(documented) == list(ROWS)
    for name, row in documented.items():
        assert _table_row(measured[name]["agreement"], rank=not ROWS[name]["calibrate"]) == row, name


def _check_counts_of_images(measured: dict) -> None:
    assert measured[AUTO]["counts"]["total"] == 61 and measured[AUTO]["counts"]["by_status"] == {"ok": 61}
    assert measured[MASKS]["counts"]["by_status"] == {"ok": 58, "no_skin": 3}  # "3 images left without a type"
    for name in ROWS:
        a = measured[name]["agreement"]
        assert a["bootstrap"] == {"n_boot": 1000, "seed": 0, "method": "percentile"}
        if ROWS[name]["calibrate"]:  # the documented row is the patient-grouped cross-validation
            assert measured[name]["folds"] == "5 folds grouped by patient_id"


def test_documented_table_is_what_the_code_measures(measured):
    _check_table(FULL_HEAD, measured)


def test_shipped_copy_table_is_what_the_code_measures(measured_shipped):
    _check_table(SHIPPED_HEAD, measured_shipped)
    _check_counts_of_images(measured_shipped)


@pytest.mark.parametrize("name", list(ROWS))
def test_exact_counts(measured, name):
    a = measured[name]["agreement"]
    n, exact, within = COUNTS[name]
    assert (a["n"], a["exact"] * n, a["within_one"] * n) == (n, pytest.approx(exact), pytest.approx(within))


def test_documented_counts_of_images(measured):
    text = DOC.read_text(encoding="utf-8")
    assert re.search(r"PAD-UFES-20 sample, 61 smartphone photos, 46 with a clinician's type", text)
    _check_counts_of_images(measured)
