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
from fairskin.audits.stats import DDI_THRESHOLDS, GROUP_METRICS, P_VALUE_METHODS, ThresholdPolicy, metric_table
from fairskin.audits.classifier._result import MODEL_SETTINGS, AuditConfig, AuditResult
from fairskin.audits.classifier._settings import resolve_config
from fairskin.errors import InputError
from fairskin.skintone import get_tone_scale

__all__ = ["DDI_THRESHOLDS", "audit_predictions", "audit_frames", "compare_audits"]

def audit_frames(frames: dict[str, pd.DataFrame], *, bad_rows: dict[str, list[dict]], n_input: dict[str, int],
                 cfg: AuditConfig, criteria: Sequence[Criterion] | None, fst_source: str, fst_source_detail: str,
                 data_info: dict, scores: str, paths: dict[str, str | None], kinds: dict[str, str],
                 model_thresholds: dict[str, float | None], policies: dict[str, ThresholdPolicy] | None = None,
                 label_confusion: LabelConfusion | str | Path | None = None) -> AuditResult:
    """Audit the cleaned prediction frames of one or more models (compared with the first on their
    common images) with the checked ``cfg`` (:func:`._settings.resolve_config`). Each model's
    threshold follows ``policies[name]`` (default: ``cfg.policy``; ``compare_audits`` keeps each
    audit's own). Long because it is the one place the audit's JSON entries are assembled, in
    their documented order (docs/audit-json.md); the statistics are the stats room's."""
    names = list(frames)
    policies = {nm: (policies or {}).get(nm, cfg.policy) for nm in names}
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
    thresholds = {nm: policies[nm].threshold(nm, frame["_score_" + nm].to_numpy(float), y, model_thresholds.get(nm))
                  for nm in names}
    kinds_used = {p.kind for p in policies.values()}
    targets = {p.value for p in policies.values() if p.resampled}
    target_sensitivity = next(iter(targets)) if len(targets) == 1 else None

    clusters = frame["cluster"].to_numpy(object) if "cluster" in frame else None
    cluster_by = base.attrs.get("cluster_by")
    if label_confusion is not None and not isinstance(label_confusion, LabelConfusion):
        label_confusion = read_label_confusion(label_confusion)
    if label_confusion is not None and fst_source == "human":
        raise InputError("label_confusion: the skin types are human labels; a labeller's confusion corrects estimated "
                         "types only (fst_source='estimated')")
    eng = Engine(frame, {nm: frame["_score_" + nm].to_numpy(float) for nm in names}, thresholds, cfg,
                 clusters=clusters, confusion=label_confusion,
                 chosen={nm: p.value for nm, p in policies.items() if p.resampled})
    group_level, reference_group = cfg.group_level, cfg.reference_group
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
            "threshold_policy": policies[nm].kind,
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
        "threshold_policy": kinds_used.pop() if len(kinds_used) == 1 else "mixed",
        "target_sensitivity": target_sensitivity,
        "threshold_resampled": any(p.resampled for p in policies.values()), "n_boot": cfg.n_boot, "seed": cfg.seed,
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
                       frames={nm: frames[nm] for nm in names}, config=cfg, policies=policies,
                       label_confusion=label_confusion)


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


