"""Per-skin-type audit of a binary (malignant vs benign) classifier's scores.

``audit_predictions`` takes one table of predictions (``image``, ``score``, ``label``, ``fst``,
optional ``diagnosis``), cleans it (bad rows are reported and skipped, never silently dropped),
and computes for every Fitzpatrick type, every DDI group and all rows together the metrics of
:data:`._metrics.METRICS` with stratified-bootstrap confidence intervals, the fairness gaps
(fairlearn's definitions) with p-values, ratios to a reference group, and the skin type x
diagnosis cells. ``compare_audits`` re-runs two or more audits on their common images with one
shared (paired) bootstrap and judges the candidates against criteria. The JSON written by
:meth:`AuditResult.to_dict` is documented in ``docs/audit-json.md``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fairskin.audits._bootstrap import (
    bootstrap_p_value,
    delong_test,
    percentile_ci,
    stratified_counts,
)
from fairskin.audits._metrics import METRICS, ROC_GRID_POINTS, SortedRows, calibration_bins, roc_grid, weighted_metrics
from fairskin.audits._predictions import read_predictions_csv, resolve_duplicates
from fairskin.errors import InputError
from fairskin.outputs import atomic_write
from fairskin.skintone import FST_GROUPS, ROMAN, parse_fst

__all__ = [
    "AuditConfig", "AuditResult", "Criterion", "DDI_THRESHOLDS", "PREDICTION_COLUMNS",
    "audit_predictions", "clean_predictions", "compare_audits", "default_criteria", "make_criteria",
    "parse_fst",
]

SCHEMA = "fairskin.audit/1"
#: columns of a predictions table: name -> meaning
PREDICTION_COLUMNS: dict[str, str] = {
    "image": "image path or identifier (one row per image; used to pair models)",
    "score": "predicted probability of malignancy in [0, 1] (or a logit with scores='logits')",
    "label": "true label: 1/0, True/False or malignant/benign",
    "fst": "Fitzpatrick type 1-6 (or I-VI) or group I-II / III-IV / V-VI (or DDI's 12 / 34 / 56)",
}
OPTIONAL_COLUMNS = ("diagnosis",)
RATIO_METRICS = ("auroc", "sensitivity", "specificity", "ppv", "npv", "balanced_accuracy", "selection_rate")
COMPARE_METRICS = ("auroc", "auprc", "sensitivity", "specificity", "balanced_accuracy", "ece")
ThresholdPolicy = Literal["fixed", "target_sensitivity", "model", "ddi"]

#: DDI's operating thresholds for its released models (Daneshjou et al., Sci. Adv. 2022, code
#: ``ddi_model.py`` MODEL_THRESHOLDS: "determined by maximizing F1-score on the test split of the
#: train dataset for the given algorithm"). Use as ``threshold="ddi:DeepDerm"``.
DDI_THRESHOLDS: dict[str, float] = {"HAM10000": 0.733, "DeepDerm": 0.687, "GroupDRO": 0.980, "CORAL": 0.990,
                                    "CDANN": 0.980}


@dataclass(frozen=True)
class AuditConfig:
    """Defaults of ``fairskin audit`` (the CLI reads its option defaults from here)."""

    threshold: float = 0.5
    n_boot: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    min_group_n: int = 30
    min_group_positives: int = 5
    min_cell_n: int = 10
    ece_bins: int = 10
    ratio_bounds: tuple[float, float] = (0.8, 1.25)
    #: relative AUROC gain required on the darkest group, and largest drop allowed on I-III
    min_gain: float = 0.10
    max_drop: float = 0.02


DEFAULTS = AuditConfig()


@dataclass(frozen=True)
class Criterion:
    """One condition a candidate model must meet against the baseline (relative change of a metric)."""

    name: str
    group: str
    metric: str = "auroc"
    kind: Literal["min_relative_gain", "max_relative_drop"] = "min_relative_gain"
    bound: float = 0.10
    description: str = ""

    def passes(self, relative: float) -> bool:
        if self.kind == "min_relative_gain":
            return relative >= self.bound
        return relative >= -self.bound


def make_criteria(*, gain_groups: Sequence[str], drop_groups: Sequence[str], min_gain: float = DEFAULTS.min_gain,
                  max_drop: float = DEFAULTS.max_drop, metric: str = "auroc") -> tuple[Criterion, ...]:
    """Criteria "``metric`` up by >= ``min_gain`` (relative) on each gain group, and down by no more
    than ``max_drop`` (relative) on each drop group"."""
    _check_metric(metric, "metric")
    out = [Criterion(f"{metric}_gain_{g}", g, metric, "min_relative_gain", min_gain,
                     f"{metric.upper()} on {g} up by at least {min_gain:.0%} (relative)") for g in gain_groups]
    out += [Criterion(f"{metric}_no_drop_{g}", g, metric, "max_relative_drop", max_drop,
                      f"{metric.upper()} on {g} down by no more than {max_drop:.0%} (relative)") for g in drop_groups]
    return tuple(out)


def default_criteria(group_level: Literal["type", "group"], *, min_gain: float = DEFAULTS.min_gain,
                     max_drop: float = DEFAULTS.max_drop) -> tuple[Criterion, ...]:
    """The augmentation literature's criteria: AUROC on FST V-VI up by >= 10% relative and no
    group within FST I-III down by more than 2% relative (types I, II, III; or groups I-II and
    III-IV when only groups are known)."""
    drop = ("I", "II", "III") if group_level == "type" else ("I-II", "III-IV")
    return make_criteria(gain_groups=("V-VI",), drop_groups=drop, min_gain=min_gain, max_drop=max_drop)


def _check_metric(metric: str, arg: str) -> None:
    if metric not in METRICS:
        import difflib

        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"{arg}: unknown metric {metric!r}; expected one of {', '.join(METRICS)}.{hint}")


# --- cleaning ------------------------------------------------------------------------------

_LABELS = {"1": True, "0": False, "true": True, "false": False, "malignant": True, "benign": False,
           "yes": True, "no": False, "1.0": True, "0.0": False}


