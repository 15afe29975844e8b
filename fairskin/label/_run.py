"""Labelling a whole data set: streaming, parallel, resumable.

Results are appended to ``<out>.partial`` as each image finishes (flushed, and fsynced every
few seconds), next to a small state file recording the settings. A crash loses at most the
images in flight; the next run with the same settings skips every image already in the
partial file (a torn last line is dropped and redone). At the end the rows are written in the
manifest's order to ``<out>`` through a temporary file and an atomic rename. Memory stays flat:
images are loaded one at a time in each worker and only small result rows travel back.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from fairskin import __version__
from fairskin.data import manifest_units, read_csv_table, read_dataset
from fairskin.errors import InputError
from fairskin.notebook import NotebookView
from fairskin.progress import Progress, report
from fairskin.label._agreement import agreement
from fairskin.label._calibrate import fit_scale
from fairskin.label._config import LabelConfig
from fairskin.label._estimators import DEFAULT_ESTIMATOR, estimate_tone_image
from fairskin.label._labels import with_human_labels
from fairskin.label._masks import LesionMasks
from fairskin.label._resume import STAMP_FIELD, drop_changed, source_stamp, warned_rows, with_reader_warnings
from fairskin.label._shares import shares_summary
from fairskin.outputs import (
    atomic_path, atomic_write, claim_outputs, csv_restore, csv_safe, interruptible, remove_stale_temporaries,
    to_jsonable, truncate_torn_line, write_csv,
)
from fairskin.label._tone_summary import estimator_summary, records, summarize_tones, summary_counts, summary_head
from fairskin.skintone import FST_GROUPS, FST_TYPES, ItaScale, SkinToneEstimator, get_estimator

__all__ = ["label_dataset", "LabelResult", "LABEL_COLUMNS", "label_columns"]

_MANIFEST_COLUMNS = ["fst_human", "fst_group_human", "diagnosis", "malignant"]
_TEXT_COLUMNS = {"status", "reason", "scale"}


def label_columns(estimator: SkinToneEstimator) -> list[str]:
    """Columns of the labels.csv an estimator's run writes, in order: image, image_id, the
    estimator's columns, then the data set's human types and diagnosis."""
    return ["image", "image_id", *estimator.columns, *_MANIFEST_COLUMNS]


#: columns of labels.csv written with the default (ITA) estimator, in order
LABEL_COLUMNS = ["image", "image_id", "ita", "fst", "confidence", "status", "reason", "scale",
                 "L", "a", "b", "ita_spread", "skin_fraction", *_MANIFEST_COLUMNS]

# worker global (set by the pool initializer)
_W_ESTIMATOR: SkinToneEstimator | None = None


@dataclass(repr=False)
class LabelResult(NotebookView):
    """``repr``, tidy ``to_frame()`` and ``_repr_html_``: ``fairskin.label._notebook``."""

    _notebook = ("fairskin.label._notebook", "label")
    labels: pd.DataFrame
    summary: dict
    out: Path
    calibrated_scale: ItaScale | None = None


def _init_worker(estimator: SkinToneEstimator, pool: bool = False) -> None:
    global _W_ESTIMATOR
    import cv2

    cv2.setNumThreads(1)
    _W_ESTIMATOR = estimator
    if pool:  # Ctrl-C is the parent's to handle (it keeps what is done); a worker just stops with it
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool ends its workers with SIGTERM
        _die_with_parent()


def _die_with_parent() -> None:
    """Linux: end this worker when the parent dies, also by SIGKILL (no orphan keeps computing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        pass


def _label_one(task: tuple[str, str, str | None]) -> dict:
    rel, path, mask = task
    try:
        est = estimate_tone_image(path, _W_ESTIMATOR, lesion_mask=mask)
    except Exception as exc:  # a bug must not end a 100,000-image run: report the row
        return {"image": rel, "status": "error", "reason": f"internal error: {type(exc).__name__}: {exc}",
                "scale": _W_ESTIMATOR.scale_name}
    return {"image": rel, **est.row()}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _read_partial(partial: Path) -> dict[str, dict]:
    """Rows already finished; a torn last line (crash mid-write) is dropped and redone."""
    done: dict[str, dict] = {}
    if not partial.exists():
        return done
    truncate_torn_line(partial)
    text = partial.read_bytes().decode("utf-8", errors="replace")
    for row in csv.DictReader(io.StringIO(text, newline="")):
        if row.get("image") and row.get("status"):
            done[csv_restore(row["image"])] = row
    return done


def _settings(manifest: pd.DataFrame, estimator: SkinToneEstimator, masks: Path | None) -> dict:
    return {"fairskin": __version__, "estimator": estimator.name, **estimator.settings(),
            "root": str(Path(manifest.attrs["root"]).resolve()), "format": manifest.attrs.get("format"),
            "masks": str(masks.resolve()) if masks else None, "n_rows": len(manifest)}


def _iter_results(tasks: list, workers: int, estimator: SkinToneEstimator) -> Iterator[dict]:
    if workers <= 1:
        _init_worker(estimator)
        for t in tasks:
            yield _label_one(t)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(estimator, True)) as pool:
        yield from pool.imap_unordered(_label_one, tasks, chunksize=4)