def audit_predictions(
    predictions: pd.DataFrame | str | Path,
    *,
    name: str | None = None,
    fst_source: Literal["human", "estimated", "given"] = "given",
    fst_source_detail: str | None = None,
    label_confusion: LabelConfusion | str | Path | None = None,
    config: AuditConfig | str | Path | None = None,
    **settings,
) -> AuditResult:
    """Audit one model's predictions per Fitzpatrick skin type.

    Parameters
    ----------
    predictions : a table (or CSV path) with columns ``image, score, label, fst`` and optionally
        ``diagnosis`` (see :data:`PREDICTION_COLUMNS`). Rows with an empty or unknown ``fst``, an
        empty label or a non-numeric score are skipped and listed in ``bad_rows``; an image listed
        twice counts once when its rows agree and is refused when they differ
        (:func:`fairskin.audits.classifier._predictions.resolve_duplicates`).
    fst_source : what the ``fst`` column is (human, estimated or given), as ``meta.fst_source`` says.
    label_confusion : when ``fst`` is estimated (``fst_source="estimated"``), the labeller's confusion
        on a calibration set (a :class:`LabelConfusion` or the JSON ``fairskin label`` writes): the
        count- and pair-based metrics are then estimated for the true skin types, with the
        calibration's uncertainty in their intervals (see :mod:`._misclass`).
    config, settings : the audit's settings, :class:`AuditConfig` fields (``settings`` > ``config``,
        a settings file or an :class:`AuditConfig` > the defaults; :func:`._settings.resolve_config`):

        - ``threshold``: operating threshold (predict malignant when ``score >= threshold``),
          ``"model"`` for the threshold saved with the model (``predictions.attrs["threshold"]``),
          ``"ddi:NAME"`` for DDI's threshold of its model NAME (:data:`DDI_THRESHOLDS`), or a
          :class:`ThresholdPolicy`; ``target_sensitivity`` chooses it on all rows instead;
        - ``n_boot``, ``seed``, ``ci_level``: stratified bootstrap (rows resampled within group x label);
        - ``scores``: ``"logits"`` applies a sigmoid; probabilities outside [0, 1] are refused otherwise;
        - ``group_level``: level the fairness gaps are computed over: exact types when every row
          has one (``"auto"``), else the DDI groups; ``reference_group``: the ratios' reference;
        - ``label_sampling``: ``"cohort"`` (default) when labels came with the rows (each type's
          malignant count is redrawn in the bootstrap: right intervals for a cohort, conservative
          for a fixed design), ``"fixed"`` when each type's malignant count was chosen by design
          (the bootstrap holds it); ``meta.label_sampling`` says which;
        - ``min_group_n`` and the other reliability floors, ``ratio_bounds``, ``ece_bins``.

        The settings that run a model file (:data:`MODEL_SETTINGS`) are :func:`audit`'s.
    """
    model_only = [k for k in settings if k in MODEL_SETTINGS]
    if model_only:
        raise InputError(f"{model_only[0]}: a setting of auditing a model file or data set (audit()); "
                         "audit_predictions audits a table of scores")
    cfg, _ = resolve_config(config, **settings)
    source = "predictions"
    path = None
    if isinstance(predictions, (str, Path)):
        path = str(predictions)
        source = Path(predictions).name
        predictions = read_predictions_csv(predictions)
    name = name or (source if path else "model")
    clean, bad = clean_predictions(predictions, scores=cfg.scores, source=source)
    column = get_tone_scale(clean.attrs["tone_scale"]).column
    return audit_frames(
        {name: clean}, bad_rows={name: bad}, n_input={name: n_rows_read(predictions)}, cfg=cfg,
        criteria=None, fst_source=fst_source,
        fst_source_detail=fst_source_detail or f"predictions column '{column}'",
        data_info={"root": None, "format": "predictions", "n_rows": len(predictions)}, scores=cfg.scores,
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

    The bootstrap and levels come from the first audit unless given; each model keeps its own
    audit's threshold policy (a fixed or DDI threshold stays what it was, a saved one the model's, a
    target sensitivity is re-chosen on the common images).
    ``criteria`` default to :func:`default_criteria` for the audit's group level. Returns an
    :class:`AuditResult` holding every model and one comparison per candidate.
    """
    if len(audits) < 2:
        raise InputError(f"audits: need at least two audits to compare, got {len(audits)}")
    first = audits[0]
    cfg = first.config
    if n_boot is not None or seed is not None:
        cfg = replace(cfg, n_boot=cfg.n_boot if n_boot is None else n_boot, seed=cfg.seed if seed is None else seed)
    frames, bad, n_input, paths, kinds, thr, policies = {}, {}, {}, {}, {}, {}, {}
    for a in audits:
        for m in a.models:
            nm = m["name"]
            if nm in frames:
                raise InputError(f"audits: two models are named {nm!r}; give them distinct names")
            frames[nm] = a.frames[nm]
            bad[nm] = m["bad_rows"]
            n_input[nm] = m["counts"]["n_input"]
            paths[nm], kinds[nm], thr[nm] = m["path"], m["kind"], m["threshold"]
            policies[nm] = a.policies.get(nm) or a.config.policy
    meta = first.meta
    cfg = replace(cfg, group_level=meta["group_level"], reference_group=meta["reference_group"])
    return audit_frames(
        frames, bad_rows=bad, n_input=n_input, cfg=cfg, policies=policies, criteria=criteria, fst_source=meta["fst_source"],
        fst_source_detail=meta["fst_source_detail"], data_info=dict(first.data, positive_class=meta["positive_class"]),
        scores=meta["scores"], paths=paths, kinds=kinds, model_thresholds=thr, label_confusion=first.label_confusion)
