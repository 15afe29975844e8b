"""Fitting the learned estimator to human types, and judging it by patient-grouped cross-validation.

``fairskin fit-estimator DATA --out model.json`` computes every photo's features once
(:func:`dataset_features`, parallel), then:

1. chooses the penalty ``alpha`` by inner cross-validation (log-loss, folds by patient);
2. chooses the abstention threshold from out-of-fold confidences, so that ``keep`` of the
   training photos that pass the exposure check are given a type;
3. fits the final model on every labelled photo;
4. reports the model's figures from an outer patient-grouped cross-validation that repeats
   1-3 inside each training fold (nested: the held-out fold never chooses anything). Those are
   the figures stored in the file and printed; in-sample figures are never reported.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.data import ImageLoadError, manifest_units, read_dataset
from fairskin.errors import InputError
from fairskin.label._backbone import (
    BackboneSpec, backbone_feature_names, dataset_embeddings, fit_pca, load_backbone_model, project, weights_digest,
)
from fairskin.label._config import LabelConfig
from fairskin.label._estimate import read_for_estimate
from fairskin.label._features import FEATURE_NAMES, image_features
from fairskin.label._learned import LearnedEstimator, exposure_problem
from fairskin.label._masks import LesionMasks
from fairskin.label._ordinal import OrdinalModel, fit_ordinal
from fairskin.label._scores import score_types
from fairskin.outputs import atomic_write, claim_outputs, to_jsonable
from fairskin.skintone import FST_TYPES
from fairskin.progress import Progress, track

__all__ = ["dataset_features", "fit_learned", "cross_validate_learned", "fit_estimator", "group_folds", "ALPHAS", "with_pcs",
           "patient_groups", "readable_rows", "FitDefaults"]


@dataclass(frozen=True)
class FitDefaults:
    """Defaults of :func:`fit_estimator`; ``fairskin fit-estimator`` reads its option defaults from
    here, so the command and the call fit the same estimator."""

    #: share of readable photos to give a type (sets the abstention threshold)
    keep: float = 0.8
    #: worker processes for the features
    workers: int = 1
    #: PCA components of a backbone's embedding
    n_components: int = 8
    #: bootstrap replicates of the cross-validated figures' intervals
    n_boot: int = 500
    #: side (pixels) of the images the backbone embeds
    backbone_side: int = 224

ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0)
_CFG: LabelConfig | None = None


def _features_one(task):
    path, mask = task
    try:
        img, m, _ = read_for_estimate(path, lesion_mask=mask, work_side=_CFG.work_side)
    except ImageLoadError as exc:
        return {f: np.nan for f in FEATURE_NAMES}, f"{exc.status}: {exc.reason}"
    return image_features(img.rgb, valid=img.valid, lesion_mask=m, config=_CFG)


def _init(config):
    global _CFG
    import cv2

    cv2.setNumThreads(1)
    _CFG = config


def dataset_features(manifest: pd.DataFrame, *, config: LabelConfig = LabelConfig(), masks=None, workers: int = 1,
                     progress: Progress | None = None) -> pd.DataFrame:
    """One row per manifest row: :data:`FEATURE_NAMES` and ``reason`` (why no skin was found);
    ``progress`` (:mod:`fairskin.progress`) sees the count of images measured."""
    root = Path(manifest.attrs["root"])
    lm = LesionMasks(masks)
    tasks = [(str(root / rel), lm.path_for(rel)) for rel in manifest["image"]]
    if workers <= 1:
        _init(config)
        res = [_features_one(t) for t in track(tasks, progress, "colour features")]
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers, initializer=_init, initargs=(config,)) as pool:  # imap keeps the order
            res = list(track(pool.imap(_features_one, tasks, chunksize=4), progress, "colour features", len(tasks)))
    df = pd.DataFrame([r[0] for r in res], index=manifest.index)
    df["reason"] = [r[1] for r in res]
    return df


def group_folds(groups: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) per row; all rows of a group (patient) share a fold."""
    groups = np.asarray(groups).astype(str)
    units = np.random.default_rng(seed).permutation(np.unique(groups))
    fold_of = {u: i % k for i, u in enumerate(units)}
    return np.array([fold_of[g] for g in groups])


