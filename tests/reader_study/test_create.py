"""fairskin reader-study create: a blinded, stratified sample whose files say nothing but their pixels."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.errors import InputError
from fairskin.reader_study import StudyConfig, create_study, read_study_file


def _key(study: Path) -> pd.DataFrame:
    return pd.read_csv(study / "private" / "answer_key.csv", dtype={"id": str}, keep_default_na=False)


def _layout(data: bytes) -> tuple:
    """Everything of a served PNG but its pixel bytes and checksums: the chunks (type, length), the
    zlib header, each deflate block's (type, final, length), and the scanlines' filter bytes."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos, idat = [], 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((kind, n) if kind != b"IHDR" else (kind, data[pos + 8:pos + 8 + n]))
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    blocks, i = [], 2
    while True:
        head = idat[i]
        length, nlen = struct.unpack("<HH", idat[i + 1:i + 5])
        assert length ^ nlen == 0xFFFF
        blocks.append((head >> 1 & 3, head & 1, length))
        i += 5 + length
        if head & 1:
            break
    assert len(idat) == i + 4  # then only the Adler-32
    w, h = struct.unpack(">II", chunks[0][1][:8])
    raw = zlib.decompress(idat)
    filters = bytes(raw[r * (3 * w + 1)] for r in range(h))
    return tuple(chunks), idat[:2], tuple(blocks), filters


def test_served_files_are_identical_but_for_pixels(study_factory):
    study = study_factory(n=24, calibration=2)
    files = sorted((study / "images").iterdir())
    assert len(files) == 26
    sizes = {p.stat().st_size for p in files}
    assert len(sizes) == 1, f"byte sizes differ: {sorted(sizes)[:5]}"
    assert len({p.stat().st_mtime for p in files}) == 1
    # one layout, byte for byte, outside the pixels: no padding or table an analyst could read
    layouts = {_layout(p.read_bytes()) for p in files}
    assert len(layouts) == 1
    chunks, _, blocks, filters = layouts.pop()
    assert [c[0] for c in chunks] == [b"IHDR", b"IDAT", b"IEND"] and {b[0] for b in blocks} == {0}  # stored blocks
    assert set(filters) == {0}
    for p in files:
        assert p.suffix == ".png" and len(p.stem) == 16 and all(c in "0123456789abcdef" for c in p.stem)
        im = Image.open(p)
        assert (im.format, im.size, im.mode) == ("PNG", (64, 64), "RGB")
        assert not im.getexif() and "icc_profile" not in im.info and not im.info.get("exif")
    # the sources had two sizes (64 px real, 96 px synthetic) and two photo styles; ids are not their names
    key = _key(study)
    assert set(key["origin"]) == {"real", "synthetic"}
    assert not any(Path(s).stem in "".join(key["id"]) for s in key["source"])


def test_stored_png_layout_does_not_depend_on_content():
    from fairskin.reader_study._create import served_image, stored_png

    rng = np.random.default_rng(0)
    flat = np.full((40, 40, 3), 128, np.uint8)  # a smooth image and a noisy one: compressed, they differ 5x
    noisy = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    a, b = stored_png(flat), stored_png(noisy)
    assert len(a) == len(b) and _layout(a) == _layout(b)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(b))), noisy)  # lossless: the pixels as given
    sa, sb = served_image(flat, size=32, quality=90), served_image(noisy, size=32, quality=90)
    assert len(sa) == len(sb) and _layout(sa) == _layout(sb)
    with pytest.raises(ValueError, match="H x W x 3"):
        stored_png(np.zeros((4, 4), np.uint8))


def test_calibration_images_come_from_the_study_skin_types(balanced, tmp_path):
    """A study of some skin types calibrates on those types only (a real type I image on the
    calibration page of a type V-VI study teaches that real means light)."""
    df = pd.read_csv(balanced)
    types = sorted(df["fst"].dropna().unique())
    keep = types[-2:]
    sub = df[df["fst"].isin(keep) | ~df["synthetic"].astype(str).str.lower().isin(["true", "1"])]
    path = balanced.parent / "two_types_synthetic.csv"
    sub.to_csv(path, index=False)  # synthetic images of two types only, real images of every type
    res = create_study(path, out=tmp_path / "s", config=StudyConfig(n=8, n_calibration=6, image_size=32),
                       progress=False)
    key = _key(res.out)
    study_types = set(key.loc[key["role"] == "study", "fst"])
    assert study_types <= set(keep)
    assert set(key.loc[key["role"] == "calibration", "fst"]) <= study_types


