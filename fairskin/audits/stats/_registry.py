"""Every per-group metric and every fairness gap, defined once.

A :class:`GroupMetric` names a metric computed per skin type (the engine of :mod:`._metrics`
computes it for all bootstrap resamples at once), its definition, how its interval is made and
its scikit-learn / fairlearn equivalent. A :class:`Gap` names a statistic across the groups,
built from per-group rates by :func:`gap_terms` (one definition for its point value, which
equals fairlearn's, for its interval and for its permutation test), with its test and its
fairlearn call. The audit, the experiment's statistics, the CLI tables and the reports iterate
these tables (the reports through the audit JSON's ``meta.metrics``, :func:`metric_table`); a new
metric is one :func:`register_metric` call (or one entry here), a new gap one entry of :data:`GAPS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["GroupMetric", "Gap", "GROUP_METRICS", "METRICS", "GAPS", "THRESHOLD_METRICS", "gap_terms", "gap_value",
           "P_VALUE_METHODS", "metric_table", "ratio", "register_metric"]


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` elementwise, NaN where ``b`` is 0 (a rate with an empty denominator is undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


#: the engine's metrics that do not come from the threshold's counts: computed from the rows' score
#: order (:func:`._metrics.rank_metrics`) or the calibration bins (:func:`._metrics.rate_metrics`)
ENGINE_METRICS = ("auroc", "auprc", "ece")


@dataclass(frozen=True)
class GroupMetric:
    """A metric of one group's rows.

    A metric of the operating threshold's counts gives ``from_counts``: a function of the float
    arrays ``tp``, ``fp``, ``tn``, ``fn`` (one value per bootstrap resample, all of the same shape)
    returning the metric's values; the engine then bootstraps it, the threshold's resampling noise
    reaches it, and it appears in the audit JSON, the terminal table (``headline``) and the report.
    """

    name: str
    label: str  # how tables and reports name it
    definition: str
    #: interval method (a key of ``._methods.INTERVALS``) on independent rows
    interval: str
    #: for "wilson": the count and the denominator, names from :data:`COUNTS`
    count: tuple[str, str] | None = None
    reference: str | None = None  # the scikit-learn function it equals
    #: the metric from the threshold's counts (None: one of :data:`ENGINE_METRICS`)
    from_counts: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None
    digits: int = 2  # decimals in tables
    #: a column of the terminal's per-group table and a forest plot of the report
    headline: bool = False
    #: a column of the report's metric tables and a metric of the experiment's per-arm statistics
    in_report: bool = True

    @property
    def threshold_dependent(self) -> bool:
        """Whether it changes with the operating threshold (and takes a chosen threshold's noise)."""
        return self.from_counts is not None


#: counts of a group at the operating threshold (what the Wilson intervals use)
COUNTS = ("tp", "fp", "tn", "fn", "positives", "negatives", "n", "predicted_positive", "predicted_negative")

GROUP_METRICS: dict[str, GroupMetric] = {m.name: m for m in (
    GroupMetric("auroc", "AUROC", "area under the ROC curve (Mann-Whitney U / (P N), ties count 1/2)",
                "logit_delong", reference="sklearn.metrics.roc_auc_score", headline=True),
    GroupMetric("auprc", "AUPRC", "average precision (step-wise area under the precision-recall curve)",
                "logit_auprc", reference="sklearn.metrics.average_precision_score"),
    GroupMetric("sensitivity", "sensitivity", "TP / (TP + FN): malignant lesions flagged (true positive rate, "
                "recall)", "wilson", ("tp", "positives"), "sklearn.metrics.recall_score",
                from_counts=lambda c: ratio(c["tp"], c["tp"] + c["fn"]), headline=True),
    GroupMetric("specificity", "specificity", "TN / (TN + FP): benign lesions passed (1 - false positive rate)",
                "wilson", ("tn", "negatives"), from_counts=lambda c: ratio(c["tn"], c["tn"] + c["fp"]),
                headline=True),
    GroupMetric("ppv", "PPV", "TP / (TP + FP): flagged lesions that are malignant (precision)", "wilson",
                ("tp", "predicted_positive"), "sklearn.metrics.precision_score",
                from_counts=lambda c: ratio(c["tp"], c["tp"] + c["fp"])),
    GroupMetric("npv", "NPV", "TN / (TN + FN): passed lesions that are benign", "wilson",
                ("tn", "predicted_negative"), from_counts=lambda c: ratio(c["tn"], c["tn"] + c["fn"])),
    GroupMetric("balanced_accuracy", "balanced accuracy", "(sensitivity + specificity) / 2", "mover",
                reference="sklearn.metrics.balanced_accuracy_score",
                from_counts=lambda c: (ratio(c["tp"], c["tp"] + c["fn"]) + ratio(c["tn"], c["tn"] + c["fp"])) / 2),
    GroupMetric("f1", "F1", "2 TP / (2 TP + FP + FN)", "logit_f1", reference="sklearn.metrics.f1_score",
                from_counts=lambda c: ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"])),
    GroupMetric("ece", "ECE", "expected calibration error: sum over equal-width score bins of bin share x "
                "|mean score - share malignant|", "extremum", digits=3, headline=True),
    GroupMetric("selection_rate", "selection rate", "(TP + FP) / n: share predicted malignant", "wilson",
                ("predicted_positive", "n"), "fairlearn.metrics.selection_rate",
                from_counts=lambda c: ratio(c["tp"] + c["fp"], c["tp"] + c["fp"] + c["tn"] + c["fn"])),
)}


class _Live(Mapping):
    """A read-only view of :data:`GROUP_METRICS` (a metric registered later is in it too)."""

    def __init__(self, value: Callable[[GroupMetric], object], keep: Callable[[GroupMetric], bool] = lambda m: True):
        self._value, self._keep = value, keep

    def __getitem__(self, name: str):
        m = GROUP_METRICS[name]
        if not self._keep(m):
            raise KeyError(name)
        return self._value(m)

    def __iter__(self) -> Iterator[str]:
        return (n for n, m in GROUP_METRICS.items() if self._keep(m))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


#: metric name -> one-line definition (the report's glossary); follows :data:`GROUP_METRICS`
METRICS: Mapping[str, str] = _Live(lambda m: m.definition)
#: the metrics that depend on the operating threshold (names; follows :data:`GROUP_METRICS`)
THRESHOLD_METRICS: Mapping[str, GroupMetric] = _Live(lambda m: m, lambda m: m.threshold_dependent)


def register_metric(metric: GroupMetric, *, replace: bool = False) -> GroupMetric:
    """Add a per-group metric to :data:`GROUP_METRICS`: the engine computes and bootstraps it, its
    interval comes from the interval method it names, and it reaches the audit JSON (every group's
    ``metrics`` and ``meta.metrics``), the terminal table (``headline``) and the HTML report
    (``in_report``). Returns the metric (usable as a decorator's result)."""
    from fairskin.audits.stats._methods import INTERVALS

    if metric.name in GROUP_METRICS and not replace:
        raise ValueError(f"register_metric: metric {metric.name!r} is already registered (pass replace=True)")
    if metric.from_counts is None and metric.name not in ENGINE_METRICS:
        raise ValueError(f"register_metric: metric {metric.name!r} needs from_counts (a function of the counts "
                         f"tp, fp, tn, fn); only {', '.join(ENGINE_METRICS)} are computed by the engine itself")
    if metric.interval not in INTERVALS:
        raise ValueError(f"register_metric: metric {metric.name!r} names interval method {metric.interval!r}; "
                         f"registered: {', '.join(INTERVALS)}")
    if metric.interval == "wilson" and (metric.count is None or not set(metric.count) <= set(COUNTS)):
        raise ValueError(f"register_metric: a Wilson interval needs count=(count, denominator) from {COUNTS}")
    GROUP_METRICS[metric.name] = metric
    return metric


def metric_table() -> list[dict]:
    """The metrics as the audit JSON's ``meta.metrics`` lists them, in table order: what a reader
    of the JSON (the report, which does not import the audit) needs to show them."""
    return [{"name": m.name, "label": m.label, "definition": m.definition, "digits": m.digits,
             "headline": m.headline, "in_report": m.in_report, "threshold_dependent": m.threshold_dependent}
            for m in GROUP_METRICS.values()]


Kind = Literal["range", "to_overall", "min", "pair"]

#: p-value method key -> what it tests and how
P_VALUE_METHODS: dict[str, str] = {
    "permutation_within_label": "skin types shuffled among malignant rows and among benign rows (among clusters "
                                "when rows are clustered); p = (1 + #{T* >= T}) / (1 + n_boot)",
    "permutation": "skin types shuffled over all rows (clusters); p = (1 + #{T* >= T}) / (1 + n_boot)",
    "delong_chi2": "Cochran's Q of the group AUROCs weighted by their DeLong variances, chi-square with K-1 df",
    "bootstrap": "two-sided bootstrap test, the distribution centred on the observed value (Hall & Wilson 1991)",
}


@dataclass(frozen=True)
class Gap:
    """A fairness statistic across the groups of one level."""

    name: str
    method: Literal["between_groups", "to_overall", "pair", "min"]
    agg: Literal["worst_case", "mean"] | None
    #: per-group rates it is built from ("fpr" is 1 - specificity)
    rates: tuple[str, ...]
    kind: Kind
    definition: str
    p_value: str | None
    fairlearn: str | None = None

    @property
    def key(self) -> str:
        return "/".join(x for x in (self.name, self.method, self.agg) if x)


def _fl(fn: str, method: str, agg: str | None = None) -> str:
    tail = f", agg={agg!r}" if agg else ""
    return f"{fn}(y_true, y_pred, sensitive_features=fst, method={method!r}{tail})"


GAPS: tuple[Gap, ...] = (
    Gap("equalized_odds_difference", "between_groups", "worst_case", ("sensitivity", "fpr"), "range",
        "max(TPR max-min, FPR max-min) over groups", "permutation_within_label",
        _fl("equalized_odds_difference", "between_groups", "worst_case")),
    Gap("equalized_odds_difference", "between_groups", "mean", ("sensitivity", "fpr"), "range",
        "mean of TPR max-min and FPR max-min", "permutation_within_label",
        _fl("equalized_odds_difference", "between_groups", "mean")),
    Gap("equalized_odds_difference", "to_overall", "worst_case", ("sensitivity", "fpr"), "to_overall",
        "max over groups and rates of |group rate - overall rate|", "permutation_within_label",
        _fl("equalized_odds_difference", "to_overall", "worst_case")),
    Gap("equalized_odds_difference", "to_overall", "mean", ("sensitivity", "fpr"), "to_overall",
        "mean over the two rates of max over groups |group rate - overall rate|", "permutation_within_label",
        _fl("equalized_odds_difference", "to_overall", "mean")),
    Gap("equal_opportunity_difference", "between_groups", None, ("sensitivity",), "range", "TPR max-min",
        "permutation_within_label", _fl("equal_opportunity_difference", "between_groups")),
    Gap("demographic_parity_difference", "between_groups", None, ("selection_rate",), "range",
        "selection rate max-min", "permutation", _fl("demographic_parity_difference", "between_groups")),
    Gap("auroc_gap", "between_groups", None, ("auroc",), "range", "best-group AUROC minus worst-group AUROC",
        "delong_chi2"),
    Gap("auroc_gap", "pair", None, ("auroc",), "pair", "AUROC(I-II) minus AUROC(V-VI) (on the Monk scale "
        "1-3 minus 8-10), on the pooled rows of those groups", "bootstrap"),
    Gap("worst_group_auroc", "min", None, ("auroc",), "min", "lowest group AUROC", None),
)


def gap_terms(gap: Gap, values: Mapping[str, np.ndarray], samples: Mapping[str, np.ndarray] | None = None,
              overall: Mapping[str, np.ndarray] | None = None, overall_samples: Mapping[str, np.ndarray] | None = None
              ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[float], tuple[float, float]]:
    """The gap as ``sum_j w_j max_p theta_jp``: its candidate terms, their weights and the
    statistic's natural bounds (what :func:`._intervals.extremum` takes).

    ``values[rate]`` holds the groups' point rates (``k``), ``samples[rate]`` their bootstrap
    samples (``B x k``; omit for point values only), ``overall[rate]`` the all-rows rate (for
    ``to_overall``). A max-minus-min is the largest ordered pairwise difference; ``worst_case``
    takes the largest over both rates (one term), ``mean`` averages one term per rate. Groups
    where a rate is undefined (NaN) are left out.
    """
    from fairskin.audits.stats._intervals import pairwise

    def one(rate):
        v = np.asarray(values[rate], float)
        S = (np.asarray(samples[rate], float) if samples is not None else v[None, :])
        ok = ~np.isnan(v)
        return v[ok], S[:, ok]

    parts = []
    for rate in gap.rates:
        v, S = one(rate)
        if gap.kind == "range":
            parts.append(pairwise(v, S) if len(v) >= 2 else (np.zeros(0), np.zeros((len(S), 0))))
        elif gap.kind == "to_overall":
            o = float(np.asarray(overall[rate]))
            oS = (np.asarray(overall_samples[rate], float)[:, None] if overall_samples is not None
                  else np.array([[o]]))
            parts.append((np.r_[v - o, o - v], np.c_[S - oS, oS - S]))
        elif gap.kind == "min":
            parts.append((-v, -S))
        else:
            raise ValueError(f"gap kind {gap.kind!r} is not an extremum")
    if gap.agg == "mean":
        return parts, [1.0 / len(parts)] * len(parts), (0.0, 1.0)
    terms = [(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts], axis=1))]
    return terms, [1.0], ((-1.0, 0.0) if gap.kind == "min" else (0.0, 1.0))


