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
from fairskin.reports._index import render_demo_index
from fairskin.reports._label import render_label_report
from fairskin.reports._synthetic import render_synthetic_report
from fairskin.reports._thumbs import ThumbBudget

# building blocks, for later stages that write a section in the same style (the reader study)
from fairskin.reports._html import (Markup, ci_cell, dl, esc, fmt, fmt_p, fmt_pct, note, page, section, table,
                                    to_jsonable, write_report)
from fairskin.reports._palette import representative_ita, style_for
from fairskin.reports._parts import figure, type_badge, type_section
from fairskin.reports._svg import DEFS as SVG_DEFS
from fairskin.reports._svg import bar_chart, forest, scatter

__all__ = ["ThumbBudget", "plain_summary", "render_audit_report", "render_balance_report", "render_demo_index", "render_experiment_report",
           "render_label_report", "render_synthetic_report", "report_outputs", "report_paths",
           "Markup", "SVG_DEFS", "bar_chart", "ci_cell", "dl", "esc", "figure", "fmt", "fmt_p", "fmt_pct", "forest",
           "note", "page", "representative_ita", "scatter", "section", "style_for", "table", "to_jsonable",
           "type_badge", "type_section", "write_report"]
