"""The statistics room: bootstrap resampling, interval methods, the metric and gap registries, the
count-row engine, the label-confusion correction and per-unit (patient, lesion) statistics.

Everything here works on arrays and frames of scores, labels and skin types; nothing loads a model
or reads an image, so the other rooms (``classifier``, ``why``, ``synthetic``) build on it and it
imports none of them.
"""

from fairskin.audits.stats._bootstrap import (
    bootstrap_p_value,
    cluster_counts,
    delong_test,
    holm,
    percentile_ci,
    stratified_counts,
)
from fairskin.audits.stats._engine import Engine
from fairskin.audits.stats._fairness import RATIO_METRICS, fairness, gap_reading, ratios
from fairskin.audits.stats._groups import group_entry, intersections
from fairskin.audits.stats._intervals import (
    EXTREMUM_KAPPA,
    METHODS,
    extremum,
    extremum_bounds,
    extremum_noise,
    logit_delong,
    mover_difference,
    percentile,
    wilson,
)
from fairskin.audits.stats._methods import INTERVALS, IntervalCase, IntervalMethod, interval_method, register_interval
from fairskin.audits.stats._metrics import SortedRows, point_metrics, weighted_metrics
from fairskin.audits.stats._misclass import CORRECTED_METRICS, LabelConfusion, read_label_confusion
from fairskin.audits.stats._registry import (
    GAPS,
    GROUP_METRICS,
    METRICS,
    P_VALUE_METHODS,
    THRESHOLD_METRICS,
    Gap,
    GroupMetric,
    gap_terms,
    gap_value,
    metric_table,
    ratio,
    register_metric,
)
from fairskin.audits.stats._threshold import DDI_THRESHOLDS, ThresholdPolicy, choose_threshold, parse_threshold
from fairskin.audits.stats._unitstats import ci_entry, difference, group_means, permutation_range_test, unit_ids

__all__ = [
    "CORRECTED_METRICS", "DDI_THRESHOLDS", "EXTREMUM_KAPPA", "Engine", "GAPS", "GROUP_METRICS", "Gap", "GroupMetric", "LabelConfusion",
    "METHODS", "METRICS", "P_VALUE_METHODS", "RATIO_METRICS", "SortedRows", "bootstrap_p_value", "ci_entry",
    "cluster_counts", "delong_test", "difference", "extremum", "extremum_bounds", "extremum_noise", "fairness",
    "gap_reading", "gap_terms", "gap_value", "group_entry", "group_means", "holm", "intersections", "logit_delong",
    "mover_difference", "percentile", "percentile_ci", "permutation_range_test", "point_metrics", "ratios",
    "read_label_confusion", "stratified_counts", "ThresholdPolicy", "choose_threshold", "parse_threshold", "unit_ids",
    "weighted_metrics", "wilson",
    "INTERVALS", "IntervalCase", "IntervalMethod", "interval_method", "register_interval", "THRESHOLD_METRICS",
    "metric_table", "ratio", "register_metric",
]
