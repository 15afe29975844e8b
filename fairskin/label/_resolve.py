"""One answer to "which skin tone does this row have", for every stage.

``balance`` (through ``conditioning.labelled_manifest``), conditioning training, ``audit``
(``read_skin_types``) and ``experiment`` (its training split and its test set) all call
:func:`resolve_tones`, so a row gets the same tone, probability, source and scale wherever it is
read. The rule (docs/label.md, "Which skin type a row has"):

``source="human"``
    the data set's human Fitzpatrick type, else its human group (DDI's 12/34/56), else none.
``source="estimated"``
    the tone of ``labels`` (a labels.csv from ``fairskin label``), else none with the labeller's
    reason (an abstention stays an abstention).
``source="auto"`` (the default everywhere)
    a human type where the row has one (people beat the estimator), else the labels.csv tone,
    else (without a labels.csv and with ``estimate_missing``) the default estimator run on the
    image now, else the human group (DDI's 12/34/56: a group, not a type), else none with a
    reason. An estimate is an exact type; a human group only narrows it to two. A labels.csv on another scale than
    Fitzpatrick (Monk) is used for every row: tones of two scales are never mixed.

The probability over tones is one-hot for a human type, uniform over the group's types for a
human group, the labels.csv's ``p_<column><k>`` columns where it carries them (``p_fst1`` ..
``p_fst6``), else the estimator's confidence on its tone with the rest spread evenly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fairskin.errors import InputError
from fairskin.label._labels import HUMAN_CONSENSUS, read_labels_csv
from fairskin.skintone import FITZPATRICK, ToneScale, get_tone_scale

__all__ = ["ToneResolution", "resolve_tones", "find_label_confusion"]

ToneSource = Literal["auto", "human", "estimated"]


@dataclass(frozen=True)
class ToneResolution:
    """Per row of a manifest: the tone (0 = none), the group ('' = none), the probability over the
    scale's tones (rows of zeros where nothing is known), the source (human / estimated / given /
    ''), the estimator's scale name for estimated rows, and the reason when there is no tone."""

    image: np.ndarray
    tone: np.ndarray
    group: np.ndarray
    probability: np.ndarray
    source: np.ndarray
    method: np.ndarray
    reason: np.ndarray
    scale: ToneScale = FITZPATRICK
    labels: Path | None = None
    detail: str = ""
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tone)

    @property
    def kind(self) -> str:
        """``human``, ``estimated``, ``given``, ``mixed`` (human and estimated rows) or ``none``."""
        got = sorted({s for s in self.source if s})
        return got[0] if len(got) == 1 else "none" if not got else "mixed"

    def value(self, i: int):
        """Row ``i`` as the audits read it: the tone (int), else the group name, else None."""
        return int(self.tone[i]) if self.tone[i] else (str(self.group[i]) if self.group[i] else None)

    def frame(self) -> pd.DataFrame:
        """One row per manifest row: image, tone, tone_group, tone_source, tone_scale, tone_reason,
        and ``p_<column><k>`` per tone."""
        df = pd.DataFrame({"image": self.image, "tone": pd.array([int(t) if t else pd.NA for t in self.tone],
                                                                  dtype="Int64"),
                           "tone_group": self.group, "tone_source": self.source, "tone_scale": self.scale.name,
                           "tone_reason": self.reason})
        for j, t in enumerate(self.scale.tones):
            df[f"p_{self.scale.column}{t}"] = self.probability[:, j]
        return df

    def counts(self) -> dict[str, int]:
        return {s or "none": int((self.source == s).sum()) for s in dict.fromkeys(self.source)}


