"""Why does a model fail on some skin: saliency and counterfactual skin tone per skin type.

:func:`explain_model` runs one audited model over the audit's images (the same crops it scored)
and returns the optional top-level sections ``saliency`` and ``counterfactual`` of the audit JSON
(``docs/audit-json.md``), plus a per-image table of each. Groups are the audit's: each skin type
present and each group I-II / III-IV / V-VI; intervals resample the unit (patient where the data
set names one, else image) within the group, and groups with fewer than ``min_group_n`` images
carry the flag ``small_n``.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fairskin.audits.stats import holm
import pandas as pd

from fairskin.audits.why._counterfactual import (CounterfactualConfig, counterfactual_scores, counterfactual_summary,
                                             target_ita)
from fairskin.audits.models import LoadedModel, resolve_preprocess, to_probability, crop_rgb, positive_log_odds, to_tensor
from fairskin.audits.why._regions import REGIONS, image_regions
from fairskin.audits.why._saliency import attribution_maps, choose_target_layer, data_uri, overlay, region_shares
from fairskin.audits.stats import ci_entry, difference, group_means, permutation_range_test
from fairskin.data import ImageLoadError, load_rgb, remove_hair
from fairskin.label import LabelConfig, LesionMasks
from fairskin.progress import Progress, counter
from fairskin.skintone import FST_GROUPS, FST_TYPES, ROMAN

__all__ = ["ExplainConfig", "explain_model"]


@dataclass(frozen=True)
class ExplainConfig:
    """Defaults of the saliency and counterfactual audits."""

    #: overlays in the report per skin type and outcome (correct / wrong)
    examples_per_outcome: int = 3
    #: side of each embedded thumbnail (JPEG, data URI)
    thumbnail_side: int = 96
    batch_size: int = 16
    counterfactual: CounterfactualConfig = CounterfactualConfig()


def _prepared(frame: pd.DataFrame, *, root: Path, pre, masks: LesionMasks | None, bad: list[dict]):
    """Yield (position, image, crop, lesion crop or None); failures go to ``bad``."""
    for pos, img in enumerate(frame["image"].astype(str)):
        try:
            rgb = load_rgb(root / img).rgb
        except ImageLoadError as exc:
            bad.append({"image": img, "status": exc.status, "reason": exc.reason})
            continue
        if pre.hair_removal:
            rgb = remove_hair(rgb)
        lesion = None
        if masks is not None:
            try:
                lesion = masks.load(img)
            except ImageLoadError as exc:
                bad.append({"image": img, "status": "bad_mask", "reason": f"lesion mask unreadable ({exc.reason}); "
                            "automatic segmentation used"})
            if lesion is not None and lesion.shape != rgb.shape[:2]:
                lesion = cv2.resize(lesion.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                                    interpolation=cv2.INTER_NEAREST).astype(bool)
        if lesion is None:
            yield pos, img, crop_rgb(rgb, pre), None
        else:
            crop, les = crop_rgb(rgb, pre, mask=lesion)
            yield pos, img, crop, les


def _batches(items, size: int):
    batch = []
    for it in items:
        batch.append(it)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _group_keys(table: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """(level, name, row mask) for each type and group present in a per-image table, in report order."""
    out = []
    t = table["fst_type"].to_numpy(int)
    g = table["fst_group"].astype(str).to_numpy()
    for k in FST_TYPES:
        if (t == k).any():
            out.append(("type", ROMAN[k - 1], t == k))
    for name in FST_GROUPS:
        if (g == name).any():
            out.append(("group", name, g == name))
    return out


def _example_group(row) -> str:
    return ROMAN[int(row["tone"]) - 1] if int(row["tone"]) > 0 else str(row["tone_group"])


def _saliency(model: LoadedModel, frame, *, root, pre, masks, method, layer_name, threshold, target, cfg, units,
              n_boot, seed, ci_level, min_group_n, group_level, progress) -> tuple[dict, pd.DataFrame]:
    """The saliency section and its per-image table: each image's attribution (``method`` at
    ``layer_name``) shared out over lesion, healthy skin and background, summarised per group.

    Many parameters because it takes :func:`explain_model`'s audit settings (the ones it shares with
    ``_counterfactual``, passed as one ``common`` dict) plus the saliency method's own."""
    import torch

    module = model.module
    layer = choose_target_layer(module, input_size=pre.crop, name=layer_name)
    bad: list[dict] = []
    rows, best = [], {}
    label_cfg = LabelConfig()
    for batch in _batches(_prepared(frame, root=root, pre=pre, masks=masks, bad=bad), cfg.batch_size):
        x = torch.stack([to_tensor(c, pre) for _, _, c, _ in batch])
        maps = attribution_maps(module, x, method=method, layer=layer, target=target)
        for (pos, img, crop, lesion), cam in zip(batch, maps):
            reg = image_regions(crop, lesion=lesion, config=label_cfg)
            shares = region_shares(cam, reg.as_dict())
            r = frame.iloc[pos]
            correct = bool((r["score"] >= threshold) == bool(r["label"]))
            if shares is None:
                bad.append({"image": img, "status": "zero_attribution", "reason": "the attribution map is zero "
                            "everywhere (no positive evidence at this layer)"})
                continue
            rows.append({"image": img, "fst_type": int(r["tone"]), "fst_group": str(r["tone_group"]),
                         "label": int(r["label"]), "score": float(r["score"]), "correct": correct,
                         **{f"share_{k}": v for k, v in shares.items()}, "lesion_source": reg.lesion_source})
            key = (_example_group(r), "correct" if correct else "wrong")
            heap = best.setdefault(key, [])
            item = (abs(float(r["score"]) - threshold), img, pos, crop, cam, reg.lesion)
            if len(heap) < cfg.examples_per_outcome:
                heapq.heappush(heap, (item[0], item[1], item))
            elif item[0] > heap[0][0]:
                heapq.heapreplace(heap, (item[0], item[1], item))
            if progress:
                progress()
    table = pd.DataFrame(rows, columns=["image", "fst_type", "fst_group", "label", "score", "correct",
                                        *(f"share_{k}" for k in REGIONS), "lesion_source"])
    examples = []
    for (grp, outcome), heap in best.items():
        for _, _, (_, img, pos, crop, cam, lesion) in sorted(heap, reverse=True):
            r = table[table["image"] == img].iloc[0]
            examples.append({"group": grp, "outcome": outcome, "image": img, "label": int(r["label"]),
                             "score": float(r["score"]), "shares": {k: float(r[f"share_{k}"]) for k in REGIONS},
                             "overlay": data_uri(overlay(crop, cam, lesion=lesion), side=cfg.thumbnail_side)})
    section = {"method": method, "library": "pytorch-grad-cam", "layer": layer.name, "layer_chosen": layer.chosen,
               "explained_score": "log-odds of the audited malignancy probability",
               "regions": {"lesion": "the data set's lesion mask, else the label stage's automatic segmentation",
                           "skin": "healthy skin (fairskin.label.healthy_skin_mask)",
                           "background": "everything else: frame, non-skin background, hair, glare, rulers, "
                                         "and the margin left around each exclusion"},
               "lesion_masks": {k: int(v) for k, v in table["lesion_source"].value_counts().items()},
               **_share_statistics(table, units, n_boot=n_boot, seed=seed, ci_level=ci_level,
                                   min_group_n=min_group_n, group_level=group_level),
               "examples": examples, "bad_rows": bad[:200], "n_bad": len(bad)}
    return section, table


