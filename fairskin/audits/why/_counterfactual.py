"""Counterfactual skin tone: the same image with its healthy skin re-toned to another skin type.

The edit is a shift in CIELAB of the skin's colour: every pixel that is skin (not lesion, frame,
non-skin background, hair or glare) moves by the same (dL*, 0, db*), so the skin's texture and
lighting stay and its median L*, b* (what the label stage turns into ITA) land on a colour of the
requested ITA. The target keeps the skin's own b* where it can and moves along L*; L* is kept in
``l_range`` by changing b* instead. The shift fades in over ``feather`` of the long side away
from the lesion, so no seam runs along its edge; the lesion mask's pixels are copied unchanged
(their maximum absolute difference is 0 by construction). The result is measured again by the
label estimator, the shift corrected from that measurement up to ``correction_rounds`` times,
and an image counts as landed when the estimator puts it in the requested type.

``counterfactual_scores`` runs a model on each image and on each of its re-toned versions and
returns one row per (image, target type); :func:`counterfactual_summary` turns them into the
per source x target mean score change and flip rate with intervals over the resampling unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from fairskin.audits.why._regions import image_regions
from fairskin.audits.stats import ci_entry, group_means
from fairskin.label import LabelConfig, estimate_rgb, lab_to_srgb, srgb_to_lab
from fairskin.skintone import FST_GROUPS, FST_TYPES, ROMAN, get_scale, group_of

__all__ = ["CounterfactualConfig", "Retoned", "target_ita", "retone", "retone_many", "counterfactual_scores",
           "counterfactual_summary"]


@dataclass(frozen=True)
class CounterfactualConfig:
    """Defaults of the counterfactual skin-tone audit."""

    #: the open-ended types (I, VI) are given an interval this wide when their target is chosen
    open_end_width: float = 15.0
    #: the shift fades in over this share of the long side away from the lesion
    feather: float = 0.02
    #: L* of the re-toned skin is kept in this range (b* changes instead)
    l_range: tuple[float, float] = (25.0, 88.0)
    #: re-measure and correct the shift at most this many times, until within ``tolerance`` degrees
    correction_rounds: int = 2
    tolerance: float = 0.5
    #: thumbnails of re-toned images kept per source group for the report
    examples_per_group: int = 1


def target_ita(fst: int, *, scale: str = LabelConfig.scale, open_end_width: float = CounterfactualConfig.open_end_width
               ) -> float:
    """The ITA a re-toned image is aimed at: the middle of the type's interval on ``scale``, an
    open end cut to ``open_end_width`` degrees."""
    lo, hi = get_scale(scale).interval(int(fst))
    if math.isinf(lo):
        lo = hi - open_end_width
    if math.isinf(hi):
        hi = lo + open_end_width
    return (lo + hi) / 2


@dataclass
class Retoned:
    rgb: np.ndarray  # uint8, the input's shape
    lesion: np.ndarray  # bool: pixels copied unchanged
    lesion_source: str  # "given" or "automatic"
    target_fst: int
    target_ita: float
    ita_before: float
    ita_after: float
    fst_after: int | None
    status: str  # "ok" or the estimator's status when the image has no measurable skin
    reason: str = ""

    @property
    def landed(self) -> bool:
        return self.status == "ok" and self.fst_after == self.target_fst


def _target_lab(ita: float, b: float, l_range: tuple[float, float]) -> tuple[float, float]:
    t = math.tan(math.radians(ita))
    L = 50.0 + b * t
    if L > l_range[1] and t > 0:
        b, L = (l_range[1] - 50.0) / t, l_range[1]
    elif L < l_range[0] and t < 0:
        b, L = (l_range[0] - 50.0) / t, l_range[0]
    return L, b


def retone(rgb: np.ndarray, target_fst: int, *, lesion: np.ndarray | None = None,
           config: CounterfactualConfig = CounterfactualConfig(), label_config: LabelConfig = LabelConfig()
           ) -> Retoned:
    """Re-tone the healthy skin of an 8-bit sRGB image to skin type ``target_fst`` (scale:
    ``label_config.scale``); ``lesion``: the image's lesion mask, else the automatic one."""
    return retone_many(rgb, [target_fst], lesion=lesion, config=config, label_config=label_config)[0]


