"""``fairskin audit``: models or prediction tables in, one :class:`AuditResult` out.

Each input is either a predictions CSV (``image, score, label, fst[, diagnosis]``) or a model
file, which is run over the data set ``data`` (read with :func:`fairskin.data.read_dataset`).
Skin types come from the data set's human labels or from a ``labels.csv`` written by
``fairskin label`` (``fst_source``); the result says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fairskin.audits.classifier._classifier import audit_frames, make_config
from fairskin.audits.classifier._compare import Criterion
from fairskin.audits.classifier._predictions import CLUSTER_COLUMNS, clean_predictions, n_rows_read, read_predictions_csv
from fairskin.audits.classifier._result import DEFAULTS, AuditResult
from fairskin.errors import InputError
from fairskin.label import find_label_confusion, read_labels_csv, resolve_tones
from fairskin.outputs import claim_outputs, write_csv
from fairskin.progress import Progress
from fairskin.skintone import get_tone_scale

__all__ = ["audit", "audit_model", "read_labels_csv"]

def read_skin_types(manifest: pd.DataFrame, *, labels: str | Path | None, fst_source: str,
                    tone_scales: tuple[str, ...] = ("fitzpatrick",)
                    ) -> tuple[list[object], list[str], str, str, str]:
    """-> (tone per row or None, reason when None, source, detail, tone scale), by the one rule of
    :func:`fairskin.label.resolve_tones` (the rule balance and experiment use too). ``source`` is
    human, estimated or mixed (human types where people gave one, estimates for the rest). Errors
    name ``labels`` and ``fst_source`` (a caller passing its own arguments renames them with
    :func:`fairskin.errors.arguments_named`)."""
    res = resolve_tones(manifest, labels=labels, source=fst_source, tone_scales=tone_scales)
    vals = [res.value(i) for i in range(len(res))]
    return vals, [str(r) for r in res.reason], res.kind, res.detail, res.scale.name


def _model_names(inputs: Sequence[Path]) -> list[str]:
    names = [p.name for p in inputs]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in inputs]
    if len(set(names)) < len(names):
        names = [str(p) for p in inputs]
    return names


def audit(
    inputs: Sequence[str | Path] | str | Path,
    *,
    data: str | Path | None = None,
    data_format: str | None = None,
    labels: str | Path | None = None,
    fst_source: Literal["auto", "human", "estimated"] = "auto",
    positive_class: str | None = None,
    scores: Literal["probabilities", "logits"] = "probabilities",
    arch: str | None = None,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    model_output: Literal["logits", "probabilities"] | None = None,
    trust_model: bool = False,
    resize: int | None = None,
    crop: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    batch_size: int = 32,
    num_workers: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
    save_predictions: str | Path | None = None,
    threshold: float | str = DEFAULTS.threshold,
    target_sensitivity: float | None = None,
    n_boot: int = DEFAULTS.n_boot,
    seed: int = DEFAULTS.seed,
    ci_level: float = DEFAULTS.ci_level,
    group_level: Literal["auto", "type", "group"] = "auto",
    reference_group: str | None = None,
    min_group_n: int = DEFAULTS.min_group_n,
    min_group_positives: int = DEFAULTS.min_group_positives,
    min_group_negatives: int = DEFAULTS.min_group_negatives,
    min_cell_n: int = DEFAULTS.min_cell_n,
    ratio_bounds: tuple[float, float] = DEFAULTS.ratio_bounds,
    criteria: Sequence[Criterion] | None = None,
    label_confusion="auto",
    label_sampling: Literal["fixed", "cohort"] = DEFAULTS.label_sampling,
    min_gain: float = DEFAULTS.min_gain,
    max_drop: float = DEFAULTS.max_drop,
    saliency: str | None = None,
    saliency_layer: str | None = None,
    counterfactual_tone: bool = False,
    masks: str | Path | None = None,
    overwrite: bool = False,
) -> AuditResult:
    """Audit one or more models (or predictions CSVs) per skin type; compare them when several.

    ``inputs`` are predictions CSVs (``.csv``) or model files (TorchScript, ``torch.export``
    ``.pt2``, state dict or ``.safetensors`` with ``arch``); models need ``data``. With two or
    more inputs, every model after the first is compared with the first on their common images
    (paired bootstrap) against ``criteria`` (default: :func:`default_criteria` with
    ``min_gain``/``max_drop``). See :func:`audit_predictions` for the audit parameters and
    :mod:`fairskin.audits.models._models` for the model parameters. ``save_predictions`` (a folder) gets
    ``NAME.predictions.csv`` per model (and the tables of ``saliency`` / ``counterfactual_tone``);
    existing files are replaced only with ``overwrite``.

    Why a model does worse on some skin (model files only; ``docs/audit-json.md``): ``saliency``
    (a method of :data:`SALIENCY_METHODS`, e.g. ``"gradcam"``; ``saliency_layer`` overrides the
    automatic layer) adds the section ``saliency``: the share of attribution on lesion, healthy
    skin and background per skin type; ``counterfactual_tone`` adds ``counterfactual``: score
    changes and prediction flips when each image's healthy skin is re-toned to every other type.
    ``masks``: a directory of lesion masks (as ``fairskin label --masks``); without it the label
    stage's automatic lesion segmentation is used.

    Skin types: by :func:`fairskin.label.resolve_tones` for a data set (``fst_source``: auto =
    human types where people gave one, else ``labels``' estimates); a predictions CSV's ``fst``
    column is what ``fst_source`` says it is (auto: "given"). ``label_confusion``: ``"auto"`` (the
    default) applies the labeller's confusion found beside ``labels``
    (:func:`fairskin.label.find_label_confusion`) when every audited type is estimated, and says so
    in ``meta["label_confusion_auto"]``; a file or :class:`LabelConfusion` applies that one; None
    applies none.
    """
    auto_confusion = isinstance(label_confusion, str) and label_confusion == "auto"
    if auto_confusion:
        label_confusion = None
    if fst_source not in ("auto", "human", "estimated"):
        raise InputError(f"fst_source: expected 'auto', 'human' or 'estimated', got {fst_source!r}")
    if label_confusion is not None and fst_source == "human":
        raise InputError("--label-confusion: a labeller's confusion corrects estimated skin types, but --fst-source "
                         "human says the types are people's labels; drop --label-confusion, or audit estimated types "
                         "(--fst-source estimated)")
    paths = [Path(inputs)] if isinstance(inputs, (str, Path)) else [Path(p) for p in inputs]
    if not paths:
        raise InputError("inputs: give at least one model file or predictions CSV")
    cfg = make_config(n_boot, seed, ci_level, min_group_n, min_group_positives, min_cell_n, ratio_bounds, min_gain,
                      max_drop, min_group_negatives, label_sampling)
    for p in paths:
        if p.is_dir():
            raise InputError(f"inputs: {p} is a folder; expected a model file (TorchScript .pt, torch.export .pt2, "
                             "a state dict or .safetensors) or a predictions .csv")
        if not p.is_file():
            raise InputError(f"inputs: file not found: {p}")
    explain = saliency is not None or counterfactual_tone
    if explain or saliency_layer is not None:
        _check_explain(paths, saliency, saliency_layer)
    lesion_masks = None
    if masks is not None:
        from fairskin.label import LesionMasks

        lesion_masks = LesionMasks(masks, arg="masks")
    names = _model_names(paths)
    saved = {}
    if save_predictions is not None:  # checked (and locked) before any model runs
        keys = ["predictions"] + (["saliency"] if saliency is not None else []) + \
            (["counterfactual"] if counterfactual_tone else [])
        saved = {f"--save-predictions ({nm}{'' if key == 'predictions' else ', ' + key})":
                 Path(save_predictions) / f"{Path(nm).name}.{key}.csv"
                 for nm, p in zip(names, paths) if p.suffix.lower() != ".csv" for key in keys}
    with claim_outputs(saved, overwrite=overwrite):
        is_csv = [p.suffix.lower() == ".csv" for p in paths]
        manifest = None
        fst_src, fst_detail, tone_scale = "given", "predictions column 'fst'", None
        data_info = {"root": None, "format": "predictions", "n_rows": None}
        if not all(is_csv):
            if data is None:
                raise InputError("data: auditing a model needs the images: give the data set directory (--data DIR)")
            from fairskin.data import read_dataset

            manifest = read_dataset(data, format=data_format)
            data_info = {"root": str(Path(data).resolve()), "format": manifest.attrs.get("format"),
                         "n_rows": len(manifest)}
            fst_vals, fst_why, fst_src, fst_detail, tone_scale = read_skin_types(
                manifest, labels=labels, fst_source=fst_source, tone_scales=("fitzpatrick", "monk"))
            if explain and tone_scale != "fitzpatrick":
                raise InputError(f"--saliency / --counterfactual-tone: these group images by Fitzpatrick type (the "
                                 f"counterfactual re-tones skin to each type's ITA); {labels} holds {tone_scale} tones")
            if positive_class is not None:
                dx = manifest["diagnosis"].astype("string").str.strip().str.lower()
                label = (dx == positive_class.strip().lower()).astype("boolean").where(dx.notna() & (dx != ""))
                if not label.fillna(False).any():
                    found = ", ".join(sorted(set(dx.dropna()))[:10])
                    raise InputError(f"positive_class: no image has diagnosis {positive_class!r}; diagnoses found: "
                                     f"{found}")
            else:
                label = manifest["malignant"]
            pre_bad: list[dict] = []
            keep = []
            for i, (img, st, rs, lb, fv, fw) in enumerate(zip(manifest["image"].astype(str), manifest["status"],
                                                              manifest["reason"].fillna(""), label, fst_vals, fst_why)):
                if st != "ok":
                    pre_bad.append({"image": img, "status": st, "reason": rs})
                elif pd.isna(lb):
                    pre_bad.append({"image": img, "status": "no_label", "reason": "malignant/benign is unknown" if
                                    positive_class is None else "no diagnosis"})
                elif fv is None:
                    pre_bad.append({"image": img, "status": "no_fst", "reason": fw})
                else:
                    keep.append(i)
            rows = manifest.iloc[keep].reset_index(drop=True)
            rows.attrs = manifest.attrs
            if len(rows) == 0:
                raise InputError(f"data: none of the {len(manifest)} rows is usable (no label, no skin type or missing "
                                 f"image); first problem: {pre_bad[0]['image']}: {pre_bad[0]['reason']}" if pre_bad
                                 else "data: the data set has no rows")
            fst_kept = [fst_vals[i] for i in keep]

        frames, bad, n_input, kinds, mthr = {}, {}, {}, {}, {}
        for p, nm, csv in zip(paths, names, is_csv):
            if csv:
                df = read_predictions_csv(p)
                if positive_class is not None:
                    if "diagnosis" not in df.columns:
                        raise InputError(f"positive_class: {p.name} has no 'diagnosis' column to choose the positive "
                                         f"class from; found: {', '.join(df.columns)}")
                    dx = df["diagnosis"].astype(str).str.strip().str.lower()
                    df = df.assign(label=np.where(dx == "", "", (dx == positive_class.strip().lower()).astype(int)
                                                  .astype(str)))
                clean, b = clean_predictions(df, scores=scores, source=p.name)
                if manifest is None:
                    fst_src = {"auto": "given"}.get(fst_source, fst_source)  # what --fst-source says the column is
                    fst_detail = f"predictions column '{get_tone_scale(clean.attrs['tone_scale']).column}'" + \
                        ("" if fst_src == "given" else f" ({fst_src} skin types, as --fst-source says)")
                frames[nm], bad[nm], n_input[nm], kinds[nm], mthr[nm] = clean, b, n_rows_read(df), "predictions", None
                continue
            from fairskin.audits.models import load_model, predict

            model = load_model(p, arch=arch, num_classes=num_classes, trust_model=trust_model)
            prob, st, rs = predict(model, rows, root=data, batch_size=batch_size, num_workers=num_workers,
                                   device=device,
                                   num_classes=num_classes, positive_class=None if positive_class is None or
                                   (class_names is None and "class_names" not in model.metadata) else positive_class,
                                   class_names=list(class_names) if class_names else None, output=model_output,
                                   preprocess={"resize": resize, "crop": crop, "mean": mean, "std": std},
                                   progress=progress)
            ok = np.array([s == "ok" for s in st])
            pred = pd.DataFrame({"image": rows["image"].astype(str).to_numpy()[ok], "score": prob[ok],
                                 "label": label.iloc[keep].to_numpy(bool)[ok] if positive_class is not None
                                 else rows["malignant"].to_numpy(bool)[ok],
                                 get_tone_scale(tone_scale).column: np.array(fst_kept, dtype=object)[ok],
                                 "diagnosis": rows["diagnosis"].astype("string").fillna("").to_numpy(str)[ok],
                                 **{c: rows[c].astype("string").fillna("").to_numpy(str)[ok]
                                    for c in CLUSTER_COLUMNS if c in rows}})
            if save_predictions is not None:  # spreadsheet-safe cells; the audit's readers restore them
                write_csv(pred.assign(label=pred["label"].astype(int)), saved[f"--save-predictions ({nm})"])
            load_bad = [{"image": str(rows["image"].iloc[i]), "status": st[i], "reason": rs[i]}
                        for i in np.flatnonzero(~ok)]
            clean, b = clean_predictions(pred, scores="probabilities", source=nm, tone_scale=tone_scale)
            frames[nm], bad[nm], n_input[nm] = clean, pre_bad + load_bad + b, len(manifest)
            kinds[nm], mthr[nm] = model.kind, model.metadata.get("threshold")
        if data_info["n_rows"] is None:
            data_info["n_rows"] = max(n_input.values())
        if positive_class is not None:
            data_info["positive_class"] = positive_class
        if fst_src == "mixed" and label_confusion is not None:
            raise InputError("--label-confusion: some rows have human skin types (used as they are) and others "
                             "estimated ones; a labeller's confusion corrects only a set audited wholly on estimates: "
                             "pass --fst-source estimated to audit every row on its estimated type")
        auto_doc = None
        if auto_confusion:
            label_confusion, auto_doc = _auto_confusion(labels, fst_src, tone_scale)

        def run(confusion):
            return audit_frames(
                frames, bad_rows=bad, n_input=n_input, threshold=threshold, target_sensitivity=target_sensitivity,
                cfg=cfg, group_level=group_level, reference_group=reference_group, criteria=criteria,
                fst_source=fst_src, fst_source_detail=fst_detail, data_info=dict(data_info),
                scores=scores if all(is_csv) else "probabilities",
                paths={nm: str(p.resolve()) for nm, p in zip(names, paths)}, kinds=kinds, model_thresholds=mthr,
                label_confusion=confusion)

        try:
            result = run(label_confusion)
        except InputError as exc:
            if auto_doc is None or not auto_doc["applied"]:
                raise
            auto_doc.update(applied=False, line=f"the labeller's confusion found beside {Path(labels).name} "
                            f"({auto_doc['source']}) could not be applied: {exc}; the figures are per estimated type")
            result = run(None)
        if auto_doc is not None:
            result.meta["label_confusion_auto"] = auto_doc
        if explain:
            from fairskin.audits.why import explain_model
            from fairskin.audits.models import choose_device, load_model
            from fairskin.audits.stats import unit_ids

            ids, unit = unit_ids(manifest, manifest["image"].astype(str))
            units = dict(zip(manifest["image"].astype(str), ids))
            for p, nm in zip(paths, names):
                model = load_model(p, arch=arch, num_classes=num_classes, trust_model=trust_model)
                sec, tables = explain_model(
                    model, result.frames[nm], root=data, threshold=result.model(nm)["threshold"], units=units,
                    saliency=saliency, saliency_layer=saliency_layer, counterfactual_tone=counterfactual_tone,
                    masks=lesion_masks, preprocess={"resize": resize, "crop": crop, "mean": mean, "std": std},
                    num_classes=num_classes, positive_class=None if positive_class is None or
                    (class_names is None and "class_names" not in model.metadata) else positive_class,
                    class_names=class_names, output=model_output, device=choose_device(device), n_boot=cfg.n_boot,
                    seed=cfg.seed, ci_level=cfg.ci_level, min_group_n=cfg.min_group_n,
                    group_level=result.meta["group_level"], progress=progress)
                for key, entry in sec.items():
                    result.sections.setdefault(key, []).append({"model": nm, "resampling_unit": unit, **entry})
                if save_predictions is not None:
                    for key, table in tables.items():
                        write_csv(table, saved[f"--save-predictions ({nm}, {key})"])
        return result


def _auto_confusion(labels, fst_src: str, tone_scale: str | None):
    """The labeller's confusion to apply by default, and the meta entry that says so (or why not)."""
    from fairskin.audits.stats import LabelConfusion

    found = find_label_confusion(labels) if labels is not None and tone_scale == "fitzpatrick" else None
    if found is None:
        return None, None
    doc, path = found
    n = int(np.asarray(doc["counts"], float).sum())
    cv = " cross-validated," if doc.get("cross_validated") else ""
    entry = {"source": str(path), "n": n, "cross_validated": bool(doc.get("cross_validated"))}
    if fst_src != "estimated":
        return None, {**entry, "applied": False,
                      "line": f"the labeller's confusion found beside {Path(labels).name} ({path.name}) is not applied: "
                              "some rows have human skin types; --fst-source estimated audits every row on its "
                              "estimate with the correction"}
    return (LabelConfusion(np.asarray(doc["counts"], float), source=str(path), cross_validated=bool(doc.get(
        "cross_validated"))),
        {**entry, "applied": True,
         "line": f"the labeller's confusion found beside {Path(labels).name} ({path.name}:{cv} {n} images with human "
                 "types) is applied: metrics are estimated for the true skin types; --no-label-confusion turns this "
                 "off"})


def _check_explain(paths: Sequence[Path], saliency: str | None, saliency_layer: str | None) -> None:
    """Saliency and counterfactuals run a model: refuse predictions CSVs and unknown methods up front."""
    if saliency is None and saliency_layer is not None:
        raise InputError("saliency_layer: given without saliency; choose a method with --saliency (e.g. gradcam)")
    csvs = [p.name for p in paths if p.suffix.lower() == ".csv"]
    if csvs:
        raise InputError(f"saliency / counterfactual_tone: {csvs[0]} is a predictions CSV; these audits run the model "
                         "itself: give model files (and --data)")
    if saliency is not None:
        from fairskin.audits.why import import_cam

        import_cam(saliency)


def audit_model(model: str | Path | Sequence[str | Path], data: str | Path, **kwargs) -> AuditResult:
    """Run a model (or several, compared with the first) over the data set ``data`` and audit it;
    keyword arguments as :func:`audit`."""
    return audit(model, data=data, **kwargs)
