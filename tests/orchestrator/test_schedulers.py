"""The scheduler registry (orchestrator.schedulers) drives the spec, Tune's scheduler, rungs and limits."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from ray.tune.schedulers import MedianStoppingRule
from spec_helpers import small_sweep

from orchestrator.record.names import SIGNAL_STEP_KEY
from orchestrator.schedulers import (
    SCHEDULERS,
    Scheduler,
    build_scheduler,
    decision_steps,
    is_pausing,
    planned_reports,
    ray_cpus,
    scheduler_label,
    searcher_limit,
)
from orchestrator.sweep_spec.sections import SchedulerSpec


def _spec(tmp_path: Path, **scheduler: Any) -> Any:
    return small_sweep(tmp_path, scheduler, resources={"max_concurrent": 3})


def test_the_spec_accepts_exactly_the_registered_schedulers(tmp_path: Path) -> None:
    accepted = typing.get_args(SchedulerSpec.model_fields["type"].annotation)
    assert accepted == tuple(SCHEDULERS)
    assert all(SCHEDULERS[s].summary and SCHEDULERS[s].label for s in accepted)
    assert scheduler_label("sha") == "successive halving"
    assert [t for t in SCHEDULERS if is_pausing(_spec(tmp_path, type=t))] == ["sha", "hyperband"]


def test_a_new_scheduler_is_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worked example of README 'Extending': Tune's median stopping rule as one builder + one entry."""

    def build(spec: Any, max_t: int) -> MedianStoppingRule:
        return MedianStoppingRule(time_attr=SIGNAL_STEP_KEY, grace_period=spec.scheduler.grace_period)

    monkeypatch.setitem(SCHEDULERS, "median", Scheduler(
        "the median stopping rule", build, lambda sched, max_t: set(range(sched.grace_period, max_t + 1)),
        uses_grace=True, summary="stop a trial below the median of the others at the same step"))
    asha = _spec(tmp_path, type="asha", grace_period=2)  # the spec's Literal was built before the entry
    spec = asha.model_copy(update={"scheduler": asha.scheduler.model_copy(update={"type": "median"})})
    assert isinstance(build_scheduler(spec, 64), MedianStoppingRule)
    assert decision_steps(spec, 64) == tuple(range(2, 9))  # every report from the grace period on
    assert (searcher_limit(spec), ray_cpus(spec, None), planned_reports(spec, 64)) == (3, None, None)