def label_dataset(
    data: str | os.PathLike | pd.DataFrame,
    *,
    out: str | os.PathLike = "labels.csv",
    format: str | None = None,
    masks: str | os.PathLike | None = None,
    scale: str | os.PathLike | ItaScale | None = None,
    estimator: str | SkinToneEstimator = DEFAULT_ESTIMATOR,
    config: LabelConfig | None = None,
    workers: int = 1,
    calibrate: bool = False,
    calibrated_scale_path: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    confusion_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    n_boot: int = 1000,
    finish: Callable[[dict], object] | None = None,
    hair_removal: bool | None = None,
    human_labels: str | os.PathLike | None = None,
    abstain: bool = True,
) -> LabelResult:
    """Estimate the skin type of every image of a data set and write ``labels.csv``.

    Many parameters because each is one of the documented options of ``fairskin label``, under
    the same name (the command passes them through one for one); the estimator's own settings are
    one :class:`LabelConfig`.

    Parameters
    ----------
    data : a data set directory (any format :func:`fairskin.data.read_dataset` reads) or a manifest.
    out : where to write the labels CSV. An existing file is not replaced unless ``overwrite``;
        an unfinished run with the same settings (``<out>.partial``) is resumed.
    masks : a directory of lesion masks (``<stem>_mask.png``, ``<stem>_segmentation.png`` or
        ``<stem>.png``, white = lesion); images without one use the automatic segmentation.
    scale : a built-in scale name or a scale CSV (default: ``config.scale``); ITA estimator only.
    estimator : a registered skin-tone estimator (``fairskin.label.list_estimators()``: ``ita``
        writes Fitzpatrick types, ``monk`` Monk Skin Tones 1-10 with groups 1-3 / 4-7 / 8-10), a
        ``package.module:Class`` or an estimator object. labels.csv's columns are
        :func:`label_columns` of it (:data:`LABEL_COLUMNS` for ``ita``).
    human_labels : a human-consensus labels.csv (``fairskin annotate analyze``): its types count as
        the human types of the images the data set gives none (for ``calibrate`` and ``confusion_path``).
    calibrate : fit cut-points to the human labels (where the data set has them), save them to
        ``calibrated_scale_path`` (default ``<out stem>_scale.csv``) and label with them.
    json_path : write the summary (``docs/label-json.md``) there.
    confusion_path : where the data have human types, write the labeller's confusion there (human x
        estimated type counts, cross-validated with ``calibrate``; ``fairskin audit
        --label-confusion`` reads it, or the summary JSON, which holds it too).
    hair_removal : inpaint hair (DullRazor) before the skin mask (default: ``config.hair_removal``).
    abstain : estimators that can judge their own reliability (``ita``: exposure and cut-outs; a
        learned estimator: exposure and its calibrated confidence) leave ``fst`` empty with status
        ``unreliable`` and the reason; False (``--no-abstain``) gives the type anyway, the reason
        still saying it is unreliable.
    progress : a :data:`fairskin.progress.Progress`: the count of images labelled (images per
        second as its note); None reports nothing.
    finish : called with the summary once every output is written, before the run's resume
        files are removed (the command line writes its HTML report here), so that a run stopped
        at any moment is completed by running it again.

    Every output (``out``, ``json_path``, ``confusion_path``, the calibrated scale) is checked
    before anything runs and locked while it does (:func:`fairskin.outputs.claim_outputs`): one
    run per output. Ctrl-C raises :class:`fairskin.errors.Interrupted` saying what was kept.
    """
    config = config or LabelConfig()
    if hair_removal is not None:
        config = replace(config, hair_removal=bool(hair_removal))
    estimator = get_estimator(estimator, config=config, **({"scale": scale} if scale is not None else {}))
    if is_dataclass(estimator) and "abstain" in {f.name for f in fields(estimator)}:
        estimator = replace(estimator, abstain=bool(abstain))
    config = getattr(estimator, "config", config)
    if calibrate and estimator.name != "ita":
        raise InputError(f"calibrate=True fits ITA cut-points to human Fitzpatrick types; it applies to estimator='ita', "
                         f"not {estimator.name!r}")
    if workers < 1:
        raise InputError(f"workers: must be at least 1, got {workers}")
    manifest = data if isinstance(data, pd.DataFrame) else read_dataset(data, format=format)
    if human_labels is not None:
        manifest = with_human_labels(manifest, human_labels)
    out = Path(out)
    masks = Path(masks) if masks else None
    lesion_masks = LesionMasks(masks)
    scale_path = (Path(calibrated_scale_path) if calibrated_scale_path else out.with_name(out.stem + "_scale.csv")) \
        if calibrate else None
    outputs = {"out": out, "json_path": json_path, "confusion_path": confusion_path, "calibrated_scale_path": scale_path}
    with claim_outputs(outputs, overwrite=overwrite):
        return _label_claimed(manifest, out=out, masks=masks, lesion_masks=lesion_masks, estimator=estimator,
                              config=config, workers=workers, scale_path=scale_path, json_path=json_path,
                              confusion_path=confusion_path, progress=progress, n_boot=n_boot, finish=finish)


