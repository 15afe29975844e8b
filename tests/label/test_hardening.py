"""`fairskin label` against interruption, concurrent runs, hostile names and bad inputs
(issue 19, rows 1, 2, 3, 4, 5, 7, 9, 10)."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.cli import main
from fairskin.data import read_dataset
from fairskin.errors import InputError
from fairskin.label import label_dataset, read_labels_csv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def big_demo(tmp_path_factory) -> Path:
    """300 phantoms: labelling them takes a few seconds, long enough to interrupt."""
    from fairskin.data import DemoConfig, write_demo_dataset

    root = tmp_path_factory.mktemp("big-demo")
    write_demo_dataset(root, DemoConfig(n=300, size=128, seed=5))
    return root


def _as_from_a_shell() -> None:
    """In the child, before exec: SIGINT handled by default and not blocked, as a shell starts a
    command. A child inherits both from the test process, and in a full CI run something in the
    pytest worker had left SIGINT ignored or blocked: the run never saw the Ctrl-C and exited 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def _cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "fairskin", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, preexec_fn=_as_from_a_shell)


def _wait_for(path: Path, timeout: float = 60) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.02)


# --------------------------------------------------------------------------- row 1: Ctrl-C

@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_exits_non_zero_saying_what_was_kept_and_a_rerun_finishes(big_demo, tmp_path, sig, code):
    out = tmp_path / "labels.csv"
    p = _cli("label", str(big_demo), "--out", str(out), "-q")
    _wait_for(out.with_name("labels.csv.partial.json"))
    partial = out.with_name("labels.csv.partial")
    t0 = time.monotonic()  # at least one image labelled and on disk (flushed every 2 s): under load the
    while time.monotonic() - t0 < 60 and p.poll() is None:  # first image can take longer than a fixed sleep
        if partial.exists() and partial.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be interrupted: give it more images"
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, (f"{err}\n(test process: SIGINT handler {signal.getsignal(signal.SIGINT)!r}, "
                                  f"blocked {sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))})")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    n = int(lines[0].split()[1])
    assert lines[0] == (f"interrupted: {n} of 300 images are labelled and kept in {out}.partial; run the same "
                        "command again to resume")
    assert not out.exists() and 0 < n < 300
    assert len(pd.read_csv(f"{out}.partial")) == n
    # the same command again resumes and gives what an uninterrupted run gives
    assert main(["label", str(big_demo), "--out", str(out), "-q"]) == 0
    assert main(["label", str(big_demo), "--out", str(tmp_path / "ref.csv"), "-q"]) == 0
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv", "ref.csv"]


# --------------------------------------------------------------------------- row 2: same name, two folders

