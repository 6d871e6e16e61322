"""What `gansweep run` prints at the end: the comparison table, the best config, the timing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.console import console
from orchestrator.record.store import client_for
from orchestrator.report.build import build_report
from orchestrator.report.records import find_sweep
from orchestrator.report.render import cell
from orchestrator.report.terminal import failure_notes, narrow_caption, narrow_columns, rich_table

if TYPE_CHECKING:
    from orchestrator.spec import SweepSpec
    from orchestrator.tune import SweepResult


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def print_summary(spec: SweepSpec, result: SweepResult) -> None:
    client = client_for(spec.tracking_uri)
    report = build_report(client, find_sweep(client, result.parent_run_id))
    frame, metric = report.table, report.sweep.metric
    title = f"sweep {spec.name}: ranked by best {metric}"
    console.print()  # the live table above may leave the cursor at the end of its last line
    console.print(rich_table(frame, narrow_columns(report, frame, []), title, narrow_caption(report),
                             narrow=True))
    for line in failure_notes(frame):
        console.print(line, highlight=False)
    best = frame.iloc[0]
    params = {p: _plain(best[p]) for p in report.sweep.swept if p in frame.columns}
    final = frame.attrs.get("final_metric")
    remeasured = f", re-measured {final}={cell(best[final])}" if final else ""
    console.print(
        f"best trial {best['trial']}: {metric}={cell(best[f'best_{metric}'])} "
        f"at epoch {best['best_epoch']}{remeasured} with {params}"
    )
    if report.sweep.verdict:  # the re-measured winner's margin over the runner-up, against its noise
        console.print(report.sweep.verdict, highlight=False)
    train_s, eval_s = float(frame["train_s"].sum()), float(frame["eval_s"].sum())
    console.print(
        f"wall {result.wall_s:.1f} s (prepare {result.prepare_s:.1f} s); trials spent {train_s:.1f} s "
        f"training and {eval_s:.1f} s in {metric}, on {spec.resources.max_concurrent} concurrent slots"
    )
    console.print(f"MLflow: parent run {result.parent_run_id} in {spec.tracking_uri} (browse: `gansweep ui`)")
