"""``fairskin reader-study create``: a blinded, stratified sample in a study folder.

Nothing but the pixels may tell a real image from a synthetic one, so every image is decoded
(``fairskin.data.load_rgb``: EXIF orientation and ICC profile applied), centre-cropped to a
square, resized to one side with one filter, and passed through one JPEG encoder (one quality,
4:2:0 chroma), so that both origins carry the same compression artefacts. What is served is the
decoded result as an uncompressed PNG (:func:`stored_png`): a compressed file's size, and any
padding that evened sizes out, follows how much detail an image has (synthetic images are
smoother), whereas an uncompressed file's bytes are the same in length and layout for every image
(signature, IHDR, one IDAT of stored deflate blocks, IEND); only the pixel bytes and their
checksums differ. Files are named by random opaque ids, written in id order and given one
modification time. The served list of ids is sorted; each reader's order comes from their own
seed. Calibration images come from the skin types (and diagnoses) of the study's own sample, so
that the calibration page teaches no skin-tone cue.

Study folder::

    study.json            questions, the ids served, calibration images with their answers
    images/<id>.jpg       the served images
    private/answer_key.csv  origin, skin type, diagnosis and source of every id (never served)
    private/sample.json     how the sample was drawn, rows skipped and why
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import secrets
import shutil
import struct
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fairskin.data import ImageLoadError, load_rgb
from fairskin.errors import InputError
from fairskin.outputs import write_csv
from fairskin.progress import Progress, counter
from fairskin.reader_study._config import (DEFAULT_DB_FILE, IMAGES_DIR, KEY_FILE, PRIVATE_DIR, SCHEMA,
                                           SERVED_SUFFIX, STUDY_FILE, StudyConfig, StudyFile, write_study_file)
from fairskin.reader_study._sample import Allocation, allocate, cell_name, read_candidates
from fairskin.settings import seed_stream

__all__ = ["create_study", "CreateResult", "encode_image", "stored_png", "served_image", "KEY_COLUMNS"]

KEY_COLUMNS = ["id", "role", "origin", "fst", "diagnosis", "stratum", "row", "source"]


@dataclass
class CreateResult:
    out: Path
    n_items: int
    n_calibration: int
    allocation: Allocation
    skipped: pd.DataFrame  # manifest rows not usable (reason), and images that failed to load
    image_bytes: int  # size of every served file (the same for all)


def encode_image(rgb: np.ndarray, *, size: int, quality: int) -> bytes:
    """Centre square crop -> ``size`` x ``size`` (Lanczos) -> baseline JPEG, 4:2:0, no metadata."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    im = Image.fromarray(np.ascontiguousarray(rgb[top:top + s, left:left + s])).resize(
        (size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False, progressive=False)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def stored_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` with no compression: every scanline unfiltered (filter byte 0),
    the zlib stream of stored blocks (level 0), one IDAT chunk, no ancillary chunk. Its length
    and layout depend only on the image's size, never on its content."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw, 0)) + _png_chunk(b"IEND", b""))


def served_image(rgb: np.ndarray, *, size: int, quality: int) -> bytes:
    """What the study serves for ``rgb``: :func:`encode_image`'s JPEG, decoded, as :func:`stored_png`."""
    with Image.open(io.BytesIO(encode_image(rgb, size=size, quality=quality))) as im:
        return stored_png(np.asarray(im.convert("RGB")))


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"out: {out} exists and is not a folder")
    ours = [out / STUDY_FILE, out / IMAGES_DIR, out / PRIVATE_DIR, out / DEFAULT_DB_FILE]
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"out: {out} is not empty; pass overwrite=True to replace the study in it (its answers "
                             f"database {DEFAULT_DB_FILE} included) or choose another folder")
        for p in ours + [out / f"{DEFAULT_DB_FILE}-wal", out / f"{DEFAULT_DB_FILE}-shm"]:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    (out / PRIVATE_DIR).mkdir(exist_ok=True)
    os.chmod(out / PRIVATE_DIR, 0o700)


def _draw(cands: pd.DataFrame, alloc: Allocation, *, n_calibration: int, config: StudyConfig, progress) -> tuple:
    """Encode the allocated images stratum by stratum (an image that fails to load is replaced by the
    next one of its stratum), then the calibration images from what is left."""
    rng = np.random.default_rng(config.seed)
    chosen, failed, left = [], [], []
    groups = {k: g for k, g in cands.groupby(["fst", "diagnosis", "origin"])}
    for key in sorted(groups):
        g = groups[key]
        rows = g.iloc[rng.permutation(len(g))]
        need = alloc.counts.get(key, 0)
        taken = 0
        for _, r in rows.iterrows():
            if taken >= need:
                left.append(r)
                continue
            data = _encode_row(r, config, failed)
            if data is not None:
                chosen.append((r, data, "study"))
                taken += 1
            progress()
        if taken < need:
            raise InputError(f"n={config.n}: {cell_name(key[0], key[1])} x {key[2]} has only {taken} readable "
                             f"image(s) of the {need} needed ({len(failed)} unreadable overall, see their reasons "
                             f"in the error list); lower n=...")
    if n_calibration:
        pool = pd.DataFrame(left)
        if len(pool):  # the study's own skin types and diagnoses: the calibration page teaches no tone cue
            shown = {(r["fst"], r["diagnosis"]) for r, _, _ in chosen}
            pool = pool[[(f, d) in shown for f, d in zip(pool["fst"], pool["diagnosis"])]]
        for origin in ("real", "synthetic"):
            sub = pool[pool["origin"] == origin] if len(pool) else pool
            sub = sub.iloc[rng.permutation(len(sub))] if len(sub) else sub
            got = 0
            for _, r in sub.iterrows():
                if got == n_calibration // 2:
                    break
                data = _encode_row(r, config, failed)
                if data is not None:
                    chosen.append((r, data, "calibration"))
                    got += 1
            if got < n_calibration // 2:
                raise InputError(f"calibration={n_calibration}: only {got} {origin} image(s) of the study's skin "
                                 f"types and diagnoses are left for calibration after the sample; lower "
                                 f"calibration=... or n=...")
    return chosen, failed


def _encode_row(r, config: StudyConfig, failed: list) -> bytes | None:
    try:
        rgb = load_rgb(r["path"]).rgb
    except ImageLoadError as exc:
        failed.append({"row": r["row"], "image": r["image"], "reason": f"{exc.status}: {exc.reason}"})
        return None
    return served_image(rgb, size=config.image_size, quality=config.jpeg_quality)


def create_study(manifest: str | Path, *, out: str | Path, real: str | Path | None = None,
                 config: StudyConfig = StudyConfig(), title: str = "Reader study: real or synthetic?",
                 overwrite: bool = False, progress: Progress | None = None) -> CreateResult:
    """Draw a blinded stratified sample from ``manifest`` into the study folder ``out``; ``progress``
    (:mod:`fairskin.progress`) sees the count of images encoded."""
    config.check()
    out = Path(out)
    cands, skipped = read_candidates(manifest, real=real)
    if config.diagnoses:
        have = sorted(set(cands["diagnosis"]))
        unknown = [d for d in config.diagnoses if d not in have]
        if unknown:
            raise InputError(f"diagnoses: {unknown} not in the manifest's usable rows; available: {have}")
        cands = cands[cands["diagnosis"].isin(config.diagnoses)].reset_index(drop=True)
    if cands.empty:
        raise InputError(f"MANIFEST {manifest}: no usable rows ({len(skipped)} skipped; first reasons: "
                         + "; ".join(f"row {r.row}: {r.reason}" for r in skipped.head(3).itertuples()) + ")")
    alloc = allocate(cands, n=config.n, real_share=config.real_share, seed=config.seed)
    _prepare_out(out, overwrite)

    chosen, failed = _draw(cands, alloc, n_calibration=config.n_calibration, config=config,
                           progress=counter(progress, "encoding images", len(cands)))
    length = len(chosen[0][1])
    if any(len(d) != length for _, d, _ in chosen):  # stored_png's promise; checked, as the blinding rests on it
        raise RuntimeError("served images differ in length")
    ids: set[str] = set()
    while len(ids) < len(chosen):
        ids.add(secrets.token_hex(8))
    id_list = sorted(ids)
    order = np.random.default_rng(config.seed).permutation(len(chosen))  # ids go to images in a seeded random order
    key_rows, files = [], []
    for j, (r, data, role) in zip(order, chosen):
        iid = id_list[j]
        files.append((iid, data))
        key_rows.append({"id": iid, "role": role, "origin": r["origin"], "fst": int(r["fst"]),
                         "diagnosis": r["diagnosis"], "stratum": f"{r['fst']}|{r['diagnosis']}|{r['origin']}",
                         "row": int(r["row"]), "source": r["image"]})
    stamp = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    mtime = stamp.timestamp()
    for iid, blob in sorted(files):
        p = out / IMAGES_DIR / f"{iid}{SERVED_SUFFIX}"
        p.write_bytes(blob)
        os.utime(p, (mtime, mtime))
    key = pd.DataFrame(key_rows, columns=KEY_COLUMNS).sort_values("id").reset_index(drop=True)
    write_csv(key, out / PRIVATE_DIR / KEY_FILE)

    cal = key[key["role"] == "calibration"]
    cal = cal.iloc[np.random.default_rng(seed_stream(config.seed, "calibration order")).permutation(len(cal))]
    diagnoses = config.questions.diagnoses or tuple(sorted({d for d in key["diagnosis"] if d}))
    questions = replace(config.questions, diagnoses=tuple(diagnoses))
    study_file = StudyFile(schema=SCHEMA, title=title, items=tuple(key.loc[key["role"] == "study", "id"]),
                           calibration=tuple({"id": c.id, "origin": c.origin, "fst": int(c.fst), "diagnosis": c.diagnosis}
                                             for c in cal.itertuples()),
                           questions=questions, image_size=config.image_size, seed=config.seed,
                           created=stamp.isoformat().replace("+00:00", "Z"))
    write_study_file(out, study_file)

    all_skipped = pd.concat([skipped, pd.DataFrame(failed, columns=["row", "image", "reason"])], ignore_index=True)
    write_csv(all_skipped, out / PRIVATE_DIR / "skipped.csv")
    plan = {"manifest": str(Path(manifest).resolve()), "real": str(Path(real).resolve()) if real else None,
            "config": asdict(config), "n_candidates": int(len(cands)), "n_skipped": int(len(all_skipped)),
            "cells": [{"fst": int(f), "diagnosis": d,
                       **{o: int(alloc.counts.get((f, d, o), 0)) for o in ("real", "synthetic")}}
                      for f, d in sorted(alloc.cells)],
            "left_out": [{"fst": int(f), "diagnosis": d, "origin": o, "n": int(k)} for f, d, o, k in alloc.left_out],
            "image_bytes": length}
    (out / PRIVATE_DIR / "sample.json").write_text(json.dumps(plan, indent=1, default=str) + "\n")
    return CreateResult(out=out, n_items=len(study_file.items), n_calibration=len(cal), allocation=alloc,
                        skipped=all_skipped, image_bytes=length)
