"""Issue 28 rows 11, 13, 14, 16 (and 6): any file name the file system gives, symlinked folders,
metadata paths outside the data folder, one image under two ids, files in formats fairskin does not
read, and every reader warning reaching labels.csv, the terminal and the JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.cli import main
from fairskin.data import read_dataset

posix_bytes = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="file names are bytes on Linux only")


def _skin(path: Path, seed: int = 0, tone: tuple[int, int, int] = (200, 150, 120)) -> None:
    rng = np.random.default_rng(seed)
    px = np.clip(np.array(tone)[None, None] + rng.normal(0, 6, (64, 64, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px).save(path)


@posix_bytes
def test_a_file_name_that_is_not_utf8_is_labelled_and_written_escaped(tmp_path, capsys):
    data = tmp_path / "data"
    _skin(data / "ok.png")
    _skin(Path(os.fsdecode(bytes(data) + b"/caf\xe9.png")), seed=1)
    out, js = tmp_path / "labels.csv", tmp_path / "labels.json"
    assert main(["label", str(data), "--out", str(out), "--json", str(js), "-q"]) == 0
    labels = pd.read_csv(out, encoding="utf-8")
    assert sorted(labels["image"]) == ["caf\\xe9.png", "ok.png"]
    assert set(labels["status"]) == {"ok"}
    assert json.loads(js.read_text(encoding="utf-8"))["counts"]["labelled"] == 2


def test_a_symlinked_folder_is_followed_and_a_loop_reported(tmp_path):
    other = tmp_path / "other" / "images"
    for i in range(3):
        _skin(other / f"o{i}.png", seed=i)
    data = tmp_path / "data"
    _skin(data / "here.png")
    (data / "linked").symlink_to(other, target_is_directory=True)
    (data / "loop").symlink_to(data, target_is_directory=True)
    df = read_dataset(data)
    assert sorted(df["image"]) == ["here.png", "linked/o0.png", "linked/o1.png", "linked/o2.png"]
    assert any("loop" in w and "already read" in w for w in df.attrs["warnings"])


def _ddi(root: Path, rows: list[str], images: dict[str, int]) -> Path:
    for name, seed in images.items():
        _skin(root / "images" / name, seed=seed)
    (root / "ddi_metadata.csv").write_text("DDI_ID,DDI_file,skin_tone,malignant,disease\n" + "\n".join(rows) + "\n")
    return root


def test_ddi_images_behind_a_symlinked_folder_are_found(tmp_path):
    real = tmp_path / "store"
    for i in (1, 2):
        _skin(real / f"00000{i}.png", seed=i)
    root = tmp_path / "ddi"
    root.mkdir()
    (root / "images").symlink_to(real, target_is_directory=True)
    (root / "ddi_metadata.csv").write_text("DDI_ID,DDI_file,skin_tone,malignant,disease\n"
                                           "1,000001.png,12,True,melanoma\n2,000002.png,56,False,nevus\n")
    df = read_dataset(root)
    assert list(df["status"]) == ["ok", "ok"]


def test_ddi_paths_outside_the_root_wrong_folders_and_one_image_twice_are_flagged(tmp_path):
    root = _ddi(tmp_path / "ddi", ["1,000001.png,12,True,melanoma", "2,other/000002.png,12,True,melanoma",
                                   "3,000003.png,34,False,nevus", "4,../../x/000004.png,56,False,nevus",
                                   "5,000003.png,34,False,nevus"],
                {"000001.png": 1, "000002.png": 2, "000003.png": 3, "000004.png": 4})
    df = read_dataset(root).set_index("image_id")
    assert df.loc["1", "status"] == "ok" and df.loc["3", "status"] == "ok"
    assert df.loc["2", "status"] == "missing" and "images/000002.png" in df.loc["2", "reason"]
    assert df.loc["4", "status"] == "bad_metadata" and "outside the data folder" in df.loc["4", "reason"]
    assert df.loc["5", "status"] == "duplicate" and "already listed in metadata row 3" in df.loc["5", "reason"]


def test_files_in_formats_fairskin_does_not_read_are_listed(tmp_path):
    _skin(tmp_path / "a.png")
    Image.new("RGB", (16, 16), (200, 150, 120)).save(tmp_path / "b.gif")
    Image.new("RGB", (16, 16), (200, 150, 120)).save(tmp_path / "c.gif")
    df = read_dataset(tmp_path)
    assert list(df["image"]) == ["a.png"]
    assert any(".gif 2" in w and "not in a format fairskin reads" in w for w in df.attrs["warnings"])


def test_a_reader_warning_reaches_the_reason_the_terminal_and_the_json(tmp_path, capsys):
    """Row 13: DDI ``1,000001.png,99,maybe,melanoma`` had status ok and an empty reason."""
    root = _ddi(tmp_path / "ddi", ["1,000001.png,99,maybe,melanoma", "2,000002.png,12,True,melanoma"],
                {"000001.png": 1, "000002.png": 2})
    out, js = tmp_path / "l.csv", tmp_path / "l.json"
    assert main(["label", str(root), "--out", str(out), "--json", str(js)]) == 0
    term = " ".join(capsys.readouterr().out.split())
    labels = pd.read_csv(out, keep_default_na=False).set_index("image_id")
    assert "skin_tone='99' is not 12, 34 or 56" in labels.loc[1, "reason"]
    assert "malignant='maybe'" in labels.loc[1, "reason"]
    assert labels.loc[2, "reason"] == ""
    summary = json.loads(js.read_text())
    assert summary["counts"]["warnings"] == 1
    assert [r["image"] for r in summary["warned_rows"]] == ["images/000001.png"]
    assert "metadata warnings on 1 labelled row " in term and "skin_tone='99'" in term


def test_folder_metadata_with_an_out_of_range_type_says_so(tmp_path):
    _skin(tmp_path / "a.png")
    (tmp_path / "metadata.csv").write_text("file_name,fst\na.png,7\n")
    out = tmp_path / "l.csv"
    assert main(["label", str(tmp_path), "--out", str(out), "-q"]) == 0
    labels = pd.read_csv(out, keep_default_na=False)
    assert "fst='7' is not a Fitzpatrick type 1-6" in labels.loc[0, "reason"]
