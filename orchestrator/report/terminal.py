"""The terminal view of a report (rich tables) that fits 100 columns unless asked for `--wide`.

At 100 columns a table of every column makes rich shrink cells to "0.00..." and "rmsp...". The
narrow view therefore picks the columns that decide (params, best value and epoch, value at the
common budget, epochs, status, wall time), uses short headers explained in a caption, prints the
status as `stopped@2` with failure reasons listed under the table, and never lets rich cut a
number: number columns do not wrap, only the caption and notes do.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from orchestrator.record.names import BEST_EPOCH, best_key
from orchestrator.report.build import SweepReport
from orchestrator.report.compare import combined_table, comparable, not_comparable_note, sweep_summary
from orchestrator.report.render import cell, combined_columns, display_columns, importance_line

NARROW = 100  # columns of a piped/non-TTY terminal view
LEFT = ("trial", "status", "sweep", "best_trial", "note")


def make_console(wide: bool = False) -> Console:
    """The terminal's width on a TTY, 100 columns otherwise; `--wide`: as wide as the tables need."""
    if wide:
        return Console(width=400, soft_wrap=False)
    width = shutil.get_terminal_size((NARROW, 24)).columns if sys.stdout.isatty() else NARROW
    return Console(width=width)


def short_status(status: str) -> str:
    """`stopped early at epoch 2` -> `stopped@2`, `failed: diverged: ...` -> `failed*` (reason below)."""
    if status.startswith("stopped early"):
        return "stopped@" + status.rsplit(" ", 1)[-1]
    if status.startswith("failed"):
        return "failed*"
    return status.split(" (", 1)[0]


def rich_table(frame: pd.DataFrame, columns: list[tuple[str, str]], title: str, caption: str = "",
               narrow: bool = False) -> Table:
    """A rich table of `frame` with (column, header) pairs; every value through `cell`."""
    table = Table(title=title, caption=caption or None, box=box.SIMPLE_HEAD, padding=(0, 1),
                  caption_justify="left", title_justify="left")
    for key, header in columns:
        left = key in LEFT
        table.add_column(header, justify="left" if left else "right", no_wrap=key != "note",
                         overflow="fold")
    for _, row in frame.iterrows():
        values = []
        for key, _ in columns:
            value = row.get(key)
            values.append(short_status(str(value)) if key == "status" and narrow else cell(value))
        table.add_row(*values)
    return table


def narrow_columns(report: SweepReport, frame: pd.DataFrame, lead: list[str]) -> list[tuple[str, str]]:
    """The deciding columns with short headers (explained in `narrow_caption`)."""
    metric = report.sweep.metric
    final = report.table.attrs.get("final_metric")
    cols: list[tuple[str, str]] = [("rank", "#"), *((c, c) for c in lead), ("trial", "trial")]
    cols += [(p, p) for p in report.sweep.swept if p in frame.columns]
    if final:
        cols.append((final, "final"))
    cols += [(best_key(metric), "best"), (BEST_EPOCH, "@ep")]
    if report.budget_epoch is not None:
        cols.append((f"budget_{metric}", f"@e{report.budget_epoch}"))
    cols += [("epochs", "ep"), ("status", "status"), ("wall_s", "wall s")]
    return [(k, h) for k, h in cols if k in frame.columns]


def narrow_caption(report: SweepReport) -> str:
    metric = report.sweep.metric
    parts = []
    final = report.table.attrs.get("final_metric")
    if final:
        parts.append(f"final = {final} re-measured at the end (ranked first)")
    parts.append(f"best = best {metric} over epochs, @ep = its epoch")
    if report.budget_epoch is not None:
        parts.append(f"@e{report.budget_epoch} = best {metric} up to epoch {report.budget_epoch}, "
                     "which every trial reached")
    parts.append("--wide shows every column")
    return "; ".join(parts)


def failure_notes(frame: pd.DataFrame) -> list[str]:
    status = frame["status"].astype(str)
    failed = frame[status.str.startswith("failed") | status.str.contains(r"\(recorded ", regex=True)]
    return [f"  {row['trial']}: {row['status']}" for _, row in failed.iterrows()]


def effect_columns(frame: pd.DataFrame, metric: str, budget: int | None) -> list[tuple[str, str]]:
    names = {"trials": "n", "stopped": "stop", "failed": "fail", best_key(metric): "best",
             f"median_{metric}": "median", f"{best_key(metric)}_at_budget": f"best@e{budget}",
             f"median_{metric}_at_budget": f"med@e{budget}", "best_trial": "best trial", "note": "note"}
    return [(c, names.get(c, c)) for c in frame.columns]


def print_tables(reports: list[SweepReport], wide: bool = False, console: Any = None) -> None:
    """The `--format table` view: rich tables in the terminal."""
    console = console or make_console(wide)

    def columns_of(rep: SweepReport, frame: pd.DataFrame, lead: list[str]) -> list[tuple[str, str]]:
        if wide:
            cols = display_columns(rep) if not lead else combined_columns(reports, frame)
            return [(c, c) for c in cols]
        return narrow_columns(rep, frame, lead)

    if len(reports) > 1:
        summary = sweep_summary(reports)
        keep = [c for c in summary.columns if c != "run_id" and (wide or c != "protocol_key")]
        console.print(rich_table(summary, [(c, c) for c in keep], "sweeps"))
        if comparable(reports):
            combined = combined_table(reports)
            title = f"all trials ranked by best {reports[0].sweep.metric}"
            console.print(rich_table(combined, columns_of(reports[0], combined, ["sweep"]), title,
                                     narrow=not wide))
        else:
            console.print(f"[bold yellow]{not_comparable_note(reports)}[/]")
    for rep in reports:
        metric = rep.sweep.metric
        title = f"sweep {rep.sweep.name} ({rep.sweep.run_id[:8]}): ranked by best {metric}"
        caption = "" if wide else narrow_caption(rep)
        console.print(rich_table(rep.table, columns_of(rep, rep.table, []), title, caption, narrow=not wide))
        for line in failure_notes(rep.table) if not wide else []:
            console.print(line, highlight=False)
        if rep.importance is not None:
            console.print(importance_line(rep), highlight=False)
        for param, frame in rep.effects.items():
            console.print(rich_table(frame, effect_columns(frame, metric, rep.budget_epoch),
                                     f"{rep.sweep.name}: effect of {param}"))
