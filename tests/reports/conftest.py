"""Report inputs built by hand from the documented schemas (docs/label-json.md,
docs/audit-json.md, docs/report-inputs.md), with phantom images of known skin type."""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
from PIL import Image
from scipy.stats import norm

EVIL = "<script>alert(1)</script>"
TYPES = ("1", "2", "3", "4", "5", "6")
ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI"}
TYPE_ITA = {"1": 62.0, "2": 48.0, "3": 34.0, "4": 23.0, "5": 14.0, "6": -20.0}


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory):
    """images/real_<fst>_<i>.png and synthetic/syn_<fst>_<i>.png, 64 px phantoms."""
    from fairskin.data import PhantomSpec, render_phantom

    root = tmp_path_factory.mktemp("phantoms")
    (root / "images").mkdir()
    (root / "synthetic").mkdir()
    for k in TYPES:
        for i in range(3):
            rgb = render_phantom(PhantomSpec(ita=TYPE_ITA[k], size=64, seed=int(k) * 10 + i,
                                             diagnosis="melanoma" if i == 2 else "melanocytic-nevi"))
            Image.fromarray(rgb).save(root / "images" / f"real_{k}_{i}.png")
            rgb = render_phantom(PhantomSpec(ita=TYPE_ITA[k] + 2, size=64, seed=100 + int(k) * 10 + i, style="clinical"))
            Image.fromarray(rgb).save(root / "synthetic" / f"syn_{k}_{i}.png")
    (root / "images" / "broken.png").write_bytes(b"not a png")
    return root


def _label_dict(root) -> dict:
    est = {"1": 90, "2": 180, "3": 140, "4": 100, "5": 25, "6": 12}
    human = {"1": 80, "2": 170, "3": 150, "4": 105, "5": 28, "6": 14}
    edges = list(range(-60, 92, 2))
    rng = np.random.default_rng(0)
    counts_by_fst = {}
    cuts = [55, 41, 28, 19, 10]
    for k in TYPES:
        hi = 90 if k == "1" else cuts[int(k) - 2]
        lo = -60 if k == "6" else cuts[int(k) - 1]
        itas = rng.uniform(lo, hi, est[k])
        counts_by_fst[k] = np.histogram(itas, bins=edges)[0].tolist()
    confusion = [[3, 1, 0, 0, 0, 0], [1, 8, 2, 0, 0, 0], [0, 2, 7, 1, 0, 0],
                 [0, 0, 1, 5, 2, 0], [0, 0, 0, 1, 4, 1], [0, 0, 0, 0, 1, 3]]
    return {
        "schema": "fairskin.label/1",
        "fairskin_version": "0.1.0",
        "created": "2026-11-22T06:30:00Z",
        "data": {"root": str(root), "format": "ddi", "n_rows": 560, "warnings": [f"column {EVIL} ignored"]},
        "scale": {"name": "kinyanjui_fst", "categories": ["I", "II", "III", "IV", "V", "VI"], "cuts": cuts,
                  "source": "Kinyanjui et al. 2020", "calibrated": False},
        "config": {"work_side": 320, "mask": "healthy-skin"},
        "labels_csv": "labels.csv",
        "counts": {"total": 560, "labelled": 547, "by_status": {"ok": 547, "no_skin": 4, "missing": 5, "unreadable": 4}},
        "fst_distribution": {"estimated": est, "human": human, "human_group": None},
        "ita_histogram": {"bin_edges": edges, "counts_by_fst": counts_by_fst},
        "ita_summary_by_fst": {k: {"n": est[k], "median": TYPE_ITA[k], "q1": TYPE_ITA[k] - 3, "q3": TYPE_ITA[k] + 3}
                               for k in TYPES},
        "agreement": {
            "level": "type", "n": 46, "exact": 0.65, "within_one": 0.93, "weighted_kappa": 0.81,
            "kappa_weights": "quadratic", "spearman_ita": {"rho": -0.85, "p": 0.001},
            "spearman_fst": {"rho": 0.84, "p": 0.0004},
            "confusion": {"labels": list(TYPES), "rows": "human", "cols": "estimated", "matrix": confusion},
            "per_type": {k: {"n": sum(confusion[i]), "exact": confusion[i][i] / sum(confusion[i]), "within_one": 0.9}
                         for i, k in enumerate(TYPES)},
        },
        "bad_rows": [{"image": "images/broken.png", "status": "unreadable", "reason": "cannot identify image file"},
                     {"image": f"images/{EVIL}.png", "status": "missing", "reason": f"file not found: {EVIL}"}],
        "unlabelled": [{"image": "images/broken.png", "status": "unreadable", "reason": "cannot identify image"},
                       {"image": "images/nope.png", "status": "missing", "reason": "file not found"},
                       {"image": "images/real_6_0.png", "status": "no_skin", "reason": "skin mask covers 2% < 10%"}],
        "least_confident": [{"image": f"images/real_{k}_{i}.png", "ita": TYPE_ITA[k], "fst": int(k),
                             "confidence": 0.5 + 0.02 * i} for k in TYPES for i in range(2)],
        "truth": {"n": 560, "ita_within_3": 0.99, "fst_exact": 0.97, "ita_mae": 0.5},
    }


