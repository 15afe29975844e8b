"""``fairskin audit``: models or prediction tables in, one :class:`AuditResult` out.

Each input is either a predictions CSV (``image, score, label, fst[, diagnosis]``) or a model
file, which is run over the data set ``data`` (read with :func:`fairskin.data.read_dataset`).
Skin types come from the data set's human labels or from a ``labels.csv`` written by
``fairskin label`` (``fst_source``); the result says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.audits.classifier._classifier import audit_frames
from fairskin.audits.classifier._compare import Criterion
from fairskin.audits.classifier._predictions import CLUSTER_COLUMNS, clean_predictions, n_rows_read, read_predictions_csv
from fairskin.audits.classifier._result import AuditConfig, AuditResult
from fairskin.audits.classifier._settings import resolve_config
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
    labels: str | Path | None = None,
    masks: str | Path | None = None,
    save_predictions: str | Path | None = None,
    label_confusion="auto",
    criteria: Sequence[Criterion] | None = None,
    config: AuditConfig | str | Path | None = None,
    progress: Progress | None = None,
    trust_model: bool = False,
    overwrite: bool = False,
    **settings,
) -> AuditResult:
    """Audit one or more models (or predictions CSVs) per skin type; compare them when several.

    ``inputs`` are predictions CSVs (``.csv``) or model files (TorchScript, ``torch.export``
    ``.pt2``, state dict or ``.safetensors`` with ``arch``); models need ``data``. With two or
    more inputs, every model after the first is compared with the first on their common images
    (paired bootstrap) against ``criteria`` (default: :func:`default_criteria` with
    ``min_gain``/``max_drop``). ``save_predictions`` (a folder) gets ``NAME.predictions.csv`` per
    model (and the tables of ``saliency`` / ``counterfactual_tone``); existing files are replaced
    only with ``overwrite``.

    Settings: ``settings`` (any :class:`AuditConfig` field: ``threshold``, ``n_boot``, ``arch``,
    ``batch_size``, ``saliency``, ...; ``None`` means not given) > ``config`` (a JSON/TOML settings
    file, flat or with an ``[audit]`` table, whose data keys ``data``, ``labels``, ``masks``,
    ``save_predictions``, ``label_confusion`` fill the ones not given; or an :class:`AuditConfig`)
    > the defaults (:func:`._settings.resolve_config`). See :func:`audit_predictions` for the
    audit settings and :mod:`fairskin.audits.models._models` for the model ones.

    Why a model does worse on some skin (model files only; ``docs/audit-json.md``): ``saliency``
    (a method of :data:`SALIENCY_METHODS`, e.g. ``"gradcam"``; ``saliency_layer`` overrides the
    automatic layer) adds the section ``saliency``: the share of attribution on lesion, healthy
    skin and background per skin type; ``counterfactual_tone`` adds ``counterfactual``: score
    changes and prediction flips when each image's healthy skin is re-toned to every other type.
    ``masks``: a directory of lesion masks (as ``fairskin label --masks``); without it the label
    stage's automatic lesion segmentation is used. Each model file is loaded once, to score and
    to explain.

    Skin types: by :func:`fairskin.label.resolve_tones` for a data set (``fst_source``: auto =
    human types where people gave one, else ``labels``' estimates); a predictions CSV's ``fst``
    column is what ``fst_source`` says it is (auto: "given"). ``label_confusion``: ``"auto"`` (the
    default) applies the labeller's confusion found beside ``labels``
    (:func:`fairskin.label.find_label_confusion`) when every audited type is estimated, and says so
    in ``meta["label_confusion_auto"]``; a file or :class:`LabelConfusion` applies that one; None
    applies none.
    """
    cfg, from_file = resolve_config(config, **settings)
    given = {"data": data, "labels": labels, "masks": masks, "save_predictions": save_predictions,
             "label_confusion": None if isinstance(label_confusion, str) and label_confusion == "auto"
             else label_confusion}
    ins = {k: v if v is not None or k == "label_confusion" and label_confusion is None else from_file.get(k)
           for k, v in given.items()}
    paths = _check_inputs(inputs, cfg, ins["label_confusion"])
    names = _model_names(paths)
    saved = _planned_outputs(paths, names, ins["save_predictions"], cfg)
    with claim_outputs(saved, overwrite=overwrite):
        rows = _read_data(paths, ins["data"], ins["labels"], cfg)
        keep_models = cfg.saliency is not None or cfg.counterfactual_tone
        scored = _score(paths, names, rows, cfg, saved=saved, trust_model=trust_model, progress=progress,
                        keep_models=keep_models)
        auto = isinstance(label_confusion, str) and label_confusion == "auto" and ins["label_confusion"] is None
        result = _audit_scored(scored, rows, cfg, criteria=criteria, label_confusion=ins["label_confusion"],
                               auto=auto, labels=ins["labels"])
        if keep_models:
            _why_audits(result, scored, rows, cfg, masks=ins["masks"], saved=saved, progress=progress)
    return result


@dataclass
class _Rows:
    """The data set's rows an audit of model files scores (``manifest`` None: predictions CSVs only)."""

    manifest: pd.DataFrame | None = None
    rows: pd.DataFrame | None = None  # the usable rows of the manifest
    label: pd.Series | None = None  # the positive label of every manifest row
    keep: list[int] = field(default_factory=list)
    fst: list[object] = field(default_factory=list)  # the tone of each usable row
    pre_bad: list[dict] = field(default_factory=list)  # the manifest rows not usable, with why
    root: str | Path | None = None
    fst_src: str = "given"
    fst_detail: str = "predictions column 'fst'"
    tone_scale: str | None = None
    info: dict = field(default_factory=lambda: {"root": None, "format": "predictions", "n_rows": None})


@dataclass
class _Scored:
    """Each input's cleaned predictions, skipped rows and model (kept only for the why-audits)."""

    paths: list[Path]
    names: list[str]
    frames: dict = field(default_factory=dict)
    bad: dict = field(default_factory=dict)
    n_input: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)
    saved_thresholds: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)