def _label_claimed(manifest: pd.DataFrame, *, out: Path, masks: Path | None, lesion_masks: LesionMasks,
                   estimator: SkinToneEstimator, config: LabelConfig, workers: int, scale_path: Path | None, json_path,
                   confusion_path, progress: Progress | None, n_boot: int, finish) -> LabelResult:
    """label_dataset once its outputs are checked and locked: resume, label, write (in that order,
    so that a run killed at any moment is finished by running it again)."""
    root = Path(manifest.attrs["root"])
    partial = out.with_name(out.name + ".partial")
    state_path = out.with_name(out.name + ".partial.json")
    remove_stale_temporaries(out.parent, name=partial.name)
    settings = _settings(manifest, estimator, masks)
    scale_obj = getattr(estimator, "scale", None)  # the ITA estimator's cut-points (calibration starts from them)
    fields = ["image", *estimator.columns, STAMP_FIELD]
    if partial.exists():
        try:
            old = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else None
        except (OSError, ValueError):
            old = None
        if old != settings:
            raise InputError(f"{partial} is an unfinished run with other settings (data, scale, masks or "
                             f"configuration differ); delete it to start again, or rerun with the same settings to resume")
    atomic_write(state_path, json.dumps(settings, indent=1))
    done = _read_partial(partial)
    stamps = {rel: source_stamp(root / rel, lesion_masks.path_for(rel)) for rel in manifest["image"]}
    n_changed = len(drop_changed(done, stamps))  # replaced since the interrupted run: labelled again

    fresh = not partial.exists() or partial.stat().st_size == 0
    fh = open(partial, "a", newline="", encoding="utf-8")
    writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")

    def write(row: dict) -> None:
        writer.writerow({k: csv_safe(_fmt(row.get(k))) for k in fields} | {STAMP_FIELD: stamps.get(row["image"], "")})

    if fresh:
        writer.writeheader()
    tasks = []
    n_skipped_bad = 0
    for rel, status, reason in zip(manifest["image"], manifest["status"], manifest["reason"]):
        if rel in done:
            continue
        if status != "ok":
            row = {"image": rel, "status": status, "reason": reason, "scale": estimator.scale_name}
            write(row)
            done[rel] = row
            n_skipped_bad += 1
            continue
        tasks.append((rel, str(root / rel), lesion_masks.path_for(rel)))
    fh.flush()
    n_resumed = len(done) - n_skipped_bad
    n_total = len(manifest)

    last_sync = time.monotonic()
    t0 = time.perf_counter()
    kept = (lambda: f"{len(done)} of {n_total} images are labelled and kept in {partial}; run the same command "
                    "again to resume")
    try:
        with interruptible(kept):
            report(progress, "labelling", 0, len(tasks))
            for i, res in enumerate(_iter_results(tasks, workers, estimator), start=1):
                write(res)
                done[res["image"]] = res
                if time.monotonic() - last_sync > 2.0:
                    fh.flush()
                    os.fsync(fh.fileno())
                    last_sync = time.monotonic()
                rate = i / max(time.perf_counter() - t0, 1e-9)
                report(progress, "labelling", i, len(tasks), f"{rate:.0f} img/s")
    finally:
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
    elapsed = time.perf_counter() - t0

    with interruptible(lambda: f"all {n_total} images are labelled and kept in {partial}; run the same command "
                               "again to write the results"):
        labels = with_reader_warnings(_assemble(manifest, partial, estimator), manifest)
        calibrated = None
        if scale_path is not None:
            calibrated = _calibrate(labels, scale_obj, out, scale_path)
            labels = _relabel(labels, calibrated, config)
        write_csv(labels, out, float_format="%.4f")
        if estimator.name == "ita":
            summary = summarize(labels, manifest=manifest, scale=calibrated or scale_obj, config=config, out=out,
                                n_boot=n_boot)
        else:
            summary = summarize_tones(labels, manifest=manifest, estimator=estimator, out=out, n_boot=n_boot)
            if estimator.tone_scale.column == "fst":  # another Fitzpatrick estimator (a learned one)
                summary.update(fst_agreement(labels, n_boot=n_boot))
        summary["estimator"] = estimator_summary(estimator)
        summary["run"] = {"images_processed": len(tasks), "resumed_from_previous_run": n_resumed,
                          "seconds": round(elapsed, 3),
                          "images_per_second": round(len(tasks) / elapsed, 2) if elapsed > 0 else None,
                          "workers": workers, "redone_changed_sources": n_changed}
        summary["warned_rows"] = warned_rows(labels)
        cv_fst = None
        if calibrated is not None:
            summary["calibration"] = _calibration_summary(labels, manifest, scale_obj, calibrated, config, n_boot)
            cv_fst = summary["calibration"].pop("_cv_fst", None)
            if summary.get("agreement"):
                summary["agreement"]["in_sample"] = True  # cut-points fitted on these very images
        confusion = label_confusion(labels, cv_fst) if estimator.tone_scale.column == "fst" else None
        confusion = _fitted_confusion(estimator, manifest) or confusion
        if confusion is not None:
            confusion["scale"] = (calibrated or scale_obj).name if (calibrated or scale_obj) else estimator.scale_name
            summary["label_confusion"] = confusion
            if confusion_path is not None:
                atomic_write(confusion_path, json.dumps(confusion, indent=1))
                summary["confusion_file"] = str(confusion_path)
        if estimator.tone_scale.column == "fst":
            summary["corrected_shares"] = shares_summary(labels, confusion, manifest=manifest, n_boot=n_boot)
        if json_path:
            atomic_write(json_path, json.dumps(to_jsonable(summary), indent=1, allow_nan=False))
        if finish is not None:  # e.g. the command's HTML report: written before the run's journal goes
            finish(summary)
        partial.unlink()
        state_path.unlink(missing_ok=True)
    return LabelResult(labels=labels, summary=summary, out=out, calibrated_scale=calibrated)