def _choose_alpha(X, y, groups, alphas=ALPHAS, k: int = 5) -> float:
    f = group_folds(groups, k, seed=1)
    best, best_ll = alphas[0], np.inf
    for a in alphas:
        ll = 0.0
        for i in range(k):
            tr, te = f != i, f == i
            if not te.any() or not tr.any():
                continue
            p = fit_ordinal(X[tr], y[tr], alpha=a).proba(X[te])
            ll -= np.log(np.maximum(p[np.arange(te.sum()), y[te] - 1], 1e-12)).sum()
        if ll < best_ll:
            best, best_ll = a, ll
    return best


def fit_learned(X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, features=FEATURE_NAMES,
                config: LabelConfig = LabelConfig(), keep: float = 0.8, readable: np.ndarray | None = None,
                alphas=ALPHAS) -> LearnedEstimator:
    """Choose alpha and the abstention threshold by inner patient-grouped CV, then fit on all rows.
    ``readable`` marks the rows that pass the exposure check (the threshold is set among them)."""
    if len(y) < 20:
        raise InputError(f"fitting an estimator needs at least 20 photos with a human type and readable skin, "
                         f"got {len(y)}")
    alpha = _choose_alpha(X, y, groups, alphas)
    f = group_folds(groups, 5, seed=2)
    conf = np.zeros(len(y))
    for i in range(5):
        tr, te = f != i, f == i
        if te.any():
            p = fit_ordinal(X[tr], y[tr], alpha=alpha).proba(X[te])
            conf[te] = p[np.arange(te.sum()), OrdinalModel.predict_from(p) - 1]
    ok = np.ones(len(y), bool) if readable is None else np.asarray(readable, bool)
    threshold = float(np.quantile(conf[ok], 1.0 - keep)) if keep < 1 and ok.any() else 0.0
    return LearnedEstimator(model=fit_ordinal(X, y, alpha=alpha), features=tuple(features), config=config,
                            abstain_below=round(threshold, 4))


def readable_rows(feats: pd.DataFrame) -> np.ndarray:
    return np.array([exposure_problem(r) == "" for r in feats.to_dict("records")])


def with_pcs(feats: pd.DataFrame, embeddings: np.ndarray, rows: np.ndarray, n_components: int):
    """``(features with bb_pc1..K appended, PCA mean, components)``, the PCA fitted on ``rows`` only."""
    rows = rows & np.isfinite(embeddings).all(axis=1)
    mean, comps = fit_pca(embeddings[rows], n_components)
    pcs = pd.DataFrame(project(embeddings, mean, comps),
                       columns=list(backbone_feature_names(len(comps))), index=feats.index)
    return pd.concat([feats, pcs], axis=1), mean, comps