def _share_statistics(table: pd.DataFrame, units: dict[str, str], *, n_boot, seed, ci_level, min_group_n,
                      group_level) -> dict:
    rng = np.random.default_rng(seed)
    values = table[[f"share_{k}" for k in REGIONS]].to_numpy(float)
    u = table["image"].map(units).to_numpy(object)
    groups, boots = [], {}
    for level, name, m in _group_keys(table):
        point, samples, nu = group_means(values[m], u[m], n_boot=n_boot, rng=rng)
        n = int(m.sum())
        flags = ["small_n"] if n < min_group_n else []
        wrong = table["correct"].to_numpy()[m] == 0
        groups.append({"group": name, "level": level, "n": n, "n_units": nu, "n_wrong": int(wrong.sum()),
                       "reliable": not flags, "flags": flags,
                       "shares": {k: ci_entry(point[j], samples[:, j], level=ci_level) for j, k in enumerate(REGIONS)}})
        boots[(level, name)] = (point, samples)
    level = group_level if any(g["level"] == group_level for g in groups) else "group"
    present = [g for g in groups if g["level"] == level]
    tests = []
    if len(present) >= 2:
        # the lightest group with enough images (as the audit's reference group), against the darkest
        ref = next((g for g in present[:-1] if g["reliable"]), present[0])
        dark = present[-1]
        a, b = boots[(level, ref["group"])], boots[(level, dark["group"])]
        flags = sorted({f for g in (ref, dark) for f in g["flags"]})
        for j, k in enumerate(REGIONS[:2]):
            sign = 1 if k == "lesion" else -1  # positive: the darker group's map is less on the lesion, more on skin
            d = difference((sign * a[0][j], sign * a[1][:, j]), (sign * b[0][j], sign * b[1][:, j]), level=ci_level)
            tests.append({"name": f"{k}_share_gap", "groups": [ref["group"], dark["group"]],
                          "definition": f"{k} share of {ref['group']} minus {dark['group']}" if k == "lesion" else
                          f"{k} share of {dark['group']} minus {ref['group']}", **d,
                          "p_value_method": "bootstrap", "flags": flags})
        m = np.any([_mask_of(table, level, g["group"]) for g in present], axis=0)
        names = np.array([_name_of(r, level) for _, r in table[m].iterrows()], object)
        t, p = permutation_range_test(values[m][:, :1], u[m], names, n_perm=n_boot, rng=rng)
        tests.append({"name": "lesion_share_homogeneity", "groups": [g["group"] for g in present],
                      "definition": f"range (max - min) of the mean lesion share over the {level}s", "value": t,
                      "ci_low": None, "ci_high": None, "p_value": p,
                      "p_value_method": "permutation of the units' skin types",
                      "flags": sorted({f for g in present for f in g["flags"]})})
    for t, adj in zip(tests, holm([t.get("p_value") for t in tests])):  # the family: this model's tests
        t["p_value_holm"] = adj
    return {"n_images": int(len(table)), "level": level, "groups": groups, "tests": tests}


