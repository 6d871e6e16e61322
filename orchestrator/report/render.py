"""A report as text: CSV, JSON and Markdown (the HTML page is page.py, the terminal view terminal.py).

Every human-readable cell goes through `cell` (4 significant digits, '-' for missing), the one
formatter of the package; CSV and JSON keep the raw numbers and every column.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.record.names import BEST_EPOCH, best_key
from orchestrator.report.build import SweepReport
from orchestrator.report.compare import combined_table, comparable, not_comparable_note, sweep_summary


def cell(value: Any) -> str:
    """A table cell: 4 significant digits, '-' for missing."""
    if value is None or value is pd.NA:
        return "-"
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def display_columns(report: SweepReport) -> list[str]:
    """The columns a person reads; CSV/JSON keep all of them (run ids, train/eval split)."""
    metric, kid = report.sweep.metric, report.sweep.kid_metric
    cols = ["rank", "trial", *[p for p in report.sweep.swept if p in report.table.columns]]
    final = report.table.attrs.get("final_metric")
    cols += [final] if final else []
    cols += [best_key(metric), BEST_EPOCH, f"last_{metric}", f"budget_{metric}"]
    if kid:
        cols.append(best_key(kid))
    cols += ["epochs", "status", "wall_s", "img_per_s"]
    return [c for c in cols if c in report.table.columns]


def combined_columns(reports: list[SweepReport], frame: pd.DataFrame) -> list[str]:
    cols = ["rank", "sweep", *[c for c in display_columns(reports[0]) if c != "rank"]]
    cols += [c for r in reports[1:] for c in display_columns(r) if c not in cols]
    return [c for c in cols if c in frame.columns]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def to_json(reports: list[SweepReport]) -> str:
    same = comparable(reports)
    payload: dict[str, Any] = {
        "comparable": same,
        "metric": reports[0].sweep.metric if same else None,
        "note": None if same else not_comparable_note(reports),
        "sweeps": [
            {
                "name": rep.sweep.name,
                "run_id": rep.sweep.run_id,
                "metric": rep.sweep.metric,
                "protocol_key": rep.sweep.protocol_key,
                "protocol": rep.sweep.protocol,
                "swept": rep.sweep.swept,
                "budget_epoch": rep.budget_epoch,
                "final_metric": rep.table.attrs.get("final_metric"),
                "verdicts": rep.sweep.verdicts,  # winner vs runner-up: draws' noise, seeds' spread
                "trials": _records(rep.table),
                "param_effects": {p: _records(f) for p, f in rep.effects.items()},
                "importance": None if rep.importance is None else {
                    "evaluator": rep.importance.attrs.get("evaluator"),
                    "trials": rep.importance.attrs.get("trials"),
                    "values": rep.importance.to_dict(),
                },
            }
            for rep in reports
        ],
    }
    if len(reports) > 1:
        payload["summary"] = _records(sweep_summary(reports))
        if same:
            payload["ranking"] = _records(combined_table(reports))
    return json.dumps(payload, indent=2)


def to_csv(reports: list[SweepReport]) -> str:
    """One table: the sweep's, or (two sweeps) all trials with a `sweep` column.

    Sweeps of different metrics keep their own ranks and their own `best_<metric>` columns, so
    nothing in the file suggests one ordering across them.
    """
    if len(reports) == 1:
        return reports[0].table.to_csv(index=False)
    if comparable(reports):
        return combined_table(reports).to_csv(index=False)
    frames = []
    for rep in reports:
        frame = rep.table.copy()
        frame.insert(0, "metric", rep.sweep.metric)
        frame.insert(0, "sweep", rep.sweep.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).to_csv(index=False)


def md_table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """GitHub Markdown via DataFrame.to_markdown (tabulate), cells through `cell`."""
    shown = frame[columns or list(frame.columns)].map(lambda v: cell(v).replace("|", "\\|"))
    return shown.to_markdown(index=False, tablefmt="github", disable_numparse=True)


def budget_note(report: SweepReport) -> str:
    epoch = report.budget_epoch
    if epoch is None:
        return ""
    return (f"`budget_{report.sweep.metric}`: best value up to epoch {epoch}, the last epoch every trial "
            "with a value reached (compares trials at the same training length)")


def importance_line(report: SweepReport) -> str:
    imp = report.importance
    if imp is None:
        return ""
    values = ", ".join(f"{param} {value:.2f}" for param, value in imp.items())
    return (f"parameter importance ({imp.attrs.get('evaluator')}, {imp.attrs.get('trials')} trials, "
            f"{report.sweep.metric} at epoch {imp.attrs.get('epoch')}): {values}")


def to_markdown(reports: list[SweepReport]) -> str:
    parts = []
    if len(reports) > 1:
        parts.append("## Sweeps\n\n" + md_table(sweep_summary(reports)))
        if comparable(reports):
            combined = combined_table(reports)
            parts.append(f"## All trials ranked by best {reports[0].sweep.metric}\n\n"
                         + md_table(combined, combined_columns(reports, combined)))
        else:
            parts.append(f"> {not_comparable_note(reports)}")
    for rep in reports:
        title = f"## Sweep {rep.sweep.name} ({rep.sweep.run_id}): ranked by best {rep.sweep.metric}"
        parts.append(title + "\n\n" + md_table(rep.table, display_columns(rep)))
        parts += [text for text in (budget_note(rep), importance_line(rep)) if text]
        for param, frame in rep.effects.items():
            parts.append(f"### Effect of {param}\n\n" + md_table(frame))
    return "\n\n".join(parts) + "\n"


def render_text(reports: list[SweepReport], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(reports)
    if fmt == "json":
        return to_json(reports) + "\n"
    if fmt == "markdown":
        return to_markdown(reports)
    raise ValueError(f"unknown format {fmt!r}")