def _check_inputs(inputs, cfg: AuditConfig, label_confusion) -> list[Path]:
    """The input files, checked (with the settings that depend on them) before anything is read."""
    if label_confusion is not None and cfg.fst_source == "human":
        raise InputError("label_confusion: a labeller's confusion corrects estimated skin types, but "
                         "fst_source='human' says the types are people's labels; give label_confusion=None, or audit "
                         "estimated types (fst_source='estimated')")
    paths = [Path(inputs)] if isinstance(inputs, (str, Path)) else [Path(p) for p in inputs]
    if not paths:
        raise InputError("inputs: give at least one model file or predictions CSV")
    for p in paths:
        if p.is_dir():
            raise InputError(f"inputs: {p} is a folder; expected a model file (TorchScript .pt, torch.export .pt2, "
                             "a state dict or .safetensors) or a predictions .csv")
        if not p.is_file():
            raise InputError(f"inputs: file not found: {p}")
    if cfg.saliency is not None or cfg.counterfactual_tone or cfg.saliency_layer is not None:
        _check_explain(paths, cfg.saliency, cfg.saliency_layer)
    return paths


def _planned_outputs(paths: list[Path], names: list[str], folder, cfg: AuditConfig) -> dict[str, Path]:
    """The ``save_predictions`` files, claimed (and locked) before any model runs."""
    if folder is None:
        return {}
    keys = ["predictions"] + (["saliency"] if cfg.saliency is not None else []) + \
        (["counterfactual"] if cfg.counterfactual_tone else [])
    return {f"save_predictions ({nm}{'' if key == 'predictions' else ', ' + key})":
            Path(folder) / f"{Path(nm).name}.{key}.csv"
            for nm, p in zip(names, paths) if p.suffix.lower() != ".csv" for key in keys}