def gap_value(gap: Gap, values: Mapping[str, np.ndarray], overall: Mapping[str, np.ndarray] | None = None
              ) -> np.ndarray | float:
    """The gap's value, as fairlearn defines it, from per-group rates ``values[rate]`` (groups on
    the last axis; any leading axes, e.g. permutations, are kept) and the all-rows rates
    ``overall[rate]`` (the leading axes). Groups with an undefined rate (NaN) are left out; NaN
    when fewer than two groups (one for ``to_overall`` and ``min``) are defined. The same
    candidates as :func:`gap_terms`: this is their maximum."""
    import warnings

    per_rate = []
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: undefined
        for rate in gap.rates:
            v = np.asarray(values[rate], float)
            if gap.kind == "range":
                d = np.nanmax(v, -1) - np.nanmin(v, -1)
                d = np.where(np.count_nonzero(~np.isnan(v), -1) >= 2, d, np.nan)
            elif gap.kind == "to_overall":
                d = np.nanmax(np.abs(v - np.asarray(overall[rate], float)[..., None]), -1)
            elif gap.kind == "min":
                d = np.nanmin(v, -1)
            else:
                raise ValueError(f"gap kind {gap.kind!r} is not an extremum")
            per_rate.append(d)
    out = np.mean(per_rate, 0) if gap.agg == "mean" else np.max(per_rate, 0)
    return float(out) if np.ndim(out) == 0 else out
