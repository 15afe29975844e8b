"""``fairskin reader-study analyze``: what the readers' answers say, with intervals.

The answers (from the study's database) are joined with the answer key (``private/``) into
readers x images matrices; every pooled number comes from one set of crossed-bootstrap weights
(:class:`._stats.CrossedBootstrap`), so readers and images are both treated as random and the
differences between numbers are paired. Per reader, images are the trials (Wilson interval,
exact binomial test). The result is a ``fairskin.reader_study/1`` dict (docs/reader-study.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.outputs import document_header
from fairskin.reader_study._config import KEY_FILE, PRIVATE_DIR, SCHEMA, AnalyzeConfig, read_study_file
from fairskin.reader_study._stats import CrossedBootstrap, dprime, krippendorff_alpha, reader_binomial
from fairskin.skintone import FST_GROUPS, FST_TYPES, roman

__all__ = ["analyze_answers", "analyze_study", "load_study_answers", "fidelity_correlation"]

_ANSWER_COLUMNS = ("reader", "item", "origin", "realism", "confidence", "diagnosis", "server_ms", "over_time")
_KEY_COLUMNS = ("id", "role", "origin", "fst", "diagnosis", "stratum")


def load_study_answers(study: str | Path, *, db: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(answers, key)`` of a study folder: the answers from its database, the key from ``private/``."""
    from fairskin.reader_study._store import open_store

    study = Path(study)
    read_study_file(study)
    key_path = study / PRIVATE_DIR / KEY_FILE
    if not key_path.is_file():
        raise InputError(f"STUDY: the answer key {key_path} is missing; the analysis needs it (the server never does)")
    key = read_csv_table(key_path, arg="STUDY (answer key)")[0]
    for col in ("fst", "row"):  # the key's whole-number columns; every other column is text
        num = pd.to_numeric(key[col], errors="coerce") if col in key else None
        if num is None or num.isna().any():
            raise InputError(f"STUDY: the answer key {key_path}: column {col!r} is missing or holds something "
                             "other than whole numbers (edited by hand?); restore it from a copy of the study folder")
        key[col] = num.astype(int)
    store = open_store(study, db=db, create=False)
    try:
        answers = store.answers_frame()
    finally:
        store.dispose()
    return answers, key