def _read_data(paths: list[Path], data, labels, cfg: AuditConfig) -> _Rows:
    """The data set the model files run over, its skin types and labels; rows without one are kept
    aside with why (never silently dropped)."""
    if all(p.suffix.lower() == ".csv" for p in paths):
        return _Rows()
    if data is None:
        raise InputError("data: auditing a model needs the images: give the data set directory (data=DIR)")
    from fairskin.data import read_dataset

    manifest = read_dataset(data, format=cfg.data_format)
    out = _Rows(manifest=manifest, root=data, info={"root": str(Path(data).resolve()),
                                                     "format": manifest.attrs.get("format"), "n_rows": len(manifest)})
    fst_vals, fst_why, out.fst_src, out.fst_detail, out.tone_scale = read_skin_types(
        manifest, labels=labels, fst_source=cfg.fst_source, tone_scales=("fitzpatrick", "monk"))
    if (cfg.saliency is not None or cfg.counterfactual_tone) and out.tone_scale != "fitzpatrick":
        raise InputError(f"saliency=... / counterfactual_tone=True: these group images by Fitzpatrick type (the "
                         f"counterfactual re-tones skin to each type's ITA); {labels} holds {out.tone_scale} tones")
    out.label = _positive_label(manifest, cfg.positive_class)
    for i, (img, st, rs, lb, fv, fw) in enumerate(zip(manifest["image"].astype(str), manifest["status"],
                                                      manifest["reason"].fillna(""), out.label, fst_vals, fst_why)):
        if st != "ok":
            out.pre_bad.append({"image": img, "status": st, "reason": rs})
        elif pd.isna(lb):
            out.pre_bad.append({"image": img, "status": "no_label", "reason": "malignant/benign is unknown" if
                                cfg.positive_class is None else "no diagnosis"})
        elif fv is None:
            out.pre_bad.append({"image": img, "status": "no_fst", "reason": fw})
        else:
            out.keep.append(i)
    out.rows = manifest.iloc[out.keep].reset_index(drop=True)
    out.rows.attrs = manifest.attrs
    if len(out.rows) == 0:
        raise InputError(f"data: none of the {len(manifest)} rows is usable (no label, no skin type or missing "
                         f"image); first problem: {out.pre_bad[0]['image']}: {out.pre_bad[0]['reason']}"
                         if out.pre_bad else "data: the data set has no rows")
    out.fst = [fst_vals[i] for i in out.keep]
    return out


def _positive_label(manifest: pd.DataFrame, positive_class: str | None) -> pd.Series:
    """Each row's label: its diagnosis is ``positive_class`` (unknown where it has none), else malignant."""
    if positive_class is None:
        return manifest["malignant"]
    dx = manifest["diagnosis"].astype("string").str.strip().str.lower()
    label = (dx == positive_class.strip().lower()).astype("boolean").where(dx.notna() & (dx != ""))
    if not label.fillna(False).any():
        found = ", ".join(sorted(set(dx.dropna()))[:10])
        raise InputError(f"positive_class: no image has diagnosis {positive_class!r}; diagnoses found: {found}")
    return label


def _score(paths: list[Path], names: list[str], rows: _Rows, cfg: AuditConfig, *, saved: dict[str, Path],
           trust_model: bool, progress: Progress | None, keep_models: bool) -> _Scored:
    """Each input's predictions: a CSV read and cleaned, a model file loaded once and run over the rows."""
    out = _Scored(paths, names)
    for p, nm in zip(paths, names):
        if p.suffix.lower() == ".csv":
            clean, b, n = _read_csv_input(p, cfg, rows)
            out.frames[nm], out.bad[nm], out.n_input[nm], out.kinds[nm], out.saved_thresholds[nm] = \
                clean, b, n, "predictions", None
            continue
        from fairskin.audits.models import load_model

        model = load_model(p, arch=cfg.arch, num_classes=cfg.num_classes, trust_model=trust_model)
        clean, b = _run_model(model, nm, rows, cfg, saved=saved, progress=progress)
        out.frames[nm], out.bad[nm], out.n_input[nm] = clean, b, len(rows.manifest)
        out.kinds[nm], out.saved_thresholds[nm] = model.kind, model.metadata.get("threshold")
        if keep_models:
            out.models[nm] = model
    return out


