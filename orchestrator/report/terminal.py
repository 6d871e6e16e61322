"""The terminal view of a report (rich tables) that fits the console's width unless asked for `--wide`.

Rich fits a table that is too wide by shrinking every cell, which turns trial ids into `0000`,
drops the rank column and cuts `0.09118` to `0.0911`. So the narrow view never lets rich shrink:
every column is as wide as its widest cell (`min_width`, `no_wrap`), and the table is measured
before it is printed; while it is wider than the console, numbers are first rounded to fewer
significant digits and then the columns that decide least are dropped (wall time, epochs, the
budget and best-epoch columns, status, then the swept params from the last), each dropped column
named in the caption and shown by `--wide`. The rank and the trial id are never dropped or cut.
Failure reasons are listed under the table; only the caption and notes wrap.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from orchestrator.record.names import BEST_EPOCH, best_key, final_metric, seeds_key, std_key
from orchestrator.report.build import SweepReport
from orchestrator.report.compare import combined_table, comparable, not_comparable_note, sweep_summary
from orchestrator.report.effects import importance_skipped
from orchestrator.report.render import cell, combined_columns, display_columns, importance_line

NARROW = 100  # columns of a piped/non-TTY terminal view ($COLUMNS overrides)
LEFT = ("trial", "status", "sweep", "best_trial", "note")
KEEP = ("rank", "trial", "sweep")  # never dropped: what a row is
DIGITS = (4, 3)  # significant digits tried before a column is dropped


def make_console(wide: bool = False) -> Console:
    """`$COLUMNS` when set, else the terminal's width on a TTY, else 100; `--wide`: as wide as needed."""
    if wide:
        return Console(width=400, soft_wrap=False)
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    else:
        width = shutil.get_terminal_size((NARROW, 24)).columns if sys.stdout.isatty() else NARROW
    return Console(width=width)


def short_status(status: str) -> str:
    """`stopped early at epoch 2` -> `stopped@2`, `failed: diverged: ...` -> `failed*` (reason below)."""
    if status.startswith("stopped early"):
        return "stopped@" + status.rsplit(" ", 1)[-1]
    if status.startswith("failed"):
        return "failed*"
    return status.split(" (", 1)[0]


def rounded(value: Any, digits: int = 4) -> str:
    """`cell` with `digits` significant digits: a narrow table rounds numbers, never cuts them."""
    if isinstance(value, float | np.floating) and math.isfinite(value) and digits != 4:
        return f"{value:.{digits}g}"
    return cell(value)


def rich_table(frame: pd.DataFrame, columns: list[tuple[str, str]], title: str, caption: str = "",
               narrow: bool = False, digits: int = 4) -> Table:
    """A rich table of `frame` with (column, header) pairs; every value through `cell`.

    Each column is at least as wide as its widest cell and header and never wraps (only `note`
    does), so rich cannot squeeze ids and numbers; `fitted_table` keeps the whole within the width.
    """
    table = Table(title=title, caption=caption or None, box=box.SIMPLE_HEAD, padding=(0, 1),
                  caption_justify="left", title_justify="left")
    rows = []
    for _, row in frame.iterrows():
        values = []
        for key, _ in columns:
            value = row.get(key)
            values.append(short_status(str(value)) if key == "status" and narrow else rounded(value, digits))
        rows.append(values)
    for index, (key, header) in enumerate(columns):
        widest = max([len(header), *(len(values[index]) for values in rows)])
        wraps = key == "note"
        table.add_column(header, justify="left" if key in LEFT else "right", no_wrap=not wraps,
                         overflow="fold", min_width=None if wraps else widest)
    for values in rows:
        table.add_row(*values)
    return table


def table_width(console: Console, table: Table) -> int:
    """The columns `table` needs to show every cell whole (its minimum width as rich measures it)."""
    return Measurement.get(console, console.options.update_width(10_000), table).minimum


def drop_order(columns: list[tuple[str, str]], metric: str | None) -> list[str]:
    """Column keys in the order they are dropped as the width shrinks: least deciding first."""
    first = ["wall_s", "epochs", f"budget_{metric}", BEST_EPOCH, "status"]
    keys = [k for k, _ in columns]
    fixed = set(KEEP) | {best_key(metric)} | {k for k in keys if final_metric(k)}
    params = [k for k in reversed(keys) if k not in fixed and k not in first]
    return [k for k in first if k in keys] + params + [k for k in keys if k == best_key(metric)]