def retone_many(rgb: np.ndarray, targets, *, lesion: np.ndarray | None = None,
                config: CounterfactualConfig = CounterfactualConfig(), label_config: LabelConfig = LabelConfig()
                ) -> list[Retoned]:
    """:func:`retone` to each of ``targets``, finding the image's regions and skin colour once."""
    bad = [t for t in targets if t not in FST_TYPES]
    if bad:
        raise ValueError(f"target_fst: expected Fitzpatrick types 1-6, got {bad[0]!r}")
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    reg = image_regions(rgb, lesion=lesion, config=label_config)
    before = estimate_rgb(rgb, lesion_mask=reg.lesion, config=label_config)
    keep = reg.lesion.copy()
    for part in ("frame", "non_skin", "hair", "glare"):
        if part in reg.parts:
            keep |= reg.parts[part]
    side = max(rgb.shape[:2])
    dist = cv2.distanceTransform((~reg.lesion).view(np.uint8), cv2.DIST_L2, 3) if reg.lesion.any() \
        else np.full(rgb.shape[:2], np.inf, np.float32)
    alpha = np.clip(dist / max(config.feather * side, 1e-6), 0, 1).astype(np.float32)
    alpha[keep] = 0.0
    edit = alpha > 0
    lab = srgb_to_lab(rgb)[edit]
    a = alpha[edit][:, None]
    out = []
    for t in targets:
        goal = target_ita(t, scale=label_config.scale, open_end_width=config.open_end_width)
        r = Retoned(rgb=rgb.copy(), lesion=reg.lesion, lesion_source=reg.lesion_source, target_fst=int(t),
                    target_ita=goal, ita_before=before.ita, ita_after=math.nan, fst_after=None, status=before.status,
                    reason=before.reason)
        out.append(r)
        if before.status != "ok":
            continue
        est, shift = before, np.zeros(3, np.float32)
        for _ in range(1 + max(0, config.correction_rounds)):
            L1, b1 = _target_lab(goal, est.b, config.l_range)
            shift += np.array([L1 - est.L, 0.0, b1 - est.b], np.float32)
            r.rgb[edit] = np.clip(lab_to_srgb(lab + a * shift) * 255 + 0.5, 0, 255).astype(np.uint8)
            est = estimate_rgb(r.rgb, lesion_mask=reg.lesion, config=label_config)
            if est.status != "ok" or abs(est.ita - goal) <= config.tolerance:
                break
        r.ita_after, r.fst_after = est.ita, est.fst
        if est.status != "ok":
            r.status, r.reason = est.status, f"re-toned image: {est.reason}"
    return out


def counterfactual_targets(source) -> list[int]:
    """The types an image of ``source`` (a type 1-6 or a group name) is re-toned to: every type
    not its own (not in its group)."""
    own = FST_GROUPS.get(source, (source,)) if isinstance(source, str) else (int(source),)
    return [t for t in FST_TYPES if t not in own]


def counterfactual_scores(images, *, score, config: CounterfactualConfig = CounterfactualConfig(),
                          label_config: LabelConfig = LabelConfig(), progress=None) -> tuple[pd.DataFrame, list]:
    """One row per (image, target type).

    ``images`` yields ``(image, source, crop, lesion)``: the image's name, its skin type (1-6)
    or group, the 8-bit crop the model sees and its lesion mask (or None). ``score`` maps a list
    of crops to the model's probabilities. Returns (rows, examples): rows with image, source,
    target, score_before, score_after, delta, ita_before, ita_after, fst_after, landed, status;
    examples: (source, image, [(target, crop)]) for thumbnails.
    """
    rows, examples, per_source = [], [], {}
    for name, source, crop, lesion in images:
        targets = counterfactual_targets(source)
        made = retone_many(crop, targets, lesion=lesion, config=config, label_config=label_config)
        s = score([crop] + [m.rgb for m in made])
        for m, after in zip(made, s[1:]):
            rows.append({"image": name, "source": source, "target": m.target_fst, "score_before": s[0],
                         "score_after": after, "delta": after - s[0], "ita_before": m.ita_before,
                         "ita_after": m.ita_after, "fst_after": m.fst_after, "landed": m.landed,
                         "lesion_source": m.lesion_source, "status": m.status, "reason": m.reason})
        key = str(source)
        if per_source.get(key, 0) < config.examples_per_group and all(m.status == "ok" for m in made):
            per_source[key] = per_source.get(key, 0) + 1
            examples.append((source, name, [(None, crop)] + [(m.target_fst, m.rgb) for m in made]))
        if progress:
            progress()
    cols = ["image", "source", "target", "score_before", "score_after", "delta", "ita_before", "ita_after",
            "fst_after", "landed", "lesion_source", "status", "reason"]
    return pd.DataFrame(rows, columns=cols), examples


