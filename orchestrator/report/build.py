"""One sweep's report assembled from the store: records -> ranked table -> effects -> importance."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from mlflow.tracking import MlflowClient

from orchestrator.report.compare import check_protocols
from orchestrator.report.effects import importance, param_effects
from orchestrator.report.records import Sweep, TrialRecord, collect_trials, find_sweep, open_store
from orchestrator.report.tables import sweep_table


@dataclass
class SweepReport:
    """Everything `gansweep report` shows about one sweep."""

    sweep: Sweep
    table: pd.DataFrame
    effects: dict[str, pd.DataFrame]
    trials: list[TrialRecord]
    importance: pd.Series | None = None

    @property
    def budget_epoch(self) -> int | None:
        return self.table.attrs.get("budget_epoch")


def build_report(client: MlflowClient, sweep: Sweep) -> SweepReport:
    trials = collect_trials(client, sweep)
    table = sweep_table(sweep, trials)
    return SweepReport(sweep, table, param_effects(table, sweep), trials, importance(table, sweep))


def load_reports(store: str | None, sweeps: list[str]) -> list[SweepReport]:
    """The reports of one or two sweeps; two with different protocol keys are refused (exit 2)."""
    client = open_store(store)
    found = [find_sweep(client, ref) for ref in sweeps]
    check_protocols(found)  # before reading any history: a refusal costs nothing
    return [build_report(client, sweep) for sweep in found]