def fitted_table(console: Console, frame: pd.DataFrame, columns: list[tuple[str, str]], title: str,
                 caption: Callable[[list[str]], str] | str = "", narrow: bool = True,
                 metric: str | None = None) -> tuple[Table, list[str]]:
    """The narrow table that fits `console.width`, and the headers of the columns left out.

    Tried in order: every column at 4 then 3 significant digits, then without the next column of
    `drop_order`; the table of the last resort (rank, trial, final) is printed wider than the
    console rather than cut. `caption`: text, or a function of the keys shown (headers explained).
    """
    shown = list(columns)
    dropped: list[str] = []
    order = drop_order(columns, metric)
    while True:
        for digits in DIGITS:
            text = caption([k for k, _ in shown]) if callable(caption) else caption
            note = text if not dropped else f"{text}; not shown at this width: {', '.join(dropped)}"
            table = rich_table(frame, shown, title, note.strip("; "), narrow=narrow, digits=digits)
            if table_width(console, table) <= console.width:
                return table, dropped
        if not order:
            return table, dropped
        key = order.pop(0)
        dropped.append(dict(shown)[key])
        shown = [(k, h) for k, h in shown if k != key]


def print_fitted(console: Console, table: Table) -> None:
    """Print a fitted table; one that cannot fit (rank and id alone are wider) overflows, uncut."""
    need = table_width(console, table)
    console.print(table, width=max(console.width, need), crop=False)


def narrow_columns(report: SweepReport, frame: pd.DataFrame, lead: list[str]) -> list[tuple[str, str]]:
    """The deciding columns with short headers (explained in `narrow_caption`)."""
    metric = report.sweep.metric
    final = report.table.attrs.get("final_metric")
    cols: list[tuple[str, str]] = [("rank", "#"), *((c, c) for c in lead), ("trial", "trial")]
    cols += [(p, p) for p in report.sweep.swept if p in frame.columns]
    if final:
        cols += [(final, "final"), (seeds_key(final), "seeds"), (std_key(seeds_key(final)), "± seeds")]
    cols += [(best_key(metric), "best"), (BEST_EPOCH, "@ep")]
    if report.budget_epoch is not None:
        cols.append((f"budget_{metric}", f"@e{report.budget_epoch}"))
    cols += [("epochs", "ep"), ("status", "status"), ("wall_s", "wall s")]
    return [(k, h) for k, h in cols if k in frame.columns]


def narrow_caption(report: SweepReport, shown: list[str] | None = None) -> str:
    """What the short headers mean, for the columns `shown` (default: all of them)."""
    metric = report.sweep.metric
    final = report.table.attrs.get("final_metric")
    parts = []
    if final:
        parts.append((final, f"final = {final} re-measured at the end (ranked first)"))
        parts.append((seeds_key(final), "seeds ± = its mean ± std over the trial's training seeds "
                      "(metrics.final_seeds)"))
    parts.append((best_key(metric), f"best = best {metric} over epochs"))
    parts.append((BEST_EPOCH, "@ep = its epoch"))
    if report.budget_epoch is not None:
        parts.append((f"budget_{metric}", f"@e{report.budget_epoch} = best {metric} up to epoch "
                      f"{report.budget_epoch}, which every trial reached"))
    texts = [text for key, text in parts if shown is None or key in shown]
    return "; ".join([*texts, "--wide shows every column"])


def ranking(report: SweepReport) -> str:
    """How the table is ordered: the re-measured final value first where there is one."""
    final = report.table.attrs.get("final_metric")
    best = f"best {report.sweep.metric}"
    return f"ranked by {final}, then {best}" if final else f"ranked by {best}"


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

    def show(rep: SweepReport, frame: pd.DataFrame, title: str, lead: list[str], caption: str = "") -> None:
        if wide:
            cols = display_columns(rep) if not lead else combined_columns(reports, frame)
            console.print(rich_table(frame, [(c, c) for c in cols], title, caption))
            return
        text = functools.partial(narrow_caption, rep) if caption else ""
        table, _ = fitted_table(console, frame, narrow_columns(rep, frame, lead), title, text,
                                metric=rep.sweep.metric)
        print_fitted(console, table)

    if len(reports) > 1:
        summary = sweep_summary(reports)
        keep = [c for c in summary.columns if c != "run_id" and (wide or c != "protocol_key")]
        console.print(rich_table(summary, [(c, c) for c in keep], "sweeps"))
        if comparable(reports):
            combined = combined_table(reports)
            show(reports[0], combined, f"all trials ranked by best {reports[0].sweep.metric}", ["sweep"])
        else:
            console.print(f"[bold yellow]{not_comparable_note(reports)}[/]")
    for rep in reports:
        metric = rep.sweep.metric
        title = f"sweep {rep.sweep.name} ({rep.sweep.run_id[:8]}): {ranking(rep)}"
        show(rep, rep.table, title, [], "" if wide else narrow_caption(rep))
        for line in failure_notes(rep.table) if not wide else []:
            console.print(line, highlight=False)
        if rep.importance is not None:
            console.print(importance_line(rep), highlight=False)
        elif why := importance_skipped(rep.table, rep.sweep):
            console.print(f"parameter importance skipped: {why}", highlight=False)
        for param, frame in rep.effects.items():
            console.print(rich_table(frame, effect_columns(frame, metric, rep.budget_epoch),
                                     f"{rep.sweep.name}: effect of {param}"))