def _human(manifest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    n = len(manifest)
    t = (pd.to_numeric(manifest["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
         if "fst_human" in manifest else np.zeros(n, int))
    g = (manifest["fst_group_human"].astype("string").fillna("").to_numpy(object)
         if "fst_group_human" in manifest else np.full(n, "", object))
    return t, g


def _spread(tone: int, confidence: float, scale: ToneScale) -> np.ndarray:
    k = len(scale.tones)
    p = np.zeros(k)
    c = float(confidence) if confidence == confidence and confidence is not None else 1.0
    c = min(max(c, 0.0), 1.0)
    p[:] = (1 - c) / (k - 1)
    p[scale.tones.index(tone)] = c
    return p


def _one_hot(tones, scale: ToneScale) -> np.ndarray:
    p = np.zeros(len(scale.tones))
    for t in tones:
        p[scale.tones.index(t)] = 1.0 / len(tones)
    return p


def resolve_tones(manifest: pd.DataFrame, *, labels: str | Path | None = None, source: ToneSource = "auto",
                  estimate_missing: bool = False, tone_scales: tuple[str, ...] = ("fitzpatrick",),
                  root: str | Path | None = None) -> ToneResolution:
    """The tone of every row of ``manifest`` (columns image, and fst_human / fst_group_human where
    people labelled it) by the one rule of this module's docstring.

    ``labels``: a labels.csv from ``fairskin label`` (refused: tones off the scale, an image given
    two tones, no image in common with ``manifest``). ``tone_scales``: the scales the calling
    stage groups on (``"monk"`` among them accepts a Monk labels.csv). ``estimate_missing``: rows
    with no tone (and no labels.csv) are measured with the default estimator from the image under
    ``root``. Errors name the arguments as the stages call them, ``labels`` and ``fst_source`` (the
    source); a caller that calls them otherwise renames them (:func:`fairskin.errors.arguments_named`).
    """
    if source not in ("auto", "human", "estimated"):
        raise InputError(f"fst_source: expected 'auto', 'human' or 'estimated', got {source!r}")
    images = manifest["image"].astype(str).to_numpy(object)
    n = len(images)
    h_type, h_group = _human(manifest)
    has_human = (h_type > 0) | (h_group != "")
    if source == "human" or (source == "auto" and labels is None and not estimate_missing):
        if not has_human.any() and source == "human":
            raise InputError("fst_source='human': no image has a human Fitzpatrick label; run `fairskin label` on "
                             "the images and pass its labels.csv (labels=..., fst_source='estimated')")
        if not has_human.any():
            raise InputError("labels: none given, and no image has a human Fitzpatrick label; run `fairskin label` "
                             "on the images and pass its labels.csv (labels=...)")
    if source == "estimated" and labels is None:
        raise InputError("fst_source='estimated' needs a labels.csv from fairskin label (labels=...)")
    scale = FITZPATRICK
    lab_tone = np.zeros(n, int)
    lab_p = None
    lab_method = np.full(n, "", object)
    lab_why = np.full(n, "", object)
    warnings: list[str] = []
    lab_path = None
    lab_human = False  # a labels.csv of human consensus types (fairskin annotate analyze)
    if labels is not None and source != "human":
        lab_path = Path(labels)
        lab = read_labels_csv(lab_path, arg="labels", tone_scales=tone_scales)
        warnings += lab.attrs["warnings"]
        lab_human = bool(lab.attrs.get("human")) and source == "auto"  # --fst-source estimated still wins
        scale = get_tone_scale(lab.attrs["tone_scale"])
        lab = lab.set_index("image")
        if n and not np.isin(images, lab.index.to_numpy(object)).any():
            theirs = f"; first image there: {lab.index[0]!r}" if len(lab) else " (it has no rows)"
            raise InputError(f"labels: none of the {n} images is in {lab_path} (first image: {images[0]!r}{theirs}); "
                             "give the labels.csv that `fairskin label` wrote for these images, whose 'image' column "
                             "holds the same relative paths")
        col = scale.column
        tones, _, _ = scale.parse(lab[col].tolist(), groups=False)
        by_image = dict(zip(lab.index, tones))
        pcols = [f"p_{col}{t}" for t in scale.tones]
        has_p = all(c in lab.columns for c in pcols)
        conf = pd.to_numeric(lab["confidence"], errors="coerce") if "confidence" in lab else None
        named = lab["scale"].astype(str).str.strip() if "scale" in lab else None
        lab_p = np.zeros((n, len(scale.tones)))
        for i, img in enumerate(images):
            if img not in by_image:
                lab_why[i] = f"not in {lab_path.name}"
                continue
            t = int(by_image[img])
            if not t:
                st = str(lab.at[img, "status"]) if "status" in lab else ""
                rs = str(lab.at[img, "reason"]) if "reason" in lab else ""
                lab_why[i] = f"no estimated skin type in {lab_path.name} ({st}: {rs})".replace(" (: )", "")
                continue
            lab_tone[i] = t
            lab_method[i] = named.at[img] if named is not None else ""
            if has_p:
                p = pd.to_numeric(lab.loc[img, pcols], errors="coerce").to_numpy(float)
                if np.isfinite(p).all() and p.sum() > 0:
                    lab_p[i] = p / p.sum()
                    continue
            lab_p[i] = _spread(t, conf.at[img] if conf is not None else np.nan, scale)
    monk = scale is not FITZPATRICK
    tone = np.zeros(n, int)
    group = np.full(n, "", object)
    prob = np.zeros((n, len(scale.tones)))
    src = np.full(n, "", object)
    method = np.full(n, "", object)
    reason = np.full(n, "", object)
    use_human = source == "human" or (source == "auto" and not monk)
    for i in range(n):
        if use_human and h_type[i] and 1 <= h_type[i] <= 6:
            tone[i], src[i], prob[i] = h_type[i], "human", _one_hot([h_type[i]], FITZPATRICK)
        elif source != "human" and lab_tone[i]:
            tone[i], src[i], prob[i] = lab_tone[i], "human" if lab_human else "estimated", lab_p[i]
            method[i] = HUMAN_CONSENSUS if lab_human else lab_method[i]
        elif use_human and h_group[i] and h_group[i] in FITZPATRICK.groups:
            group[i], src[i] = h_group[i], "human"
            prob[i] = _one_hot(FITZPATRICK.groups[h_group[i]], FITZPATRICK)
        else:
            reason[i] = (lab_why[i] if source != "human" and labels is not None else
                         "no human Fitzpatrick label for this image")
    if estimate_missing and labels is None and source != "human" and root is not None:
        from fairskin.label._config import LabelConfig
        from fairskin.label._estimate import estimate_image

        cfg = LabelConfig()
        for i in np.flatnonzero(tone == 0):
            est = estimate_image(Path(root) / images[i], config=cfg)
            if est.fst:
                tone[i], src[i], method[i] = int(est.fst), "estimated", est.scale
                prob[i] = _spread(int(est.fst), est.confidence, FITZPATRICK)
                reason[i], group[i] = "", ""
            elif src[i] == "":
                reason[i] = f"the estimator gave no type ({est.status}: {est.reason})".replace(" (: )", "")
    group = np.array([g or (scale.group_of(t) if t else "") for g, t in zip(group, tone)], object)
    res = ToneResolution(image=images, tone=tone, group=group, probability=prob, source=src, method=method,
                         reason=reason, scale=scale, labels=lab_path, warnings=warnings)
    return _with_detail(res, h_type, h_group)


def _with_detail(res: ToneResolution, h_type: np.ndarray, h_group: np.ndarray) -> ToneResolution:
    """The resolution with ``detail``: where its tones came from, in words (reports and meta)."""
    src = res.source
    human = src == "human"
    typed = human & (res.tone > 0)
    if res.kind == "human" and (res.method == HUMAN_CONSENSUS).any():
        where = f" from {res.labels.name}" if res.labels is not None else ""
        detail = f"human consensus types{where}" + ("" if (res.method == HUMAN_CONSENSUS).all() else
                                                    ", the data set's human types where it has them")
    elif res.kind == "human":
        detail = ("human Fitzpatrick types" if typed.all() else "human Fitzpatrick groups (DDI skin_tone 12/34/56)"
                  if not typed.any() else "human Fitzpatrick types, groups where only the group is known")
    else:
        how = "ITA" if res.scale is FITZPATRICK else f"{res.scale.name} scale, groups {res.scale.describe_groups()}"
        where = f" from {res.labels.name}" if res.labels is not None else " measured on the images"
        detail = f"estimated ({how}){where}"
        if res.kind == "mixed":
            detail = (f"human Fitzpatrick types where people gave one ({int(human.sum())} rows), else {detail} "
                      f"({int((src == 'estimated').sum())} rows)")
    object.__setattr__(res, "detail", detail)
    return res


def find_label_confusion(labels: str | Path | None) -> tuple[dict, Path] | None:
    """The labeller's confusion that came with ``labels`` (a labels.csv), and the file it was read
    from: ``<stem>.json`` / ``<stem>_confusion.json`` / ``<stem>.confusion.json`` beside it, or any
    ``fairskin label --json`` summary in its folder whose ``labels_csv`` is this file. None when
    there is none (the data had no human types) or ``labels`` is None."""
    if labels is None:
        return None
    path = Path(labels)
    stem = path.with_suffix("")
    named = [Path(f"{stem}.json"), Path(f"{stem}_confusion.json"), Path(f"{stem}.confusion.json")]
    others = sorted(p for p in path.parent.glob("*.json") if p not in named)[:50] if path.parent.is_dir() else []
    for cand in named + others:
        if not cand.is_file():
            continue
        try:
            doc = json.loads(cand.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict):
            continue
        if doc.get("schema") == "fairskin.label/1":
            if cand not in named and Path(str(doc.get("labels_csv", ""))).resolve() != path.resolve():
                continue
            doc = doc.get("label_confusion")
        elif cand not in named:
            continue
        if isinstance(doc, dict) and doc.get("schema") == "fairskin.label-confusion/1" and doc.get("counts"):
            return doc, cand
    return None
