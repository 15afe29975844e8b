"""Benchmark: skin types on real clinical photographs (PAD-UFES-20), against a clinician's type.

    python benchmarks/bench_real_photos.py [-j 2] [--n-boot 500] [--json bench-out/real_photos.json]
    python benchmarks/bench_real_photos.py -j 2 --json docs/data/real_photos.json --doc docs/label.md

``--doc`` rewrites the headline table of docs/label.md (between its ``bench_real_photos`` markers)
from this run, and ``--json docs/data/real_photos.json`` keeps the run it came from:
``tests/label/test_real_photo_doc.py`` checks that the two agree.

Prints, per folder and per estimator / setting: coverage (share of the photos with a clinician's
type that were given one), quadratic-weighted kappa, the V-VI share error (estimated minus
clinicians' share of types V-VI on the same photos, points), exact, within one, Spearman's rho
(estimate vs type), each with a 95% patient-bootstrap interval, and the estimated share of each
type beside the clinicians'. Kappa and the share error lead: a constant "II" cannot win them.

Folders: ``pad-ufes-20-dev`` (499 photos, 303 typed, no masks) is the development set: every
fitted setting (calibrated cut-points, the learned estimator) is scored there by 5-fold
cross-validation grouped by patient, with anything the method chooses (penalty, abstention
threshold) chosen inside the training folds. ``pad-ufes-20-sample`` (61 photos, 46 typed, masks)
is never tuned on: fitted methods are fitted on all of dev and applied to it. 23 of its patients
also appear in dev, so it is scored twice: all photos, and only patients absent from dev (the
honest "never seen" figure).

Baselines in the same run: the majority class and random draws from the labels' prior (both
from the training folds), naive whole-image ITA (median L*, b* of every pixel, no mask) and
derm-ita's ``get_ita`` (``pip install --no-deps derm-ita==0.0.8 patchify``; skipped with a note
when missing). Per-image features are computed once per folder and setting, in memory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fairskin.data import read_dataset  # noqa: E402
from fairskin.label import (  # noqa: E402
    FEATURE_NAMES, LabelConfig, OrdinalModel, cross_validate_learned, dataset_features, fit_learned, fit_scale, get_scale,
    group_folds, patient_groups, readable_rows, score_types,
)

DATA = Path(os.environ.get("FAIRSKIN_SHARED", "/work/shared")) / "data"


def derm_ita_values(manifest: pd.DataFrame, workers: int) -> np.ndarray | None:
    try:
        import derm_ita  # noqa: F401
    except ImportError as exc:
        print(f"derm-ita not importable ({exc}); install with: pip install --no-deps derm-ita==0.0.8 patchify")
        return None
    paths = [str(Path(manifest.attrs["root"]) / r) for r in manifest["image"]]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            return np.array(pool.map(_derm_one, paths, chunksize=4), float)
    return np.array([_derm_one(p) for p in paths], float)


def _derm_one(path: str) -> float:
    import derm_ita
    from PIL import Image

    try:
        with Image.open(path) as im:
            return float(derm_ita.get_ita(im.convert("RGB")))
    except Exception:  # the peer's failure is a missing estimate, reported as coverage
        return math.nan


def _types(ita: np.ndarray, scale) -> np.ndarray:
    out = np.zeros(len(ita), int)
    ok = np.isfinite(ita)
    out[ok] = scale.fst(ita[ok])
    return out


def _cv_ita_calibrated(ita, human, groups, prior, k=5):
    folds = group_folds(groups, k, seed=0)
    est = np.zeros(len(ita), int)
    ok = np.isfinite(ita)
    for i in range(k):
        tr = ok & (human >= 1) & (folds != i)
        te = ok & (folds == i)
        sc = fit_scale(ita[tr], human[tr], human[tr], prior=prior)
        est[te] = sc.fst(ita[te])
    return est


def _cv_constant(human, groups, how, k=5, seed=0):
    folds = group_folds(groups, k, seed=0)
    rng = np.random.default_rng(seed)
    est = np.zeros(len(human), int)
    for i in range(k):
        tr, te = (human >= 1) & (folds != i), folds == i
        counts = np.bincount(human[tr], minlength=7)[1:]
        if how == "majority":
            est[te] = 1 + int(np.argmax(counts))
        else:
            est[te] = rng.choice(np.arange(1, 7), size=int(te.sum()), p=counts / counts.sum())
    return est


def _expected(probs: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(probs).all(axis=1), probs @ np.arange(1, 7), np.nan)


def fmt(v, ci=None, pct=True) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    f = (lambda x: f"{100 * x:.0f}") if pct else (lambda x: f"{x:.2f}")
    s = f(v)
    return s + (f" ({f(ci[0])} to {f(ci[1])})" if ci else "")


def print_table(title: str, rows: dict[str, dict]) -> None:
    print(f"\n## {title}")
    head = ["setting", "n", "kappa", "V-VI share err (pts)", "coverage %", "exact %", "within one %", "Spearman"]
    print(" | ".join(head))
    for name, r in rows.items():
        print(" | ".join([name, str(r["n"]), fmt(r["kappa"], r.get("kappa_ci"), pct=False),
                          fmt(r["v_vi_share_error"], r.get("v_vi_share_error_ci")),
                          fmt(r["coverage"], r.get("coverage_ci")), fmt(r["exact"], r.get("exact_ci")),
                          fmt(r["within_one"], r.get("within_one_ci")), fmt(r["spearman"], r.get("spearman_ci"), pct=False)]))
    print("shares of types I..VI, estimated / clinicians' (%, on the covered photos):")
    for name, r in rows.items():
        est = " ".join(f"{100 * r.get(f'share_{k}', math.nan):4.0f}" for k in range(1, 7))
        hum = " ".join(f"{100 * r.get(f'human_share_{k}', math.nan):4.0f}" for k in range(1, 7))
        print(f"  {name:<56} {est}  /  {hum}")


def reliability_table(title: str, est: np.ndarray, probs: np.ndarray, human: np.ndarray) -> dict:
    """Calibration of the learned estimator's confidence (probability of the type given) on held-out photos."""
    ok = (human >= 1) & np.isfinite(probs).all(axis=1)
    pred = OrdinalModel.predict_from(np.nan_to_num(probs[ok]))
    conf = probs[ok][np.arange(ok.sum()), pred - 1]
    hit = pred == human[ok]
    bins = [0.0, 0.4, 0.5, 0.6, 0.7, 1.01]
    out = []
    print(f"\n{title}: confidence (out of fold) vs observed exact agreement")
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            out.append({"bin": [lo, min(hi, 1.0)], "n": int(sel.sum()), "mean_confidence": float(conf[sel].mean()),
                        "exact": float(hit[sel].mean())})
            print(f"  confidence {lo:.1f}-{min(hi, 1.0):.1f}: n {sel.sum():3d}, mean {conf[sel].mean():.2f}, "
                  f"observed exact {hit[sel].mean():.2f}")
    return {"bins": out}