@pytest.fixture
def label_dict(phantom_root) -> dict:
    return _label_dict(phantom_root)


def _metric(v, half=0.06, flags=()):
    if v is None:
        return {"value": None, "ci_low": None, "ci_high": None, "flags": ["undefined"], "reason": "group has no malignant images"}
    return {"value": v, "ci_low": max(0.0, v - half), "ci_high": min(1.0, v + half), "flags": list(flags), "reason": None}


def _roc(auc: float, ci: float = 0.06) -> dict:
    d = math.sqrt(2) * norm.ppf(min(0.999, max(0.501, auc)))
    fpr = np.linspace(0, 1, 51)
    def tpr_for(dd):
        with np.errstate(divide="ignore"):
            return np.clip(norm.cdf(norm.ppf(np.clip(fpr, 1e-9, 1 - 1e-9)) + dd), 0, 1)
    t = tpr_for(d)
    t[0], t[-1] = 0.0, 1.0
    return {"fpr": fpr.round(4).tolist(), "tpr": t.round(4).tolist(),
            "tpr_ci_low": np.clip(t - ci, 0, 1).round(4).tolist(), "tpr_ci_high": np.clip(t + ci, 0, 1).round(4).tolist()}


def _calibration(bias: float) -> dict:
    edges = np.linspace(0, 1, 11)
    mids = (edges[:-1] + edges[1:]) / 2
    frac = np.clip(mids + bias * np.sin(np.pi * mids), 0, 1)
    n = [40, 35, 30, 20, 15, 12, 10, 8, 5, 0]
    return {"bin_edges": edges.round(2).tolist(), "mean_score": [None if c == 0 else round(float(m), 3) for m, c in zip(mids, n)],
            "frac_positive": [None if c == 0 else round(float(f), 3) for f, c in zip(frac, n)], "n": n}


def _group(name, level, types, n, pos, auroc, *, sens=0.8, bias=0.0):
    flags = []
    if n < 30:
        flags.append("small_n")
    if pos < 5:
        flags.append("few_positives")
    mflags = ["unreliable_group"] if flags else []
    metrics = {m: _metric(v, flags=mflags) for m, v in {
        "auroc": auroc, "auprc": None if auroc is None else auroc - 0.1, "sensitivity": sens, "specificity": 0.7,
        "ppv": 0.55, "npv": 0.9, "balanced_accuracy": None if sens is None else (sens + 0.7) / 2, "f1": 0.6, "ece": 0.05 + abs(bias) / 2,
        "selection_rate": 0.3}.items()}
    g = {"group": name, "level": level, "types": types, "n": n, "positives": pos, "negatives": n - pos,
         "reliable": not flags, "flags": flags, "metrics": metrics}
    if auroc is not None:
        g["roc"] = _roc(auroc)
        g["calibration"] = _calibration(bias)
    return g