def _read_csv_input(p: Path, cfg: AuditConfig, rows: _Rows):
    """-> (cleaned predictions, skipped rows, rows read) of a predictions CSV; with no data set, the
    skin types are what ``fst_source`` says the column is."""
    df = read_predictions_csv(p)
    if cfg.positive_class is not None:
        if "diagnosis" not in df.columns:
            raise InputError(f"positive_class: {p.name} has no 'diagnosis' column to choose the positive "
                             f"class from; found: {', '.join(df.columns)}")
        dx = df["diagnosis"].astype(str).str.strip().str.lower()
        df = df.assign(label=np.where(dx == "", "", (dx == cfg.positive_class.strip().lower()).astype(int)
                                      .astype(str)))
    clean, b = clean_predictions(df, scores=cfg.scores, source=p.name)
    if rows.manifest is None:
        rows.fst_src = {"auto": "given"}.get(cfg.fst_source, cfg.fst_source)  # what --fst-source says the column is
        rows.fst_detail = f"predictions column '{get_tone_scale(clean.attrs['tone_scale']).column}'" + \
            ("" if rows.fst_src == "given" else f" ({rows.fst_src} skin types, as --fst-source says)")
    return clean, b, n_rows_read(df)


def _model_positive(model, cfg: AuditConfig) -> str | None:
    """The positive class to pick from a multi-class model's outputs (None: its malignant output)."""
    named = cfg.class_names is not None or "class_names" in model.metadata
    return cfg.positive_class if named else None


def _preprocess(cfg: AuditConfig) -> dict:
    return {"resize": cfg.resize, "crop": cfg.crop, "mean": cfg.mean, "std": cfg.std}


def _run_model(model, nm: str, rows: _Rows, cfg: AuditConfig, *, saved: dict[str, Path], progress: Progress | None):
    """-> (cleaned predictions, skipped rows) of one loaded model over the usable rows; the
    predictions CSV written when asked."""
    from fairskin.audits.models import predict

    r = rows.rows
    prob, st, rs = predict(model, r, root=rows.root, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                           device=cfg.device, num_classes=cfg.num_classes, positive_class=_model_positive(model, cfg),
                           class_names=list(cfg.class_names) if cfg.class_names else None, output=cfg.model_output,
                           preprocess=_preprocess(cfg), progress=progress)
    ok = np.array([s == "ok" for s in st])
    pred = pd.DataFrame({"image": r["image"].astype(str).to_numpy()[ok], "score": prob[ok],
                         "label": rows.label.iloc[rows.keep].to_numpy(bool)[ok],
                         get_tone_scale(rows.tone_scale).column: np.array(rows.fst, dtype=object)[ok],
                         "diagnosis": r["diagnosis"].astype("string").fillna("").to_numpy(str)[ok],
                         **{c: r[c].astype("string").fillna("").to_numpy(str)[ok]
                            for c in CLUSTER_COLUMNS if c in r}})
    if saved:  # spreadsheet-safe cells; the audit's readers restore them
        write_csv(pred.assign(label=pred["label"].astype(int)), saved[f"save_predictions ({nm})"])
    load_bad = [{"image": str(r["image"].iloc[i]), "status": st[i], "reason": rs[i]} for i in np.flatnonzero(~ok)]
    clean, b = clean_predictions(pred, scores="probabilities", source=nm, tone_scale=rows.tone_scale)
    return clean, rows.pre_bad + load_bad + b


