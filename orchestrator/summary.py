"""What `gansweep run` prints at the end: the comparison table, the best config, the timing."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

from orchestrator.console import console, short_trial_id
from orchestrator.report import find_sweep, sweep_table
from orchestrator.spec import SweepSpec
from orchestrator.tracking import client_for
from orchestrator.tune import SweepResult


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _short_status(detail: str) -> str:
    if detail.startswith("stopped early"):
        return "stopped@" + detail.rsplit(" ", 1)[-1]
    if detail.startswith("completed"):
        return "completed"
    return detail[:60]


def print_summary(spec: SweepSpec, result: SweepResult) -> None:
    client = client_for(spec.tracking_uri)
    frame = sweep_table(client, find_sweep(client, result.parent_run_id))
    metric = spec.asha_metric
    swept = [p for p in sorted(spec.search_params()) if p in frame.columns]
    columns: list[tuple[str, str]] = [("rank", "#"), ("trial", "trial"), *((p, p) for p in swept)]
    columns += [(f"best_{metric}", f"best {metric}"), ("best_epoch", "@epoch")]
    kid = [c for c in frame.columns if c.startswith("best_kid")]
    columns += [(c, c.removeprefix("best_")) for c in kid]
    columns += [("epochs", "epochs"), ("status", "status"), ("train_s", "train s"), ("img_per_s", "img/s")]
    table = Table(title=f"sweep {spec.name}: ranked by best {metric}")
    for _, header in columns:
        table.add_column(header)
    for _, row in frame.iterrows():
        cells = []
        for key, _ in columns:
            value = row[key]
            if key == "trial":
                value = short_trial_id(str(value))
            elif key == "status":
                value = _short_status(str(value))
            cells.append(_cell(value))
        table.add_row(*cells)
    console.print()  # the live table above may leave the cursor at the end of its last line
    console.print(table)
    best = frame.iloc[0]
    params = {p: _plain(best[p]) for p in swept}
    console.print(
        f"best trial {best['trial']}: {metric}={_cell(best[f'best_{metric}'])} "
        f"at epoch {best['best_epoch']} with {params}"
    )
    train_s, eval_s = float(frame["train_s"].sum()), float(frame["eval_s"].sum())
    console.print(
        f"wall {result.wall_s:.1f} s (prepare {result.prepare_s:.1f} s); trials spent {train_s:.1f} s "
        f"training and {eval_s:.1f} s in {metric}, on {spec.resources.max_concurrent} concurrent slots"
    )
    console.print(f"MLflow: parent run {result.parent_run_id} in {spec.tracking_uri} (browse: `gansweep ui`)")
