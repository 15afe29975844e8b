"""Per-skin-type audit of a skin-lesion classifier, with bootstrap confidence intervals.

Public API of ``fairskin audit`` (the JSON of :meth:`AuditResult.to_dict` is documented in
``docs/audit-json.md``)::

    from fairskin.audits.classifier import audit_predictions, audit_model, compare_audits
    result = audit_predictions(df, threshold=0.5, n_boot=1000, seed=0)
    result.group("V-VI")["metrics"]["auroc"]   # {"value", "ci_low", "ci_high", "flags", "reason"}

Building blocks: ``stratified_counts`` yields bootstrap count matrices of shape (n_rows, k);
``weighted_metrics(SortedRows.build(...), W)`` computes every metric for each of the k columns.
"""

from fairskin.audits.stats import (
    bootstrap_p_value,
    cluster_counts,
    delong_test,
    holm,
    percentile_ci,
    stratified_counts,
)
from fairskin.audits.classifier._classifier import audit_predictions, compare_audits
from fairskin.audits.stats import DDI_THRESHOLDS, ThresholdPolicy, parse_threshold
from fairskin.audits.why import CounterfactualConfig, retone_many
from fairskin.audits.classifier._compare import (
    COMPARE_METRICS,
    Criterion,
    criterion_reading,
    default_criteria,
    judge,
    judge_criterion,
    make_criteria,
    verdict_title,
)
from fairskin.audits.stats import RATIO_METRICS, gap_reading
from fairskin.audits.stats import CORRECTED_METRICS, LabelConfusion, read_label_confusion
from fairskin.audits.stats import METHODS as CI_METHODS
from fairskin.audits.stats import (
    extremum,
    extremum_bounds,
    extremum_noise,
    logit_delong,
    mover_difference,
    wilson,
)
from fairskin.audits.stats import METRICS, SortedRows, point_metrics, weighted_metrics
from fairskin.audits.models import LoadedModel, Preprocess, choose_device, load_model, predict
from fairskin.audits.classifier._predictions import CLUSTER_COLUMNS, PREDICTION_COLUMNS, clean_predictions
from fairskin.audits.stats import GAPS, GROUP_METRICS, Gap, GroupMetric, gap_terms, gap_value
from fairskin.audits.stats import (
    INTERVALS,
    THRESHOLD_METRICS,
    IntervalCase,
    interval_method,
    metric_table,
    ratio,
    register_interval,
    register_metric,
)
from fairskin.audits.classifier._result import DEFAULTS, MODEL_SETTINGS, SCHEMA, AuditConfig, AuditResult
from fairskin.audits.classifier._settings import resolve_config
from fairskin.audits.classifier._run import audit, audit_model, read_labels_csv, read_skin_types
from fairskin.audits.classifier._simulation import (
    Design,
    calibration_confusion,
    coverage_study,
    ita_like_confusion,
    population_threshold,
    simulate_predictions,
    true_values,
)
from fairskin.skintone import parse_fst

__all__ = [
    "CI_METHODS", "CounterfactualConfig", "retone_many", "Design", "calibration_confusion", "coverage_study", "ita_like_confusion", "simulate_predictions",
    "population_threshold", "true_values", "CLUSTER_COLUMNS", "COMPARE_METRICS", "DEFAULTS", "DDI_THRESHOLDS", "GAPS", "GROUP_METRICS",
    "METRICS", "MODEL_SETTINGS", "PREDICTION_COLUMNS", "RATIO_METRICS", "SCHEMA",
    "AuditConfig", "AuditResult", "Criterion", "Gap", "GroupMetric", "LoadedModel", "Preprocess", "SortedRows",
    "audit", "audit_model", "audit_predictions", "bootstrap_p_value", "choose_device", "clean_predictions",
    "cluster_counts", "compare_audits", "criterion_reading", "default_criteria", "delong_test", "extremum", "extremum_bounds",
    "extremum_noise", "gap_terms", "gap_value",
    "holm", "judge", "gap_reading", "verdict_title", "CORRECTED_METRICS", "LabelConfusion", "read_label_confusion", "judge_criterion", "load_model", "logit_delong", "make_criteria", "mover_difference",
    "parse_fst", "parse_threshold", "percentile_ci", "resolve_config", "ThresholdPolicy", "point_metrics", "predict",
    "read_labels_csv", "read_skin_types", "stratified_counts", "weighted_metrics", "wilson",
    "INTERVALS", "THRESHOLD_METRICS", "IntervalCase", "interval_method", "metric_table",
    "ratio", "register_interval", "register_metric",
]