def test_study_file_has_no_origin_of_study_images(study_factory):
    study = study_factory(n=12, calibration=2)
    sf = read_study_file(study)
    assert list(sf.items) == sorted(sf.items)  # sorted ids: the order says nothing
    text = (study / "study.json").read_text()
    key = _key(study)
    for r in key[key["role"] == "study"].itertuples():
        assert r.id in text
        assert r.source not in text
    cal = {c["id"]: c for c in sf.calibration}
    for r in key[key["role"] == "calibration"].itertuples():  # calibration images come with their answer
        assert cal[r.id]["origin"] == r.origin and cal[r.id]["fst"] == r.fst
    assert not set(cal) & set(sf.items)
    assert "origin" not in json.dumps(json.loads(text)["items"])


def test_sample_is_stratified_and_matched(study_factory):
    study = study_factory(n=24, calibration=0)
    key = _key(study)
    counts = key.groupby(["fst", "diagnosis", "origin"]).size().unstack("origin")
    assert (counts["real"] == counts["synthetic"]).all()  # matched cell by cell
    assert len(counts) == 12 and (counts.sum(axis=1) == 2).all()  # 24 images over 12 cells, evenly


def test_pixels_are_the_source_pixels(study_factory, balanced):
    study = study_factory(n=12, calibration=0)
    key = _key(study)
    r = key[key["origin"] == "synthetic"].iloc[0]
    src = np.asarray(Image.open(balanced.parent / r.source).convert("RGB").resize((64, 64), Image.Resampling.LANCZOS),
                     dtype=float)
    got = np.asarray(Image.open(study / "images" / f"{r.id}.png"), dtype=float)
    psnr = 10 * np.log10(255 ** 2 / np.mean((src - got) ** 2))
    assert psnr > 28, psnr


def test_same_seed_same_sample(balanced, tmp_path):
    cfg = StudyConfig(n=12, n_calibration=2, image_size=32, seed=5)
    a = create_study(balanced, out=tmp_path / "a", config=cfg, progress=False)
    b = create_study(balanced, out=tmp_path / "b", config=cfg, progress=False)
    c = create_study(balanced, out=tmp_path / "c", config=StudyConfig(n=12, n_calibration=2, image_size=32, seed=6),
                     progress=False)
    rows = [set(_key(x.out)["row"]) for x in (a, b, c)]
    assert rows[0] == rows[1] and rows[0] != rows[2]


def test_manifest_without_origin(tmp_path, balanced):
    df = pd.read_csv(balanced).drop(columns=["synthetic"])
    bad = balanced.parent / "no_origin.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(InputError) as e:
        create_study(bad, out=tmp_path / "s", progress=False)
    assert str(e.value).startswith(f"MANIFEST {bad}: no origin column; a reader study needs to know which images are "
                                   "synthetic: give a 'synthetic' column (True/False, as `fairskin balance` writes) or "
                                   "an 'origin' column (real/synthetic)")


def test_too_few_images_in_a_stratum(tmp_path, balanced):
    with pytest.raises(InputError) as e:
        create_study(balanced, out=tmp_path / "s", config=StudyConfig(n=400), progress=False)
    msg = str(e.value)
    assert msg.startswith("n=400: too few images in ")
    assert "for an even spread over 12 skin type x diagnosis cells (50% real):" in msg
    assert re.search(r"FST [IV]+ x melano[a-z-]+ x (real|synthetic) has \d image\(s\), needs 17", msg), msg
    best = int(msg.split("; n=")[1].split(" is the largest that fits")[0])
    create_study(balanced, out=tmp_path / "ok", config=StudyConfig(n=best, n_calibration=0, image_size=32),
                 progress=False)
    with pytest.raises(InputError):
        create_study(balanced, out=tmp_path / "no", config=StudyConfig(n=best + 2, n_calibration=0, image_size=32),
                     progress=False)


