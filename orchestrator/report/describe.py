"""The parent run's front page: a Markdown description and `best.<param>` params, from the report.

MLflow shows the tag `mlflow.note.content` as the run's description (Markdown, images allowed).
A parent run otherwise shows the spec's base values (`adam`, `lr 0.0002`) while the winner may be
rmsprop at another lr, and names its best run only by a tag. So at the end of a sweep the parent
says who won, links the winning run, gives its final value, a short ranked table and the plots
(served by the UI's own `get-artifact` endpoint), and carries the winner's swept values as
`best.<param>` params, the columns the runs table and `Compare` show.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.record.names import BEST_EPOCH, best_key, seeds_key
from orchestrator.record.store import WORKFLOW
from orchestrator.report.build import SweepReport
from orchestrator.report.render import cell, md_table

NOTE_TAG = "mlflow.note.content"
TOP_ROWS = 5
PLOTS = {  # artifact file -> caption, in the order shown
    "metric_vs_epoch.png": "metric vs epoch",
    "top_samples.png": "samples of the top trials",
    "param_effects.png": "parameter effects",
    "parallel_coordinates.png": "parallel coordinates",
    "param_importance.png": "parameter importance",
}


def best_row(report: SweepReport) -> pd.Series | None:
    """The winner: the table's first row with a value (the table is ranked)."""
    ranked = report.table.dropna(subset=[best_key(report.sweep.metric)])
    return None if ranked.empty else ranked.iloc[0]


def artifact_url(run_id: str, path: str) -> str:
    """An artifact as the UI serves it (relative to the UI's root, where the run page lives)."""
    return f"get-artifact?path={path}&run_uuid={run_id}"


def description(report: SweepReport, plots: list[str], report_dir: str = "report") -> str:
    """The parent's Markdown: winner, link, final and best values, top trials, plots."""
    sweep, metric = report.sweep, report.sweep.metric
    row = best_row(report)
    if row is None:
        return f"### Sweep {sweep.name}\n\nNo trial reported {metric}."
    final = report.table.attrs.get("final_metric")
    link = f"#/experiments/{sweep.experiment_id}/runs/{row['run_id']}?{WORKFLOW}"  # the model-training pages
    params = ", ".join(f"`{p}={cell(row[p])}`" for p in sweep.swept if p in row)
    lines = [f"### Sweep {sweep.name}: winner trial {row['trial']}", "",
             f"**[Open the winning run (trial {row['trial']})]({link})** with {params}.", ""]
    if final and isinstance(row.get(final), float) and math.isfinite(row[final]):
        lines.append(f"- **{final} = {cell(row[final])}**: re-measured at the end on a larger sample "
                     "(what the ranking uses)")
    lines.append(f"- best {metric} = {cell(row[best_key(metric)])} at epoch {row[BEST_EPOCH]} "
                 f"({row['epochs']} epochs, {row['status']})")
    lines += [f"- {line}" for line in sweep.verdicts]  # winner vs runner-up: draws' noise, seeds' spread
    lines.append(f"- {len(report.table)} trials; full report: `{report_dir}/comparison.html` in Artifacts")
    columns = ["rank", "trial", *[p for p in sweep.swept if p in report.table.columns]]
    seeds = seeds_key(final) if final else None  # metrics.final_seeds: the mean over seeds
    shown = (final, seeds, best_key(metric), "epochs", "status")
    columns += [c for c in shown if c and c in report.table.columns]
    lines += ["", md_table(report.table.head(TOP_ROWS), columns), ""]
    for name, caption in PLOTS.items():
        if name in plots:
            lines.append(f"![{caption}]({artifact_url(sweep.run_id, f'{report_dir}/{name}')})")
    return "\n".join(lines) + "\n"


def best_params(report: SweepReport) -> dict[str, str]:
    """`best.<param>`: the winner's swept values, as MLflow params (strings)."""
    row = best_row(report)
    if row is None:
        return {}
    return {f"best.{p}": _plain(row[p]) for p in report.sweep.swept if p in row and not pd.isna(row[p])}


def describe_parent(client: MlflowClient, report: SweepReport, plots: list[str]) -> None:
    """Set the description and log the best params (a resumed sweep whose winner changed keeps the
    first `best.*` values: MLflow params are write-once; the description is always current)."""
    run_id = report.sweep.run_id
    client.set_tag(run_id, NOTE_TAG, description(report, plots))
    logged = client.get_run(run_id).data.params
    new = {k: v for k, v in best_params(report).items() if k not in logged}
    if new:
        try:
            client.log_batch(run_id, params=[Param(k, v) for k, v in sorted(new.items())])
        except MlflowException:  # a concurrent writer logged them first: theirs stand
            pass


def _plain(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    return f"{value:.6g}" if isinstance(value, float) else str(value)
