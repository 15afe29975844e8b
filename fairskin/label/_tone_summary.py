"""The summary of a labelling run on a scale other than Fitzpatrick (``--estimator monk``).

Same frame as the ITA summary (``docs/label-json.md``: data, counts, bad rows, unlabelled,
least confident, run), with the tone scale stated: counts per tone and per group (Monk: 1-3 /
4-7 / 8-10), the median colour of each tone, and, where the data set has human Fitzpatrick
types, their cross-tabulation with the estimated tones and Spearman's rho between the two
(a rank agreement: the scales differ, so exact agreement is not defined).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from fairskin.outputs import document_header, to_jsonable
from fairskin.skintone import FST_GROUPS, FST_TYPES, SkinToneEstimator

__all__ = ["summarize_tones", "summary_head", "summary_counts", "estimator_summary", "records"]


def summarize_tones(labels: pd.DataFrame, *, manifest: pd.DataFrame, estimator: SkinToneEstimator, out: Path,
                    n_boot: int = 1000) -> dict:
    ts = estimator.tone_scale
    col = ts.column
    ok = labels["status"] == "ok"
    lab = labels[ok & labels[col].notna()]
    tones = lab[col].astype(int).to_numpy()
    human = human_group = crosstab = rank = None
    if labels["fst_human"].notna().any():
        human = {str(k): int((labels["fst_human"] == k).sum()) for k in FST_TYPES}
        h = pd.to_numeric(lab["fst_human"], errors="coerce")
        crosstab = {str(f): {str(t): int(((h == f) & (tones == t)).sum()) for t in ts.tones} for f in FST_TYPES}
        rank = _spearman_ci(tones[h.notna().to_numpy()], h.dropna().astype(int).to_numpy(), n_boot=n_boot)
    if labels["fst_group_human"].notna().any():
        human_group = {g: int((labels["fst_group_human"] == g).sum()) for g in FST_GROUPS}
    colour = {}
    for t in ts.tones:
        sel = lab[tones == t]
        if len(sel):
            colour[str(t)] = {"n": int(len(sel)), **{c: float(sel[c].median()) for c in ("L", "a", "b", "delta_e")
                                                     if c in sel}}
    describe = getattr(estimator, "describe", None)
    return {
        **summary_head(labels, manifest),
        "estimator": estimator_summary(estimator),
        "scale": describe() if describe else {"name": estimator.scale_name, "categories": list(ts.labels)},
        "config": asdict(estimator.config) if hasattr(estimator, "config") else None,
        "labels_csv": str(out),
        "counts": summary_counts(labels, lab),
        "tone_distribution": {"scale": ts.name, "column": col,
                              "estimated": {str(t): int((tones == t).sum()) for t in ts.tones},
                              "groups": {g: int(np.isin(tones, m).sum()) for g, m in ts.groups.items()}},
        "colour_by_tone": colour,
        "fst_distribution": {"estimated": None, "human": human, "human_group": human_group},
        "human_crosstab": crosstab and {"rows": "human Fitzpatrick type", "columns": f"estimated {col}",
                                        "counts": crosstab},
        "agreement": rank,
        "bad_rows": records(labels[~labels["status"].isin(["ok", "no_skin"])].head(200), ["image", "status", "reason"]),
        "unlabelled": records(labels[labels["status"] == "no_skin"].head(48),
                              [c for c in ("image", "status", "reason", "skin_fraction") if c in labels]),
        "least_confident": records(lab.nsmallest(48, "confidence"), ["image", col, "confidence"]),
        "truth": None,
    }


def summary_head(labels: pd.DataFrame, manifest: pd.DataFrame) -> dict:
    """The keys every label summary starts with: schema, version, time, the data set."""
    return {
        **document_header("fairskin.label/1"),
        "data": {"root": str(Path(manifest.attrs["root"]).resolve()), "format": manifest.attrs.get("format"),
                 "n_rows": int(len(labels)), "warnings": list(manifest.attrs.get("warnings", []))},
    }


def summary_counts(labels: pd.DataFrame, labelled: pd.DataFrame) -> dict:
    by_status = labels["status"].value_counts().to_dict()
    return {"total": int(len(labels)), "labelled": int(len(labelled)),
            "by_status": {str(k): int(v) for k, v in by_status.items()},
            # photos the estimator judged it could not read (status unreliable), with the reasons' kinds
            "abstained": int((labels["status"] == "unreliable").sum()),
            "abstained_by_reason": {str(k): int(v) for k, v in labels.loc[labels["status"] == "unreliable", "reason"]
                                    .fillna("").str.split(":").str[0].value_counts().items()},
            "warnings": int((labels["status"].eq("ok") & labels["reason"].fillna("").ne("")).sum())}


def estimator_summary(estimator: SkinToneEstimator) -> dict:
    ts = estimator.tone_scale
    return {"name": estimator.name, "tone_scale": ts.name, "column": ts.column,
            "groups": {g: list(m) for g, m in ts.groups.items()}, "grouping": ts.describe_groups()}


def _spearman_ci(tone: np.ndarray, human: np.ndarray, *, n_boot: int, seed: int = 0) -> dict | None:
    """Spearman's rho between estimated tones and human types, with a percentile bootstrap over
    images (seeded)."""
    if tone.size < 3 or np.unique(tone).size < 2 or np.unique(human).size < 2:
        return None
    rho = float(spearmanr(tone, human).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, tone.size, tone.size)
        if np.unique(tone[i]).size > 1 and np.unique(human[i]).size > 1:
            boots.append(spearmanr(tone[i], human[i]).statistic)
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if len(boots) >= n_boot / 2 else None
    return {"level": "rank", "n": int(tone.size), "spearman_tone_human_fst": {"rho": rho, "ci": ci},
            "bootstrap": {"n_boot": n_boot, "seed": seed, "method": "percentile", "unit": "image"}}


def records(df: pd.DataFrame, cols: list[str]) -> list[dict]:
    """The rows of ``df[cols]`` as JSON objects (a missing or non-finite cell: ``null``)."""
    return [{c: to_jsonable(r[c]) for c in cols} for _, r in df[cols].iterrows()]