def test_out_not_replaced_without_overwrite(tmp_path, balanced):
    out = tmp_path / "s"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="out: .* is not empty; pass overwrite=True"):
        create_study(balanced, out=out, config=StudyConfig(n=4, n_calibration=0, image_size=32), progress=False)
    create_study(balanced, out=out, config=StudyConfig(n=4, n_calibration=0, image_size=32), overwrite=True,
                 progress=False)
    assert (out / "notes.txt").read_text() == "mine"  # only the study's own files are replaced


def test_bad_rows_are_reported_not_dropped(tmp_path, balanced):
    df = pd.read_csv(balanced, dtype=str)
    df.loc[0, "fst"] = "7"
    df.loc[1, "image"] = "images/nope.png"
    df.loc[2, "synthetic"] = "maybe"
    p = balanced.parent / "some_bad.csv"
    df.to_csv(p, index=False)
    res = create_study(p, out=tmp_path / "s", config=StudyConfig(n=8, n_calibration=0, image_size=32), progress=False)
    reasons = dict(zip(res.skipped["row"], res.skipped["reason"]))
    assert reasons[2] == "fst='7' is not a Fitzpatrick type 1-6"
    assert reasons[3] == "image file not found (relative to --real or the manifest's folder)"
    assert reasons[4] == "synthetic='maybe' is neither real nor synthetic"
    assert (tmp_path / "s" / "private" / "skipped.csv").is_file()


def test_a_row_the_csv_reader_cannot_split_is_reported_with_its_line(tmp_path, balanced):
    """The manifest goes through fairskin's one CSV reader: a row with more cells than the header
    is skipped and named (its file line), and the rows after it keep their own line numbers."""
    lines = balanced.read_text(encoding="utf-8").splitlines()
    n_cells = len(lines[0].split(","))
    torn = "images/extra.png" + "," * n_cells  # one cell more than the header
    bad_fst = lines[2].split(",")
    bad_fst[lines[0].split(",").index("fst")] = "9"
    p = balanced.parent / "torn.csv"
    p.write_text("\n".join([lines[0], lines[1], torn, ",".join(bad_fst), *lines[3:]]) + "\n", encoding="utf-8")
    res = create_study(p, out=tmp_path / "s", config=StudyConfig(n=8, n_calibration=0, image_size=32), progress=False)
    reasons = dict(zip(res.skipped["row"], res.skipped["reason"]))
    assert reasons[3] == f"line 3 has {n_cells + 1} cells, more than the header's {n_cells}; row skipped"
    assert reasons[4] == "fst='9' is not a Fitzpatrick type 1-6"


def test_image_folder_with_origin_column(tmp_path):
    from fairskin.data import PhantomSpec, render_phantom

    root = tmp_path / "folder"
    root.mkdir()
    rows = []
    for i in range(8):
        origin = "synthetic" if i % 2 else "real"
        name = f"img_{i}.png"
        Image.fromarray(render_phantom(PhantomSpec(ita=30.0, size=48, seed=i))).save(root / name)
        rows.append({"file_name": name, "origin": origin, "fst": 3, "diagnosis": "melanoma"})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    res = create_study(root, out=tmp_path / "s", config=StudyConfig(n=4, n_calibration=2, image_size=32),
                       progress=False)
    assert res.n_items == 4 and res.n_calibration == 2
    assert sorted(_key(res.out)["origin"]) == ["real"] * 3 + ["synthetic"] * 3


def test_unknown_diagnosis(tmp_path, balanced):
    with pytest.raises(InputError) as e:
        create_study(balanced, out=tmp_path / "s", config=StudyConfig(diagnoses=("psoriasis",)), progress=False)
    assert str(e.value) == ("diagnoses: ['psoriasis'] not in the manifest's usable rows; available: "
                            "['melanocytic-nevi', 'melanoma']")


def test_private_folder_is_owner_only(study_factory):
    study = study_factory(n=4, calibration=0)
    assert os.stat(study / "private").st_mode & 0o077 == 0
