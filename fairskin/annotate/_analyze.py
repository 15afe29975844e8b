"""``fairskin annotate analyze``: consensus types, agreement, and the files later stages read.

- **Consensus**: Dawid-Skene (:mod:`._consensus`) over every label but "cannot tell"; each image
  gets a probability over types and its most probable type; the majority vote is kept beside it.
- **Inter-annotator agreement**: Krippendorff's alpha, ordinal (the ``krippendorff`` package),
  with percentile bootstrap intervals over images, over annotators, and over both at once (a
  crossed bootstrap: annotators and images are both samples).
- **Each annotator**: agreement with the consensus of the *other* annotators (their own labels
  left out, so an annotator is not scored against themselves), exact and within one type, with
  Wilson intervals over their images; and the model's estimate of their accuracy.
- **Against other labels**: the consensus against the data set's human labels (types, or DDI's
  groups) and against the estimator's types (exact, within one, quadratic kappa), and the
  estimator's confusion against the consensus.

Files: ``labels.csv`` (``image``, the type column ``fst`` / ``mst``, ``confidence`` = the
consensus probability, ``source`` = ``human consensus``, the probability of each type, ...) and,
on the Fitzpatrick scale, ``label_confusion.json`` in the format ``audit --label-confusion`` reads
(rows: consensus type, columns: the estimator's type).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairskin.annotate._config import AnnotateAnalyzeConfig, read_annotation_file
from fairskin.annotate._calibrate import calibrated_dawid_skene
from fairskin.annotate._consensus import majority_vote
from fairskin.data import read_csv_table
from fairskin.errors import InputError
from fairskin.label import HUMAN_CONSENSUS
from fairskin.reader_study import open_store, wilson
from fairskin.skintone import FITZPATRICK, group_of

__all__ = ["analyze_annotation", "load_labels", "ordinal_alpha", "agreement_of", "HUMAN_CONSENSUS"]


def load_labels(folder: str | Path, *, db: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(answer key, labels): the key of every image and every annotator's label (``tone``)."""
    folder = Path(folder)
    read_annotation_file(folder)
    key_path = folder / "private" / "answer_key.csv"
    if not key_path.is_file():
        raise InputError(f"ANNOTATION: {key_path} not found; recreate the annotation with `fairskin annotate create`")
    key, _ = read_csv_table(key_path, arg="answer key")  # text cells, restored from write_csv's spreadsheet-safe form
    for c in ("estimated", "fst_human"):
        key[c] = pd.to_numeric(key[c].replace("", None), errors="coerce").astype("Int64")
    key["fst_group_human"] = key["fst_group_human"].replace("", None)
    store = open_store(folder, db=db, create=False, invite="fairskin annotate invite ANNOTATION --annotators N")
    try:
        ans = store.answers_frame()
    finally:
        store.dispose()
    unknown = sorted(set(ans["item"]) - set(key["id"]))
    if unknown:
        raise InputError(f"db: {len(unknown)} label(s) are for images not in this annotation (first: {unknown[0]}); "
                         "is db=... the database of another study?")
    labels = ans.rename(columns={"realism": "tone"})[["reader", "item", "tone", "comment", "server_ms"]]
    return key, labels


def _alpha(m: np.ndarray) -> float:
    import krippendorff

    keep = (~np.isnan(m)).sum(axis=0) >= 2
    m = m[:, keep]
    if m.shape[1] < 2 or len(np.unique(m[~np.isnan(m)])) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=m, level_of_measurement="ordinal"))


def ordinal_alpha(matrix: np.ndarray, *, n_boot: int, seed: int, level: float) -> dict:
    """Krippendorff's ordinal alpha of an annotators x images matrix (NaN = not labelled), with
    percentile bootstrap intervals resampling images, annotators, and both."""
    matrix = np.asarray(matrix, float)
    value = _alpha(matrix)
    rng = np.random.default_rng(seed)
    A, N = matrix.shape
    a = (1 - level) / 2
    out = {"value": None if np.isnan(value) else value, "level": "ordinal", "n_annotators": A,
           "n_images": int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum()), "library": "krippendorff",
           "method": "percentile bootstrap", "intervals": {}}
    for unit in ("images", "annotators", "annotators x images"):
        reps = []
        for _ in range(n_boot):
            rows = rng.integers(0, A, A) if unit != "images" else np.arange(A)
            cols = rng.integers(0, N, N) if unit != "annotators" else np.arange(N)
            reps.append(_alpha(matrix[np.ix_(rows, cols)]))
        reps = np.asarray(reps)
        reps = reps[np.isfinite(reps)]
        out["intervals"][unit] = [float(x) for x in np.quantile(reps, [a, 1 - a])] if len(reps) >= n_boot // 2 else None
    return out


