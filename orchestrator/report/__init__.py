"""Reports of a sweep, read back from MLflow (the record, not Tune's local files).

records  -> typed Sweep / TrialRecord from the store (the only module that knows tag names)
tables   -> the ranked comparison table of one sweep
effects  -> per-value parameter effects and Optuna parameter importance
build    -> SweepReport: the three above for one sweep
compare  -> two sweeps: protocol check, combined ranking, summary
render   -> CSV / JSON / Markdown;  page -> the self-contained HTML page (PNG + Optuna's plots)
terminal -> rich tables that fit the console
plots    -> PNG figures;  publish -> the report logged to the parent run at the end of a sweep
summary  -> what `gansweep run` prints when the sweep ends
"""

from orchestrator.report.build import SweepReport, build_report, load_reports
from orchestrator.report.compare import combined_table, comparable, not_comparable_note, sweep_summary
from orchestrator.report.page import plots_line, to_html
from orchestrator.report.publish import CHILD_PLOT, REPORT_DIR, log_sweep_report, write_html
from orchestrator.report.records import (
    ReportError,
    Sweep,
    TrialRecord,
    collect_trials,
    find_sweep,
    open_store,
    short_trial_id,
    trial_runs,
)
from orchestrator.report.render import cell, display_columns, render_text
from orchestrator.report.tables import sweep_table
from orchestrator.report.terminal import print_tables

__all__ = [
    "CHILD_PLOT",
    "REPORT_DIR",
    "ReportError",
    "Sweep",
    "SweepReport",
    "TrialRecord",
    "build_report",
    "cell",
    "collect_trials",
    "combined_table",
    "comparable",
    "display_columns",
    "find_sweep",
    "load_reports",
    "log_sweep_report",
    "not_comparable_note",
    "open_store",
    "plots_line",
    "print_tables",
    "render_text",
    "short_trial_id",
    "sweep_summary",
    "sweep_table",
    "to_html",
    "trial_runs",
    "write_html",
]