def counterfactual_summary(rows: pd.DataFrame, units: dict[str, str], *, threshold: float, n_boot: int, seed: int,
                           ci_level: float, min_group_n: int) -> dict:
    """Per source x target: images, units, landing rate, mean score change and flip rate (the
    prediction at ``threshold`` changes), with percentile intervals resampling units within the
    source; also each source pooled over its targets, and the score change toward darker and
    toward lighter types. ``units``: image -> resampling unit."""
    rng = np.random.default_rng(seed)
    ok = rows[rows["status"] == "ok"].copy()
    ok["flip"] = (ok["score_before"] >= threshold) != (ok["score_after"] >= threshold)
    ok["unit"] = ok["image"].map(units)
    cells, sources = [], []
    for level, keyf in (("type", lambda s: s if not isinstance(s, str) else None),
                        ("group", lambda s: s if isinstance(s, str) else group_of(int(s)))):
        src = ok["source"].map(keyf)
        for s in [x for x in _ordered(src.dropna().unique())]:
            part = ok[src == s]
            name = ROMAN[int(s) - 1] if level == "type" else s
            n_img = part["image"].nunique()
            flags = ["small_n"] if n_img < min_group_n else []
            pooled = part.groupby("image").agg(delta=("delta", "mean"), flip=("flip", "mean"), unit=("unit", "first"))
            m, b, nu = group_means(pooled[["delta", "flip"]].to_numpy(float), pooled["unit"].to_numpy(), n_boot=n_boot,
                                   rng=rng)
            toward = {}
            for direction, sel in (("darker", part["target"] > _darkest(s)),
                                   ("lighter", part["target"] < _lightest(s))):
                d = part[sel].groupby("image").agg(delta=("delta", "mean"), unit=("unit", "first"))
                if len(d):
                    dm, db, _ = group_means(d[["delta"]].to_numpy(float), d["unit"].to_numpy(), n_boot=n_boot, rng=rng)
                    toward[direction] = ci_entry(dm[0], db[:, 0], level=ci_level)
                else:
                    toward[direction] = ci_entry(math.nan, np.array([]), level=ci_level)
            sources.append({"source": name, "level": level, "n": int(n_img), "n_units": nu, "reliable": not flags,
                            "flags": flags, "landed": float(part["landed"].mean()),
                            "mean_score_change": ci_entry(m[0], b[:, 0], level=ci_level),
                            "flip_rate": ci_entry(m[1], b[:, 1], level=ci_level),
                            "score_change_darker": toward["darker"], "score_change_lighter": toward["lighter"]})
            for t in sorted(part["target"].unique()):
                c = part[part["target"] == t]
                m, b, nu = group_means(c[["delta", "flip"]].to_numpy(float), c["unit"].to_numpy(), n_boot=n_boot,
                                       rng=rng)
                cflags = ["small_n"] if len(c) < min_group_n else []
                cells.append({"source": name, "level": level, "target": ROMAN[int(t) - 1], "n": int(len(c)),
                              "n_units": nu, "reliable": not cflags, "flags": cflags,
                              "landed": float(c["landed"].mean()),
                              "mean_score_change": ci_entry(m[0], b[:, 0], level=ci_level),
                              "flip_rate": ci_entry(m[1], b[:, 1], level=ci_level)})
    per_image = ok.groupby("image").agg(flip=("flip", "mean"), unit=("unit", "first"))
    flip = ci_entry(math.nan, np.array([]), level=ci_level)
    if len(per_image):
        m, b, _ = group_means(per_image[["flip"]].to_numpy(float), per_image["unit"].to_numpy(), n_boot=n_boot,
                              rng=rng)
        flip = ci_entry(m[0], b[:, 0], level=ci_level)
    return {"n_images": int(rows["image"].nunique()), "n_retoned": int(len(rows)), "n_failed": int(len(rows) - len(ok)),
            "landed": float(rows["landed"].mean()) if len(rows) else None, "flip_rate": flip,
            "sources": sources, "cells": cells}


def _ordered(values) -> list:
    types = sorted(int(v) for v in values if not isinstance(v, str))
    groups = [g for g in FST_GROUPS if g in set(v for v in values if isinstance(v, str))]
    return types + groups


def _darkest(source) -> int:
    return max(FST_GROUPS[source]) if isinstance(source, str) else int(source)


def _lightest(source) -> int:
    return min(FST_GROUPS[source]) if isinstance(source, str) else int(source)
