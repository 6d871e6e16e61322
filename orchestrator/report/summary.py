"""What `gansweep run` prints at the end: the comparison table, the best config, the timing."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from orchestrator.console import console
from orchestrator.record.names import BEST_EPOCH, best_key
from orchestrator.record.store import client_for
from orchestrator.report import terminal
from orchestrator.report.build import build_report
from orchestrator.report.records import find_sweep
from orchestrator.report.render import cell

if TYPE_CHECKING:
    from orchestrator.sweep_spec import SweepSpec
    from orchestrator.tune import SweepResult


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def print_summary(spec: SweepSpec, result: SweepResult) -> None:
    client = client_for(spec.tracking_uri)
    report = build_report(client, find_sweep(client, result.parent_run_id))
    frame, metric = report.table, report.sweep.metric
    title = f"sweep {spec.name}: {terminal.ranking(report)}"
    console.print()  # the live table above may leave the cursor at the end of its last line
    columns = terminal.narrow_columns(report, frame, [])
    caption = functools.partial(terminal.narrow_caption, report)
    table, _ = terminal.fitted_table(console, frame, columns, title, caption, metric=metric)
    terminal.print_fitted(console, table)
    for line in terminal.failure_notes(frame):
        console.print(line, highlight=False)
    best = frame.iloc[0]
    params = {p: _plain(best[p]) for p in report.sweep.swept if p in frame.columns}
    final = frame.attrs.get("final_metric")
    remeasured = f", re-measured {final}={cell(best[final])}" if final else ""
    console.print(
        f"best trial {best['trial']}: {metric}={cell(best[best_key(metric)])} "
        f"at epoch {best[BEST_EPOCH]}{remeasured} with {params}"
    )
    for line in report.sweep.verdicts:  # the re-measured winner's margin over the runner-up, against
        console.print(line, highlight=False, soft_wrap=True)  # the draws' noise, and (final_seeds > 1)
        # the seeds' spread; one line each however narrow the terminal, so logs keep it whole
    train_s, eval_s = float(frame["train_s"].sum()), float(frame["eval_s"].sum())
    console.print(
        f"wall {result.wall_s:.1f} s (prepare {result.prepare_s:.1f} s); trials spent {train_s:.1f} s "
        f"training and {eval_s:.1f} s in {metric}, on {spec.resources.max_concurrent} concurrent slots"
    )
    console.print(f"MLflow: parent run {result.parent_run_id} in {spec.tracking_uri} (browse: `gansweep ui`)")
