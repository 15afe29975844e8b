"""Simulated audits whose truth is known, to measure how often each interval covers it.

A :class:`Design` fixes, per skin type, the number of images, the share malignant and a
binormal score model: the logit score of a malignant image is ``N(mu_pos, 1)``, of a benign one
``N(mu_neg, 1)``; the score is its sigmoid, so at threshold 0.5 the true sensitivity is
``Phi(mu_pos)``, the false positive rate ``Phi(mu_neg)`` and the AUROC
``Phi((mu_pos - mu_neg) / sqrt(2))``. Images may come in clusters (several near-duplicate
images of one lesion: the cluster's latent score is shared, each image adds a little noise), and
skin types may be read by an imperfect labeller with a known confusion matrix.

:func:`true_values` gives every statistic the audit reports for the design (closed form where
one exists; a large Monte Carlo sample for the rest), and :func:`coverage_study` runs the audit on
many simulated data sets and counts how often each interval contains its true value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from fairskin.skintone import ROMAN

__all__ = ["Design", "population_threshold", "simulate_predictions", "true_values", "coverage_study", "calibration_confusion", "ita_like_confusion"]


@dataclass(frozen=True)
class Design:
    """Per-type sizes, prevalence and binormal score model (index 0 = type I)."""

    sizes: tuple[int, ...] = (150,) * 6
    prevalence: float = 0.3
    mu_pos: tuple[float, ...] = (1.0,) * 6
    mu_neg: tuple[float, ...] = (-1.0,) * 6
    #: images per lesion (1: independent images); images of a lesion share label, type and latent score
    cluster_size: int = 1
    #: SD of each image's own noise around its lesion's latent score (clusters only)
    image_noise: float = 0.3
    #: P(estimated type = column | true type = row), 6 x 6; None: types are known
    confusion: tuple[tuple[float, ...], ...] | None = None
    #: images per true type in the calibration set the labeller's confusion is measured on
    calibration_per_type: int = 100
    threshold: float = 0.5
    #: labels drawn per lesion with probability ``prevalence`` (cohort sampling: a type's malignant
    #: count is random) instead of a fixed share
    cohort: bool = False
    #: malignant lesions per type (overrides ``prevalence``); None: ``round(lesions * prevalence)``
    positives: tuple[int, ...] | None = None
    #: images per lesion drawn uniformly from this range (``sizes`` then count lesions, not images)
    cluster_range: tuple[int, int] | None = None
    #: the audit chooses its threshold on the rows to reach this overall sensitivity
    #: (``--target-sensitivity``); the truth is then taken at the threshold reaching it in the population
    target_sensitivity: float | None = None
    name: str = field(default="", compare=False)

    @property
    def types(self) -> tuple[int, ...]:
        return tuple(t + 1 for t, n in enumerate(self.sizes) if n > 0)


def _lesion_counts(design: Design, t: int) -> tuple[int, int]:
    """(malignant, benign) lesions of type ``t`` (expected counts under cohort sampling)."""
    n = design.sizes[t - 1] if design.cluster_range else design.sizes[t - 1] // design.cluster_size
    P = design.positives[t - 1] if design.positives is not None else int(round(n * design.prevalence))
    return P, n - P


def _image_counts(design: Design, t: int) -> tuple[float, float]:
    """(malignant, benign) images of type ``t`` expected: lesions times mean images per lesion."""
    P, N = _lesion_counts(design, t)
    per = (sum(design.cluster_range) / 2) if design.cluster_range else design.cluster_size
    return P * per, N * per


def population_threshold(design: Design) -> float:
    """The design's operating threshold: ``design.threshold``, or with ``target_sensitivity`` the
    score threshold at which the population's sensitivity over all types (each weighted by its
    malignant images) equals the target."""
    if design.target_sensitivity is None:
        return design.threshold
    from scipy.optimize import brentq

    Ps = np.array([_image_counts(design, t)[0] for t in design.types])
    mus = np.array([design.mu_pos[t - 1] for t in design.types])

    def gap(x):  # x: the threshold on the logit scale
        return (Ps * stats.norm.cdf(mus - x)).sum() / Ps.sum() - design.target_sensitivity

    x = brentq(gap, -20, 20)
    return float(1 / (1 + np.exp(-x)))


def simulate_predictions(design: Design, seed) -> pd.DataFrame:
    """One data set: ``image, score, label, fst`` (+ ``lesion_id`` with clusters, + ``fst_true``
    and the estimated ``fst`` with a confusion matrix)."""
    rng = np.random.default_rng(seed)
    parts = []
    c = design.cluster_size
    for t in design.types:
        P, N = _lesion_counts(design, t)
        if design.cohort:
            y = rng.random(P + N) < P / (P + N)
        else:
            y = np.r_[np.ones(P, bool), np.zeros(N, bool)]
        latent = np.where(y, rng.normal(design.mu_pos[t - 1], 1, P + N), rng.normal(design.mu_neg[t - 1], 1, P + N))
        if c > 1 or design.cluster_range:
            # total variance 1: the lesion's part plus the image's own noise
            shared = np.sqrt(1 - design.image_noise ** 2)
            mu = np.where(y, design.mu_pos[t - 1], design.mu_neg[t - 1])
            latent = mu + (latent - mu) * shared
            per = (rng.integers(design.cluster_range[0], design.cluster_range[1] + 1, P + N) if design.cluster_range
                   else np.full(P + N, c))
            x = np.repeat(latent, per) + rng.normal(0, design.image_noise, int(per.sum()))
            y = np.repeat(y, per)
            lesion = np.repeat([f"t{t}-l{i}" for i in range(P + N)], per)
        else:
            x, lesion = latent, None
        df = pd.DataFrame({"image": [f"t{t}-{i}" for i in range(len(x))], "score": 1 / (1 + np.exp(-x)),
                           "label": y.astype(int), "fst": t})
        if lesion is not None:
            df["lesion_id"] = lesion
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    if design.confusion is not None:
        M = np.asarray(design.confusion, float)
        out["fst_true"] = out["fst"]
        u = rng.random(len(out))
        cum = np.cumsum(M[out["fst_true"].to_numpy() - 1], axis=1)
        out["fst"] = 1 + (u[:, None] > cum).sum(1)
        out["fst"] = out["fst"].clip(1, 6)
    return out


def true_values(design: Design, *, mc_scale: int = 400, seed: int = 12345) -> dict:
    """The value of every statistic for the design, keyed like :func:`_flatten` keys an audit:
    ``("metric", group, name)``, ``("gap", key)``, ``("ratio", group, name)``.

    Rates and AUROC of a type are closed form; AUPRC, ECE and pooled-group AUROCs come from one
    audit of a sample ``mc_scale`` times the design's size (Monte Carlo error ~1e-3); gaps are
    computed from the true per-group values with fairlearn's definitions, so a zero gap is
    exactly zero.
    """
    from fairskin.audits.classifier._classifier import audit_predictions
    from fairskin.audits.stats import GAPS, gap_value

    per = (sum(design.cluster_range) / 2) if design.cluster_range else design.cluster_size
    if design.target_sensitivity is not None:
        design = replace(design, threshold=population_threshold(design), target_sensitivity=None)
    big = replace(design, sizes=tuple(int(n * per) * mc_scale for n in design.sizes), cluster_size=1, confusion=None,
                  cohort=False, cluster_range=None,
                  positives=None if design.positives is None else tuple(int(p * per) * mc_scale for p in design.positives))
    res = audit_predictions(simulate_predictions(big, seed), n_boot=1, threshold=design.threshold,
                            group_level="type")
    m = res.models[0]
    truth: dict = {}
    entries = m["groups"] + [m["overall"]]
    for g in entries:
        for name, e in g["metrics"].items():
            truth[("metric", g["group"], name)] = e["value"]
    # closed forms per type (exact design counts)
    z = stats.norm
    for t in design.types:
        P, N = _lesion_counts(design, t)
        x = np.log(design.threshold / (1 - design.threshold))  # the threshold on the logit scale
        tpr, fpr = z.cdf(design.mu_pos[t - 1] - x), z.cdf(design.mu_neg[t - 1] - x)
        r = ROMAN[t - 1]
        truth[("metric", r, "sensitivity")] = tpr
        truth[("metric", r, "specificity")] = 1 - fpr
        truth[("metric", r, "selection_rate")] = (P * tpr + N * fpr) / (P + N)
        truth[("metric", r, "ppv")] = P * tpr / (P * tpr + N * fpr)
        truth[("metric", r, "npv")] = N * (1 - fpr) / (N * (1 - fpr) + P * (1 - tpr))
        truth[("metric", r, "balanced_accuracy")] = (tpr + 1 - fpr) / 2
        truth[("metric", r, "f1")] = 2 * P * tpr / (2 * P * tpr + N * fpr + P * (1 - tpr))
        truth[("metric", r, "auroc")] = z.cdf((design.mu_pos[t - 1] - design.mu_neg[t - 1]) / np.sqrt(2))
    names = [ROMAN[t - 1] for t in design.types]

    def vec(metric):
        return np.array([truth[("metric", n, metric)] for n in names])

    vals = {"sensitivity": vec("sensitivity"), "fpr": 1 - vec("specificity"), "selection_rate": vec("selection_rate"),
            "auroc": vec("auroc")}
    Ps = np.array([_image_counts(design, t)[0] for t in design.types])
    Ns = np.array([_image_counts(design, t)[1] for t in design.types])
    overall = {"sensitivity": (Ps * vals["sensitivity"]).sum() / Ps.sum(),
               "fpr": (Ns * vals["fpr"]).sum() / Ns.sum(),
               "selection_rate": ((Ps + Ns) * vals["selection_rate"]).sum() / (Ps + Ns).sum()}
    for gap in GAPS:
        if gap.kind == "pair":
            a, b = truth.get(("metric", "I-II", "auroc")), truth.get(("metric", "V-VI", "auroc"))
            truth[("gap", gap.key)] = None if a is None or b is None else a - b
        else:
            truth[("gap", gap.key)] = float(gap_value(gap, vals, overall))
    ref = names[0]
    for n in names[1:]:
        for metric in ("auroc", "sensitivity", "specificity", "ppv", "npv", "balanced_accuracy", "selection_rate"):
            truth[("ratio", n, metric)] = truth[("metric", n, metric)] / truth[("metric", ref, metric)]
    return truth


def calibration_confusion(design: Design, seed):
    """The labeller's confusion as a calibration set of ``calibration_per_type`` images per true
    type would measure it (each row a multinomial draw from the design's confusion)."""
    from fairskin.audits.stats import LabelConfusion

    rng = np.random.default_rng(seed)
    M = np.asarray(design.confusion, float)
    counts = np.array([rng.multinomial(design.calibration_per_type, row / row.sum()) for row in M])
    return LabelConfusion(counts, source="simulated calibration set")


def _flatten(result) -> dict:
    """(low, high, value) of every interval in an audit, keyed like :func:`true_values`."""
    m = result.models[0]
    out = {}
    for g in m["groups"] + [m["overall"]]:
        for name, e in g["metrics"].items():
            if "not_corrected" in e["flags"]:
                continue  # estimated types taken as right: not an estimate of the true type's metric
            out[("metric", g["group"], name)] = (e["ci_low"], e["ci_high"], e["value"])
    for f in m["fairness"]:
        out[("gap", "/".join(x for x in (f["name"], f["method"], f["agg"]) if x))] = (f["ci_low"], f["ci_high"],
                                                                                       f["value"], f.get("evidence"))
    for r in m["ratios"]:
        out[("ratio", r["group"], r["metric"])] = (r["ci_low"], r["ci_high"], r["value"])
    return out


def coverage_study(design: Design, *, reps: int = 200, n_boot: int = 1000, seed: int = 0, truth: dict | None = None,
                   baseline: dict | None = None, **audit_kwargs) -> pd.DataFrame:
    """Audit ``reps`` simulated data sets and report, per statistic, how often its interval
    contained the true value, its mean width, how often it was defined and (gaps) how often it
    was read as a gap; an audit that raises is counted in ``attrs["crashes"]`` and skipped.

    ``baseline`` (a second dict of audit keyword arguments) audits the same data sets a second
    way, e.g. with clusters ignored, and adds its coverage and width as ``*_baseline`` columns.
    """
    from fairskin.audits.classifier._classifier import audit_predictions

    truth = true_values(design) if truth is None else truth
    rows: dict = {}
    crashes: list[str] = []
    for r in range(reps):
        df = simulate_predictions(design, [seed, r])
        for tag, kw in (("", audit_kwargs), ("_baseline", baseline)):
            if kw is None:
                continue
            kw = dict(kw)
            drop = [c for c in kw.pop("drop_columns", ()) if c in df]
            if kw.pop("correct", False):
                kw["label_confusion"] = calibration_confusion(design, [seed, r, 1])
                kw["fst_source"] = "estimated"
            kw.setdefault("group_level", "type")
            if design.target_sensitivity is not None:
                kw["target_sensitivity"] = design.target_sensitivity
            else:
                kw["threshold"] = design.threshold
            try:
                res = audit_predictions(df.drop(columns=drop), n_boot=n_boot, seed=r, **kw)
            except Exception as e:  # counted and reported: a crash is a finding, not a reason to stop
                crashes.append(f"{tag or 'audit'} {r}: {type(e).__name__}: {e}")
                continue
            for key, (lo, hi, value, *ev) in _flatten(res).items():
                t = truth.get(key)
                if t is None:
                    continue
                acc = rows.setdefault(key, {"covered": [], "width": [], "covered_baseline": [], "width_baseline": [],
                                            "error": [], "error_baseline": [], "read_gap": [], "read_gap_baseline": []})
                if value is not None:
                    acc["error" + tag].append(value - t)
                if ev:
                    acc["read_gap" + tag].append(ev[0] == "gap")
                if lo is None or hi is None:
                    continue
                acc["covered" + tag].append(lo - 1e-9 <= t <= hi + 1e-9)
                acc["width" + tag].append(hi - lo)
    out = []
    for (kind, *rest), acc in rows.items():
        name = "/".join(str(x) for x in rest)
        rec = {"kind": kind, "statistic": name, "truth": truth[(kind, *rest)], "defined": len(acc["covered"]),
               "coverage": np.mean(acc["covered"]) if acc["covered"] else np.nan,
               "width": np.mean(acc["width"]) if acc["width"] else np.nan,
               "bias": np.mean(acc["error"]) if acc["error"] else np.nan,
               "read_gap": np.mean(acc["read_gap"]) if acc["read_gap"] else np.nan}
        if baseline is not None:
            rec["coverage_baseline"] = np.mean(acc["covered_baseline"]) if acc["covered_baseline"] else np.nan
            rec["width_baseline"] = np.mean(acc["width_baseline"]) if acc["width_baseline"] else np.nan
            rec["bias_baseline"] = np.mean(acc["error_baseline"]) if acc["error_baseline"] else np.nan
        out.append(rec)
    frame = pd.DataFrame(out)
    frame.attrs["crashes"] = crashes
    frame.attrs["reps"] = reps
    return frame


def ita_like_confusion(exact: float = 0.25, adjacent: float = 0.40) -> tuple[tuple[float, ...], ...]:
    """A labeller right ``exact`` of the time and within one type ``exact + adjacent`` (split
    between the neighbours; all of it to the one neighbour at I and VI), the rest spread over the
    farther types in proportion to 1 / distance: about what ITA achieves on PAD-UFES-20 photos
    with 0.25 / 0.40 (docs/label.md)."""
    M = np.zeros((6, 6))
    for t in range(6):
        M[t, t] = exact
        nb = [u for u in (t - 1, t + 1) if 0 <= u < 6]
        for u in nb:
            M[t, u] = adjacent / len(nb)
        far = [u for u in range(6) if abs(u - t) > 1]
        w = np.array([1 / abs(u - t) for u in far])
        M[t, far] = (1 - exact - adjacent) * w / w.sum()
    return tuple(tuple(float(x) for x in row) for row in M)