def _model(name, shift=0.0) -> dict:
    groups = [
        _group("I", "type", [1], 90, 36, 0.82 + shift),
        _group("II", "type", [2], 180, 70, 0.80 + shift),
        _group("III", "type", [3], 140, 50, 0.76 + shift, bias=0.05),
        _group("IV", "type", [4], 100, 30, 0.70 + shift, bias=0.1),
        _group("V", "type", [5], 25, 4, 0.60 + shift, sens=0.5, bias=-0.15),
        _group("VI", "type", [6], 12, 0, None, sens=None),
        _group("I-II", "group", [1, 2], 270, 106, 0.72 + shift),
        _group("III-IV", "group", [3, 4], 240, 80, 0.68 + shift),
        _group("V-VI", "group", [5, 6], 37, 4, 0.57 + shift, sens=0.5, bias=-0.15),
    ]
    return {
        "name": name, "path": f"/models/{name}", "kind": "torchscript", "threshold": 0.5,
        "counts": {"n_input": 560, "n_used": 547, "skipped": {"unreadable": 4, "no_fst": 9}},
        "bad_rows": [{"image": f"images/{EVIL}.png", "status": "unreadable", "reason": "truncated"}],
        "overall": _group("all", "all", [1, 2, 3, 4, 5, 6], 547, 190, 0.74 + shift),
        "groups": groups,
        "fairness": [
            {"name": "equalized_odds_difference", "method": "between_groups", "agg": "worst_case", "groups": ["I-II", "V-VI"],
             "value": 0.21, "ci_low": 0.08, "ci_high": 0.33, "p_value": 0.012, "p_value_delong": None, "flags": [],
             "reason": None, "fairlearn": "equalized_odds_difference(...)"},
            {"name": "auroc_gap", "method": "pair", "agg": None, "groups": ["I-II", "V-VI"], "value": 0.15,
             "ci_low": 0.05, "ci_high": 0.26, "p_value": 0.004, "p_value_delong": 0.03, "flags": ["unreliable_group"],
             "reason": None, "fairlearn": None},
            {"name": "worst_group_auroc", "method": "min", "agg": None, "groups": ["V-VI"], "value": 0.57,
             "ci_low": 0.48, "ci_high": 0.67, "p_value": None, "p_value_delong": None, "flags": [], "reason": None,
             "fairlearn": None},
        ],
        "ratios": [{"group": "V-VI", "reference": "I-II", "metric": "auroc", "value": 0.79, "ci_low": 0.66,
                    "ci_high": 0.93, "p_value": 0.004, "flags": ["outside_bounds"], "reason": None},
                   {"group": "III-IV", "reference": "I-II", "metric": "auroc", "value": 0.94, "ci_low": 0.86,
                    "ci_high": 1.02, "p_value": 0.2, "flags": [], "reason": None}],
        "intersections": {"by": ["group", "diagnosis"], "min_cell_n": 10, "cells": [
            {"group": "V-VI", "level": "group", "diagnosis": EVIL, "n": 14, "positives": 14, "masked": False,
             "accuracy": 0.71, "sensitivity": 0.71, "specificity": None, "mean_score": 0.62},
            {"group": "I-II", "level": "group", "diagnosis": "melanoma", "n": 60, "positives": 60, "masked": False,
             "accuracy": 0.85, "sensitivity": 0.85, "specificity": None, "mean_score": 0.7},
            {"group": "V-VI", "level": "group", "diagnosis": "dermatofibroma", "n": 4, "positives": 0, "masked": True,
             "accuracy": None, "sensitivity": None, "specificity": None, "mean_score": None}]},
    }


def _audit_dict(root) -> dict:
    return {
        "schema": "fairskin.audit/1", "fairskin_version": "0.1.0", "created": "2026-11-22T06:30:00Z",
        "meta": {"fst_source": "estimated", "fst_source_detail": "labels.csv (kinyanjui_fst)", "group_level": "group",
                 "levels": ["type", "group"], "threshold_policy": "fixed", "target_sensitivity": None, "n_boot": 1000,
                 "seed": 0, "ci_level": 0.95, "ci_method": "percentile bootstrap", "p_value_method": "bootstrap",
                 "reference_group": "I-II", "ratio_bounds": [0.8, 1.25], "min_group_n": 30, "min_group_positives": 5,
                 "min_cell_n": 10, "ece_bins": 10, "positive_class": "malignant", "scores": "probabilities"},
        "data": {"root": str(root), "format": "ddi", "n_rows": 560},
        "models": [_model("base.pt"), _model("augmented.pt", shift=0.05)],
        "comparisons": [{
            "baseline": "base.pt", "candidate": "augmented.pt", "paired": True, "n_common": 547,
            "deltas": [{"group": g, "level": lvl, "metric": "auroc", "baseline": b, "candidate": b + 0.05,
                        "delta": 0.05, "ci_low": -0.01, "ci_high": 0.11, "relative": 0.05 / b,
                        "relative_ci_low": -0.01 / b, "relative_ci_high": 0.11 / b, "p_value": 0.09, "flags": []}
                       for g, lvl, b in (("I-II", "group", 0.72), ("III-IV", "group", 0.68), ("V-VI", "group", 0.57),
                                         ("all", "all", 0.74))],
            "criteria": [{"name": "dark_skin_auroc_gain", "description": "AUROC on V-VI up by at least 10% (relative)",
                          "group": "V-VI", "metric": "auroc", "kind": "min_relative_gain", "bound": 0.10,
                          "observed": 0.088, "ci_low": -0.02, "ci_high": 0.19, "passed": False, "confident": False},
                         {"name": "no_light_skin_drop", "description": "no group within FST I-III down by more than 2%",
                          "group": "I-II", "metric": "auroc", "kind": "max_relative_drop", "bound": 0.02,
                          "observed": 0.07, "ci_low": -0.01, "ci_high": 0.15, "passed": True, "confident": False}],
            "verdict": "fail", "verdict_reason": "1 of 2 criteria failed: dark_skin_auroc_gain",
        }],
    }