def _mask_of(table, level, name) -> np.ndarray:
    if level == "type":
        return table["fst_type"].to_numpy(int) == ROMAN.index(name) + 1
    return table["fst_group"].astype(str).to_numpy() == name


def _name_of(row, level) -> str:
    return ROMAN[int(row["fst_type"]) - 1] if level == "type" else str(row["fst_group"])


def _counterfactual(model: LoadedModel, frame, *, root, pre, masks, threshold, score, cfg, units, n_boot, seed,
                    ci_level, min_group_n, progress) -> tuple[dict, pd.DataFrame]:
    bad: list[dict] = []
    sources = {img: (int(t) if int(t) > 0 else str(g)) for img, t, g in
               zip(frame["image"].astype(str), frame["tone"], frame["tone_group"])}
    items = ((img, sources[img], crop, lesion) for _, img, crop, lesion in
             _prepared(frame, root=root, pre=pre, masks=masks, bad=bad))
    label_cfg = LabelConfig()
    rows, examples = counterfactual_scores(items, score=score, config=cfg.counterfactual, label_config=label_cfg,
                                           progress=progress)
    summary = counterfactual_summary(rows, units, threshold=threshold, n_boot=n_boot, seed=seed, ci_level=ci_level,
                                     min_group_n=min_group_n)
    ex = []
    for source, img, versions in examples:
        ex.append({"source": ROMAN[int(source) - 1] if not isinstance(source, str) else source, "image": img,
                   "versions": [{"target": None if t is None else ROMAN[t - 1],
                                 "image": data_uri(rgb, side=cfg.thumbnail_side)} for t, rgb in versions]})
    c = cfg.counterfactual
    section = {"method": "shift of the healthy skin's CIELAB colour to the middle of each other type's ITA interval; "
                         "lesion pixels copied unchanged; ITA of the result checked by the label estimator",
               "scale": label_cfg.scale, "threshold": threshold,
               "target_ita": {ROMAN[t - 1]: target_ita(t, scale=label_cfg.scale, open_end_width=c.open_end_width)
                              for t in FST_TYPES},
               "lesion_masks": {k: int(v) for k, v in rows.drop_duplicates("image")["lesion_source"]
                                .value_counts().items()},
               **summary, "examples": ex, "bad_rows": bad[:200], "n_bad": len(bad)}
    return section, rows