def run_folder(name, manifest, feats, derm, *, n_boot, dev=None, dev_feats=None, keep=0.8, tag=""):
    human = pd.to_numeric(manifest["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
    groups = patient_groups(manifest)
    scale = get_scale(LabelConfig().scale)
    ita = feats["ita_of_medians"].to_numpy(float)
    rows, extra = {}, {}

    def add(label, est, score=None, mask=None):
        m = (human >= 1) if mask is None else (human >= 1) & mask
        rows[label] = score_types(est[m], human[m], groups[m], score=None if score is None else score[m], n_boot=n_boot)

    sel = None
    if dev is not None and "patient_id" in manifest:
        sel = ~manifest["patient_id"].astype(str).isin(set(dev["patient_id"].astype(str))).to_numpy()
        if tag == "unseen":
            human = np.where(sel, human, 0)
    if dev is None:  # development folder: cross-validation by patient
        add("majority class (train folds)", _cv_constant(human, groups, "majority"))
        add("labels' prior, random draws (train folds)", _cv_constant(human, groups, "prior"))
    else:  # untouched folder: the constants of the development labels
        dh = pd.to_numeric(dev["fst_human"], errors="coerce").dropna().astype(int).to_numpy()
        counts = np.bincount(dh, minlength=7)[1:]
        add("majority class (of dev)", np.full(len(human), 1 + int(np.argmax(counts))))
        rng = np.random.default_rng(0)
        add("labels' prior, random draws (of dev)", rng.choice(np.arange(1, 7), size=len(human), p=counts / counts.sum()))
    add("naive whole-image ITA", _types(feats["frame_ita"].to_numpy(float), scale), -feats["frame_ita"].to_numpy(float))
    if derm is not None:
        add("derm-ita get_ita (whole image)", _types(derm, scale), -derm)
    readable = readable_rows(feats)
    add("ita, every photo (--no-abstain)", _types(ita, scale), -ita)
    add("ita (fairskin default: abstains on unreadable photos)", np.where(readable, _types(ita, scale), 0), -ita)
    if "masks" in feats.attrs:
        mita = feats.attrs["masks"]["ita_of_medians"].to_numpy(float)
        add("ita with the sample's lesion masks", _types(mita, scale), -mita)
    if dev is None:
        cal = _cv_ita_calibrated(ita, human, groups, scale)
        add("ita --calibrate (CV by patient), every photo", cal, -ita)
        add("ita --calibrate (CV by patient), abstaining", np.where(readable, cal, 0), -ita)
        for k in (1.0, keep):
            est, probs = cross_validate_learned(feats, human, groups, keep=k)
            add(f"learned, keep {k:.0%} (nested CV by patient)", est, _expected(probs))
            if k < 1:
                extra["reliability"] = reliability_table(f"{name}, learned keep {k:.0%}", est, probs, human)
    else:
        dhum = pd.to_numeric(dev["fst_human"], errors="coerce").fillna(0).astype(int).to_numpy()
        dita = dev_feats["ita_of_medians"].to_numpy(float)
        ok = (dhum >= 1) & np.isfinite(dita)
        cal = fit_scale(dita[ok], dhum[ok], dhum[ok], prior=scale)
        add("ita calibrated on dev, every photo", _types(ita, cal), -ita)
        add("ita calibrated on dev, abstaining", np.where(readable, _types(ita, cal), 0), -ita)
        X = dev_feats[list(FEATURE_NAMES)].to_numpy(float)
        use = (dhum >= 1) & np.isfinite(X).all(axis=1)
        dgroups = patient_groups(dev)
        for k in (1.0, keep):
            model = fit_learned(X[use], dhum[use], dgroups[use], keep=k, readable=readable_rows(dev_feats)[use])
            recs = feats.to_dict("records")
            res = [model.from_features(r, feats["reason"].iloc[i]) for i, r in enumerate(recs)]
            est = np.array([e.tone or 0 for e in res])
            probs = np.array([[e.values[f"p_fst{t}"] for t in range(1, 7)] for e in res], float)
            add(f"learned on dev, keep {k:.0%}", est, _expected(probs))
            if k < 1:
                statuses = pd.Series([e.status for e in res]).value_counts().to_dict()
                extra["learned_status_counts"] = statuses
                print(f"{name}: learned (keep {k:.0%}) status counts over all {len(res)} photos: {statuses}")
    return rows, extra


#: the headline table of docs/label.md: (shown as, development-folder row, untouched-sample row)
DOC_ROWS = (
    ("majority class", "majority class (train folds)", "majority class (of dev)"),
    ("labels' prior, random draws", "labels' prior, random draws (train folds)", "labels' prior, random draws (of dev)"),
    ("naive whole-image ITA", "naive whole-image ITA", "naive whole-image ITA"),
    ("derm-ita `get_ita`", "derm-ita get_ita (whole image)", "derm-ita get_ita (whole image)"),
    ("ita, every photo (`--no-abstain`)", "ita, every photo (--no-abstain)", "ita, every photo (--no-abstain)"),
    ("ita (default, abstains)", "ita (fairskin default: abstains on unreadable photos)",
     "ita (fairskin default: abstains on unreadable photos)"),
    ("ita calibrated (dev: CV; sample: fitted on dev), abstaining", "ita --calibrate (CV by patient), abstaining",
     "ita calibrated on dev, abstaining"),
    ("learned, keep 100%", "learned, keep 100% (nested CV by patient)", "learned on dev, keep 100%"),
    ("learned, keep 80%", "learned, keep 80% (nested CV by patient)", "learned on dev, keep 80%"),
)
DOC_BEGIN, DOC_END = "<!-- bench_real_photos table: begin -->", "<!-- bench_real_photos table: end -->"


def doc_table(result: dict) -> str:
    """The markdown table docs/label.md shows, from a run's ``--json`` result."""
    lines = ["| setting | dev (CV by patient): kappa | V-VI share err (pts) | coverage | sample (untouched): kappa "
             "| V-VI share err | coverage | sample, patients not in dev: kappa | V-VI share err |",
             "|---|---|---|---|---|---|---|---|---|"]
    for shown, dev_key, s_key in DOC_ROWS:
        d, s, u = (result[f].get("rows", {}).get(k) for f, k in
                   (("dev", dev_key), ("sample_all", s_key), ("sample_unseen", s_key)))
        if d is None or s is None:  # derm-ita not installed in that run
            continue
        cells = [shown]
        for r, cov in ((d, True), (s, True), (u, False)):
            if r is None:
                cells += ["-"] * (3 if cov else 2)
                continue
            cells += [fmt(r["kappa"], r.get("kappa_ci"), pct=False), fmt(r["v_vi_share_error"], r.get("v_vi_share_error_ci"))]
            if cov:
                cells.append(fmt(r["coverage"]) + "%")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_doc(path: Path, result: dict) -> None:
    """Replace the table between the markers of ``path`` with :func:`doc_table` of ``result``."""
    text = path.read_text()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise SystemExit(f"--doc {path}: no {DOC_BEGIN} ... {DOC_END} block to rewrite")
    head, rest = text.split(DOC_BEGIN, 1)
    path.write_text(head + DOC_BEGIN + "\n" + doc_table(result) + "\n" + DOC_END + rest.split(DOC_END, 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--workers", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--keep", type=float, default=0.8, help="share of photos the abstaining learned estimator keeps")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--doc", type=Path, default=None, help="rewrite this markdown file's headline table (docs/label.md)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    dev_dir, sample_dir = args.data / "pad-ufes-20-dev", args.data / "pad-ufes-20-sample"
    dev = read_dataset(dev_dir)
    sample = read_dataset(sample_dir)
    cfg = LabelConfig()
    dev_f = dataset_features(dev, config=cfg, workers=args.workers)
    s_f = dataset_features(sample, config=cfg, workers=args.workers)
    s_f.attrs["masks"] = dataset_features(sample, config=cfg, masks=sample_dir / "masks", workers=args.workers)
    print(f"features of {len(dev)} + {len(sample)} (+{len(sample)} with masks) photos in {time.perf_counter() - t0:.0f} s "
          f"({args.workers} worker(s))")
    d_dev, d_s = derm_ita_values(dev, args.workers), derm_ita_values(sample, args.workers)
    result = {"command": " ".join(["python", *sys.argv]), "n_boot": args.n_boot}
    rows, extra = run_folder("dev", dev, dev_f, d_dev, n_boot=args.n_boot, keep=args.keep)
    print_table("pad-ufes-20-dev (development: fitted settings cross-validated by patient)", rows)
    result["dev"] = {"rows": rows, **extra}
    for tag, title in (("all", "pad-ufes-20-sample, all photos (never tuned on; 23 patients also in dev)"),
                       ("unseen", "pad-ufes-20-sample, patients not in dev (never tuned on, never seen)")):
        rows, extra = run_folder(f"sample/{tag}", sample, s_f, d_s, n_boot=args.n_boot, dev=dev, dev_feats=dev_f,
                                 keep=args.keep, tag=tag)
        print_table(title, rows)
        result[f"sample_{tag}"] = {"rows": rows, **extra}
    print(f"\n{time.perf_counter() - t0:.0f} s in all; 95% intervals: patient bootstrap, {args.n_boot} resamples")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=lambda o: None) + "\n")
    if args.doc:
        write_doc(args.doc, result)
        print(f"rewrote the table in {args.doc}")


if __name__ == "__main__":
    main()
