"""Per-skin-type audit of a binary (malignant vs benign) classifier's scores.

``audit_predictions`` takes one table of predictions (``image``, ``score``, ``label``, ``fst``,
optional ``diagnosis`` and patient or lesion id), cleans it (bad rows are reported and skipped,
never silently dropped), and computes for every Fitzpatrick type, every DDI group and all rows
together the metrics of :data:`._registry.GROUP_METRICS` with intervals, the fairness gaps of
:data:`._registry.GAPS` (fairlearn's definitions) with intervals and p-values, ratios to a
reference group, and the skin type x diagnosis cells. ``compare_audits`` re-runs two or more
audits on their common images with one shared (paired) bootstrap and judges the candidates
against criteria. The JSON written by :meth:`AuditResult.to_dict` is documented in
``docs/audit-json.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fairskin.audits.classifier._compare import Criterion, comparison, default_criteria
from fairskin.audits.stats import Engine
from fairskin.audits.stats import fairness, ratios
from fairskin.audits.stats import group_entry, intersections
from fairskin.audits.stats import EXTREMUM_KAPPA, METHODS
from fairskin.audits.stats import CORRECTED_METRICS, LabelConfusion, read_label_confusion
from fairskin.audits.classifier._predictions import clean_predictions, n_rows_read, read_predictions_csv
from fairskin.audits.stats import GROUP_METRICS, P_VALUE_METHODS, metric_table
from fairskin.audits.classifier._result import DEFAULTS, AuditConfig, AuditResult
from fairskin.errors import InputError
from fairskin.skintone import get_tone_scale

__all__ = ["DDI_THRESHOLDS", "audit_predictions", "audit_frames", "compare_audits", "make_config"]

ThresholdPolicy = Literal["fixed", "target_sensitivity", "model", "ddi"]

#: DDI's operating thresholds for its released models (Daneshjou et al., Sci. Adv. 2022, code
#: ``ddi_model.py`` MODEL_THRESHOLDS: "determined by maximizing F1-score on the test split of the
#: train dataset for the given algorithm"). Use as ``threshold="ddi:DeepDerm"``.
DDI_THRESHOLDS: dict[str, float] = {"HAM10000": 0.733, "DeepDerm": 0.687, "GroupDRO": 0.980, "CORAL": 0.990,
                                    "CDANN": 0.980}




def _choose_threshold(scores: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Largest threshold whose sensitivity on these rows is at least ``target``."""
    pos = np.sort(scores[labels])[::-1]
    if len(pos) == 0:
        raise InputError("target_sensitivity: no malignant rows to choose a threshold on")
    k = max(1, math.ceil(target * len(pos) - 1e-9))
    return float(pos[k - 1])


def _ddi_threshold(spec: str) -> float:
    name = spec.split(":", 1)[1].strip()
    for k, v in DDI_THRESHOLDS.items():
        if k.lower() == name.lower():
            return v
    import difflib

    close = difflib.get_close_matches(name, list(DDI_THRESHOLDS), n=1, cutoff=0.5)
    hint = f" Did you mean 'ddi:{close[0]}'?" if close else ""
    raise InputError(f"threshold: {spec!r} names no DDI model; expected one of "
                     f"{', '.join('ddi:' + k for k in DDI_THRESHOLDS)}.{hint}")