@pytest.fixture
def audit_dict(phantom_root) -> dict:
    return _audit_dict(phantom_root)


def _jpeg_uri(path, side=48) -> str:
    import base64
    import io

    im = Image.open(path).convert("RGB")
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _why_dict(root) -> dict:
    """The audit JSON's optional ``saliency`` and ``counterfactual`` sections (docs/audit-json.md)."""
    share = lambda v, h=0.05: {"value": v, "ci_low": max(0.0, v - h), "ci_high": min(1.0, v + h)}  # noqa: E731
    groups = []
    for k in TYPES:
        les = 0.6 - 0.06 * int(k)
        n = {"1": 40, "2": 60, "3": 50, "4": 35, "5": 8, "6": 3}[k]
        groups.append({"group": ROMAN[k], "level": "type", "n": n, "n_units": n, "n_wrong": n // 4, "reliable": n >= 30,
                       "flags": [] if n >= 30 else ["small_n"],
                       "shares": {"lesion": share(les), "skin": share(0.85 - les), "background": share(0.15)}})
    examples = [{"group": ROMAN[k], "outcome": outcome, "image": f"images/real_{k}_{i}.png", "label": i % 2,
                 "score": 0.3 + 0.2 * i, "shares": {"lesion": 0.5, "skin": 0.4, "background": 0.1},
                 "overlay": _jpeg_uri(root / "images" / f"real_{k}_{i}.png")}
                for k in TYPES for outcome, i in (("correct", 0), ("correct", 1), ("wrong", 2))]
    examples.append({"group": "VI", "outcome": "wrong", "image": EVIL, "label": 1, "score": 0.2,
                     "shares": {"lesion": 0.1, "skin": 0.8, "background": 0.1}, "overlay": "javascript:alert(1)"})
    saliency = {"model": "base.pt", "resampling_unit": "image", "method": "gradcam", "library": "pytorch-grad-cam",
                "layer": "layer4", "layer_chosen": "last spatial feature map",
                "explained_score": "log-odds of the audited malignancy probability",
                "regions": {"lesion": "...", "skin": "...", "background": "..."}, "lesion_masks": {"automatic": 196},
                "n_images": 196, "level": "type", "groups": groups,
                "tests": [{"name": "lesion_share_gap", "groups": ["I", "VI"], "definition": "lesion share of I minus VI",
                           "value": 0.3, "ci_low": 0.12, "ci_high": 0.45, "p_value": 0.004, "p_value_method": "bootstrap",
                           "flags": ["small_n"]},
                          {"name": "lesion_share_homogeneity", "groups": ["I", "II", "III", "IV", "V", "VI"],
                           "definition": "range (max - min) of the mean lesion share over the types", "value": 0.3,
                           "ci_low": None, "ci_high": None, "p_value": 0.01,
                           "p_value_method": "permutation of the units' skin types", "flags": ["small_n"]}],
                "examples": examples, "bad_rows": [{"image": EVIL, "status": "zero_attribution", "reason": EVIL}],
                "n_bad": 1}
    cells, sources = [], []
    for k in TYPES:
        n = {"1": 40, "2": 60, "3": 50, "4": 35, "5": 8, "6": 3}[k]
        sources.append({"source": ROMAN[k], "level": "type", "n": n, "n_units": n, "reliable": n >= 30,
                        "flags": [] if n >= 30 else ["small_n"], "landed": 0.98,
                        "mean_score_change": share(0.05), "flip_rate": share(0.1 * int(k) / 6),
                        "score_change_darker": share(0.08) if k != "6" else {"value": None, "ci_low": None, "ci_high": None},
                        "score_change_lighter": share(0.02) if k != "1" else {"value": None, "ci_low": None, "ci_high": None}})
        for t in TYPES:
            if t != k:
                cells.append({"source": ROMAN[k], "level": "type", "target": ROMAN[t], "n": n, "n_units": n,
                              "reliable": n >= 30, "flags": [] if n >= 30 else ["small_n"], "landed": 1.0,
                              "mean_score_change": share(0.02 * (int(t) - int(k)) + 0.5),
                              "flip_rate": share(abs(int(t) - int(k)) / 10)})
    counterfactual = {"model": "base.pt", "resampling_unit": "image", "method": "CIELAB shift of the healthy skin",
                      "scale": "kinyanjui_fst", "threshold": 0.5,
                      "target_ita": {ROMAN[k]: TYPE_ITA[k] for k in TYPES}, "lesion_masks": {"given": 196},
                      "n_images": 196, "n_retoned": 980, "n_failed": 3, "landed": 0.98, "flip_rate": share(0.2),
                      "sources": sources, "cells": cells,
                      "examples": [{"source": ROMAN[k], "image": f"images/real_{k}_0.png",
                                    "versions": [{"target": None, "image": _jpeg_uri(root / "images" / f"real_{k}_0.png")}]
                                    + [{"target": ROMAN[t], "image": _jpeg_uri(root / "images" / f"real_{t}_0.png")}
                                       for t in TYPES if t != k]} for k in ("1", "6")],
                      "bad_rows": [], "n_bad": 0}
    return {"saliency": [saliency], "counterfactual": [counterfactual]}


