"""The synthetic-image audit: per skin type x diagnosis cell, are the generated images of the
right skin tone, realistic, diverse, and not copies of a training image?

Each synthetic cell is measured against the real images of the same cell:

ITA fidelity   every synthetic image's ITA is re-measured with ``fairskin label``'s ``ita``
               estimator (:func:`fairskin.label.estimate_tone_image`; the generator's own claim
               in the manifest is not trusted) and compared with the requested type: exact and within-one rates,
               a confusion matrix, and the Wasserstein distance (degrees) between the synthetic
               and real ITA distributions of the type.
Realism        Fréchet distance (FID when the extractor is Inception-v3) and KID, precision and
               recall, density and coverage, all in one named feature space. Cells smaller than
               :func:`fid_min_images` get KID only (FID's small-sample bias; the report says so).
Diversity      mean pairwise LPIPS inside the cell (AlexNet backbone from a local file) and
               mean pairwise cosine distance of the features; a mode-collapse flag when the
               synthetic diversity is below ``mode_collapse_ratio`` times the real one.
Memorisation   nearest real training image of every synthetic image (see ``_memorisation``).
Embedding      2-D PCA (or t-SNE) of real and synthetic features, for the report.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.audits.synthetic._features import (
    ExtractorName, FeatureExtractor, ThumbnailExtractor, _prepare, extract_features, load_extractor,
)
from fairskin.audits.synthetic._fidelity import fid_min_images, lpips_diversity, load_lpips
from fairskin.audits.synthetic._measures import FidelityContext, fidelity_columns, measure_cell
from fairskin.audits.synthetic._memorisation import nearest_real
from fairskin.audits.synthetic._synthetic_config import SyntheticAuditConfig
from fairskin.data import ImageLoadError, read_csv_table
from fairskin.errors import InputError
from fairskin.outputs import atomic_write, document_header, to_jsonable, write_csv
from fairskin.settings import stream_seed
from fairskin.skintone import FST_TYPES
from fairskin.progress import Progress, track

__all__ = ["SyntheticAuditConfig", "SyntheticAudit", "audit_synthetic", "ita_fidelity", "SCHEMA"]

SCHEMA = "fairskin.synthetic_audit/1"


@dataclass
class SyntheticAudit:
    data: dict  # fairskin.synthetic_audit/1 (docs/report-inputs.md)
    images: pd.DataFrame  # one row per synthetic image
    real: pd.DataFrame  # one row per real image used

    def write(self, out: str | os.PathLike) -> dict[str, Path]:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "synthetic_audit.json", "images": out / "synthetic_images.csv"}
        atomic_write(paths["json"], json.dumps(to_jsonable(self.data), indent=1, allow_nan=False))
        write_csv(self.images, paths["images"])
        return paths


# --------------------------------------------------------------------------- inputs

def _read_synthetic(manifest, image_root) -> tuple[pd.DataFrame, Path]:
    if isinstance(manifest, pd.DataFrame):
        df = manifest.copy()
        root = image_root or df.attrs.get("root")
        if root is None:
            raise InputError("image_root: the manifest DataFrame has no attrs['root']; pass image_root")
    else:
        path = Path(manifest)
        df = read_csv_table(path, arg="MANIFEST")[0].replace({"": pd.NA})
        root = image_root or path.parent
    need = ["image", "fst_requested"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"MANIFEST: missing column(s) {missing}; a synthetic manifest (fairskin balance) has "
                         f"image, synthetic, fst_requested, diagnosis, ...; found {list(df.columns)[:12]}")
    if "synthetic" in df.columns:
        syn = df["synthetic"].astype(str).str.strip().str.lower().isin(["true", "1", "yes"])
        df = df[syn]
    if "gate" in df.columns:
        df = df[df["gate"].fillna("accepted").astype(str) != "rejected"]
    if "diagnosis" not in df.columns:
        df["diagnosis"] = pd.NA
    df = df.reset_index(drop=True)
    if df.empty:
        raise InputError("MANIFEST: no accepted synthetic rows (synthetic=True, gate != rejected)")
    df["fst_requested"] = pd.to_numeric(df["fst_requested"], errors="coerce").astype("Int64")
    return df, Path(root)


def _read_real(real, real_format) -> tuple[pd.DataFrame, Path]:
    if isinstance(real, pd.DataFrame):
        df = real.copy()
        if df.attrs.get("root") is None:
            raise InputError("real: the real manifest DataFrame has no attrs['root']")
        root = Path(df.attrs["root"])
    else:
        from fairskin.data import read_dataset

        df = read_dataset(real, format=real_format)
        root = Path(real)
    if "status" in df.columns:
        df = df[df["status"].fillna("ok") == "ok"]
    return df.reset_index(drop=True), root


def _abs(root: Path, rel) -> str:
    p = Path(str(rel))
    return str(p if p.is_absolute() else root / p)


# --------------------------------------------------------------------------- ITA

def _measure_ita(paths: list[str], *, scale: str, cache_dir, progress: Progress | None, label: str,
                 hair_removal: bool = False) -> pd.DataFrame:
    """The ITA estimator on every path (cached per image like the features); ``progress`` sees the
    count as stage ``label``."""
    from fairskin.label import LabelConfig, estimate_tone_image, get_estimator

    cfg = LabelConfig(scale=scale, hair_removal=hair_removal)
    estimator = get_estimator("ita", config=cfg)
    key_id = f"ita-{cfg.fingerprint()}"
    rows = []
    for p in track(paths, progress, label):
        cf = None
        if cache_dir is not None:
            try:
                st = Path(p).stat()
                k = hashlib.sha1(f"{Path(p).resolve()}|{st.st_mtime_ns}|{st.st_size}|{key_id}".encode()).hexdigest()
                cf = Path(cache_dir) / key_id / k[:2] / f"{k}.json"
            except OSError:
                cf = None
        if cf is not None and cf.is_file():
            rows.append(json.loads(cf.read_text()))
        else:
            e = estimate_tone_image(p, estimator)
            row = {"ita": None if math.isnan(e.ita) else e.ita, "fst": e.fst, "status": e.status, "reason": e.reason}
            rows.append(row)
            if cf is not None and e.status in ("ok", "no_skin"):
                cf.parent.mkdir(parents=True, exist_ok=True)
                tmp = cf.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(row))
                os.replace(tmp, cf)
    out = pd.DataFrame(rows, columns=["ita", "fst", "status", "reason"])
    out["ita"] = pd.to_numeric(out["ita"], errors="coerce").astype(float)
    out["fst"] = pd.to_numeric(out["fst"], errors="coerce").astype("Int64")
    return out


def ita_fidelity(requested, measured_fst, measured_ita, *, scale: str = SyntheticAuditConfig.scale,
                 tolerance: float = SyntheticAuditConfig.ita_tolerance,
                 real_ita=None) -> dict:
    """ITA fidelity of a set of synthetic images of one requested type (or several).

    ``exact`` and ``within_one`` are shares of the *measured* images (those where the estimator
    found skin); ``n_unmeasured`` counts the rest. ``fst_match`` = ``exact`` (report key).
    """
    from scipy.stats import wasserstein_distance

    from fairskin.label import get_scale

    sc = get_scale(scale)
    req = pd.array(requested, dtype="Int64")
    fst = pd.array(measured_fst, dtype="Int64")
    ita = np.asarray(measured_ita, dtype=float)
    ok = ~pd.isna(fst) & np.isfinite(ita) & ~pd.isna(req)
    ok = np.asarray(ok, bool)
    r = np.asarray(req[ok], dtype=int)
    m = np.asarray(fst[ok], dtype=int)
    it = ita[ok]
    out: dict = {"n": int(len(req)), "n_measured": int(ok.sum()), "n_unmeasured": int((~ok).sum()),
                 "tolerance": tolerance, "scale": sc.name}
    if ok.any():
        lo = np.array([sc.interval(t)[0] for t in r])
        hi = np.array([sc.interval(t)[1] for t in r])
        outside = np.maximum(lo - it, 0) + np.maximum(it - hi, 0)
        out["exact"] = float(np.mean(m == r))
        out["within_one"] = float(np.mean(np.abs(m - r) <= 1))
        out["fst_match"] = out["exact"]
        out["mean_abs_error"] = float(outside.mean())
        out["within_tolerance"] = float(np.mean(outside <= tolerance))
        out["ita_mean"] = float(it.mean())
        out["ita_median"] = float(np.median(it))
    else:
        out.update(exact=None, within_one=None, fst_match=None, mean_abs_error=None, within_tolerance=None)
    types = sorted(set(r.tolist()))
    if len(types) == 1:
        lo, hi = sc.interval(types[0])
        out["target"] = [None if math.isinf(lo) else lo, None if math.isinf(hi) else hi]
    real_ita = None if real_ita is None else np.asarray(real_ita, float)
    if real_ita is not None:
        real_ita = real_ita[np.isfinite(real_ita)]
        out["n_real_ita"] = int(len(real_ita))
        out["real_ita_median"] = float(np.median(real_ita)) if len(real_ita) else None
        out["wasserstein_deg"] = (float(wasserstein_distance(it, real_ita)) if len(it) and len(real_ita) else None)
    return out


def _confusion(requested, measured) -> dict:
    """requested type (rows "1".."6") x measured type (columns "1".."6" and "none")."""
    req = pd.array(requested, dtype="Int64")
    mea = pd.array(measured, dtype="Int64")
    cols = [str(k) for k in FST_TYPES] + ["none"]
    mat = {str(t): {c: 0 for c in cols} for t in FST_TYPES}
    for r, m in zip(req, mea):
        if pd.isna(r):
            continue
        mat[str(int(r))]["none" if pd.isna(m) else str(int(m))] += 1
    return {"rows": "requested", "columns": "measured", "counts": mat}


# --------------------------------------------------------------------------- per cell

def _load_stack(paths: list[str], side: int, limit: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(paths))[:limit] if len(paths) > limit else np.arange(len(paths))
    imgs = []
    for i in order:
        try:
            imgs.append(_prepare(Path(paths[i]), side))
        except ImageLoadError:
            continue
    return np.stack(imgs) if imgs else np.empty((0, side, side, 3), np.uint8)


def _mode_collapse(cell: dict, cfg: SyntheticAuditConfig) -> None:
    lp = cell.get("lpips_diversity") or {}
    fd = cell.get("feature_diversity") or {}
    if min(cell["n_real"], cell["n_synthetic"]) < cfg.mode_collapse_min_n:
        cell["mode_collapse"] = None
        cell["mode_collapse_reason"] = f"not judged: fewer than {cfg.mode_collapse_min_n} images on a side"
        return
    if lp.get("synthetic") is not None and lp.get("real"):
        s, r, what = lp["synthetic"], lp["real"], "LPIPS"
    elif fd.get("synthetic") is not None and fd.get("real"):
        s, r, what = fd["synthetic"], fd["real"], "feature-space"
    else:
        cell["mode_collapse"], cell["mode_collapse_reason"] = None, "diversity undefined"
        return
    ratio = s / r
    cell["diversity_ratio"] = ratio
    cell["mode_collapse"] = bool(ratio < cfg.mode_collapse_ratio)
    cmp = "<" if ratio < cfg.mode_collapse_ratio else ">="
    cell["mode_collapse_reason"] = f"{what} diversity ratio {ratio:.2f} {cmp} {cfg.mode_collapse_ratio}"


# --------------------------------------------------------------------------- audit

def audit_synthetic(manifest: str | os.PathLike | pd.DataFrame, *, real: str | os.PathLike | pd.DataFrame,
                    extractor: ExtractorName | FeatureExtractor | None = None,
                    inception_weights: str | os.PathLike | None = None,
                    classifier: str | os.PathLike | None = None, classifier_arch: str | None = None,
                    trust_model: bool = False,
                    hf_model: str | os.PathLike | None = None, lpips_backbone: str | os.PathLike | None = None,
                    image_root: str | os.PathLike | None = None, real_format: str | None = None,
                    cache_dir: str | os.PathLike | None = None, config: SyntheticAuditConfig = SyntheticAuditConfig(),
                    progress: Progress | None = None) -> SyntheticAudit:
    """Audit the synthetic images of ``manifest`` against the real data set ``real``.

    Parameters
    ----------
    manifest : balanced manifest CSV written by ``fairskin balance`` (rows with ``synthetic``
        True and ``gate`` not rejected are audited; paths relative to the CSV's folder or to
        ``image_root``), or a DataFrame with ``attrs["root"]``.
    real : the real data set directory (any format ``read_dataset`` reads) the generator was
        trained on, or its manifest. Its images are the reference of every cell and the
        candidates for memorisation. A real image's type is its human type, else the type
        estimated from its ITA.
    extractor : default ``config.extractor``; ``inception`` (needs ``inception_weights`` or ``$FAIRSKIN_INCEPTION_WEIGHTS``),
        ``classifier`` (``classifier`` file), ``hf`` (``hf_model`` directory), ``colour-texture``
        (non-learned; not FID), or an extractor object.
    classifier, classifier_arch, trust_model : the audited classifier, loaded as ``fairskin audit``
        loads it (pickled modules are refused unless ``trust_model``).
    lpips_backbone : torchvision's AlexNet weights file; without it diversity is measured in
        feature space only.
    cache_dir : per-image cache of features and ITA; a rerun reads it instead of recomputing.
    progress : a :data:`fairskin.progress.Progress`: the counts of the images measured (ITA,
        features), synthetic and real apart.
    """
    cfg = config
    extractor = cfg.extractor if extractor is None else extractor
    ext = extractor if not isinstance(extractor, str) else load_extractor(
        extractor, inception_weights=inception_weights, classifier=classifier, classifier_arch=classifier_arch,
        hf_model=hf_model, trust_model=trust_model)
    lp_model = load_lpips(lpips_backbone) if lpips_backbone is not None else None
    syn, syn_root = _read_synthetic(manifest, image_root)
    rl, real_root = _read_real(real, real_format)
    warnings: list[str] = []

    syn["path"] = [_abs(syn_root, p) for p in syn["image"]]
    rl["path"] = [_abs(real_root, p) for p in rl["image"]]
    if syn["fst_requested"].isna().any():
        warnings.append(f"{int(syn['fst_requested'].isna().sum())} synthetic rows have no fst_requested and are "
                        "left out of the cells")
    _add_tones(syn, rl, cfg, cache_dir=cache_dir, progress=progress)

    # features
    fsyn = extract_features(list(syn["path"]), ext, batch_size=cfg.batch_size, cache_dir=cache_dir,
                            progress=progress, description="features (synthetic)")
    freal = extract_features(list(rl["path"]), ext, batch_size=cfg.batch_size, cache_dir=cache_dir,
                             progress=progress, description="features (real)")
    syn["load_status"], rl["load_status"] = fsyn.status, freal.status
    for name, fs in (("synthetic", fsyn), ("real", freal)):
        bad = [s for s in fs.status if s != "ok"]
        if bad:
            warnings.append(f"{len(bad)} {name} images could not be read ({', '.join(sorted(set(bad)))}) and are "
                            "left out")
    if not ext.is_fid:
        warnings.append(f"features: {ext.description}. Distances in this space are Fréchet distances, not "
                        "Inception FID; compare them only with numbers from the same extractor.")

    fctx = FidelityContext(dim=ext.dim, is_fid=bool(ext.is_fid), cfg=cfg)
    syn_ok = fsyn.ok & syn["fst_requested"].notna().to_numpy()
    real_ok = freal.ok & rl["fst"].notna().to_numpy()
    cells, small = _cells(syn, rl, fsyn, freal, syn_ok=syn_ok, real_ok=real_ok, fctx=fctx, lp_model=lp_model, cfg=cfg)
    if small:
        warnings.append(f"KID only (no FID) in {len(small)} cells smaller than {fid_min_images(ext.dim, cfg.fid_min_images)}"
                        f" images per side: FID's bias at small n exceeds real differences between generators")

    # overall: all synthetic vs the real images of the requested types
    types = set(int(v) for v in syn.loc[syn_ok, "fst_requested"].unique())
    r_all = real_ok & rl["fst"].isin(types).fillna(False).to_numpy()
    overall = {"n_real": int(r_all.sum()), "n_synthetic": int(syn_ok.sum()),
               "ita_fidelity": ita_fidelity(syn.loc[syn_ok, "fst_requested"], syn.loc[syn_ok, "fst_remeasured"],
                                            syn.loc[syn_ok, "ita_remeasured"], scale=cfg.scale,
                                            tolerance=cfg.ita_tolerance),
               "confusion": _confusion(syn.loc[syn_ok, "fst_requested"], syn.loc[syn_ok, "fst_remeasured"])}
    if syn_ok.any() and r_all.any():
        overall.update(measure_cell(fsyn.features[syn_ok], freal.features[r_all], fctx))

    memo = _memorisation(syn, rl, cfg, cache_dir=cache_dir, progress=progress)
    emb = _embedding(fsyn.features[syn_ok], freal.features[r_all], syn[syn_ok], rl[r_all], cfg)

    data = {
        **document_header(SCHEMA),
        "image_root": str(syn_root.resolve()), "real_root": str(real_root.resolve()),
        "features": ext.description, "extractor_id": ext.id, "extractor_learned": bool(ext.learned),
        "fid_is_inception": bool(ext.is_fid),
        "fid_min_images": fid_min_images(ext.dim, cfg.fid_min_images),
        "kid": {"kernel": "polynomial (x.y/d + 1)^3", "subsets": cfg.kid_subsets, "subset_size": cfg.kid_subset_size,
                "estimator": "u-statistic, paired subsets",
                "uncertainty": "std over subsets when both sets exceed the subset size; otherwise a 95% "
                               "interval from the two-sample jackknife standard error on the whole sets"},
        "lpips_backbone": None if lp_model is None else str(lpips_backbone),
        "metrics": fidelity_columns(),
        "min_reliable_n": cfg.min_reliable_n, "config": asdict(cfg),
        "run": {"features_computed": fsyn.n_computed + freal.n_computed,
                "features_cached": fsyn.n_cached + freal.n_cached},
        "cells": cells, "overall": overall, "memorisation": memo, "embedding": emb, "warnings": warnings,
    }
    images = syn.drop(columns=["path"]).copy()
    return SyntheticAudit(data=data, images=images, real=rl.drop(columns=["path"]))


def _add_tones(syn: pd.DataFrame, rl: pd.DataFrame, cfg: SyntheticAuditConfig, *, cache_dir, progress) -> None:
    """Re-measure every image's ITA with label's estimator (the generator's claim is not trusted) and
    give each real image its type: the human one, else the estimated one (``fst_source`` says which)."""
    m = _measure_ita(list(syn["path"]), scale=cfg.scale, cache_dir=cache_dir, progress=progress,
                     label="ITA (synthetic)", hair_removal=cfg.hair_removal)
    syn["ita_remeasured"], syn["fst_remeasured"] = m["ita"].to_numpy(), m["fst"].array
    syn["ita_status"], syn["ita_reason"] = m["status"].to_numpy(), m["reason"].to_numpy()
    mr = _measure_ita(list(rl["path"]), scale=cfg.scale, cache_dir=cache_dir, progress=progress,
                      label="ITA (real)", hair_removal=cfg.hair_removal)
    rl["ita"], rl["fst_estimated"] = mr["ita"].to_numpy(), mr["fst"].array
    human = rl["fst_human"] if "fst_human" in rl.columns else pd.Series(pd.NA, index=rl.index, dtype="Int64")
    human = pd.to_numeric(human, errors="coerce").astype("Int64")
    rl["fst"] = human.where(human.notna(), rl["fst_estimated"]).astype("Int64")
    rl["fst_source"] = np.where(human.notna(), "human", np.where(rl["fst_estimated"].notna(), "estimated", "none"))
    if "diagnosis" not in rl.columns:
        rl["diagnosis"] = pd.NA


def _cells(syn, rl, fsyn, freal, *, syn_ok, real_ok, fctx: FidelityContext, lp_model,
           cfg: SyntheticAuditConfig) -> tuple[list[dict], list[str]]:
    """One cell per requested type x diagnosis (and per type, all diagnoses), each measured by every
    registered feature-space metric (``_measures.FIDELITY_METRICS``), LPIPS diversity and the mode-collapse
    flag; also the cells with images on both sides but too few for FID ("type/diagnosis")."""
    cells, small = [], []
    sdx = syn["diagnosis"].astype("string")
    rdx = rl["diagnosis"].astype("string")
    for t in sorted(int(v) for v in syn.loc[syn_ok, "fst_requested"].unique()):
        s_t = syn_ok & (syn["fst_requested"] == t).fillna(False).to_numpy()
        r_t = real_ok & (rl["fst"] == t).fillna(False).to_numpy()
        dxs = sorted(d for d in sdx[s_t].dropna().unique())
        for dx in [*dxs, None]:
            s_c = s_t & ((sdx == dx).fillna(False).to_numpy() if dx is not None else True)
            r_c = r_t & ((rdx == dx).fillna(False).to_numpy() if dx is not None else True)
            cell = {"fst": str(t), "diagnosis": dx, "n_real": int(r_c.sum()), "n_synthetic": int(s_c.sum())}
            cell["ita_fidelity"] = ita_fidelity(
                syn.loc[s_c, "fst_requested"], syn.loc[s_c, "fst_remeasured"], syn.loc[s_c, "ita_remeasured"],
                scale=cfg.scale, tolerance=cfg.ita_tolerance, real_ita=rl.loc[r_c, "ita"])
            fs, fr = fsyn.features[s_c], freal.features[r_c]
            cell.update(measure_cell(fs, fr, fctx))
            if len(fs) and len(fr) and cell.get("fid") is None:
                small.append(f"{t}/{dx or 'all'}")
            if lp_model is not None:
                seed = stream_seed(cfg.seed, "lpips images", int(t), "" if dx is None else str(dx))
                si = _load_stack(list(syn.loc[s_c, "path"]), cfg.lpips_side, cfg.lpips_images, seed)
                ri = _load_stack(list(rl.loc[r_c, "path"]), cfg.lpips_side, cfg.lpips_images, seed)
                cell["lpips_diversity"] = {"synthetic": lpips_diversity(lp_model, si, max_pairs=cfg.diversity_pairs,
                                                                        seed=cfg.seed),
                                           "real": lpips_diversity(lp_model, ri, max_pairs=cfg.diversity_pairs,
                                                                   seed=cfg.seed)}
            else:
                cell["lpips_diversity"] = None
            _mode_collapse(cell, cfg)
            cell["reliable"] = min(cell["n_real"], cell["n_synthetic"]) >= cfg.min_reliable_n
            cells.append(cell)
    return cells, small


def _memorisation(syn: pd.DataFrame, rl: pd.DataFrame, cfg: SyntheticAuditConfig, *, cache_dir,
                  progress) -> dict | None:
    """Each synthetic image's nearest real training image in thumbnail space, written into ``syn``
    (``nearest_*``, ``memorised``); returns the section with the flagged pairs (None: too few images)."""
    thumb = ThumbnailExtractor(cfg.thumbnail_side)
    tsyn = extract_features(list(syn["path"]), thumb, batch_size=256, cache_dir=cache_dir, progress=progress,
                            description="thumbnails (synthetic)")
    treal = extract_features(list(rl["path"]), thumb, batch_size=256, cache_dir=cache_dir, progress=progress,
                             description="thumbnails (real)")
    s_idx, r_idx = np.flatnonzero(tsyn.ok), np.flatnonzero(treal.ok)
    candidates = "every readable real image"
    if "split" in rl.columns:  # only the training split can have been memorised
        train = rl["split"].astype("string").str.strip().str.lower().isin(["train", "training"]).fillna(False)
        if train.any():
            r_idx = r_idx[train.to_numpy()[r_idx]]
            candidates = "real images with split == train"
    syn["nearest_real"], syn["nearest_distance"], syn["nearest_ratio"] = None, np.nan, np.nan
    syn["memorised"] = False
    if not (len(r_idx) >= 2 and len(s_idx)):
        return None
    nr = nearest_real(tsyn.features[s_idx], treal.features[r_idx], threshold=cfg.memorisation_threshold)
    near = rl["image"].to_numpy()[r_idx[nr.index]]
    syn.loc[s_idx, "nearest_real"] = near
    syn.loc[s_idx, "nearest_distance"] = nr.distance
    syn.loc[s_idx, "nearest_ratio"] = nr.ratio
    syn.loc[s_idx, "memorised"] = nr.flagged
    pairs = []
    src = syn["source_image"].astype("string") if "source_image" in syn.columns else None
    for k in np.flatnonzero(nr.flagged)[np.argsort(nr.ratio[nr.flagged])]:
        i, r = s_idx[k], r_idx[nr.index[k]]
        fst = syn.at[i, "fst_requested"]
        dx = syn.at[i, "diagnosis"]
        pairs.append({
            "synthetic": str(syn.at[i, "image"]), "real": str(rl.at[r, "path"]),
            "distance": float(nr.ratio[k]), "rms_distance": float(nr.distance[k]),
            "fst": None if pd.isna(fst) else str(int(fst)), "diagnosis": None if pd.isna(dx) else str(dx),
            # image-to-image outputs are expected near their source: said, not hidden
            "is_source_image": bool(src is not None and not pd.isna(src.iloc[i])
                                    and src.iloc[i] == str(rl.at[r, "image"])),
        })
    memo = {"metric": (f"RMS distance of {cfg.thumbnail_side}x{cfg.thumbnail_side} RGB thumbnails / median "
                       "real-to-nearest-real distance"),
            "threshold": cfg.memorisation_threshold, "reference_rms_distance": nr.reference,
            "n_checked": int(len(s_idx)), "n_real_candidates": int(len(r_idx)),
            "candidates": candidates, "n_flagged": int(nr.flagged.sum()),
            "pairs": pairs}
    if "source_image" in syn.columns:
        src = syn["source_image"].astype("string")
        syn["nearest_is_source"] = (src == syn["nearest_real"].astype("string")).fillna(False)
    return memo


def _embedding(fs, fr, syn, rl, cfg: SyntheticAuditConfig) -> dict | None:
    x = np.concatenate([fs, fr]) if len(fs) or len(fr) else np.empty((0, 0))
    if len(x) < 3:
        return None
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = (x - mu) / np.where(sd > 0, sd, 1)
    if cfg.embedding == "tsne" and len(x) > 5:
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, random_state=cfg.seed, perplexity=min(30.0, (len(x) - 1) / 3),
                  init="pca").fit_transform(z)
        method = "t-SNE"
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=cfg.seed).fit(z)
        xy = pca.transform(z)
        method = f"PCA (explained variance {pca.explained_variance_ratio_.sum():.0%})"
    src = ["synthetic"] * len(fs) + ["real"] * len(fr)
    fst = [str(int(v)) for v in syn["fst_requested"]] + [str(int(v)) for v in rl["fst"]]
    dx = [None if pd.isna(v) else str(v) for v in list(syn["diagnosis"]) + list(rl["diagnosis"])]
    img = [str(v) for v in syn["image"]] + [str(v) for v in rl["path"]]
    pts = [{"x": float(a), "y": float(b), "source": s, "fst": f, "diagnosis": d, "image": i}
           for (a, b), s, f, d, i in zip(xy, src, fst, dx, img)]
    return {"method": method, "points": pts}
