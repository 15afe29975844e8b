"""Self-contained HTML reports of what the other stages computed, one per stage.

Each renderer takes the stage's JSON dict and writes ``report.html`` plus the same dict as
``report.json`` beside it. Pages carry inline CSS and inline SVG plots only: no JavaScript, no
CDN, no network; they open from disk and print cleanly. Inputs are documented in
``docs/label-json.md``, ``docs/audit-json.md`` and ``docs/report-inputs.md``.
"""

from fairskin.reports._audit import plain_summary, render_audit_report
from fairskin.reports._balance import render_balance_report
from fairskin.reports._experiment import render_experiment_report
from fairskin.reports._html import report_outputs, report_paths
from fairskin.reports._label import render_label_report
from fairskin.reports._synthetic import render_synthetic_report
from fairskin.reports._thumbs import ThumbBudget

__all__ = ["ThumbBudget", "plain_summary", "render_audit_report", "render_balance_report", "render_experiment_report",
           "render_label_report", "render_synthetic_report", "report_outputs",
           "report_paths"]
