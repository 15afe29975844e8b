"""Per-skin-type audit of a skin-lesion classifier, with bootstrap confidence intervals.

Public API of ``fairskin audit`` (the JSON of :meth:`AuditResult.to_dict` is documented in
``docs/audit-json.md``)::

    from fairskin.audits.classifier import audit_predictions, audit_model, compare_audits
    result = audit_predictions(df, threshold=0.5, n_boot=1000, seed=0)
    result.group("V-VI")["metrics"]["auroc"]   # {"value", "ci_low", "ci_high", "flags", "reason"}

Building blocks: ``stratified_counts`` yields bootstrap count matrices of shape (n_rows, k);
``weighted_metrics(SortedRows.build(...), W)`` computes every metric for each of the k columns.
"""

from fairskin.audits._bootstrap import bootstrap_p_value, delong_test, percentile_ci, stratified_counts
from fairskin.audits._classifier import (
    DDI_THRESHOLDS,
    DEFAULTS,
    PREDICTION_COLUMNS,
    AuditConfig,
    AuditResult,
    Criterion,
    audit_predictions,
    clean_predictions,
    compare_audits,
    default_criteria,
    make_criteria,
    parse_fst,
)
from fairskin.audits._metrics import METRICS, SortedRows, point_metrics, weighted_metrics
from fairskin.audits._models import LoadedModel, Preprocess, load_model, predict
from fairskin.audits._run import audit, audit_model, read_labels_csv

__all__ = [
    "DEFAULTS", "DDI_THRESHOLDS", "METRICS", "PREDICTION_COLUMNS",
    "AuditConfig", "AuditResult", "Criterion", "LoadedModel", "Preprocess", "SortedRows",
    "audit", "audit_model", "audit_predictions", "bootstrap_p_value", "clean_predictions", "compare_audits",
    "default_criteria", "delong_test", "load_model", "make_criteria", "parse_fst", "percentile_ci",
    "point_metrics", "predict", "read_labels_csv", "stratified_counts", "weighted_metrics",
]