def _parse_labels(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """-> (label, missing). Raises InputError for values that are not binary."""
    raw = col.astype("string").str.strip().str.lower()
    missing = raw.isna() | (raw == "") | raw.isin(["nan", "<na>", "none"])
    mapped = raw.map(_LABELS)
    bad = mapped.isna() & ~missing
    if bad.any():
        distinct = sorted(pd.unique(col[~missing].astype(str).str.strip()))
        shown = ", ".join(distinct[:8]) + (", ..." if len(distinct) > 8 else "")
        raise InputError(
            f"label: expected binary labels (1/0, True/False, malignant/benign), found {len(distinct)} distinct "
            f"values: {shown}. For multi-class data choose a positive class (positive_class=..., --positive-class)"
            " or map diagnoses to malignant first")
    return mapped.fillna(False).to_numpy(bool), missing.to_numpy(bool)


def clean_predictions(predictions: pd.DataFrame, *, scores: Literal["probabilities", "logits"] = "probabilities",
                      source: str = "predictions") -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Check a predictions table and split it into usable rows and bad rows.

    Returns the usable rows (columns ``image, score, label, fst_type, fst_group, diagnosis``;
    ``fst_type`` 0 where only the group is known) and the bad rows as
    ``{"image", "status", "reason"}``. Raises :class:`InputError` for problems with the whole
    table: missing columns, non-binary labels, probabilities outside [0, 1].
    """
    if scores not in ("probabilities", "logits"):
        raise InputError(f"scores: expected 'probabilities' or 'logits', got {scores!r}")
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(repr(c) for c in missing)}; found: "
            f"{', '.join(map(str, predictions.columns))}; expected: {', '.join(PREDICTION_COLUMNS)} "
            f"(optional: {', '.join(OPTIONAL_COLUMNS)})")
    if len(predictions) == 0:
        raise InputError(f"{source}: the predictions table has no rows; expected one row per image")
    df, dup_bad = resolve_duplicates(predictions.reset_index(drop=True), source=source)
    images = df["image"].astype(str).to_numpy()
    status: list[str | None] = [None] * len(df)
    reason: list[str] = [""] * len(df)

    s = pd.to_numeric(df["score"], errors="coerce").to_numpy(float)
    for i in np.flatnonzero(~np.isfinite(s)):
        status[i], reason[i] = "bad_score", f"score={df['score'].iloc[i]!r} is not a finite number"
    finite = np.isfinite(s)
    if scores == "probabilities":
        out = finite & ((s < 0) | (s > 1))
        if out.any():
            raise InputError(
                f"score: {int(out.sum())} of {len(s)} values are outside [0, 1] (min {np.nanmin(s[finite]):.4g}, max "
                f"{np.nanmax(s[finite]):.4g}); these look like logits. Pass scores='logits' (--scores logits) to apply a "
                "sigmoid, or give probabilities")
    else:
        with np.errstate(over="ignore"):
            s = np.where(finite, 1.0 / (1.0 + np.exp(-np.where(finite, s, 0.0))), s)

    y, no_label = _parse_labels(df["label"])
    for i in np.flatnonzero(no_label):
        if status[i] is None:
            status[i], reason[i] = "no_label", "label is empty"

    types, groups, fst_status = parse_fst(df["fst"].tolist())
    for i, st in enumerate(fst_status):
        if st and status[i] is None:
            status[i] = st
            reason[i] = ("fst is empty" if st == "no_fst" else
                         f"fst={df['fst'].iloc[i]!r} is not a Fitzpatrick type (1-6, I-VI) or group (I-II, III-IV, "
                         "V-VI, 12, 34, 56)")
    ok = np.array([st is None for st in status])
    diagnosis = (df["diagnosis"].astype("string").fillna("").to_numpy(str) if "diagnosis" in df
                 else np.full(len(df), "", dtype=object))
    clean = pd.DataFrame({"image": images[ok], "score": s[ok], "label": y[ok], "fst_type": types[ok],
                          "fst_group": groups[ok].astype(str), "diagnosis": np.asarray(diagnosis)[ok].astype(str)})
    bad = dup_bad + [{"image": images[i], "status": status[i], "reason": reason[i]} for i in np.flatnonzero(~ok)]
    return clean, bad


# --- result --------------------------------------------------------------------------------

@dataclass
class AuditResult:
    """An audit of one or more models. ``to_dict()`` is the JSON of ``docs/audit-json.md``."""

    meta: dict[str, Any]
    data: dict[str, Any]
    models: list[dict[str, Any]]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    #: the cleaned predictions of each model (what ``compare_audits`` resamples)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    config: AuditConfig = field(default=DEFAULTS, repr=False)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_dict(self) -> dict[str, Any]:
        from fairskin import __version__

        return _jsonable({"schema": SCHEMA, "fairskin_version": __version__, "created": self.created,
                          "meta": self.meta, "data": self.data, "models": self.models,
                          "comparisons": self.comparisons})

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    def model(self, name: str | None = None) -> dict[str, Any]:
        """The entry of one model (the first when ``name`` is omitted)."""
        if name is None:
            return self.models[0]
        for m in self.models:
            if m["name"] == name:
                return m
        raise InputError(f"model: no model named {name!r}; audited: {', '.join(m['name'] for m in self.models)}")

    def group(self, group: str, *, model: str | None = None) -> dict[str, Any]:
        """The entry of one group ('V-VI', 'III', or 'all') of one model."""
        m = self.model(model)
        if group == "all":
            return m["overall"]
        for g in m["groups"]:
            if g["group"] == group:
                return g
        raise InputError(f"group: {group!r} not in the audit; present: {', '.join(g['group'] for g in m['groups'])}")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# --- engine --------------------------------------------------------------------------------

def _group_keys(frame: pd.DataFrame) -> tuple[list[tuple[str, str, tuple[int, ...]]], bool]:
    """[(level, name, types)], in report order; and whether every row has an exact type."""
    keys = []
    all_typed = bool((frame["fst_type"] > 0).all())
    if (frame["fst_type"] > 0).any():
        for t in range(1, 7):
            if (frame["fst_type"] == t).any():
                keys.append(("type", ROMAN[t - 1], (t,)))
    for g, ts in FST_GROUPS.items():
        if (frame["fst_group"] == g).any():
            keys.append(("group", g, ts))
    return keys, all_typed


def _rows_of(frame: pd.DataFrame, level: str, name: str) -> np.ndarray:
    if level == "type":
        return np.flatnonzero(frame["fst_type"].to_numpy() == ROMAN.index(name) + 1)
    if level == "group":
        return np.flatnonzero(frame["fst_group"].to_numpy() == name)
    return np.arange(len(frame))


def _choose_threshold(scores: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Largest threshold whose sensitivity on these rows is at least ``target``."""
    pos = np.sort(scores[labels])[::-1]
    if len(pos) == 0:
        raise InputError("target_sensitivity: no malignant rows to choose a threshold on")
    k = max(1, math.ceil(target * len(pos) - 1e-9))
    return float(pos[k - 1])


def _ddi_threshold(spec: str) -> float:
    name = spec.split(":", 1)[1].strip()
    for k, v in DDI_THRESHOLDS.items():
        if k.lower() == name.lower():
            return v
    import difflib

    close = difflib.get_close_matches(name, list(DDI_THRESHOLDS), n=1, cutoff=0.5)
    hint = f" Did you mean 'ddi:{close[0]}'?" if close else ""
    raise InputError(f"threshold: {spec!r} names no DDI model; expected one of "
                     f"{', '.join('ddi:' + k for k in DDI_THRESHOLDS)}.{hint}")


def _undefined_reason(metric: str, group: str, n: int, P: int, N: int, threshold: float) -> str:
    where = "all rows" if group == "all" else f"group {group}"
    if n == 0:
        return f"{where} has no images"
    if metric in ("auroc", "auprc", "balanced_accuracy") and (P == 0 or N == 0):
        which = "malignant" if P == 0 else "benign"
        name = {"auroc": "AUROC", "auprc": "AUPRC", "balanced_accuracy": "balanced accuracy"}[metric]
        return f"{where} has no {which} images ({P} malignant, {N} benign); {name} is undefined"
    if metric == "sensitivity":
        return f"{where} has no malignant images; sensitivity is undefined"
    if metric == "specificity":
        return f"{where} has no benign images; specificity is undefined"
    if metric == "ppv":
        return f"no image of {where} scored >= threshold {threshold:.4g}; PPV is undefined"
    if metric == "npv":
        return f"no image of {where} scored < threshold {threshold:.4g}; NPV is undefined"
    if metric == "f1":
        return f"{where} has no malignant images and none predicted malignant; F1 is undefined"
    return f"{metric} is undefined for {where}"


def _metric_entry(value: float, samples: np.ndarray, *, cfg: AuditConfig, unreliable: bool, reason: str) -> dict:
    flags = []
    if math.isnan(value):
        return {"value": None, "ci_low": None, "ci_high": None, "flags": ["undefined"] + (["unreliable_group"] if unreliable else []),
                "reason": reason}
    lo, hi, n_def = percentile_ci(samples, level=cfg.ci_level)
    if unreliable:
        flags.append("unreliable_group")
    if n_def < len(samples):
        flags.append("ci_partial")
    return {"value": value, "ci_low": lo, "ci_high": hi, "flags": flags, "reason": None}


P_BOOTSTRAP = "bootstrap"  # centred bootstrap (Hall & Wilson 1991)
P_PERM_LABEL = "permutation_within_label"  # skin types shuffled within malignant and within benign rows
P_PERM_ALL = "permutation"  # skin types shuffled over all rows
P_Q = "delong_chi2"  # Cochran's Q of the group AUROCs with DeLong variances, chi-square with K-1 df


def _gap_entry(name, method, agg, groups, value, samples, *, cfg, p: Any = P_BOOTSTRAP, delong=None, flags=(),
               reason=None, fairlearn=None) -> dict:
    """``p``: P_BOOTSTRAP (computed here from ``samples``), None (no test), or (p_value, method)."""
    if value is None or math.isnan(value):
        return {"name": name, "method": method, "agg": agg, "groups": list(groups), "value": None, "ci_low": None,
                "ci_high": None, "p_value": None, "p_value_delong": None, "p_value_method": None,
                "flags": sorted(set(flags) | {"undefined"}),
                "reason": reason or "fewer than two groups with the metric defined", "fairlearn": fairlearn}
    lo, hi, _ = percentile_ci(samples, level=cfg.ci_level)
    if p == P_BOOTSTRAP:
        p_val, p_method = bootstrap_p_value(value, samples), P_BOOTSTRAP
    elif p is None:
        p_val, p_method = None, None
    else:
        p_val, p_method = p
    return {"name": name, "method": method, "agg": agg, "groups": list(groups), "value": float(value), "ci_low": lo,
            "ci_high": hi, "p_value": p_val, "p_value_delong": delong, "p_value_method": p_method,
            "flags": list(flags), "reason": reason, "fairlearn": fairlearn}


def _range(x: np.ndarray) -> np.ndarray:
    """max - min along the last axis, ignoring NaN columns (groups where the rate is undefined)."""
    import warnings

    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: the gap is undefined (NaN)
        return np.nanmax(x, axis=-1) - np.nanmin(x, axis=-1)


def _nanmax(x: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: undefined
        return np.nanmax(x, axis=-1)


def _rate_gaps(tp, fp, sel, P, N, n, tpr_all, fpr_all) -> dict[str, np.ndarray]:
    """Threshold-metric gaps from per-group counts (last axis = groups), as fairlearn defines them."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.where(P > 0, tp / np.where(P > 0, P, 1), np.nan)
        fpr = np.where(N > 0, fp / np.where(N > 0, N, 1), np.nan)
        sr = np.where(n > 0, sel / np.where(n > 0, n, 1), np.nan)
        dt, df = _range(tpr), _range(fpr)
        to_overall = np.maximum(_nanmax(np.abs(tpr - tpr_all)), _nanmax(np.abs(fpr - fpr_all)))
    return {"eod_worst": np.maximum(dt, df), "eod_mean": (dt + df) / 2, "eod_overall": to_overall, "eopp": dt,
            "dp": _range(sr)}


def _permutation_p_values(eng: "_Engine", model: str, keys: list, threshold: float) -> dict[str, float]:
    """Permutation tests of "no skin-type difference" for the threshold-metric gaps.

    Shuffling the skin-type labels among the malignant rows (and, separately, among the benign
    rows) leaves every group's size and positives fixed and makes its number of true positives
    a multivariate hypergeometric draw, so ``n_boot`` permutations cost almost nothing. The
    demographic-parity null (selection independent of skin type) shuffles over all rows.
    ``p = (1 + #{T* >= T}) / (1 + n_boot)``.
    """
    y = eng.y
    pred = eng.frame["_score_" + model].to_numpy(float) >= threshold
    idx = [eng.rows[k] for k in keys]
    P = np.array([int(y[i].sum()) for i in idx])
    n = np.array([len(i) for i in idx])
    N = n - P
    tp = np.array([int((y[i] & pred[i]).sum()) for i in idx])
    fp = np.array([int((~y[i] & pred[i]).sum()) for i in idx])
    tpr_all = tp.sum() / P.sum() if P.sum() else np.nan
    fpr_all = fp.sum() / N.sum() if N.sum() else np.nan
    obs = _rate_gaps(tp, fp, tp + fp, P, N, n, tpr_all, fpr_all)
    B = eng.cfg.n_boot
    rng = np.random.default_rng([eng.cfg.seed, 1])
    tp_s = rng.multivariate_hypergeometric(P, int(tp.sum()), size=B)
    fp_s = rng.multivariate_hypergeometric(N, int(fp.sum()), size=B)
    sel_s = rng.multivariate_hypergeometric(n, int(tp.sum() + fp.sum()), size=B)
    perm = _rate_gaps(tp_s, fp_s, tp_s + fp_s, P, N, n, tpr_all, fpr_all)
    perm["dp"] = _rate_gaps(tp_s, fp_s, sel_s, P, N, n, tpr_all, fpr_all)["dp"]
    out = {}
    for k, v in obs.items():
        if np.isnan(v):
            out[k] = None
        else:
            s = perm[k][~np.isnan(perm[k])]
            out[k] = float((1 + np.count_nonzero(s >= v - 1e-12)) / (1 + len(s)))
    return out


def _auroc_homogeneity(eng: "_Engine", model: str, keys: list) -> tuple[float | None, str | None]:
    """Cochran's Q test that every group has the same AUROC (independent groups, DeLong variances)."""
    from scipy import stats

    from fairskin.audits._bootstrap import delong_variance

    s = eng.frame["_score_" + model].to_numpy(float)
    a, v = [], []
    for k in keys:
        i = eng.rows[k]
        auc, var = delong_variance(s[i], eng.y[i])
        if not np.isnan(auc):
            a.append(auc)
            v.append(var)
    if len(a) < 2:
        return None, "fewer than two groups with an AUROC"
    a, v = np.array(a), np.array(v)
    if (v <= 0).any():
        return None, "a group's AUROC has zero DeLong variance (perfect separation); no homogeneity test"
    w = 1 / v
    q = float((w * (a - (w * a).sum() / w.sum()) ** 2).sum())
    return float(stats.chi2.sf(q, len(a) - 1)), None


def _spread(v: np.ndarray, S: np.ndarray, names: list[str]):
    """max - min over defined groups: (value, samples, (argmax name, argmin name))."""
    if len(v) < 2:
        return float("nan"), np.full(S.shape[0], np.nan), ()
    hi, lo = int(np.argmax(v)), int(np.argmin(v))
    return float(v[hi] - v[lo]), S.max(1) - S.min(1), (names[hi], names[lo])


class _Engine:
    """Point values and bootstrap samples of every metric and of the ROC curve (TPR on the fixed
    FPR grid), for every model and group, sharing one stratified resampling of the rows."""

    def __init__(self, frame: pd.DataFrame, scores: dict[str, np.ndarray], thresholds: dict[str, float],
                 cfg: AuditConfig):
        self.frame, self.cfg = frame, cfg
        self.keys, self.all_typed = _group_keys(frame)
        self.keys.append(("all", "all", tuple(sorted(int(t) for t in set(frame["fst_type"]) if t > 0))
                          or tuple(t for g in sorted(set(frame["fst_group"])) for t in FST_GROUPS.get(g, ()))))
        y = frame["label"].to_numpy(bool)
        self.y = y
        strata = np.where(frame["fst_type"].to_numpy() > 0, "t" + frame["fst_type"].astype(str),
                          "g" + frame["fst_group"].astype(str)) + np.where(y, ":1", ":0")
        self.strata = pd.factorize(strata)[0]
        self.rows = {(lvl, g): _rows_of(frame, lvl, g) for lvl, g, _ in self.keys}
        self.prep = {m: {k: SortedRows.build(idx, s, y, threshold=thresholds[m], ece_bins=cfg.ece_bins)
                         for k, idx in self.rows.items()} for m, s in scores.items()}
        G = ROC_GRID_POINTS
        self.values, self.roc = {}, {}  # roc: model -> group -> TPR on the grid :func:`roc_grid` (NaN: one class)
        for m, d in self.prep.items():
            self.values[m], self.roc[m] = {}, {}
            for k, p in d.items():
                out = weighted_metrics(p, np.ones((p.n, 1)), roc_points=G)
                self.roc[m][k] = out.pop("roc_tpr")[0]
                self.values[m][k] = {name: float(v[0]) for name, v in out.items()}
        B = cfg.n_boot
        self.samples = {m: {k: {name: np.empty(B) for name in METRICS} for k in d} for m, d in self.prep.items()}
        self.roc_samples = {m: {k: np.empty((B, G)) for k in d} for m, d in self.prep.items()}
        rng = np.random.default_rng(cfg.seed)
        done = 0
        # The only BLAS call (the ECE bin sums) is small; BLAS threads just fight for the cores.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            for W in stratified_counts(self.strata, n_boot=B, rng=rng):
                k = W.shape[1]
                for m, d in self.prep.items():
                    for key, p in d.items():
                        out = weighted_metrics(p, W[p.index], roc_points=G)
                        self.roc_samples[m][key][done:done + k] = out.pop("roc_tpr")
                        for name, v in out.items():
                            self.samples[m][key][name][done:done + k] = v
                done += k


def _group_entry(eng: _Engine, model: str, key, types, threshold: float) -> dict:
    cfg = eng.cfg
    lvl, g = key
    idx = eng.rows[key]
    n = len(idx)
    P = int(eng.y[idx].sum())
    N = n - P
    flags = []
    if n < cfg.min_group_n:
        flags.append("small_n")
    if P < cfg.min_group_positives:
        flags.append("few_positives")
    if P == 0 or N == 0:
        flags.append("one_class")
    unreliable = bool(flags)
    vals, samp = eng.values[model][key], eng.samples[model][key]
    metrics = {m: _metric_entry(vals[m], samp[m], cfg=cfg, unreliable=unreliable,
                                reason=_undefined_reason(m, g, n, P, N, threshold)) for m in METRICS}
    roc, roc_reason = _roc_entry(eng, model, key, flags, metrics["auroc"]["reason"])
    scores = eng.frame["_score_" + model].to_numpy(float)[idx]
    return {"group": g, "level": lvl, "types": list(types), "n": n, "positives": P, "negatives": N,
            "reliable": not unreliable, "flags": flags, "metrics": metrics, "roc": roc, "roc_reason": roc_reason,
            "calibration": calibration_bins(scores, eng.y[idx], cfg.ece_bins)}


def _roc_entry(eng: _Engine, model: str, key, flags: list[str], auroc_reason: str | None
               ) -> tuple[dict | None, str | None]:
    """The group's ROC on the fixed FPR grid with a percentile band of the bootstrap TPR at each
    grid point (the resamples of every other CI), and why the curve or its band is missing."""
    tpr = eng.roc[model][key]
    if "one_class" in flags or np.isnan(tpr).any():
        return None, auroc_reason or "the ROC curve needs malignant and benign images"
    out = {"fpr": roc_grid(len(tpr)).tolist(), "tpr": tpr.tolist(), "tpr_ci_low": None, "tpr_ci_high": None}
    if flags:
        return out, f"no CI band: unreliable group ({', '.join(flags).replace('_', ' ')})"
    S = eng.roc_samples[model][key]
    a = (1 - eng.cfg.ci_level) / 2
    q = np.quantile if not np.isnan(S).any() else np.nanquantile
    lo, hi = q(S, [a, 1 - a], axis=0)
    out["tpr_ci_low"], out["tpr_ci_high"] = lo.tolist(), hi.tolist()
    return out, None


def _fairness(eng: _Engine, model: str, level: str, groups_out: list[dict], threshold: float) -> list[dict]:
    cfg = eng.cfg
    keys = [(lvl, g) for lvl, g, _ in eng.keys if lvl == level]
    names = [g for _, g in keys]
    unreliable = {e["group"] for e in groups_out if e["level"] == level and not e["reliable"]}
    vals, samp = eng.values[model], eng.samples[model]
    overall_v, overall_s = vals[("all", "all")], samp[("all", "all")]

    def arrays(metric, transform=lambda x: x):
        v = np.array([transform(vals[k][metric]) for k in keys])
        S = np.column_stack([transform(samp[k][metric]) for k in keys]) if keys else np.zeros((cfg.n_boot, 0))
        ok = ~np.isnan(v)
        excluded = [n for n, o in zip(names, ok) if not o]
        return v[ok], S[:, ok], [n for n, o in zip(names, ok) if o], excluded

    def flags_for(used, excluded):
        f = []
        if excluded:
            f.append("groups_excluded")
        if set(used) & unreliable:
            f.append("unreliable_group")
        reason = (f"left out (metric undefined): {', '.join(excluded)}" if excluded else None)
        return f, reason

    fl = "sensitive_features=fst, method={m!r}"
    tv, tS, tn, tex = arrays("sensitivity")
    fv, fS, fn, fex = arrays("specificity", lambda x: 1 - x)
    sv, sS, sn, sex = arrays("selection_rate")
    av, aS, an, aex = arrays("auroc")
    d_t, d_tS, g_t = _spread(tv, tS, tn)
    d_f, d_fS, g_f = _spread(fv, fS, fn)
    pp = _permutation_p_values(eng, model, keys, threshold)
    out = []
    # equalized odds, between groups
    worst_is_tpr = not (d_f > d_t)
    f_, r_ = flags_for(tn + fn, sorted(set(tex) | set(fex)))
    out.append(_gap_entry("equalized_odds_difference", "between_groups", "worst_case", g_t if worst_is_tpr else g_f,
                          max(d_t, d_f), np.maximum(d_tS, d_fS), cfg=cfg, flags=f_, reason=r_,
                          p=(pp["eod_worst"], P_PERM_LABEL),
                          fairlearn="equalized_odds_difference(y_true, y_pred, " + fl.format(m="between_groups")
                          + ", agg='worst_case')"))
    out.append(_gap_entry("equalized_odds_difference", "between_groups", "mean", g_t, (d_t + d_f) / 2,
                          (d_tS + d_fS) / 2, cfg=cfg, flags=f_, reason=r_, p=(pp["eod_mean"], P_PERM_LABEL),
                          fairlearn="equalized_odds_difference(y_true, y_pred, " + fl.format(m="between_groups")
                          + ", agg='mean')"))
    # equalized odds, to overall
    if len(tv) and len(fv):
        ot = np.abs(tv - overall_v["sensitivity"])
        of = np.abs(fv - (1 - overall_v["specificity"]))
        otS = np.abs(tS - overall_s["sensitivity"][:, None]).max(1)
        ofS = np.abs(fS - (1 - overall_s["specificity"])[:, None]).max(1)
        v_to = max(ot.max(), of.max())
        g_to = (tn[int(np.argmax(ot))],) if ot.max() >= of.max() else (fn[int(np.argmax(of))],)
        out.append(_gap_entry("equalized_odds_difference", "to_overall", "worst_case", g_to, v_to,
                              np.maximum(otS, ofS), cfg=cfg, flags=f_, reason=r_,
                              p=(pp["eod_overall"], P_PERM_LABEL),
                              fairlearn="equalized_odds_difference(y_true, y_pred, " + fl.format(m="to_overall")
                              + ", agg='worst_case')"))
    else:
        out.append(_gap_entry("equalized_odds_difference", "to_overall", "worst_case", (), None, None, cfg=cfg))
    f_, r_ = flags_for(tn, tex)
    out.append(_gap_entry("equal_opportunity_difference", "between_groups", None, g_t, d_t, d_tS, cfg=cfg, flags=f_,
                          reason=r_, p=(pp["eopp"], P_PERM_LABEL), fairlearn="equal_opportunity_difference(y_true, y_pred, "
                          + fl.format(m="between_groups") + ")"))
    d_s, d_sS, g_s = _spread(sv, sS, sn)
    f_, r_ = flags_for(sn, sex)
    out.append(_gap_entry("demographic_parity_difference", "between_groups", None, g_s, d_s, d_sS, cfg=cfg,
                          flags=f_, reason=r_, p=(pp["dp"], P_PERM_ALL), fairlearn="demographic_parity_difference(y_true, y_pred, "
                          + fl.format(m="between_groups") + ")"))
    d_a, d_aS, g_a = _spread(av, aS, an)
    f_, r_ = flags_for(an, aex)
    q_p, q_why = _auroc_homogeneity(eng, model, [k for k, ok in zip(keys, [n in an for n in names]) if ok])
    out.append(_gap_entry("auroc_gap", "between_groups", None, g_a, d_a, d_aS, cfg=cfg, flags=f_,
                          reason=r_ if q_why is None else "; ".join(x for x in (r_, q_why) if x),
                          p=(q_p, P_Q if q_p is not None else None)))
    # light vs dark, on the pooled DDI groups
    light, dark = ("group", "I-II"), ("group", "V-VI")
    if light in vals and dark in vals and not math.isnan(vals[light]["auroc"]) and not math.isnan(vals[dark]["auroc"]):
        il, idk = eng.rows[light], eng.rows[dark]
        s = eng.frame["_score_" + model].to_numpy()
        dl = delong_test(s[il], eng.y[il], s[idk], eng.y[idk])
        pf = [f for f in ("unreliable_group",) if {"I-II", "V-VI"} & {e["group"] for e in groups_out
                                                                      if e["level"] == "group" and not e["reliable"]}]
        out.append(_gap_entry("auroc_gap", "pair", None, ("I-II", "V-VI"), vals[light]["auroc"] - vals[dark]["auroc"],
                              samp[light]["auroc"] - samp[dark]["auroc"], cfg=cfg, delong=dl, flags=pf))
    else:
        miss = [g for k, g in ((light, "I-II"), (dark, "V-VI")) if k not in vals or math.isnan(vals[k]["auroc"])]
        out.append(_gap_entry("auroc_gap", "pair", None, ("I-II", "V-VI"), None, None, cfg=cfg,
                              reason=f"AUROC not available for {', '.join(miss)}"))
    if len(av):
        lo = int(np.argmin(av))
        out.append(_gap_entry("worst_group_auroc", "min", None, (an[lo],), float(av[lo]), aS.min(1), cfg=cfg, p=None,
                              flags=f_, reason=r_))
    else:
        out.append(_gap_entry("worst_group_auroc", "min", None, (), None, None, cfg=cfg))
    return out


def _ratios(eng: _Engine, model: str, level: str, reference: str, groups_out: list[dict]) -> list[dict]:
    cfg = eng.cfg
    lo_b, hi_b = cfg.ratio_bounds
    unreliable = {e["group"] for e in groups_out if e["level"] == level and not e["reliable"]}
    ref = (level, reference)
    out = []
    for lvl, g, _ in eng.keys:
        if lvl != level or g == reference:
            continue
        for m in RATIO_METRICS:
            a, b = eng.values[model][(lvl, g)][m], eng.values[model][ref][m]
            flags = ["unreliable_group"] if {g, reference} & unreliable else []
            if math.isnan(a) or math.isnan(b) or b == 0:
                out.append({"group": g, "reference": reference, "metric": m, "value": None, "ci_low": None,
                            "ci_high": None, "p_value": None, "flags": ["undefined"] + flags,
                            "reason": f"{m} is undefined or zero for {g if math.isnan(a) else reference}"})
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                S = eng.samples[model][(lvl, g)][m] / eng.samples[model][ref][m]
            S = np.where(np.isfinite(S), S, np.nan)
            r = a / b
            lo, hi, _ = percentile_ci(S, level=cfg.ci_level)
            if not lo_b <= r <= hi_b:
                flags.insert(0, "outside_bounds")
            out.append({"group": g, "reference": reference, "metric": m, "value": r, "ci_low": lo, "ci_high": hi,
                        "p_value": bootstrap_p_value(r, S, null=1.0), "flags": flags, "reason": None})
    return out


def _intersections(frame: pd.DataFrame, score: np.ndarray, threshold: float, level: str, cfg: AuditConfig):
    if not (frame["diagnosis"] != "").any():
        return None
    col = frame["fst_group"] if level == "group" else frame["fst_type"].map(lambda t: ROMAN[t - 1])
    pred = score >= threshold
    y = frame["label"].to_numpy(bool)
    cells = []
    names = list(FST_GROUPS) if level == "group" else list(ROMAN)
    for g in names:
        for dx in sorted(set(frame["diagnosis"]) - {""}):
            idx = np.flatnonzero((col.to_numpy() == g) & (frame["diagnosis"].to_numpy() == dx))
            if len(idx) == 0:
                continue
            P = int(y[idx].sum())
            cell = {"group": g, "level": level, "diagnosis": dx, "n": len(idx), "positives": P,
                    "masked": len(idx) < cfg.min_cell_n}
            if cell["masked"]:
                cell.update(accuracy=None, sensitivity=None, specificity=None, mean_score=None)
            else:
                yy, pp = y[idx], pred[idx]
                cell.update(accuracy=float((yy == pp).mean()),
                            sensitivity=float(pp[yy].mean()) if P else None,
                            specificity=float((~pp[~yy]).mean()) if P < len(idx) else None,
                            mean_score=float(score[idx].mean()))
            cells.append(cell)
    return {"by": ["group", "diagnosis"], "min_cell_n": cfg.min_cell_n, "cells": cells}


def _comparison(eng: _Engine, base: str, cand: str, criteria: Sequence[Criterion], n_common: int) -> dict:
    cfg = eng.cfg
    deltas = []
    by_group = {}
    for lvl, g, _ in eng.keys:
        for m in COMPARE_METRICS:
            a, b = eng.values[base][(lvl, g)][m], eng.values[cand][(lvl, g)][m]
            Sa, Sb = eng.samples[base][(lvl, g)][m], eng.samples[cand][(lvl, g)][m]
            e = {"group": g, "level": lvl, "metric": m, "baseline": a, "candidate": b}
            if math.isnan(a) or math.isnan(b):
                e.update(delta=None, ci_low=None, ci_high=None, relative=None, relative_ci_low=None,
                         relative_ci_high=None, p_value=None, flags=["undefined"])
            else:
                d, S = b - a, Sb - Sa
                lo, hi, _ = percentile_ci(S, level=cfg.ci_level)
                with np.errstate(divide="ignore", invalid="ignore"):
                    R = np.where(Sa != 0, S / Sa, np.nan)
                rel = d / a if a != 0 else float("nan")
                rlo, rhi, _ = percentile_ci(R, level=cfg.ci_level)
                e.update(delta=d, ci_low=lo, ci_high=hi, relative=rel, relative_ci_low=rlo, relative_ci_high=rhi,
                         p_value=bootstrap_p_value(d, S), flags=[])
            deltas.append(e)
            by_group[(g, m)] = e
    crit_out = []
    for c in criteria:
        e = by_group.get((c.group, c.metric))
        entry = {"name": c.name, "description": c.description, "group": c.group, "metric": c.metric, "kind": c.kind,
                 "bound": c.bound}
        if e is None or e["relative"] is None or math.isnan(e["relative"]):
            entry.update(observed=None, ci_low=None, ci_high=None, passed=None, confident=None)
        else:
            entry.update(observed=e["relative"], ci_low=e["relative_ci_low"], ci_high=e["relative_ci_high"],
                         passed=c.passes(e["relative"]),
                         confident=(c.passes(e["relative_ci_low"]) if c.passes(e["relative"])
                                    else not c.passes(e["relative_ci_high"])))
        crit_out.append(entry)
    if any(c["passed"] is None for c in crit_out):
        verdict = "undefined"
        reason = "cannot evaluate: " + ", ".join(
            f"{c['name']} ({c['group']} not audited or {c['metric']} undefined)" for c in crit_out if c["passed"] is None)
    elif all(c["passed"] for c in crit_out):
        verdict, reason = "pass", f"all {len(crit_out)} criteria met"
    else:
        verdict = "fail"
        reason = "not met: " + ", ".join(c["description"] or c["name"] for c in crit_out if not c["passed"])
    return {"baseline": base, "candidate": cand, "paired": True, "n_common": n_common, "deltas": deltas,
            "criteria": crit_out, "verdict": verdict, "verdict_reason": reason}


def _p_value_method() -> str:
    return ("equalized-odds and equal-opportunity gaps: permutation test (skin types shuffled within malignant and "
            "within benign rows); demographic parity: permutation test (shuffled over all rows); AUROC gap between "
            "groups: Cochran's Q of the group AUROCs with DeLong variances (chi-square, K-1 df); AUROC gap I-II vs "
            "V-VI, ratios and model comparisons: two-sided bootstrap test, distribution centred on the observed "
            "value (Hall & Wilson 1991), plus DeLong's test for the I-II vs V-VI gap")


def _audit_frames(frames: dict[str, pd.DataFrame], *, bad_rows: dict[str, list[dict]], n_input: dict[str, int],
                  threshold: float | Literal["model"], target_sensitivity: float | None, cfg: AuditConfig,
                  group_level: Literal["auto", "type", "group"], reference_group: str | None,
                  criteria: Sequence[Criterion] | None, fst_source: str, fst_source_detail: str,
                  data_info: dict, scores: str, paths: dict[str, str | None], kinds: dict[str, str],
                  model_thresholds: dict[str, float | None]) -> AuditResult:
    names = list(frames)
    base = frames[names[0]]
    if len(names) > 1:
        for nm, fr in frames.items():
            dup = fr["image"][fr["image"].duplicated()]
            if len(dup):
                raise InputError(f"{nm}: image {dup.iloc[0]!r} appears more than once ({len(dup)} duplicated rows); "
                                 "comparing models needs one row per image")
        common = set(base["image"])
        for fr in frames.values():
            common &= set(fr["image"])
        if not common:
            raise InputError(f"no image is scored by all of {', '.join(names)}; cannot compare them")
        frame = base[base["image"].isin(common)].reset_index(drop=True)
        for nm, fr in frames.items():
            s = fr.set_index("image")["score"]
            frame["_score_" + nm] = s.reindex(frame["image"]).to_numpy(float)
            other = fr.set_index("image")["label"].reindex(frame["image"]).to_numpy(bool)
            if (other != frame["label"].to_numpy(bool)).any():
                raise InputError(f"{nm}: labels differ from {names[0]}'s for the same images; "
                                 "models must be compared on the same ground truth")
    else:
        frame = base.reset_index(drop=True).copy()
        frame["_score_" + names[0]] = frame["score"].to_numpy(float)
    if len(frame) == 0:
        skipped = [r for rows in bad_rows.values() for r in rows]
        first = f"; first: {skipped[0]['image']!r}: {skipped[0]['reason']}" if skipped else ""
        raise InputError(f"no usable rows: every one of the {len(skipped)} row(s) was skipped{first}")
    y = frame["label"].to_numpy(bool)
    thresholds: dict[str, float] = {}
    for nm in names:
        s = frame["_score_" + nm].to_numpy(float)
        if target_sensitivity is not None:
            if not 0 < target_sensitivity <= 1:
                raise InputError(f"target_sensitivity: expected a value in (0, 1], got {target_sensitivity}")
            thresholds[nm] = _choose_threshold(s, y, target_sensitivity)
        elif isinstance(threshold, str) and threshold.lower().startswith("ddi:"):
            thresholds[nm] = _ddi_threshold(threshold)
        elif threshold == "model":
            if model_thresholds.get(nm) is None:
                raise InputError(f"threshold='model': {nm} has no threshold saved with it (metadata key 'threshold'); "
                                 "give a number instead")
            thresholds[nm] = float(model_thresholds[nm])
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= float(threshold) <= 1:
                raise InputError(f"threshold: expected a number in [0, 1], 'model' or 'ddi:NAME', got {threshold!r}")
            thresholds[nm] = float(threshold)
    policy = ("target_sensitivity" if target_sensitivity is not None else "model" if threshold == "model" else
              "ddi" if isinstance(threshold, str) else "fixed")

    eng = _Engine(frame, {nm: frame["_score_" + nm].to_numpy(float) for nm in names}, thresholds, cfg)
    if group_level not in ("auto", "type", "group"):
        raise InputError(f"group_level: expected 'auto', 'type' or 'group', got {group_level!r}")
    if group_level == "type" and not eng.all_typed:
        raise InputError("group_level='type': some rows have only a skin-type group (e.g. DDI's 12/34/56), "
                         "not an exact type; use group_level='group'")
    level = ("type" if eng.all_typed else "group") if group_level == "auto" else group_level
    level_groups = [(g, len(eng.rows[(lvl, g)])) for lvl, g, _ in eng.keys if lvl == level]
    if reference_group is None:  # the lightest group with enough images (the usual reference in dermatology)
        reference = next((g for g, n in level_groups if n >= cfg.min_group_n), max(level_groups, key=lambda t: t[1])[0])
    else:
        valid = [g for g, _ in level_groups]
        if reference_group not in valid:
            raise InputError(f"reference_group: {reference_group!r} is not a {level} present in the data; "
                             f"expected one of {', '.join(valid)}")
        reference = reference_group

    models_out = []
    for nm in names:
        groups = [_group_entry(eng, nm, (lvl, g), ts, thresholds[nm]) for lvl, g, ts in eng.keys if lvl != "all"]
        overall = _group_entry(eng, nm, ("all", "all"), eng.keys[-1][2], thresholds[nm])
        skipped: dict[str, int] = {}
        for r in bad_rows.get(nm, []):
            skipped[r["status"]] = skipped.get(r["status"], 0) + 1
        if len(names) > 1 and len(frames[nm]) > len(frame):
            skipped["not_in_all_models"] = len(frames[nm]) - len(frame)
        models_out.append({
            "name": nm, "path": paths.get(nm), "kind": kinds.get(nm, "predictions"), "threshold": thresholds[nm],
            "counts": {"n_input": n_input.get(nm, len(frames[nm])), "n_used": len(frame), "skipped": skipped},
            "bad_rows": bad_rows.get(nm, [])[:200],
            "overall": overall, "groups": groups,
            "fairness": _fairness(eng, nm, level, groups, thresholds[nm]),
            "ratios": _ratios(eng, nm, level, reference, groups),
            "intersections": _intersections(frame, frame["_score_" + nm].to_numpy(float), thresholds[nm], level, cfg),
        })
    crit = tuple(criteria) if criteria is not None else default_criteria(level, min_gain=cfg.min_gain,
                                                                          max_drop=cfg.max_drop)
    comparisons = [_comparison(eng, names[0], nm, crit, len(frame)) for nm in names[1:]]
    levels = sorted({lvl for lvl, _, _ in eng.keys if lvl != "all"}, key=["type", "group"].index)
    meta = {
        "fst_source": fst_source, "fst_source_detail": fst_source_detail, "group_level": level, "levels": levels,
        "threshold_policy": policy, "target_sensitivity": target_sensitivity, "n_boot": cfg.n_boot, "seed": cfg.seed,
        "ci_level": cfg.ci_level,
        "ci_method": "percentile bootstrap, resampling rows within each (group, label) stratum",
        "p_value_method": _p_value_method(), "reference_group": reference, "ratio_bounds": list(cfg.ratio_bounds),
        "min_group_n": cfg.min_group_n, "min_group_positives": cfg.min_group_positives,
        "min_cell_n": cfg.min_cell_n, "ece_bins": cfg.ece_bins, "positive_class": data_info.pop("positive_class",
                                                                                               "malignant"),
        "scores": scores,
    }
    return AuditResult(meta=meta, data=data_info, models=models_out, comparisons=comparisons,
                       frames={nm: frames[nm] for nm in names}, config=cfg)


def _config(n_boot, seed, ci_level, min_group_n, min_group_positives, min_cell_n, ratio_bounds, min_gain, max_drop):
    if not isinstance(n_boot, int) or n_boot < 1:
        raise InputError(f"n_boot: expected a positive whole number of resamples, got {n_boot!r}")
    if not 0 < ci_level < 1:
        raise InputError(f"ci_level: expected a value in (0, 1), got {ci_level!r}")
    lo, hi = ratio_bounds
    if not 0 < lo < 1 < hi:
        raise InputError(f"ratio_bounds: expected (low < 1 < high), got {tuple(ratio_bounds)!r}")
    return AuditConfig(n_boot=n_boot, seed=seed, ci_level=ci_level, min_group_n=min_group_n,
                       min_group_positives=min_group_positives, min_cell_n=min_cell_n,
                       ratio_bounds=(float(lo), float(hi)), min_gain=min_gain, max_drop=max_drop)


def audit_predictions(
    predictions: pd.DataFrame | str | Path,
    *,
    threshold: float | str = DEFAULTS.threshold,
    target_sensitivity: float | None = None,
    n_boot: int = DEFAULTS.n_boot,
    seed: int = DEFAULTS.seed,
    ci_level: float = DEFAULTS.ci_level,
    scores: Literal["probabilities", "logits"] = "probabilities",
    group_level: Literal["auto", "type", "group"] = "auto",
    reference_group: str | None = None,
    min_group_n: int = DEFAULTS.min_group_n,
    min_group_positives: int = DEFAULTS.min_group_positives,
    min_cell_n: int = DEFAULTS.min_cell_n,
    ratio_bounds: tuple[float, float] = DEFAULTS.ratio_bounds,
    name: str | None = None,
    fst_source: Literal["human", "estimated", "given"] = "given",
    fst_source_detail: str | None = None,
) -> AuditResult:
    """Audit one model's predictions per Fitzpatrick skin type.

    Parameters
    ----------
    predictions : a table (or CSV path) with columns ``image, score, label, fst`` and optionally
        ``diagnosis`` (see :data:`PREDICTION_COLUMNS`). Rows with an empty or unknown ``fst``, an
        empty label or a non-numeric score are skipped and listed in ``bad_rows``; an image listed
        twice counts once when its rows agree and is refused when they differ
        (:func:`fairskin.audits._predictions.resolve_duplicates`).
    threshold : operating threshold (predict malignant when ``score >= threshold``),
        ``"model"`` for the threshold saved with the model (``predictions.attrs["threshold"]``), or
        ``"ddi:NAME"`` for DDI's threshold of its model NAME (:data:`DDI_THRESHOLDS`).
    target_sensitivity : choose the threshold on all rows so that sensitivity reaches this value
        (overrides ``threshold``).
    n_boot, seed, ci_level : stratified bootstrap (rows resampled within group x label).
    scores : ``"logits"`` applies a sigmoid; probabilities outside [0, 1] are refused otherwise.
    group_level : level the fairness gaps are computed over: exact types when every row has
        one (``"auto"``), else the DDI groups.
    reference_group : group the ratios are taken against (default: the lightest group with at least
        ``min_group_n`` images, else the largest).
    """
    cfg = _config(n_boot, seed, ci_level, min_group_n, min_group_positives, min_cell_n, ratio_bounds,
                  DEFAULTS.min_gain, DEFAULTS.max_drop)
    source = "predictions"
    path = None
    if isinstance(predictions, (str, Path)):
        path = str(predictions)
        source = Path(predictions).name
        predictions = _read_predictions_csv(predictions)
    name = name or (source if path else "model")
    clean, bad = clean_predictions(predictions, scores=scores, source=source)
    return _audit_frames(
        {name: clean}, bad_rows={name: bad}, n_input={name: len(predictions)}, threshold=threshold,
        target_sensitivity=target_sensitivity, cfg=cfg, group_level=group_level, reference_group=reference_group,
        criteria=None, fst_source=fst_source,
        fst_source_detail=fst_source_detail or "predictions column 'fst'",
        data_info={"root": None, "format": "predictions", "n_rows": len(predictions)}, scores=scores,
        paths={name: path}, kinds={name: predictions.attrs.get("kind", "predictions")},
        model_thresholds={name: predictions.attrs.get("threshold")})


def _read_predictions_csv(path: str | Path) -> pd.DataFrame:
    return read_predictions_csv(path)


def compare_audits(
    audits: Sequence[AuditResult],
    *,
    criteria: Sequence[Criterion] | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
) -> AuditResult:
    """Audit two or more models on their common images with one paired bootstrap and compare each
    model after the first against the first.

    Each audit's settings (threshold, bootstrap, levels) come from the first audit unless given.
    ``criteria`` default to :func:`default_criteria` for the audit's group level. Returns an
    :class:`AuditResult` holding every model and one comparison per candidate.
    """
    if len(audits) < 2:
        raise InputError(f"audits: need at least two audits to compare, got {len(audits)}")
    first = audits[0]
    cfg = first.config
    if n_boot is not None or seed is not None:
        cfg = replace(cfg, n_boot=cfg.n_boot if n_boot is None else n_boot, seed=cfg.seed if seed is None else seed)
    frames, bad, n_input, paths, kinds, thr = {}, {}, {}, {}, {}, {}
    for a in audits:
        for m in a.models:
            nm = m["name"]
            if nm in frames:
                raise InputError(f"audits: two models are named {nm!r}; give them distinct names")
            frames[nm] = a.frames[nm]
            bad[nm] = m["bad_rows"]
            n_input[nm] = m["counts"]["n_input"]
            paths[nm], kinds[nm], thr[nm] = m["path"], m["kind"], m["threshold"]
    meta = first.meta
    policy = meta["threshold_policy"]
    return _audit_frames(
        frames, bad_rows=bad, n_input=n_input,
        threshold="model" if policy in ("model", "fixed", "ddi") else DEFAULTS.threshold,
        target_sensitivity=meta["target_sensitivity"], cfg=cfg, group_level=meta["group_level"],
        reference_group=meta["reference_group"], criteria=criteria, fst_source=meta["fst_source"],
        fst_source_detail=meta["fst_source_detail"], data_info=dict(first.data, positive_class=meta["positive_class"]),
        scores=meta["scores"], paths=paths, kinds=kinds, model_thresholds=thr)