def _check(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{what}: missing column(s) {missing}; found {list(df.columns)}")


def _matrices(answers: pd.DataFrame, key: pd.DataFrame):
    readers = sorted(answers["reader"].unique())
    items = list(key["id"])
    ri = {r: k for k, r in enumerate(readers)}
    ii = {i: k for k, i in enumerate(items)}
    shape = (len(readers), len(items))
    mats = {k: np.full(shape, np.nan) for k in ("correct", "said_syn", "realism", "confidence", "dx_correct")}
    truth_syn = (key["origin"] == "synthetic").to_numpy()
    true_dx = key["diagnosis"].fillna("").astype(str).to_numpy()
    for a in answers.itertuples(index=False):
        r, i = ri[a.reader], ii[a.item]
        said = a.origin == "synthetic"
        mats["said_syn"][r, i] = float(said)
        mats["correct"][r, i] = float(said == truth_syn[i])
        mats["realism"][r, i] = a.realism
        mats["confidence"][r, i] = a.confidence
        if isinstance(a.diagnosis, str) and a.diagnosis and true_dx[i]:
            mats["dx_correct"][r, i] = float(a.diagnosis == true_dx[i])
    return readers, items, mats, truth_syn


def _group_rows(cb: CrossedBootstrap, mats, syn, cols, *, label: str, level: str, chance: float, min_n: int) -> dict:
    sc, rc = cols & syn, cols & ~syn
    det = cb.detection(mats["said_syn"], sc, rc)
    return {"group": label, "level": level, "n_images": int(cols.sum()), "n_synthetic": int(sc.sum()),
            "n_real": int(rc.sum()), "reliable": bool(min(sc.sum(), rc.sum()) >= min_n),
            "accuracy": cb.mean(mats["correct"], cols, null=chance).to_dict(),
            **{k: v.to_dict() for k, v in det.items()},
            "realism_real": cb.mean(mats["realism"], rc).to_dict(),
            "realism_synthetic": cb.mean(mats["realism"], sc).to_dict(),
            "realism_difference": cb.mean_difference(mats["realism"], rc, sc).to_dict()}


def _per_reader(answers, readers, mats, syn, chance, level) -> list[dict]:
    out = []
    for r, name in enumerate(readers):
        c = mats["correct"][r]
        obs = ~np.isnan(c)
        k, n = int(np.nansum(c)), int(obs.sum())
        s = mats["said_syn"][r]
        hits, n_sig = np.nansum(s[syn]), int((~np.isnan(s[syn])).sum())
        fas, n_noise = np.nansum(s[~syn]), int((~np.isnan(s[~syn])).sum())
        d, crit = dprime(hits, n_sig, fas, n_noise) if n_sig and n_noise else (np.nan, np.nan)
        mine = answers[answers["reader"] == name]
        out.append({"reader": name, "n": n, "accuracy": reader_binomial(k, n, chance, level),
                    "d_prime": _num(d), "criterion": _num(crit), "hit_rate": _num(hits / n_sig if n_sig else None),
                    "false_alarm_rate": _num(fas / n_noise if n_noise else None),
                    "realism_real": _num(np.nanmean(mats["realism"][r][~syn]) if n_noise else None),
                    "realism_synthetic": _num(np.nanmean(mats["realism"][r][syn]) if n_sig else None),
                    "median_seconds": _num(mine["server_ms"].median() / 1000 if len(mine) else None),
                    "over_time": int(mine["over_time"].fillna(False).astype(bool).sum())})
    return out


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _images(items, key, mats) -> list[dict]:
    out = []
    for i, iid in enumerate(items):
        s = mats["said_syn"][:, i]
        n = int((~np.isnan(s)).sum())
        out.append({"id": iid, "origin": key["origin"].iloc[i], "fst": int(key["fst"].iloc[i]),
                    "diagnosis": key["diagnosis"].iloc[i], "n_answers": n,
                    "called_synthetic": _num(np.nanmean(s)) if n else None,
                    "realism": _num(np.nanmean(mats["realism"][:, i])) if n else None})
    return out


def _cells(cb, mats, key, syn, chance, min_n) -> list[dict]:
    out = []
    fst = key["fst"].to_numpy()
    dx = key["diagnosis"].fillna("").astype(str).to_numpy()
    for t, d in sorted({(int(a), b) for a, b in zip(fst, dx)}):
        cols = (fst == t) & (dx == d)
        row = _group_rows(cb, mats, syn, cols, label=f"{roman(t)} / {d or '(none)'}", level="cell", chance=chance,
                          min_n=min_n)
        row.update(fst=str(t), diagnosis=d or None)
        out.append(row)
    return out


def _type_comparisons(cb, mats, fst: np.ndarray, by_type: list[dict]) -> list[dict]:
    """Each skin type's accuracy minus that of the study's other types (paired through the crossed
    bootstrap), with a Wald p-value and Holm's adjustment over the types: the test behind any
    sentence that says synthetic images were easier or harder to spot in one type. ``reliable``
    is the type's own flag (enough real and synthetic images for its interval to be read)."""
    from fairskin.audits.classifier import holm

    if len(by_type) < 2:
        return []
    rows = [{"group": g["group"], "group_fst": g["group_fst"], "reliable": g["reliable"],
             "difference": cb.mean_difference(mats["correct"], fst == int(g["group_fst"]),
                                              fst != int(g["group_fst"])).to_dict()} for g in by_type]
    for r, p in zip(rows, holm([r["difference"]["p_value"] for r in rows])):
        r["p_holm"] = p
    return rows


def _completion_warnings(answers: pd.DataFrame, readers: list, n_items: int) -> list[str]:
    """Readers who answered only part of the study: their images are not everyone's, so pooled
    figures lean on the images answered most and a reader's own figures rest on fewer trials."""
    per = answers.groupby("reader")["item"].nunique().reindex(readers).fillna(0).astype(int)
    part = per[per < n_items]
    if part.empty:
        return []
    return [f"{len(part)} of {len(readers)} reader(s) answered only part of the study (median "
            f"{int(part.median())} of {n_items} images; fewest {int(part.min())}): per-reader figures rest on "
            f"fewer images, and pooled figures weigh the images answered most; read them as interim"]


def fidelity_correlation(cells: list[dict], by_type: list[dict], audit: dict) -> dict:
    """Spearman correlation, over the cells found in both, between each cell's detectability
    (readers' accuracy on its real + synthetic images, and d') and the synthetic audit's FID, KID
    and ITA fidelity for the same cell (``diagnosis: null`` audit cells match whole skin types)."""
    if not isinstance(audit, dict) or audit.get("schema") != "fairskin.synthetic_audit/1":
        raise InputError(f"synthetic_audit: expected a fairskin.synthetic_audit/1 JSON, got schema "
                         f"{audit.get('schema') if isinstance(audit, dict) else type(audit).__name__!r}")
    ours = {(c["fst"], c["diagnosis"]): c for c in cells}
    ours.update({(g["group_fst"], None): g for g in by_type if g.get("group_fst")})
    pairs = []
    for ac in audit.get("cells", []):
        k = (str(ac.get("fst")), ac.get("diagnosis") or None)
        if k not in ours:
            continue
        c = ours[k]
        f = ac.get("ita_fidelity") or {}
        pairs.append({"fst": k[0], "diagnosis": k[1], "accuracy": c["accuracy"]["value"],
                      "d_prime": c["d_prime"]["value"], "n_images": c["n_images"],
                      "fid": _metric(ac.get("fid")), "kid": _metric(ac.get("kid")),
                      "ita_fst_match": _num(f.get("fst_match")) if f.get("fst_match") is not None else None,
                      "ita_mean_abs_error": _num(f.get("mean_abs_error")) if f.get("mean_abs_error") is not None else None})
    corr = []
    for det in ("accuracy", "d_prime"):
        for fid in ("fid", "kid", "ita_fst_match", "ita_mean_abs_error"):
            xy = [(p[det], p[fid]) for p in pairs if p[det] is not None and p[fid] is not None]
            rho = p = None
            if len(xy) >= 3 and len({x for x, _ in xy}) > 1 and len({y for _, y in xy}) > 1:
                res = spearmanr([x for x, _ in xy], [y for _, y in xy])
                rho, p = _num(res.statistic), _num(res.pvalue)
            corr.append({"detectability": det, "fidelity": fid, "n_cells": len(xy), "rho": rho, "p_value": p,
                         "method": "Spearman rank correlation over cells"})
    return {"pairs": pairs, "correlations": corr,
            "note": "cells, not images, are the unit: with a handful of cells only a large correlation is detectable"}


def _metric(m):
    if isinstance(m, dict):
        return _num(m.get("value")) if m.get("value") is not None else None
    return _num(m) if isinstance(m, (int, float)) else None


def analyze_answers(answers: pd.DataFrame, key: pd.DataFrame, *, config: AnalyzeConfig = AnalyzeConfig(),
                    synthetic_audit: dict | None = None, study: dict | None = None) -> dict:
    """The analysis of ``answers`` (one row per reader x image) against the answer ``key``."""
    _check(answers, _ANSWER_COLUMNS, "answers")
    _check(key, _KEY_COLUMNS, "answer key")
    key = key[key["role"] == "study"].sort_values("id").reset_index(drop=True)
    warnings = []
    unknown = ~answers["item"].isin(set(key["id"]))
    if unknown.any():
        warnings.append(f"{int(unknown.sum())} answer(s) to images not in the answer key were left out")
        answers = answers[~unknown]
    if answers.empty:
        raise InputError("answers: no answers to analyse yet; readers answer through `fairskin reader-study serve`")
    readers, items, mats, syn = _matrices(answers, key)
    cb = CrossedBootstrap(len(readers), key["stratum"].to_numpy(), n_boot=config.n_boot, seed=config.seed,
                          level=config.level)
    every = np.ones(len(items), bool)
    pooled = _group_rows(cb, mats, syn, every, label="all", level="all", chance=config.chance, min_n=0)
    fst = key["fst"].to_numpy().astype(int)
    by_type = []
    for t in FST_TYPES:
        if (fst == t).any():
            row = _group_rows(cb, mats, syn, fst == t, label=roman(t), level="type", chance=config.chance,
                              min_n=config.min_cell_images)
            row["group_fst"] = str(t)
            by_type.append(row)
    by_group = [_group_rows(cb, mats, syn, np.isin(fst, ts), label=g, level="group", chance=config.chance,
                            min_n=config.min_cell_images) for g, ts in FST_GROUPS.items() if np.isin(fst, ts).any()]
    cells = _cells(cb, mats, key, syn, config.chance, config.min_cell_images)
    warnings += _completion_warnings(answers, readers, len(items))
    agreement = {name: krippendorff_alpha(mats[m], lvl, n_boot=min(config.n_boot, 500), seed=config.seed,
                                          ci_level=config.level)
                 for name, m, lvl in (("origin_call", "said_syn", "nominal"), ("realism", "realism", "ordinal"))}
    dx_given = ~np.isnan(mats["dx_correct"])
    diagnosis = {"n_answers_with_diagnosis": int(dx_given.sum()),
                 "share_not_sure": _num(1 - dx_given.sum() / max(1, (~np.isnan(mats["correct"])).sum())),
                 "accuracy_real": cb.mean(mats["dx_correct"], ~syn).to_dict(),
                 "accuracy_synthetic": cb.mean(mats["dx_correct"], syn).to_dict(),
                 "difference_real_minus_synthetic": cb.mean_difference(mats["dx_correct"], ~syn, syn).to_dict()}
    out = {
        **document_header(SCHEMA, version=False), "kind": "analysis",
        "study": study or {},
        "design": {"n_readers": len(readers), "n_images": len(items), "n_synthetic": int(syn.sum()),
                   "n_real": int((~syn).sum()), "n_answers": int(len(answers)),
                   "complete_share": _num(len(answers) / (len(readers) * len(items)))},
        "method": {"n_boot": config.n_boot, "level": config.level, "seed": config.seed, "chance": config.chance,
                   "interval": "percentile crossed bootstrap: readers resampled, images resampled within their "
                               "sampling stratum (skin type x diagnosis x origin), independently",
                   "p_value": "two-sided Wald test against chance with the crossed-bootstrap standard error",
                   "per_reader": "Wilson score interval and exact binomial test over the reader's images",
                   "d_prime": "signal = synthetic; log-linear correction (Hautus 1995)",
                   "agreement": "Krippendorff's alpha (krippendorff package), bootstrap over images",
                   "type_comparisons": "each skin type's accuracy minus the other types' (crossed bootstrap, "
                                       "Wald test), Holm-adjusted over the types"},
        "pooled": pooled, "readers": _per_reader(answers, readers, mats, syn, config.chance, config.level),
        "by_type": by_type, "by_group": by_group, "type_comparisons": _type_comparisons(cb, mats, fst, by_type),
        "cells": cells, "agreement": agreement, "diagnosis": diagnosis,
        "time": {"median_seconds": _num(answers["server_ms"].median() / 1000),
                 "over_time": int(answers["over_time"].fillna(False).astype(bool).sum())},
        "images": _images(items, key, mats), "warnings": warnings,
    }
    if synthetic_audit is not None:
        out["fidelity"] = fidelity_correlation(cells, by_type, synthetic_audit)
    return out


def analyze_study(study: str | Path, *, db: str | None = None, synthetic_audit: str | Path | dict | None = None,
                  config: AnalyzeConfig = AnalyzeConfig()) -> dict:
    """Analyse a study folder's answers (``db``: its database URL; default SQLite in the folder)."""
    answers, key = load_study_answers(study, db=db)
    audit = synthetic_audit
    if isinstance(synthetic_audit, (str, Path)):
        p = Path(synthetic_audit)
        if not p.is_file():
            raise InputError(f"synthetic_audit: {p} not found")
        try:
            audit = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"synthetic_audit: {p} is not valid JSON ({exc})") from None
    sf = read_study_file(study)
    info = {"folder": str(Path(study).resolve()), "title": sf.title, "created": sf.created,
            "questions": {"realism": [sf.questions.realism_min, sf.questions.realism_max],
                          "confidence": [sf.questions.confidence_min, sf.questions.confidence_max],
                          "time_limit_s": sf.questions.time_limit_s}}
    return analyze_answers(answers, key, config=config, synthetic_audit=audit, study=info)