def cross_validate_learned(feats: pd.DataFrame, human: np.ndarray, groups: np.ndarray, *, k: int = 5,
                           keep: float = 0.8, abstain: bool = True, config: LabelConfig = LabelConfig(),
                           seed: int = 0, embeddings: np.ndarray | None = None,
                           n_components: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold ``(types, probabilities)`` of every row with a human type (0 and NaN elsewhere,
    and where the photo was not given a type), folds by patient, everything chosen inside the
    training folds (with ``embeddings``, a backbone's: their PCA too)."""
    human = np.asarray(human, int)
    lab = (human >= 1) & (human <= 6)
    readable = readable_rows(feats)
    folds = group_folds(groups, k, seed)
    est = np.zeros(len(human), int)
    probs = np.full((len(human), 6), np.nan)
    for i in range(k):
        fold_feats, names = feats, FEATURE_NAMES
        if embeddings is not None:
            fold_feats, _, comps = with_pcs(feats, embeddings, lab & (folds != i), n_components)
            names = (*FEATURE_NAMES, *backbone_feature_names(len(comps)))
        X = fold_feats[list(names)].to_numpy(float)
        records = fold_feats.to_dict("records")
        tr = lab & np.isfinite(X).all(axis=1) & (folds != i)
        model = fit_learned(X[tr], human[tr], np.asarray(groups)[tr], features=names, config=config, keep=keep,
                            readable=readable[tr])
        model = replace(model, abstain=abstain)
        for j in np.flatnonzero(lab & (folds == i)):
            e = model.from_features(records[j], fold_feats["reason"].iloc[j])
            est[j] = e.tone or 0
            if e.status != "no_skin":
                probs[j] = [e.values[f"p_fst{t}"] for t in FST_TYPES]
    return est, probs


def fit_estimator(data, *, out: str | os.PathLike, format: str | None = None, masks=None,
                  workers: int = FitDefaults.workers, keep: float = FitDefaults.keep, config: LabelConfig | None = None,
                  overwrite: bool = False, n_boot: int = FitDefaults.n_boot, backbone: str | None = None,
                  backbone_weights=None, n_components: int = FitDefaults.n_components,
                  backbone_side: int = FitDefaults.backbone_side, progress: Progress | None = None) -> LearnedEstimator:
    """Fit the learned estimator to ``data``'s human types and save it to ``out`` (JSON), with its
    nested patient-grouped cross-validated figures (``cross_validated``). With ``backbone`` (a timm
    architecture) and ``backbone_weights`` (its local weights file), the PCA of the backbone's
    embeddings is appended to the colour features (label/_backbone.py). ``progress``
    (:mod:`fairskin.progress`) sees the counts of the images measured and embedded."""
    config = config or LabelConfig()
    if not 0.05 <= keep <= 1.0:
        raise InputError(f"keep: must be between 0.05 and 1, got {keep}")
    if backbone_weights is not None and backbone is None:
        raise InputError("backbone_weights: give the architecture too (backbone=NAME, a timm model name)")
    if backbone is not None:
        if n_components < 1:
            raise InputError(f"backbone_components: must be at least 1, got {n_components}")
        sha = weights_digest(backbone_weights)
        net = load_backbone_model(backbone, backbone_weights)
    out = Path(out)
    with claim_outputs({"out": out}, overwrite=overwrite):
        manifest = data if isinstance(data, pd.DataFrame) else read_dataset(data, format=format)
        human = pd.to_numeric(manifest["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
        if not ((human >= 1) & (human <= 6)).any():
            raise InputError(f"{data}: no image has a human Fitzpatrick type (fst_human); fitting needs them")
        groups = patient_groups(manifest)
        feats = dataset_features(manifest, config=config, masks=masks, workers=workers, progress=progress)
        emb, spec, names = None, None, FEATURE_NAMES
        if backbone is not None:
            root = Path(manifest.attrs["root"])
            emb = dataset_embeddings([str(root / r) for r in manifest["image"]], net, work_side=config.work_side,
                                     side=backbone_side, progress=progress)
            full, mean, comps = with_pcs(feats, emb, human >= 1, n_components)
            spec = BackboneSpec(name=backbone, weights=str(Path(backbone_weights).resolve()), sha256=sha,
                                side=backbone_side, mean=mean, components=comps)
            names = (*FEATURE_NAMES, *spec.feature_names)
        X = (full if spec is not None else feats)[list(names)].to_numpy(float)
        use = (human >= 1) & np.isfinite(X).all(axis=1)
        est, _ = cross_validate_learned(feats, human, groups, keep=keep, config=config, embeddings=emb,
                                        n_components=n_components)
        lab = human >= 1
        cv = score_types(est[lab], human[lab], groups[lab], n_boot=n_boot)
        counts = np.zeros((6, 6), int)
        ok = lab & (est > 0)
        np.add.at(counts, (human[ok] - 1, est[ok] - 1), 1)
        model = fit_learned(X[use], human[use], groups[use], features=names, config=config, keep=keep,
                            readable=readable_rows(feats)[use])
        info = {"fitted_on": {"data": str(manifest.attrs.get("root", data)), "n_photos": int(use.sum()),
                              "n_patients": int(np.unique(groups[use]).size),
                              "human_types": {str(t): int((human[use] == t).sum()) for t in FST_TYPES},
                              "keep": keep, "masks": str(masks) if masks else None,
                              "features": "colour statistics" + (f" + {len(names) - len(FEATURE_NAMES)} PCA components "
                                                                 f"of {backbone}'s pooled whole-image embedding (PCA "
                                                                 "fitted inside each training fold)" if spec else "")},
                "cross_validated": {"folds": "5 folds grouped by patient (nested: alpha and threshold chosen "
                                             "inside each training fold)",
                                    **{k: v for k, v in cv.items() if not k.startswith(("share_", "human_share_"))},
                                    "shares": {str(t): cv.get(f"share_{t}") for t in FST_TYPES},
                                    "human_shares": {str(t): cv.get(f"human_share_{t}") for t in FST_TYPES},
                                    "confusion": {"rows": "human type I..VI", "columns": "estimated type I..VI",
                                                  "counts": counts.tolist()}}}
        model = replace(model, info=to_jsonable(info), backbone=spec)
        import json

        atomic_write(out, json.dumps(model.to_dict(), indent=1, allow_nan=False))
    return model


def patient_groups(manifest: pd.DataFrame) -> np.ndarray:
    """One group per patient (an image without a patient id is its own group): the folds' unit."""
    return manifest_units(manifest)[0].astype(str)