def agreement_of(a, b, *, level: float = 0.95, n_classes: int = 6) -> dict:
    """Exact and within-one agreement (Wilson intervals over images) and quadratic kappa of two
    1-based type arrays (0 or NaN = missing)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    n = int(ok.sum())
    if n == 0:
        return {"n": 0, "exact": None, "exact_ci": None, "within_one": None, "within_one_ci": None, "kappa_quadratic": None}
    k_exact, k_one = int((a[ok] == b[ok]).sum()), int((np.abs(a[ok] - b[ok]) <= 1).sum())
    kappa = None
    if len(np.unique(np.r_[a[ok], b[ok]])) > 1:
        kappa = float(cohen_kappa_score(a[ok].astype(int), b[ok].astype(int), weights="quadratic",
                                        labels=list(range(1, n_classes + 1))))
    return {"n": n, "exact": k_exact / n, "exact_ci": wilson(k_exact, n, level), "within_one": k_one / n,
            "within_one_ci": wilson(k_one, n, level), "kappa_quadratic": kappa}


def _consensus(obs: pd.DataFrame, n_items: int, readers: list[str], K: int, cfg: AnnotateAnalyzeConfig):
    return calibrated_dawid_skene(obs["i"], obs["reader"].map({r: k for k, r in enumerate(readers)}), obs["tone"] - 1,
                                  n_items=n_items, n_annotators=len(readers), n_classes=K, n_boot=cfg.calibration_boot,
                                  seed=cfg.seed, smoothing=cfg.smoothing, diagonal=cfg.diagonal, neighbour=cfg.neighbour,
                                  prior_smoothing=cfg.prior_smoothing, max_iter=cfg.max_iter, tol=cfg.tol)


def analyze_annotation(folder: str | Path, *, db: str | None = None,
                       config: AnnotateAnalyzeConfig = AnnotateAnalyzeConfig()) -> dict:
    """Consensus, agreement and the rows of ``labels.csv`` (``data["labels"]``, a DataFrame)."""
    config.check()
    folder = Path(folder)
    af = read_annotation_file(folder)
    scale = af.tone_scale
    K = len(scale.tones)
    key, labels = load_labels(folder, db=db)
    if labels.empty:
        raise InputError(f"ANNOTATION {folder}: no labels yet; invite annotators and serve the pages first")
    index = {iid: i for i, iid in enumerate(key["id"])}
    labels = labels.assign(i=labels["item"].map(index))
    obs = labels[labels["tone"] > 0].reset_index(drop=True)
    readers = sorted(labels["reader"].unique())
    warnings = []
    if obs.empty:
        raise InputError(f"ANNOTATION {folder}: every label is 'cannot tell'; no consensus can be formed")
    cons = _consensus(obs, len(key), readers, K, config)
    if not cons.converged:
        warnings.append(f"Dawid-Skene did not converge in {config.max_iter} iterations")
    mv, share = majority_vote(obs["i"], obs["tone"] - 1, n_items=len(key), n_classes=K, seed=config.seed)
    posterior = cons.flat_prior_posterior() if config.flat_prior else cons.posterior
    n_lab = np.bincount(obs["i"], minlength=len(key))
    n_cannot = np.bincount(labels.loc[labels["tone"] == 0, "i"], minlength=len(key))
    has = n_lab > 0
    consensus = np.where(has, posterior.argmax(axis=1) + 1, 0)

    matrix = np.full((len(readers), len(key)), np.nan)
    matrix[obs["reader"].map({r: k for k, r in enumerate(readers)}), obs["i"]] = obs["tone"]
    alpha = ordinal_alpha(matrix, n_boot=config.n_boot, seed=config.seed, level=config.level)
    if len(readers) < 5:
        warnings.append(f"only {len(readers)} annotator(s): the intervals that resample annotators rest on very few "
                        "of them (a draw of one annotator twice agrees perfectly) and are unreliable; invite more")

    per_annotator = []
    est_acc = cons.annotator_accuracy()
    for k, r in enumerate(readers):
        mine = obs[obs["reader"] == r]
        others = obs[obs["reader"] != r]
        row = {"annotator": r, "n_labels": int(len(mine)), "n_cannot_tell": int((labels["reader"] == r).sum() - len(mine)),
               "estimated_accuracy": float(est_acc[k])}
        if len(others) and len(mine):
            loo = _consensus(others, len(key), [x for x in readers if x != r], K, config)
            seen_by_others = np.bincount(others["i"], minlength=len(key)) > 0
            m = mine[seen_by_others[mine["i"]]]
            row["vs_others_consensus"] = agreement_of(m["tone"].to_numpy(), loo.labels[m["i"]] + 1,
                                                      level=config.level, n_classes=K)
        per_annotator.append(row)

    human = {}
    if scale is FITZPATRICK:
        if key["fst_human"].notna().any():
            human["types"] = agreement_of(consensus, key["fst_human"].to_numpy(float), level=config.level)
        if key["fst_group_human"].notna().any():
            g_cons = np.array([group_of(int(t)) if t else "" for t in consensus], dtype=object)
            g_h = key["fst_group_human"].fillna("").astype(str).to_numpy()
            ok = (g_cons != "") & (g_h != "")
            k_ok = int((g_cons[ok] == g_h[ok]).sum())
            human["groups"] = {"n": int(ok.sum()), "exact": k_ok / ok.sum() if ok.any() else None,
                               "exact_ci": wilson(k_ok, int(ok.sum()), config.level)}
    elif key["fst_human"].notna().any():
        from scipy.stats import spearmanr

        h = key["fst_human"].to_numpy(float)
        ok = has & np.isfinite(h)
        if ok.sum() >= 3:
            rho = spearmanr(consensus[ok], h[ok])
            human["spearman_vs_fitzpatrick"] = {"n": int(ok.sum()), "rho": float(rho.statistic), "p_value": float(rho.pvalue)}
    est = key["estimated"].to_numpy(float)
    vs_est = agreement_of(consensus, est, level=config.level, n_classes=K)
    conf = np.zeros((K, K), int)
    ok = has & np.isfinite(est) & (est > 0)
    np.add.at(conf, (consensus[ok] - 1, est[ok].astype(int) - 1), 1)

    probs = pd.DataFrame(posterior, columns=[f"p_{t}" for t in scale.tones])
    out = pd.DataFrame({"image": key["image"], "image_id": key["image_id"],
                        scale.column: pd.array(np.where(has, consensus, 0), dtype="Int64"),
                        "confidence": np.where(has, posterior.max(axis=1), np.nan).round(4),
                        "status": np.where(has, "ok", "no_labels"),
                        "reason": np.where(has, "", np.where(n_cannot > 0, "every annotator answered 'cannot tell'",
                                                             "no annotator labelled this image")),
                        "source": HUMAN_CONSENSUS, "n_labels": n_lab, "n_cannot_tell": n_cannot,
                        "majority": pd.array(np.where(has, mv + 1, 0), dtype="Int64"),
                        "majority_share": np.round(share, 4), "estimated": key["estimated"].astype("Int64")})
    out[scale.column] = out[scale.column].mask(~has)
    out["majority"] = out["majority"].mask(~has)
    out = pd.concat([out, probs.where(np.repeat(has[:, None], K, axis=1)).round(4)], axis=1)
    return {"scale": scale.name, "n_images": int(len(key)), "n_labelled": int(has.sum()), "n_labels": int(len(obs)),
            "n_cannot_tell": int((labels["tone"] == 0).sum()), "annotators": readers,
            "per_image_target": af.per_image, "consensus": {"model": "Dawid-Skene (MAP, Dirichlet smoothing, bootstrap temperature)",
                                                            "reference": "Dawid & Skene 1979, Applied Statistics 28:20-28",
                                                            "smoothing": config.smoothing, "diagonal": config.diagonal,
                                                            "neighbour": config.neighbour,
                                                            "n_iter": cons.n_iter,
                                                            "temperature": round(cons.temperature, 4),
                                                            "calibration_boot": config.calibration_boot,
                                                            "converged": cons.converged,
                                                            "prior": cons.prior.round(4).tolist(),
                                                            "agrees_with_majority": float((consensus[has] == mv[has] + 1).mean()),
                                                            "mean_probability": float(posterior.max(axis=1)[has].mean()),
                                                            "flat_prior": config.flat_prior},
            "type_counts": {scale.label(t): int((consensus == t).sum()) for t in scale.tones},
            "alpha": alpha, "per_annotator": per_annotator, "vs_human": human, "vs_estimator": vs_est,
            "estimator": str(key["estimator"].iloc[0]) if len(key) else "", "estimator_confusion": conf.tolist(),
            "warnings": warnings, "labels": out}


def confusion_document(data: dict, source: str) -> dict | None:
    """The estimator's confusion against the consensus in ``audit --label-confusion``'s format
    (Fitzpatrick only)."""
    if data["scale"] != "fitzpatrick":
        return None
    from fairskin.audits.classifier import LabelConfusion

    doc = LabelConfusion(np.asarray(data["estimator_confusion"], float), source=source).to_dict()
    doc["rows"] = "true (human consensus) type I..VI"
    return doc