def audit_frames(frames: dict[str, pd.DataFrame], *, bad_rows: dict[str, list[dict]], n_input: dict[str, int],
                  threshold: float | Literal["model"], target_sensitivity: float | None, cfg: AuditConfig,
                  group_level: Literal["auto", "type", "group"], reference_group: str | None,
                  criteria: Sequence[Criterion] | None, fst_source: str, fst_source_detail: str,
                  data_info: dict, scores: str, paths: dict[str, str | None], kinds: dict[str, str],
                  model_thresholds: dict[str, float | None],
                  label_confusion: LabelConfusion | str | Path | None = None) -> AuditResult:
    names = list(frames)
    base = frames[names[0]]
    scales = {nm: fr.attrs.get("tone_scale", "fitzpatrick") for nm, fr in frames.items()}
    if len(set(scales.values())) > 1:
        raise InputError("models' skin tones are on different scales (" + ", ".join(f"{nm}: {sc}" for nm, sc in
                                                                                    scales.items()) +
                         "); compare models on one scale")
    cfg = replace(cfg, tone_scale=scales[names[0]])
    if cfg.tone_scale != "fitzpatrick" and label_confusion is not None:
        raise InputError(f"label_confusion: a labeller's confusion corrects estimated Fitzpatrick types; these skin tones "
                         f"are on the {cfg.tone_scale} scale")
    if len(names) > 1:
        for nm, fr in frames.items():
            dup = fr["image"][fr["image"].duplicated()]
            if len(dup):
                raise InputError(f"{nm}: image {dup.iloc[0]!r} appears more than once ({len(dup)} duplicated rows); "
                                 "comparing models needs one row per image")
        common = set(base["image"])
        for fr in frames.values():
            common &= set(fr["image"])
        if not common:
            raise InputError(f"no image is scored by all of {', '.join(names)}; cannot compare them")
        frame = base[base["image"].isin(common)].reset_index(drop=True)
        for nm, fr in frames.items():
            s = fr.set_index("image")["score"]
            frame["_score_" + nm] = s.reindex(frame["image"]).to_numpy(float)
            other = fr.set_index("image")["label"].reindex(frame["image"]).to_numpy(bool)
            if (other != frame["label"].to_numpy(bool)).any():
                raise InputError(f"{nm}: labels differ from {names[0]}'s for the same images; "
                                 "models must be compared on the same ground truth")
    else:
        frame = base.reset_index(drop=True).copy()
        frame["_score_" + names[0]] = frame["score"].to_numpy(float)
    if len(frame) == 0:
        skipped = [r for rows in bad_rows.values() for r in rows]
        first = f"; first: {skipped[0]['image']!r}: {skipped[0]['reason']}" if skipped else ""
        raise InputError(f"no usable rows: every one of the {len(skipped)} row(s) was skipped{first}")
    y = frame["label"].to_numpy(bool)
    thresholds: dict[str, float] = {}
    for nm in names:
        s = frame["_score_" + nm].to_numpy(float)
        if target_sensitivity is not None:
            if not 0 < target_sensitivity <= 1:
                raise InputError(f"target_sensitivity: expected a value in (0, 1], got {target_sensitivity}")
            thresholds[nm] = _choose_threshold(s, y, target_sensitivity)
        elif isinstance(threshold, str) and threshold.lower().startswith("ddi:"):
            thresholds[nm] = _ddi_threshold(threshold)
        elif threshold == "model":
            if model_thresholds.get(nm) is None:
                raise InputError(f"threshold='model': {nm} has no threshold saved with it (metadata key 'threshold'); "
                                 "give a number instead")
            thresholds[nm] = float(model_thresholds[nm])
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= float(threshold) <= 1:
                raise InputError(f"threshold: expected a number in [0, 1], 'model' or 'ddi:NAME', got {threshold!r}")
            thresholds[nm] = float(threshold)
    policy = ("target_sensitivity" if target_sensitivity is not None else "model" if threshold == "model" else
              "ddi" if isinstance(threshold, str) else "fixed")

    clusters = frame["cluster"].to_numpy(object) if "cluster" in frame else None
    cluster_by = base.attrs.get("cluster_by")
    if label_confusion is not None and not isinstance(label_confusion, LabelConfusion):
        label_confusion = read_label_confusion(label_confusion)
    if label_confusion is not None and fst_source == "human":
        raise InputError("label_confusion: the skin types are human labels; a labeller's confusion corrects estimated "
                         "types only (fst_source='estimated')")
    eng = Engine(frame, {nm: frame["_score_" + nm].to_numpy(float) for nm in names}, thresholds, cfg,
                 clusters=clusters, confusion=label_confusion,
                 chosen=None if target_sensitivity is None else {nm: target_sensitivity for nm in names})
    if group_level not in ("auto", "type", "group"):
        raise InputError(f"group_level: expected 'auto', 'type' or 'group', got {group_level!r}")
    if group_level == "type" and not eng.all_typed:
        raise InputError("group_level='type': some rows have only a skin-type group (e.g. DDI's 12/34/56), "
                         "not an exact type; use group_level='group'")
    level = ("type" if eng.all_typed and "type" not in eng.correction_failed else "group") if group_level == "auto" \
        else group_level
    # a level the correction failed on is audited uncorrected: flagged not_corrected, meta.fst_correction says why
    level_groups = [(g, len(eng.rows[(lvl, g)])) for lvl, g, _ in eng.keys if lvl == level]
    if reference_group is None:  # the lightest group with enough images (the usual reference in dermatology)
        reference = next((g for g, n in level_groups if n >= cfg.min_group_n), max(level_groups, key=lambda t: t[1])[0])
    else:
        valid = [g for g, _ in level_groups]
        if reference_group not in valid:
            raise InputError(f"reference_group: {reference_group!r} is not a {level} present in the data; "
                             f"expected one of {', '.join(valid)}")
        reference = reference_group

    models_out = []
    for nm in names:
        groups = [group_entry(eng, nm, (lvl, g), ts, thresholds[nm]) for lvl, g, ts in eng.keys if lvl != "all"]
        overall = group_entry(eng, nm, ("all", "all"), eng.keys[-1][2], thresholds[nm])
        skipped: dict[str, int] = {}
        for r in bad_rows.get(nm, []):
            skipped[r["status"]] = skipped.get(r["status"], 0) + 1
        if len(names) > 1 and len(frames[nm]) > len(frame):
            skipped["not_in_all_models"] = len(frames[nm]) - len(frame)
        models_out.append({
            "name": nm, "path": paths.get(nm), "kind": kinds.get(nm, "predictions"), "threshold": thresholds[nm],
            "counts": {"n_input": n_input.get(nm, len(frames[nm])), "n_used": len(frame), "skipped": skipped},
            "bad_rows": bad_rows.get(nm, [])[:200],
            "warnings": list(frames[nm].attrs.get("warnings", [])),
            "overall": overall, "groups": groups,
            "fairness": fairness(eng, nm, level, groups),
            "ratios": ratios(eng, nm, level, reference, groups),
            "intersections": intersections(frame, frame["_score_" + nm].to_numpy(float), thresholds[nm], level, cfg),
        })
    crit = tuple(criteria) if criteria is not None else default_criteria(level, min_gain=cfg.min_gain,
                                                                          max_drop=cfg.max_drop, scale=eng.scale)
    comparisons = [comparison(eng, names[0], nm, crit, len(frame), models_out[i + 1]["groups"] + [models_out[i + 1]
                   ["overall"]]) for i, nm in enumerate(names[1:])]
    levels = sorted({lvl for lvl, _, _ in eng.keys if lvl != "all"}, key=["type", "group"].index)
    meta = {
        "fst_source": fst_source, "fst_source_detail": fst_source_detail,
        "tone_scale": eng.scale.name, "tone_groups": {g: [eng.scale.label(t) for t in ts]
                                                      for g, ts in eng.scale.groups.items()},
        "group_level": level, "levels": levels,
        "threshold_policy": policy, "target_sensitivity": target_sensitivity,
        "threshold_resampled": target_sensitivity is not None, "n_boot": cfg.n_boot, "seed": cfg.seed,
        "ci_level": cfg.ci_level,
        "metrics": metric_table(),
        "ci_method": _ci_method(), "ci_methods": dict(METHODS), "extremum_kappa": EXTREMUM_KAPPA,
        "resampling": eng.resampling_unit, "label_sampling": cfg.label_sampling,
        "cluster_by": cluster_by if eng.clustered else None,
        "fst_correction": _correction_meta(eng, label_confusion),
        "p_value_method": dict(P_VALUE_METHODS, holm="Holm (1979) step-down adjustment within a family: the gaps of "
                               "one model; the ratios of one metric; the deltas of one comparison"),
        "reference_group": reference, "ratio_bounds": list(cfg.ratio_bounds),
        "min_group_n": cfg.min_group_n, "min_group_positives": cfg.min_group_positives,
        "min_group_negatives": cfg.min_group_negatives,
        "min_cell_n": cfg.min_cell_n, "ece_bins": cfg.ece_bins, "positive_class": data_info.pop("positive_class",
                                                                                               "malignant"),
        "scores": scores,
    }
    return AuditResult(meta=meta, data=data_info, models=models_out, comparisons=comparisons,
                       frames={nm: frames[nm] for nm in names}, config=cfg, label_confusion=label_confusion)