def explain_model(model: LoadedModel, frame: pd.DataFrame, *, root: str | Path, threshold: float,
                  units: dict[str, str], saliency: str | None = None, saliency_layer: str | None = None,
                  counterfactual_tone: bool = False, masks: LesionMasks | None = None,
                  preprocess: dict | None = None, num_classes: int | None = None, positive_class: str | None = None,
                  class_names: Sequence[str] | None = None, output: str | None = None, device: str = "cpu",
                  n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95, min_group_n: int = 30,
                  group_level: str = "type", config: ExplainConfig = ExplainConfig(),
                  progress: Progress | None = None) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The ``saliency`` and/or ``counterfactual`` sections for one model.

    Many parameters because, besides the model and its predictions, each is an audit setting (a
    ``fairskin.audits.classifier.AuditConfig`` field of the same meaning) or a model-metadata value
    that ``audit()`` passes through; the why-audit's own settings are one :class:`ExplainConfig`.

    ``frame``: the audit's cleaned predictions of this model (``image, score, label, tone,
    tone_group``; ``AuditResult.frames``), Fitzpatrick tones only (the audit refuses to explain
    Monk tones), so the saved per-image saliency table names them ``fst_type, fst_group``;
    images relative to ``root``; ``units``: image -> resampling unit. ``progress``
    (:mod:`fairskin.progress`) sees the count of images explained, one stage per method.
    Returns (sections, per-image tables).
    """
    import torch

    pre = resolve_preprocess(model.metadata, preprocess or {})
    meta = model.metadata
    output = output or meta.get("output", "logits")
    names = list(class_names) if class_names else None
    module = model.module
    if hasattr(module, "to"):
        module = module.to(device)
    model.module = module
    frame = frame.reset_index(drop=True)
    root = Path(root)
    sections, tables = {}, {}

    def target(row):
        return positive_log_odds(row[None], meta=meta, num_classes=num_classes, positive_class=positive_class,
                                 class_names=names, output=output, path=model.path)[0]

    def score(crops) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.stack([to_tensor(c, pre) for c in crops]).to(device))
            p = to_probability(out, meta=meta, num_classes=num_classes, positive_class=positive_class,
                                class_names=names, output=output, path=model.path)
        return p.detach().cpu().double().numpy()

    common = dict(root=root, pre=pre, masks=masks, threshold=threshold, cfg=config, units=units, n_boot=n_boot,
                  seed=seed, ci_level=ci_level, min_group_n=min_group_n)
    runs = [("saliency", f"saliency ({saliency})", lambda tick: _saliency(
        model, frame, method=saliency, layer_name=saliency_layer, target=target, group_level=group_level,
        progress=tick, **common))] if saliency is not None else []
    if counterfactual_tone:
        runs.append(("counterfactual", "counterfactual skin tone",
                     lambda tick: _counterfactual(model, frame, score=score, progress=tick, **common)))
    for key, label, run in runs:
        sections[key], tables[key] = run(counter(progress, label, len(frame)))
    return sections, tables