def _balance_dict(root) -> dict:
    cells = []
    for k in TYPES:
        for dx in ("melanoma", "melanocytic-nevi"):
            real = {"1": 40, "2": 60, "3": 50, "4": 35, "5": 8, "6": 3}[k]
            syn = max(0, 40 - real) if k != "6" else 20
            cells.append({
                "fst": k, "diagnosis": dx, "real": real, "target": 40, "synthetic": syn,
                "generated": int(syn * 1.3) + (1 if syn else 0),
                "rejected_reasons": {"ita_out_of_range": int(syn * 0.3) + (1 if syn else 0)} if syn else {},
                "samples": {"synthetic": [{"image": f"synthetic/syn_{k}_{i}.png", "ita": TYPE_ITA[k] + 2, "accepted": i != 2,
                                           "seed": i} for i in range(3)] if syn else [],
                            "real": [{"image": f"images/real_{k}_{i}.png", "ita": TYPE_ITA[k]} for i in range(3)]},
            })
    cells.append({"fst": "5", "diagnosis": EVIL, "real": 2, "target": 10, "synthetic": 3, "generated": 9,
                  "samples": {"synthetic": [{"image": "synthetic/missing.png"}], "real": []}})
    return {"schema": "fairskin.balance/1", "fairskin_version": "0.1.0", "created": "2026-11-22T07:00:00Z",
            "image_root": str(root), "scale": {"name": "kinyanjui_fst", "cuts": [55, 41, 28, 19, 10]},
            "target": {"rule": "equalise types within diagnosis", "description": "each cell up to 40 images"},
            "gate": {"description": "generated ITA within 5 degrees of the cell's interval", "ita_tolerance": 5.0},
            "generator": {"base_model": "sd-tiny", "method": "textual inversion", "seed": 0},
            "cells": cells, "warnings": [f"prompt for {EVIL} was empty"]}


@pytest.fixture
def balance_dict(phantom_root) -> dict:
    return _balance_dict(phantom_root)