def _correction_meta(eng, confusion) -> dict | None:
    if confusion is None:
        return None
    return {"method": "misclassification-corrected (method of moments) with the labeller's confusion matrix; "
                      "calibration counts redrawn in every resample",
            "assumption": "the labeller's error does not depend on the label or the model's score given the true type, "
                          "and its confusion on the calibration set holds for these images",
            "source": confusion.source, "cross_validated": confusion.cross_validated,
            "not_corrected": eng.correction_failed,
            "counts": confusion.to_dict()["counts"], "levels": eng.corrected,
            "metrics": list(CORRECTED_METRICS)}


def _ci_method() -> str:
    """One paragraph on how the intervals are made (``meta.ci_method``); per-interval methods are
    in each entry's ``ci_method`` and described in ``meta.ci_methods``."""
    per = "; ".join(f"{m}: {s.interval}" for m, s in GROUP_METRICS.items())
    return ("group metrics: " + per + "; fairness gaps, worst group and ECE: extremum (recentred bootstrap of the "
            "near-extreme candidates); AUROC lightest vs darkest group (I-II vs V-VI) and ratios: MOVER from the groups' own intervals; model "
            "comparisons: percentile bootstrap of the paired differences. On clustered rows, methods that assume "
            "independent rows use the cluster bootstrap's variance instead.")