def test_a_folder_data_set_keys_images_by_relative_path(tmp_path):
    rgb = np.full((32, 32, 3), (190, 140, 110), np.uint8)
    for rel in ("sub1/x.png", "sub2/x.png", "x.png", "sub1/y.jpg", "sub1/y.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(tmp_path / rel)
    df = read_dataset(tmp_path)
    assert sorted(df["image"]) == ["sub1/x.png", "sub1/y.jpg", "sub1/y.png", "sub2/x.png", "x.png"]
    assert df["image_id"].is_unique and (df["status"] == "ok").all()
    res = label_dataset(tmp_path, out=tmp_path / "labels.csv", progress=False, n_boot=0)
    assert sorted(res.labels["image"]) == sorted(df["image"]) and res.summary["counts"]["total"] == 5


def test_a_name_in_the_metadata_that_matches_two_folders_is_reported(tmp_path):
    rgb = np.full((32, 32, 3), (190, 140, 110), np.uint8)
    for rel in ("part_1/ISIC_1.jpg", "part_2/ISIC_1.jpg", "part_2/ISIC_2.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(tmp_path / rel)
    (tmp_path / "gt.csv").write_text("image_name,target\nISIC_1,0\nISIC_2,1\n")
    df = read_dataset(tmp_path).set_index("image_id")
    assert df.loc["ISIC_2", "status"] == "ok" and df.loc["ISIC_2", "image"] == "part_2/ISIC_2.jpg"
    assert df.loc["ISIC_1", "status"] == "ambiguous"
    assert df.loc["ISIC_1", "reason"] == ("'ISIC_1' matches 2 images in different folders (part_1/ISIC_1.jpg, "
                                          "part_2/ISIC_1.jpg); give the relative path in the metadata")


# --------------------------------------------------------------------------- row 3: two runs, one --out

def test_a_second_run_on_the_same_out_is_refused_and_the_first_finishes(big_demo, tmp_path):
    out = tmp_path / "labels.csv"
    p = _cli("label", str(big_demo), "--out", str(out), "-q")
    try:
        _wait_for(out.with_name("labels.csv.partial.json"))
        with pytest.raises(InputError) as e:
            label_dataset(big_demo, out=out, progress=False, n_boot=0, overwrite=True)
        assert str(e.value) == (f"out: {out} is in use by another fairskin run (PID {p.pid}); wait for it to "
                                "finish, or choose another path")
    finally:
        _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    df = pd.read_csv(out)
    assert len(df) == 300 and df["image"].is_unique


# --------------------------------------------------------------------------- row 4: formula names

def test_names_a_spreadsheet_would_run_are_neutralised_and_read_back(tmp_path):
    data = tmp_path / "data"
    names = ["=1+1.png", "+cmd.png", "@SUM(A1).png", "-x.png", "ok.png"]
    data.mkdir()
    for n in names:
        Image.fromarray(np.full((32, 32, 3), (190, 140, 110), np.uint8)).save(data / n)
    label_dataset(data, out=tmp_path / "labels.csv", progress=False, n_boot=0)
    cells = [line.split(",")[0] for line in (tmp_path / "labels.csv").read_text().splitlines()[1:]]
    assert sorted(cells) == sorted(["'=1+1.png", "'+cmd.png", "'@SUM(A1).png", "'-x.png", "ok.png"])
    assert sorted(read_labels_csv(tmp_path / "labels.csv")["image"]) == sorted(names)
    from fairskin.conditioning import labelled_manifest

    frame = labelled_manifest(data, labels=tmp_path / "labels.csv")  # balance finds every image's label
    assert frame["fst_source"].str.startswith("estimated").all()


# --------------------------------------------------------------------------- rows 5 and 7: outputs

@pytest.mark.parametrize("extra, existing, arg", [
    (["--json", "{d}/s.json"], "s.json", "--json"),
    (["--html", "{d}/r.html"], "r.html", "--html"),
    (["--html", "{d}/r.html"], "r.json", "--html (its data, r.json)"),
    (["--calibrate", "--calibrated-scale", "{d}/cal.csv"], "cal.csv", "--calibrated-scale"),
])
def test_existing_secondary_outputs_are_refused_before_the_run(demo_data, tmp_path, capsys, extra, existing, arg):
    (tmp_path / existing).write_text("mine")
    code = main(["label", str(demo_data), "--out", str(tmp_path / "l.csv"), "-q", *[e.format(d=tmp_path) for e in extra]])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert err == (f"error: {arg}: {tmp_path / existing} already exists; pass --overwrite to replace it, or choose "
                   "another path")
    assert (tmp_path / existing).read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]  # nothing ran, nothing left


def test_the_html_report_writes_its_data_beside_it_and_nothing_else(demo_data, tmp_path):
    assert main(["label", str(demo_data), "--out", str(tmp_path / "l.csv"), "-q", "--html", str(tmp_path / "r.html")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.csv", "r.html", "r.json"]


def test_a_folder_or_an_unwritable_out_fails_before_the_run(demo_data, tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("")
    assert main(["label", str(demo_data), "--out", str(tmp_path / "dir"), "-q"]) == 2
    assert main(["label", str(demo_data), "--out", str(tmp_path / "file" / "l.csv"), "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: --out: {tmp_path / 'dir'} is a folder; give the path of a file to write",
                   f"error: --out: cannot write {tmp_path / 'file' / 'l.csv'}: {tmp_path / 'file'} is a file, not a "
                   "folder"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dir", "file"]  # no partial, no temporaries


def test_json_into_a_missing_folder_is_written(demo_data, tmp_path):
    assert main(["label", str(demo_data), "--out", str(tmp_path / "l.csv"), "-q", "--json",
                 str(tmp_path / "new" / "deeper" / "s.json")]) == 0
    assert (tmp_path / "new" / "deeper" / "s.json").stat().st_size > 0


# --------------------------------------------------------------------------- row 9: a bomb as a mask

def _png_bomb(path: Path, side: int) -> None:
    """A 1-bit PNG of side x side zero pixels: a few kB on disk, side^2 pixels when decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(row * side, 9)) + chunk(b"IEND", b""))


def test_a_decompression_bomb_mask_is_refused_with_a_reason(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.full((64, 64, 3), (190, 140, 110), np.uint8)).save(tmp_path / "data" / "a.png")
    _png_bomb(tmp_path / "masks" / "a_mask.png", 14_000)
    res = label_dataset(tmp_path / "data", out=tmp_path / "labels.csv", masks=tmp_path / "masks", progress=False,
                        n_boot=0)
    row = res.labels.iloc[0]
    assert row["status"] == "ok"
    assert row["reason"].startswith("lesion mask not used (too_large: ")
    assert row["reason"].endswith("); automatic segmentation used")


# --------------------------------------------------------------------------- row 10: nothing to label

def test_an_empty_data_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["label", str(tmp_path / "empty"), "--out", str(tmp_path / "l.csv"), "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == (f"error: DATA: {tmp_path / 'empty'} is empty for format 'folder': no image (.bmp, .jpeg, .jpg, "
                   f".png, .tif, .tiff, .webp) below {tmp_path / 'empty'}; nothing to do")
    assert not (tmp_path / "l.csv").exists()