def _synthetic_dict(root) -> dict:
    rng = np.random.default_rng(1)
    cells = []
    for k in TYPES:
        n_real = {"1": 40, "2": 60, "3": 50, "4": 35, "5": 8, "6": 3}[k]
        collapse = k == "6"
        cells.append({
            "fst": k, "diagnosis": None, "n_real": n_real, "n_synthetic": 60,
            "ita_fidelity": {"target": [None if k == "6" else [55, 41, 28, 19, 10][int(k) - 1],
                                        None if k == "1" else [55, 41, 28, 19, 10][int(k) - 2]],
                             "mean_abs_error": 1.0 + int(k) * 0.5, "within_tolerance": 0.95 - int(k) * 0.04,
                             "fst_match": 0.9 - int(k) * 0.05, "tolerance": 5.0},
            "fid": {"value": 20.0 + int(k) * 5, "ci": [17.0 + int(k) * 5, 24.0 + int(k) * 5]},
            "kid": {"value": 0.01 * int(k), "ci": [0.008 * int(k), 0.012 * int(k)]},
            "precision": {"value": 0.8 - int(k) * 0.05, "ci": [0.75 - int(k) * 0.05, 0.85 - int(k) * 0.05]},
            "recall": {"value": 0.6 - int(k) * 0.06, "ci": [0.55 - int(k) * 0.06, 0.65 - int(k) * 0.06]},
            "lpips_diversity": {"synthetic": 0.2 if collapse else 0.45, "real": 0.5},
            "mode_collapse": collapse, "mode_collapse_reason": "diversity ratio 0.40 < 0.5" if collapse else None,
        })
    cells.append({"fst": "5", "diagnosis": EVIL, "n_real": 2, "n_synthetic": 3, "fid": None, "kid": None,
                  "mode_collapse": False})
    pts = []
    for k in TYPES:
        for src, off in (("real", 0.0), ("synthetic", 0.4)):
            for _ in range(40):
                pts.append({"x": float(int(k) + off + rng.normal(0, 0.3)), "y": float(rng.normal(int(k) % 3, 0.4)),
                            "source": src, "fst": k, "diagnosis": "melanoma"})
    return {"schema": "fairskin.synthetic_audit/1", "fairskin_version": "0.1.0", "created": "2026-11-22T07:30:00Z",
            "image_root": str(root), "features": "inception-v3 pool3 (2048-d)", "n_bootstrap": 200,
            "cells": cells,
            "memorisation": {"metric": "LPIPS", "threshold": 0.1, "n_checked": 360, "pairs": [
                {"synthetic": f"synthetic/syn_{k}_0.png", "real": f"images/real_{k}_0.png", "distance": 0.05,
                 "fst": k, "diagnosis": "melanoma"} for k in ("5", "6")]},
            "embedding": {"method": "PCA", "points": pts},
            "warnings": []}


@pytest.fixture
def synthetic_dict(phantom_root) -> dict:
    return _synthetic_dict(phantom_root)


@pytest.fixture
def evil() -> str:
    return EVIL


@pytest.fixture
def deep():
    return copy.deepcopy


# -- headless Chromium -------------------------------------------------------------------------

CHROMIUM = os.environ.get("FAIRSKIN_CHROMIUM", "/usr/bin/chromium")  # Debian's chromium by default
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


class Chromium:
    """Runs Debian's chromium headless on a local file; one fresh profile per call."""

    def __init__(self, tmp):
        self.tmp = tmp

    def _run(self, args, url, timeout=300):  # generous: CI machines are small and busy
        import subprocess
        import uuid

        profile = self.tmp / f"profile-{uuid.uuid4().hex[:12]}"  # unique even from several threads
        cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return proc

    def dump_dom(self, path) -> tuple[str, list[str]]:
        """(serialised DOM after load, console messages)."""
        proc = self._run(["--dump-dom", "--virtual-time-budget=2000"], path.resolve().as_uri())
        return proc.stdout, console_messages(proc.stderr)

    def screenshot(self, path, out, size=(1280, 2400)) -> list[str]:
        proc = self._run([f"--screenshot={out}", f"--window-size={size[0]},{size[1]}"], path.resolve().as_uri())
        if not out.exists():
            raise AssertionError(f"chromium wrote no screenshot; stderr tail: {proc.stderr[-2000:]}")
        return console_messages(proc.stderr)


    def print_pdf(self, path, out) -> list[str]:
        proc = self._run([f"--print-to-pdf={out}", "--no-pdf-header-footer"], path.resolve().as_uri())
        if not out.exists():
            raise AssertionError(f"chromium wrote no PDF; stderr tail: {proc.stderr[-2000:]}")
        return console_messages(proc.stderr)


def console_messages(stderr: str) -> list[str]:
    """Console output of the page (errors, CSP violations, log calls): chromium logs each one as
    ``...:INFO:CONSOLE(line)] "message", source: ...``; our pages have no scripts, so any
    message is a problem."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def not_blank(png_path, min_std=8.0) -> bool:
    """A screenshot with content: the grey levels vary (a blank page has std 0)."""
    im = np.asarray(Image.open(png_path).convert("L"), dtype=np.float64)
    return float(im.std()) >= min_std


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (.ci/install-chromium) to run browser tests")
    return Chromium(tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="session")
def helpers():
    """The builders and checkers above, for tests that need them outside a fixture."""
    from types import SimpleNamespace

    return SimpleNamespace(label=_label_dict, audit=_audit_dict, balance=_balance_dict, synthetic=_synthetic_dict,
                           why=_why_dict,
                           console_messages=console_messages, not_blank=not_blank)