def make_config(n_boot, seed, ci_level, min_group_n, min_group_positives, min_cell_n, ratio_bounds, min_gain,
                max_drop, min_group_negatives=DEFAULTS.min_group_negatives,
                label_sampling=DEFAULTS.label_sampling) -> AuditConfig:
    if not isinstance(n_boot, int) or n_boot < 1:
        raise InputError(f"n_boot: expected a positive whole number of resamples, got {n_boot!r}")
    if not 0 < ci_level < 1:
        raise InputError(f"ci_level: expected a value in (0, 1), got {ci_level!r}")
    if label_sampling not in ("fixed", "cohort"):
        raise InputError(f"label_sampling: expected 'fixed' (malignant count per type chosen by design) or 'cohort' "
                         f"(labels came with the rows), got {label_sampling!r}")
    lo, hi = ratio_bounds
    if not 0 < lo < 1 < hi:
        raise InputError(f"ratio_bounds: expected (low < 1 < high), got {tuple(ratio_bounds)!r}")
    return AuditConfig(n_boot=n_boot, seed=seed, ci_level=ci_level, min_group_n=min_group_n,
                       min_group_positives=min_group_positives, min_group_negatives=min_group_negatives,
                       min_cell_n=min_cell_n,
                       ratio_bounds=(float(lo), float(hi)), min_gain=min_gain, max_drop=max_drop,
                       label_sampling=label_sampling)


