"""``fairskin annotate create``: a sample for skin-type annotators, stratified by the estimator's type.

Estimated types are skewed (in PAD-UFES-20, types V-VI are a few percent), so a simple random
sample would give the annotators almost no dark skin, which is exactly where the estimator is
least trusted. The sample is therefore spread evenly over the estimator's types (and the images
it could not label, as one more stratum); a type with fewer images than its share gives all it
has and the rest goes to the others (water filling). The draw within a stratum is seeded.

Each image is decoded (EXIF orientation, ICC profile), optionally has its lesion painted grey
(``--masks``: annotators judge the healthy skin, as the estimator does), centre-cropped, resized
and served as the reader study serves its images (``reader_study.served_image``: one JPEG
encoding, decoded into an uncompressed PNG whose length and layout depend only on the image
size), and stored under a random
id, so the file says nothing of its source, estimate or human label. What each id is lies in
``private/answer_key.csv``, which the server never opens.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.annotate._config import ANNOTATE_FILE, ANNOTATE_SCHEMA, AnnotateConfig, AnnotationFile, write_annotation_file
from fairskin.data import ImageLoadError, load_mask, load_rgb, read_dataset
from fairskin.errors import InputError
from fairskin.outputs import write_csv
from fairskin.label import LesionMasks, estimate_tone_image, get_estimator, read_labels_csv
from fairskin.progress import Progress, counter
from fairskin.reader_study import SCHEMA, SERVED_SUFFIX, Questions, StudyFile, served_image, write_study_file
from fairskin.skintone import get_tone_scale

__all__ = ["create_annotation", "allocate_even", "KEY_COLUMNS", "NO_ESTIMATE"]

KEY_COLUMNS = ["id", "image", "image_id", "row", "stratum", "estimated", "estimator", "fst_human", "fst_group_human",
               "diagnosis", "masked"]
#: the stratum of images the estimator could not label
NO_ESTIMATE = 0
_ESTIMATOR_OF_SCALE = {"fitzpatrick": "ita", "monk": "monk"}


def allocate_even(sizes: dict, n: int) -> dict:
    """Spread ``n`` over strata as evenly as their sizes allow (water filling): every stratum gets
    the same count unless it has fewer, and what the small ones cannot take goes to the others."""
    total = sum(sizes.values())
    if n > total:
        raise InputError(f"n={n}: only {total} usable image(s); lower n=...")
    alloc = {k: 0 for k in sizes}
    left, open_ = n, sorted(sizes, key=lambda k: (sizes[k], str(k)))
    while left and open_:
        share = left // len(open_)
        if share == 0:  # fewer left than strata: one more to the largest strata first
            for k in sorted(open_, key=lambda k: (-(sizes[k] - alloc[k]), str(k)))[:left]:
                alloc[k] += 1
            break
        k = open_[0]
        take = min(share, sizes[k] - alloc[k])
        if take < share:  # the smallest stratum is used up: take all of it, share the rest again
            alloc[k] += take
            left -= take
            open_.pop(0)
            continue
        for k in open_:
            alloc[k] += share
        left -= share * len(open_)
        open_ = [k for k in open_ if alloc[k] < sizes[k]]
    return alloc


def _estimates(df: pd.DataFrame, root: Path, *, scale: str, labels, masks: LesionMasks, progress) -> pd.Series:
    """The estimator's tone per row (0 when it has none): from ``labels`` when given, else measured."""
    ts = get_tone_scale(scale)
    if labels is not None:
        lab = read_labels_csv(labels, arg="labels", tone_scales=(scale,))
        if lab.attrs["tone_scale"] != scale:
            raise InputError(f"labels: {labels} holds {lab.attrs['tone_scale']} tones, but scale={scale!r}")
        got = pd.to_numeric(lab.set_index("image")[ts.column], errors="coerce")
        matched = df["image"].astype(str).isin(got.index)
        if not matched.any():
            raise InputError(f"labels={labels}: no 'image' value matches an image of DATA (paths relative to the "
                             f"data root, e.g. {df['image'].iloc[0]!r})")
        return got.reindex(df["image"].astype(str)).fillna(NO_ESTIMATE).astype(int).set_axis(df.index)
    est = get_estimator(_ESTIMATOR_OF_SCALE[scale])
    out = []
    for img in df["image"].astype(str):
        mask = masks.path_for(img) if masks.directory else None
        e = estimate_tone_image(root / img, est, lesion_mask=mask)
        out.append(int(e.tone) if e.tone else NO_ESTIMATE)
        progress()
    return pd.Series(out, index=df.index)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"out: {out} is not empty; pass overwrite=True to replace the annotation in it (its "
                             "answers database included) or choose another folder")
        for name in ("study.json", ANNOTATE_FILE, "images", "private", "answers.sqlite", "answers.sqlite-wal",
                     "answers.sqlite-shm"):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    (out / "images").mkdir(parents=True)
    (out / "private").mkdir()
    os.chmod(out / "private", 0o700)