def _audit_scored(scored: _Scored, rows: _Rows, cfg: AuditConfig, *, criteria, label_confusion, auto: bool,
                  labels) -> AuditResult:
    """The audit of the scored inputs, with the labeller's confusion given, or found beside
    ``labels`` (``auto``: applied when every type is estimated; left off, and said so, when it fails)."""
    info = dict(rows.info)
    if info["n_rows"] is None:
        info["n_rows"] = max(scored.n_input.values())
    if cfg.positive_class is not None:
        info["positive_class"] = cfg.positive_class
    if rows.fst_src == "mixed" and label_confusion is not None:
        raise InputError("label_confusion: some rows have human skin types (used as they are) and others "
                         "estimated ones; a labeller's confusion corrects only a set audited wholly on estimates: "
                         "pass fst_source='estimated' to audit every row on its estimated type")
    auto_doc = None
    if auto:
        label_confusion, auto_doc = _auto_confusion(labels, rows.fst_src, rows.tone_scale)
    all_csv = all(p.suffix.lower() == ".csv" for p in scored.paths)

    def run(confusion):
        return audit_frames(
            scored.frames, bad_rows=scored.bad, n_input=scored.n_input, cfg=cfg, criteria=criteria,
            fst_source=rows.fst_src, fst_source_detail=rows.fst_detail, data_info=dict(info),
            scores=cfg.scores if all_csv else "probabilities",
            paths={nm: str(p.resolve()) for nm, p in zip(scored.names, scored.paths)}, kinds=scored.kinds,
            model_thresholds=scored.saved_thresholds, label_confusion=confusion)

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
    return result


def _why_audits(result: AuditResult, scored: _Scored, rows: _Rows, cfg: AuditConfig, *, masks, saved, progress):
    """The saliency and counterfactual sections of each model, with the model loaded to score it."""
    from fairskin.audits.models import choose_device
    from fairskin.audits.stats import unit_ids
    from fairskin.audits.why import explain_model

    lesion_masks = None
    if masks is not None:
        from fairskin.label import LesionMasks

        lesion_masks = LesionMasks(masks, arg="masks")
    manifest = rows.manifest
    ids, unit = unit_ids(manifest, manifest["image"].astype(str))
    units = dict(zip(manifest["image"].astype(str), ids))
    for nm, model in scored.models.items():
        sec, tables = explain_model(
            model, result.frames[nm], root=rows.root, threshold=result.model(nm)["threshold"], units=units,
            saliency=cfg.saliency, saliency_layer=cfg.saliency_layer, counterfactual_tone=cfg.counterfactual_tone,
            masks=lesion_masks, preprocess=_preprocess(cfg), num_classes=cfg.num_classes,
            positive_class=_model_positive(model, cfg), class_names=cfg.class_names, output=cfg.model_output,
            device=choose_device(cfg.device), n_boot=cfg.n_boot, seed=cfg.seed, ci_level=cfg.ci_level,
            min_group_n=cfg.min_group_n, group_level=result.meta["group_level"],
            progress=progress)
        for key, entry in sec.items():
            result.sections.setdefault(key, []).append({"model": nm, "resampling_unit": unit, **entry})
        for key, table in tables.items() if saved else ():
            write_csv(table, saved[f"save_predictions ({nm}, {key})"])


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
                              "some rows have human skin types; fst_source='estimated' audits every row on its "
                              "estimate with the correction"}
    return (LabelConfusion(np.asarray(doc["counts"], float), source=str(path), cross_validated=bool(doc.get(
        "cross_validated"))),
        {**entry, "applied": True,
         "line": f"the labeller's confusion found beside {Path(labels).name} ({path.name}:{cv} {n} images with human "
                 "types) is applied: metrics are estimated for the true skin types; label_confusion=None turns this "
                 "off"})


def _check_explain(paths: Sequence[Path], saliency: str | None, saliency_layer: str | None) -> None:
    """Saliency and counterfactuals run a model: refuse predictions CSVs and unknown methods up front."""
    if saliency is None and saliency_layer is not None:
        raise InputError("saliency_layer: given without saliency; choose a method, e.g. saliency='gradcam'")
    csvs = [p.name for p in paths if p.suffix.lower() == ".csv"]
    if csvs:
        raise InputError(f"saliency / counterfactual_tone: {csvs[0]} is a predictions CSV; these audits run the model "
                         "itself: give model files (and data=...)")
    if saliency is not None:
        from fairskin.audits.why import import_cam

        import_cam(saliency)


def audit_model(model: str | Path | Sequence[str | Path], data: str | Path, **kwargs) -> AuditResult:
    """Run a model (or several, compared with the first) over the data set ``data`` and audit it;
    keyword arguments as :func:`audit`."""
    return audit(model, data=data, **kwargs)
