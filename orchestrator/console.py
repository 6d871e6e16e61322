"""Terminal output: a compact live table of trials instead of Ray's raw logs."""

from __future__ import annotations

import math
import sys
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

# Piped output (CI logs, `| tee`) gets a wide fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def short_trial_id(trial_id: str) -> str:
    """Tune ids are `<experiment hash>_<index>`; the index is what tells trials apart on screen."""
    return trial_id.rsplit("_", 1)[-1]


class LiveTrialTable(Callback):
    """Tune callback redrawing one row per trial: params, epoch, latest/best metric, status."""

    def __init__(self, metric: str, swept: list[str], enabled: bool = True) -> None:
        self.metric = metric
        self.swept = swept
        self.enabled = enabled
        self._rows: dict[str, dict[str, Any]] = {}
        self._live: Live | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_live=None, _rows={})
        return state

    def _row(self, trial: Any) -> dict[str, Any]:
        fresh = {"epoch": 0, "latest": math.nan, "best": math.nan, "status": "pending"}
        fresh["config"] = trial.config
        return self._rows.setdefault(trial.trial_id, fresh)

    def _render(self) -> Table:
        table = Table(title=f"gansweep - ASHA on {self.metric}", expand=False)
        table.add_column("trial")
        for name in self.swept:
            table.add_column(name)
        for name in ("epoch", f"{self.metric}", f"best {self.metric}", "status"):
            table.add_column(name, justify="right" if name != "status" else "left")
        for trial_id, row in self._rows.items():
            params = [_fmt(row["config"].get(name, "")) for name in self.swept]
            values = [str(row["epoch"]), _fmt(row["latest"]), _fmt(row["best"]), row["status"]]
            table.add_row(short_trial_id(trial_id), *params, *values)
        return table

    def _refresh(self) -> None:
        if not self.enabled:
            return
        if self._live is None:
            self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self._live.update(self._render())

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._row(trial)["status"] = "running"
        self._refresh()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if result.get("already_finished"):
            return
        row = self._row(trial)
        row["epoch"] = int(result.get("training_iteration", 0))
        value = result.get(self.metric)
        if isinstance(value, int | float):
            row["latest"] = float(value)
            row["best"] = value if math.isnan(row["best"]) else min(row["best"], value)
        self._refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        row = self._row(trial)
        if last.get("already_finished"):
            row["status"] = "done before resume"
        else:
            row["status"] = "completed" if last.get("final") else f"stopped@{row['epoch']}"
        self._refresh()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._row(trial)["status"] = "failed"
        self._refresh()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