def audit_predictions(
    predictions: pd.DataFrame | str | Path,
    *,
    threshold: float | str = DEFAULTS.threshold,
    target_sensitivity: float | None = None,
    n_boot: int = DEFAULTS.n_boot,
    seed: int = DEFAULTS.seed,
    ci_level: float = DEFAULTS.ci_level,
    scores: Literal["probabilities", "logits"] = "probabilities",
    group_level: Literal["auto", "type", "group"] = "auto",
    reference_group: str | None = None,
    min_group_n: int = DEFAULTS.min_group_n,
    min_group_positives: int = DEFAULTS.min_group_positives,
    min_group_negatives: int = DEFAULTS.min_group_negatives,
    min_cell_n: int = DEFAULTS.min_cell_n,
    ratio_bounds: tuple[float, float] = DEFAULTS.ratio_bounds,
    name: str | None = None,
    fst_source: Literal["human", "estimated", "given"] = "given",
    fst_source_detail: str | None = None,
    label_confusion: LabelConfusion | str | Path | None = None,
    label_sampling: Literal["fixed", "cohort"] = DEFAULTS.label_sampling,
) -> AuditResult:
    """Audit one model's predictions per Fitzpatrick skin type.

    Parameters
    ----------
    predictions : a table (or CSV path) with columns ``image, score, label, fst`` and optionally
        ``diagnosis`` (see :data:`PREDICTION_COLUMNS`). Rows with an empty or unknown ``fst``, an
        empty label or a non-numeric score are skipped and listed in ``bad_rows``; an image listed
        twice counts once when its rows agree and is refused when they differ
        (:func:`fairskin.audits.classifier._predictions.resolve_duplicates`).
    threshold : operating threshold (predict malignant when ``score >= threshold``),
        ``"model"`` for the threshold saved with the model (``predictions.attrs["threshold"]``), or
        ``"ddi:NAME"`` for DDI's threshold of its model NAME (:data:`DDI_THRESHOLDS`).
    target_sensitivity : choose the threshold on all rows so that sensitivity reaches this value
        (overrides ``threshold``).
    n_boot, seed, ci_level : stratified bootstrap (rows resampled within group x label).
    scores : ``"logits"`` applies a sigmoid; probabilities outside [0, 1] are refused otherwise.
    group_level : level the fairness gaps are computed over: exact types when every row has
        one (``"auto"``), else the DDI groups.
    reference_group : group the ratios are taken against (default: the lightest group with at least
        ``min_group_n`` images, else the largest).
    label_sampling : ``"fixed"`` when each type's malignant count was chosen by design (the
        bootstrap holds it), ``"cohort"`` when labels came with the rows (it is redrawn; wider,
        right intervals for low-prevalence data); ``meta.label_sampling`` says which.
    label_confusion : when ``fst`` is estimated (``fst_source="estimated"``), the labeller's confusion
        on a calibration set (a :class:`LabelConfusion` or the JSON ``fairskin label`` writes): the
        count- and pair-based metrics are then estimated for the true skin types, with the
        calibration's uncertainty in their intervals (see :mod:`._misclass`).
    """
    cfg = make_config(n_boot, seed, ci_level, min_group_n, min_group_positives, min_cell_n, ratio_bounds,
                      DEFAULTS.min_gain, DEFAULTS.max_drop, min_group_negatives, label_sampling)
    source = "predictions"
    path = None
    if isinstance(predictions, (str, Path)):
        path = str(predictions)
        source = Path(predictions).name
        predictions = read_predictions_csv(predictions)
    name = name or (source if path else "model")
    clean, bad = clean_predictions(predictions, scores=scores, source=source)
    column = get_tone_scale(clean.attrs["tone_scale"]).column
    return audit_frames(
        {name: clean}, bad_rows={name: bad}, n_input={name: n_rows_read(predictions)}, threshold=threshold,
        target_sensitivity=target_sensitivity, cfg=cfg, group_level=group_level, reference_group=reference_group,
        criteria=None, fst_source=fst_source,
        fst_source_detail=fst_source_detail or f"predictions column '{column}'",
        data_info={"root": None, "format": "predictions", "n_rows": len(predictions)}, scores=scores,
        paths={name: path}, kinds={name: predictions.attrs.get("kind", "predictions")},
        model_thresholds={name: predictions.attrs.get("threshold")}, label_confusion=label_confusion)


def compare_audits(
    audits: Sequence[AuditResult],
    *,
    criteria: Sequence[Criterion] | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
) -> AuditResult:
    """Audit two or more models on their common images with one paired bootstrap and compare each
    model after the first against the first.

    Each audit's settings (threshold, bootstrap, levels) come from the first audit unless given.
    ``criteria`` default to :func:`default_criteria` for the audit's group level. Returns an
    :class:`AuditResult` holding every model and one comparison per candidate.
    """
    if len(audits) < 2:
        raise InputError(f"audits: need at least two audits to compare, got {len(audits)}")
    first = audits[0]
    cfg = first.config
    if n_boot is not None or seed is not None:
        cfg = replace(cfg, n_boot=cfg.n_boot if n_boot is None else n_boot, seed=cfg.seed if seed is None else seed)
    frames, bad, n_input, paths, kinds, thr = {}, {}, {}, {}, {}, {}
    for a in audits:
        for m in a.models:
            nm = m["name"]
            if nm in frames:
                raise InputError(f"audits: two models are named {nm!r}; give them distinct names")
            frames[nm] = a.frames[nm]
            bad[nm] = m["bad_rows"]
            n_input[nm] = m["counts"]["n_input"]
            paths[nm], kinds[nm], thr[nm] = m["path"], m["kind"], m["threshold"]
    meta = first.meta
    policy = meta["threshold_policy"]
    return audit_frames(
        frames, bad_rows=bad, n_input=n_input,
        threshold="model" if policy in ("model", "fixed", "ddi") else DEFAULTS.threshold,
        target_sensitivity=meta["target_sensitivity"], cfg=cfg, group_level=meta["group_level"],
        reference_group=meta["reference_group"], criteria=criteria, fst_source=meta["fst_source"],
        fst_source_detail=meta["fst_source_detail"], data_info=dict(first.data, positive_class=meta["positive_class"]),
        scores=meta["scores"], paths=paths, kinds=kinds, model_thresholds=thr, label_confusion=first.label_confusion)