def _assemble(manifest: pd.DataFrame, partial: Path, estimator: SkinToneEstimator) -> pd.DataFrame:
    res = read_csv_table(partial, arg="")[0].drop_duplicates("image", keep="last")
    res = res.set_index("image")
    df = pd.DataFrame({"image": manifest["image"].astype(str)})
    tone, group = estimator.tone_scale.column, estimator.tone_scale.column + "_group"
    for col in estimator.columns:
        df[col] = df["image"].map(res[col]) if col in res else ""
        if col == tone:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        elif col not in _TEXT_COLUMNS and col != group:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["image_id"] = manifest["image_id"].to_numpy()
    for col in _MANIFEST_COLUMNS:
        df[col] = manifest[col].to_numpy()
    for col in ("fst_true", "ita_true"):  # phantom ground truth, when present
        if col in manifest:
            df[col] = pd.to_numeric(manifest[col], errors="coerce").to_numpy()
    cols = label_columns(estimator)
    return df[cols + [c for c in df.columns if c not in cols]]


def _human_intervals(labels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    lo = np.zeros(len(labels), int)
    hi = np.zeros(len(labels), int)
    t = labels["fst_human"]
    g = labels["fst_group_human"].astype("string")
    for i in range(len(labels)):
        if not pd.isna(t.iloc[i]):
            lo[i] = hi[i] = int(t.iloc[i])
        elif not pd.isna(g.iloc[i]) and g.iloc[i] in FST_GROUPS:
            lo[i], hi[i] = FST_GROUPS[g.iloc[i]][0], FST_GROUPS[g.iloc[i]][-1]
    return lo, hi


def _calibrate(labels, prior: ItaScale, out: Path, path) -> ItaScale:
    lo, hi = _human_intervals(labels)
    ok = (labels["status"] == "ok").to_numpy() & (lo > 0)
    scale = fit_scale(labels["ita"].to_numpy()[ok], lo[ok], hi[ok], prior=prior,
                      name=f"calibrated_{out.stem}",
                      source=f"fitted by fairskin {__version__} to {int(ok.sum())} human labels of "
                             f"{labels.attrs.get('root', 'the data set')} (prior: {prior.name})")
    with atomic_path(path) as tmp:
        scale.save(tmp)
    return scale


def _relabel(labels: pd.DataFrame, scale: ItaScale, config: LabelConfig) -> pd.DataFrame:
    from fairskin.label._estimate import _confidence

    df = labels.copy()
    ok = (df["status"] == "ok") & df["ita"].notna()
    fst = scale.fst(df.loc[ok, "ita"].to_numpy())
    df.loc[ok, "fst"] = fst
    df.loc[ok, "confidence"] = [
        _confidence(i, s, 10**9, f, scale, int(k), config)
        for i, s, f, k in zip(df.loc[ok, "ita"], df.loc[ok, "ita_spread"], df.loc[ok, "skin_fraction"], fst)
    ]
    df.loc[ok, "scale"] = scale.name
    return df


def _folds(manifest: pd.DataFrame, idx: np.ndarray, k: int = 5) -> list[np.ndarray]:
    """``k`` folds of the rows ``idx``; where patient ids exist, every image of a patient falls in
    one fold (a patient's other images would otherwise vouch for the cut-points fitted on them)."""
    rng = np.random.default_rng(0)
    unit = manifest_units(manifest)[0][idx]
    units = rng.permutation(pd.unique(unit))
    fold_of = {u: i % k for i, u in enumerate(units)}
    f = np.array([fold_of[u] for u in unit])
    return [idx[f == i] for i in range(k)]


def _calibration_summary(labels, manifest, prior, calibrated, config, n_boot) -> dict:
    """Agreement before and after calibration; the 'after' figure is 5-fold cross-validated
    (patient-grouped where ids exist), since cut-points fitted and judged on the same images
    flatter themselves. Also returns the out-of-fold type of each image (``_cv_fst``)."""
    lo, hi = _human_intervals(labels)
    ok = (labels["status"] == "ok").to_numpy() & (lo > 0) & labels["ita"].notna().to_numpy()
    idx = np.flatnonzero(ok)
    cv_fst = np.zeros(len(labels), int)
    ita = labels["ita"].to_numpy()
    if idx.size < 15:
        return {"scale": calibrated.name, "cuts": list(calibrated.cuts), "agreement_cross_validated": None,
                "note": f"only {idx.size} human labels: too few for 5-fold cross-validation"}
    folds = _folds(manifest, idx)
    for test in folds:
        train = np.setdiff1d(idx, test)
        cv_fst[test] = fit_scale(ita[train], lo[train], hi[train], prior=prior).fst(ita[test])
    level, human = _agreement_level(labels)
    cv = agreement(np.where(cv_fst > 0, cv_fst, None), human, ita=ita, level=level, n_boot=n_boot)
    before = agreement(prior.fst(np.nan_to_num(ita, nan=np.nan)), human, ita=ita, level=level, n_boot=n_boot)
    grouped = "patient_id" in manifest and manifest["patient_id"].astype("string").fillna("").ne("").any()
    return {"scale": calibrated.name, "prior": prior.name, "cuts": list(calibrated.cuts), "prior_cuts": list(prior.cuts),
            "agreement_before": before, "agreement_cross_validated": cv,
            "folds": "5 folds grouped by patient_id" if grouped else "5 folds of images", "_cv_fst": cv_fst}


def label_confusion(labels: pd.DataFrame, estimated: np.ndarray | None = None) -> dict | None:
    """The labeller's confusion on the images with a human exact type: counts of (human type,
    estimated type), 6 x 6 (``fairskin audit --label-confusion`` reads it). ``estimated`` (per
    row, 0 = none) defaults to the ``fst`` column; with calibrated cut-points pass the
    cross-validated types, so the matrix does not flatter the fit. None without human types."""
    if "fst_human" not in labels or not labels["fst_human"].notna().any():
        return None
    est = pd.to_numeric(labels["fst"], errors="coerce").fillna(0).astype(int).to_numpy() if estimated is None \
        else np.asarray(estimated, int)
    hum = pd.to_numeric(labels["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
    ok = (hum >= 1) & (hum <= 6) & (est >= 1) & (est <= 6)
    counts = np.zeros((6, 6), int)
    np.add.at(counts, (hum[ok] - 1, est[ok] - 1), 1)
    return {"schema": "fairskin.label-confusion/1", "rows": "true (human) type I..VI",
            "columns": "estimated type I..VI", "counts": counts.tolist(), "n": int(ok.sum()),
            "cross_validated": estimated is not None}


def _fitted_confusion(estimator: SkinToneEstimator, manifest: pd.DataFrame) -> dict | None:
    """A learned estimator run on the data set it was fitted to: its confusion from the fit's
    nested cross-validation (the in-sample one would flatter it)."""
    info = getattr(estimator, "info", None) or {}
    cv, fit = info.get("cross_validated") or {}, info.get("fitted_on") or {}
    if not cv.get("confusion") or fit.get("data") != str(manifest.attrs.get("root")):
        return None
    counts = cv["confusion"]["counts"]
    return {"schema": "fairskin.label-confusion/1", "rows": "true (human) type I..VI",
            "columns": "estimated type I..VI", "counts": counts, "n": int(np.sum(counts)), "cross_validated": True,
            "source": "the learned estimator's nested patient-grouped cross-validation on this data set"}


def fst_agreement(labels: pd.DataFrame, *, n_boot: int) -> dict:
    """``fst_distribution`` and ``agreement`` of a Fitzpatrick estimator without ITA (the learned
    one), in the ITA summary's form."""
    ok = (labels["status"] == "ok") & labels["fst"].notna()
    out = {"fst_distribution": {"estimated": {str(k): int((labels.loc[ok, "fst"] == k).sum()) for k in FST_TYPES},
                                "human": None, "human_group": None}, "agreement": None}
    if labels["fst_human"].notna().any():
        out["fst_distribution"]["human"] = {str(k): int((labels["fst_human"] == k).sum()) for k in FST_TYPES}
        level, hum = _agreement_level(labels)
        out["agreement"] = agreement(labels["fst"].astype(object).where(ok, None).to_numpy(), hum, level=level,
                                     n_boot=n_boot)
    return out


def _agreement_level(labels: pd.DataFrame):
    if labels["fst_human"].notna().any():
        return "type", labels["fst_human"].to_numpy(dtype=object)
    return "group", labels["fst_group_human"].astype(object).to_numpy()


def summarize(labels: pd.DataFrame, *, manifest: pd.DataFrame, scale: ItaScale, config: LabelConfig,
              out: Path, n_boot: int = 1000) -> dict:
    """The summary dict of ``docs/label-json.md``."""
    ok = labels["status"] == "ok"
    lab = labels[ok & labels["fst"].notna()]
    est_counts = {str(k): int((lab["fst"] == k).sum()) for k in FST_TYPES}
    human = None
    if labels["fst_human"].notna().any():
        human = {str(k): int((labels["fst_human"] == k).sum()) for k in FST_TYPES}
    human_group = None
    if labels["fst_group_human"].notna().any():
        human_group = {g: int((labels["fst_group_human"] == g).sum()) for g in FST_GROUPS}
    edges = np.arange(-60, 92, 2.0)
    ita_vals = lab["ita"].to_numpy()
    hist = {str(k): np.histogram(np.clip(ita_vals[lab["fst"].to_numpy() == k], edges[0], edges[-1] - 1e-9), edges)[0].tolist()
            for k in FST_TYPES}
    ita_by = {}
    for k in FST_TYPES:
        v = ita_vals[lab["fst"].to_numpy() == k]
        if v.size:
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            ita_by[str(k)] = {"n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3)}
    agree = None
    if human is not None or human_group is not None:
        level, hum = _agreement_level(labels)
        fst_obj = labels["fst"].astype(object).where(ok, None).to_numpy()
        agree = agreement(fst_obj, hum, ita=labels["ita"].to_numpy(), level=level, n_boot=n_boot)
    bad = labels[~labels["status"].isin(["ok", "no_skin"])]
    unl = labels[labels["status"] == "no_skin"]
    least = lab.nsmallest(48, "confidence")
    truth = None
    if "ita_true" in labels and labels["ita_true"].notna().any():
        t = labels[ok & labels["ita_true"].notna()]
        err = (t["ita"] - t["ita_true"]).to_numpy()
        truth = {"n": int(len(t)), "ita_within_3": float(np.mean(np.abs(err) <= 3)),
                 "fst_exact": float(np.mean(t["fst"].to_numpy() == t["fst_true"].to_numpy())),
                 "ita_mae": float(np.mean(np.abs(err))), "ita_bias": float(np.mean(err))}
    cfg = asdict(config)
    return {
        **summary_head(labels, manifest),
        "scale": {"name": scale.name, "categories": list(scale.categories), "cuts": list(scale.cuts),
                  "source": scale.source, "calibrated": scale.name.startswith("calibrated")},
        "config": cfg,
        "labels_csv": str(out),
        "counts": summary_counts(labels, lab),
        "fst_distribution": {"estimated": est_counts, "human": human, "human_group": human_group},
        "ita_histogram": {"bin_edges": edges.tolist(), "counts_by_fst": hist},
        "ita_summary_by_fst": ita_by,
        "agreement": agree,
        "bad_rows": records(bad.head(200), ["image", "status", "reason"]),
        "unlabelled": records(unl.head(48), ["image", "status", "reason", "skin_fraction"]),
        "least_confident": records(least, ["image", "ita", "fst", "confidence"]),
        "truth": truth,
    }
