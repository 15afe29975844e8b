"""``fairskin reader-study create``: a blinded, stratified sample in a study folder.

Nothing but the pixels may tell a real image from a synthetic one, so every image is decoded
(``fairskin.data.load_rgb``: EXIF orientation and ICC profile applied), centre-cropped to a
square, resized to one side with one filter, and encoded as baseline JPEG with one quality and
4:2:0 chroma, no EXIF, ICC or XMP. Files are then padded with zero-filled JPEG comment segments
to one byte size, named by random opaque ids, written in id order and given one modification
time. The served list of ids is sorted; each reader's order comes from their own seed.

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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fairskin.data import ImageLoadError, load_rgb
from fairskin.errors import InputError
from fairskin.reader_study._config import (DEFAULT_DB_FILE, IMAGES_DIR, KEY_FILE, PRIVATE_DIR, SCHEMA, STUDY_FILE,
                                           StudyConfig, StudyFile, write_study_file)
from fairskin.reader_study._sample import Allocation, allocate, cell_name, read_candidates

__all__ = ["create_study", "CreateResult", "encode_image", "pad_jpeg", "KEY_COLUMNS"]

KEY_COLUMNS = ["id", "role", "origin", "fst", "diagnosis", "stratum", "row", "source"]
_MAX_COM = 65533  # payload of one JPEG COM segment


@dataclass
class CreateResult:
    out: Path
    n_items: int
    n_calibration: int
    allocation: Allocation
    skipped: pd.DataFrame  # manifest rows not usable (reason), and images that failed to load
    image_bytes: int  # size of every served file


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


def pad_jpeg(data: bytes, length: int) -> bytes:
    """``data`` grown to exactly ``length`` bytes by zero-filled COM segments right after SOI.
    Needs ``length - len(data)`` to be 0 or at least 4 (a segment's marker and length)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    need = length - len(data)
    if need < 0 or 0 < need < 4:
        raise ValueError(f"cannot pad {len(data)} bytes to {length}")
    segs = []
    while need > 0:
        take = min(need, _MAX_COM + 4)
        rest = need - take
        if 0 < rest < 4:
            take -= 4 - rest
        segs.append(b"\xff\xfe" + (take - 2).to_bytes(2, "big") + bytes(take - 4))
        need -= take
    return data[:2] + b"".join(segs) + data[2:]


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is not a folder")
    ours = [out / STUDY_FILE, out / IMAGES_DIR, out / PRIVATE_DIR, out / DEFAULT_DB_FILE]
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"--out: {out} is not empty; pass --overwrite to replace the study in it (its answers "
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
            raise InputError(f"--n {config.n}: {cell_name(key[0], key[1])} x {key[2]} has only {taken} readable "
                             f"image(s) of the {need} needed ({len(failed)} unreadable overall, see their reasons "
                             f"in the error list); lower --n")
    if n_calibration:
        pool = pd.DataFrame(left)
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
                raise InputError(f"--calibration {n_calibration}: only {got} {origin} image(s) are left for "
                                 f"calibration after the sample; lower --calibration or --n")
    return chosen, failed


def _encode_row(r, config: StudyConfig, failed: list) -> bytes | None:
    try:
        rgb = load_rgb(r["path"]).rgb
    except ImageLoadError as exc:
        failed.append({"row": r["row"], "image": r["image"], "reason": f"{exc.status}: {exc.reason}"})
        return None
    return encode_image(rgb, size=config.image_size, quality=config.jpeg_quality)


def create_study(manifest: str | Path, *, out: str | Path, real: str | Path | None = None,
                 config: StudyConfig = StudyConfig(), title: str = "Reader study: real or synthetic?",
                 overwrite: bool = False, progress: bool = True) -> CreateResult:
    """Draw a blinded stratified sample from ``manifest`` into the study folder ``out``."""
    config.check()
    out = Path(out)
    cands, skipped = read_candidates(manifest, real=real)
    if config.diagnoses:
        have = sorted(set(cands["diagnosis"]))
        unknown = [d for d in config.diagnoses if d not in have]
        if unknown:
            raise InputError(f"--diagnoses: {unknown} not in the manifest's usable rows; available: {have}")
        cands = cands[cands["diagnosis"].isin(config.diagnoses)].reset_index(drop=True)
    if cands.empty:
        raise InputError(f"MANIFEST {manifest}: no usable rows ({len(skipped)} skipped; first reasons: "
                         + "; ".join(f"row {r.row}: {r.reason}" for r in skipped.head(3).itertuples()) + ")")
    alloc = allocate(cands, n=config.n, real_share=config.real_share, seed=config.seed)
    _prepare_out(out, overwrite)

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("encoding images", total=len(cands))
        chosen, failed = _draw(cands, alloc, n_calibration=config.n_calibration, config=config,
                               progress=lambda: bar.advance(task))
    length = max(len(d) for _, d, _ in chosen) + 4  # every file gets at least one (empty) COM segment
    ids: set[str] = set()
    while len(ids) < len(chosen):
        ids.add(secrets.token_hex(8))
    id_list = sorted(ids)
    order = np.random.default_rng(config.seed).permutation(len(chosen))  # ids go to images in a seeded random order
    key_rows, files = [], []
    for j, (r, data, role) in zip(order, chosen):
        iid = id_list[j]
        files.append((iid, pad_jpeg(data, length)))
        key_rows.append({"id": iid, "role": role, "origin": r["origin"], "fst": int(r["fst"]),
                         "diagnosis": r["diagnosis"], "stratum": f"{r['fst']}|{r['diagnosis']}|{r['origin']}",
                         "row": int(r["row"]), "source": r["image"]})
    stamp = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    mtime = stamp.timestamp()
    for iid, blob in sorted(files):
        p = out / IMAGES_DIR / f"{iid}.jpg"
        p.write_bytes(blob)
        os.utime(p, (mtime, mtime))
    key = pd.DataFrame(key_rows, columns=KEY_COLUMNS).sort_values("id").reset_index(drop=True)
    key.to_csv(out / PRIVATE_DIR / KEY_FILE, index=False)

    cal = key[key["role"] == "calibration"]
    cal = cal.iloc[np.random.default_rng(config.seed + 1).permutation(len(cal))]
    diagnoses = config.questions.diagnoses or tuple(sorted({d for d in key["diagnosis"] if d}))
    questions = replace(config.questions, diagnoses=tuple(diagnoses))
    study_file = StudyFile(schema=SCHEMA, title=title, items=tuple(key.loc[key["role"] == "study", "id"]),
                           calibration=tuple({"id": c.id, "origin": c.origin, "fst": int(c.fst), "diagnosis": c.diagnosis}
                                             for c in cal.itertuples()),
                           questions=questions, image_size=config.image_size, seed=config.seed,
                           created=stamp.isoformat().replace("+00:00", "Z"))
    write_study_file(out, study_file)

    all_skipped = pd.concat([skipped, pd.DataFrame(failed, columns=["row", "image", "reason"])], ignore_index=True)
    all_skipped.to_csv(out / PRIVATE_DIR / "skipped.csv", index=False)
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