def _encode(path: Path, mask, config: AnnotateConfig) -> bytes:
    rgb = load_rgb(path).rgb
    if mask is not None:
        if mask.shape != rgb.shape[:2]:
            import cv2

            mask = cv2.resize(mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        rgb = rgb.copy()
        rgb[mask] = config.mask_grey
    return served_image(rgb, size=config.image_size, quality=config.jpeg_quality)


def create_annotation(data: str | Path, *, out: str | Path, labels: str | Path | None = None,
                      masks: str | Path | None = None, data_format: str | None = None,
                      config: AnnotateConfig = AnnotateConfig(), title: str = "Skin type annotation",
                      overwrite: bool = False, progress: Progress | None = None) -> dict:
    """Draw the annotation sample from the data set ``data`` into the folder ``out``; returns what
    was drawn (counts per stratum, rows skipped). ``progress`` (:mod:`fairskin.progress`) sees the
    counts of the images measured and encoded."""
    config.check()
    out = Path(out)
    df = read_dataset(data, format=data_format)
    root = Path(df.attrs["root"])
    lesion = LesionMasks(masks)
    skipped = [{"row": i, "image": r.image, "reason": f"{r.status}: {r.reason}"}
               for i, r in df.iterrows() if r.status != "ok"]
    df = df[df["status"] == "ok"].copy()
    df["row"] = df.index
    if df.empty:
        raise InputError(f"DATA {data}: no usable image ({len(skipped)} row(s) skipped)")
    if masks is not None and not any(lesion.path_for(i) for i in df["image"].astype(str)):
        raise InputError(f"masks={masks}: no mask matches an image of DATA (expected <stem>_mask.png, "
                         "<stem>_segmentation.png or <stem>.png, white = lesion)")
    tick = counter(progress if labels is None else None, "estimating skin types", len(df))
    df["stratum"] = _estimates(df, root, scale=config.scale, labels=labels, masks=lesion, progress=tick)
    sizes = df["stratum"].value_counts().to_dict()
    alloc = allocate_even(sizes, config.n)
    _prepare_out(out, overwrite)
    rng = np.random.default_rng(config.seed)
    chosen = []
    enc = counter(progress, "encoding images", config.n)
    for s in sorted(alloc):
        g = df[df["stratum"] == s]
        taken = 0
        for _, r in g.iloc[rng.permutation(len(g))].iterrows():
            if taken == alloc[s]:
                break
            mask_path = lesion.path_for(str(r.image)) if lesion.directory else None
            try:
                blob = _encode(root / str(r.image), load_mask(mask_path) if mask_path else None, config)
            except ImageLoadError as exc:
                skipped.append({"row": int(r.row), "image": r.image, "reason": f"{exc.status}: {exc.reason}"})
                continue
            chosen.append((r, blob, mask_path is not None))
            taken += 1
            enc()
        if taken < alloc[s]:
            raise InputError(f"n={config.n}: the estimator's stratum {s or 'no estimate'} has only {taken} "
                             f"readable image(s) of the {alloc[s]} needed; lower n=...")
    ids = sorted({secrets.token_hex(8) for _ in range(len(chosen) * 2)})[:len(chosen)]
    while len(ids) < len(chosen):  # vanishingly rare: a collision among 16-hex-digit ids
        ids = sorted(set(ids) | {secrets.token_hex(8)})
    order = rng.permutation(len(chosen))  # ids go to images in a seeded random order
    est_name = "labels.csv" if labels is not None else _ESTIMATOR_OF_SCALE[config.scale]
    key = []
    for j, (r, blob, masked) in zip(order, chosen):
        (out / "images" / f"{ids[j]}{SERVED_SUFFIX}").write_bytes(blob)
        key.append({"id": ids[j], "image": r.image, "image_id": r.image_id, "row": int(r.row), "stratum": int(r.stratum),
                    "estimated": int(r.stratum) or None, "estimator": est_name,
                    "fst_human": None if pd.isna(r.fst_human) else int(r.fst_human),
                    "fst_group_human": None if pd.isna(r.fst_group_human) else str(r.fst_group_human),
                    "diagnosis": r.diagnosis, "masked": masked})
    key_df = pd.DataFrame(key, columns=KEY_COLUMNS).sort_values("id").reset_index(drop=True)
    key_df["estimated"] = key_df["estimated"].astype("Int64")
    key_df["fst_human"] = key_df["fst_human"].astype("Int64")
    write_csv(key_df, out / "private" / "answer_key.csv")
    write_csv(pd.DataFrame(skipped, columns=["row", "image", "reason"]), out / "private" / "skipped.csv")
    stamp = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    questions = Questions(ask_diagnosis=False, ask_comment=True)
    write_study_file(out, StudyFile(schema=SCHEMA, title=title, items=tuple(key_df["id"]), calibration=(),
                                    questions=questions, image_size=config.image_size, seed=config.seed, created=stamp))
    write_annotation_file(out, AnnotationFile(schema=ANNOTATE_SCHEMA, scale=config.scale, per_image=config.per_image,
                                              masked=masks is not None, data=str(root.resolve()),
                                              labels=str(Path(labels).resolve()) if labels else None))
    plan = {"data": str(root.resolve()), "labels": str(labels) if labels else None, "estimator": est_name,
            "config": asdict(config), "n_usable": int(len(df)), "n_skipped": len(skipped),
            "strata": {str(k): {"available": int(sizes[k]), "drawn": int(alloc[k])} for k in sorted(sizes)},
            "files": {"study": "study.json", "annotation": ANNOTATE_FILE}}
    (out / "private" / "sample.json").write_text(json.dumps(plan, indent=1, default=str) + "\n")
    return {"out": out, "n": len(chosen), "strata": plan["strata"], "skipped": len(skipped),
            "masked": int(sum(m for _, _, m in chosen))}
