"""Schedulers as a registry (`SCHEDULERS`), like the search algorithms in `orchestrator.space.ALGORITHMS`.

The spec's `scheduler.type` accepts exactly this registry's keys; every place that used to ask
"is it sha?" asks the entry instead: how the user reads its name, how Tune's scheduler is built,
whether it pauses trials at rungs (then Tune's concurrency limiters cannot be used and Ray's
resources cap concurrency: `orchestrator.schedule.searcher_limit` / `ray_cpus`, and a cluster
submission checks its slots), whether it reads `grace_period`, and at which reports it decides
(where trials write resume state).

Adding a scheduler (say Tune's median stopping rule) is one builder and one entry here. This module
imports Ray only inside the builders, so the spec can import the registry cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from orchestrator.spec import SweepSpec
    from orchestrator.spec.sections import SchedulerSpec


def halvings(max_t: int, grace_period: int, reduction_factor: float) -> int:
    """How many times successive halving cuts: rungs grace, grace * rf, ... until max_t is reached."""
    if grace_period >= max_t:
        return 0
    return math.ceil(math.log(max_t / grace_period) / math.log(reduction_factor) - 1e-9)


def sha_rungs(max_t: int, grace_period: int, reduction_factor: float) -> list[int]:
    """The reports at which ``SuccessiveHalving`` decides: grace, grace * rf, ... (Tune's _Bracket rule)."""
    rungs, r = [], grace_period
    for _ in range(halvings(max_t, grace_period, reduction_factor)):
        rungs.append(r)
        r = int(min(r * reduction_factor, max_t))
    return rungs


# ------------------------------------------------------------------------ milestones (pure maths)
def _sha_milestones(sched: SchedulerSpec, max_t: int) -> set[int]:
    return set(sha_rungs(max_t, sched.grace_period, sched.reduction_factor)) | {max_t}


def _hyperband_milestones(sched: SchedulerSpec, max_t: int) -> set[int]:
    rf = sched.reduction_factor
    s_max = int(round(math.log(max_t) / math.log(rf)))
    return {int(max_t * rf ** (-s)) * rf**k for s in range(s_max + 1) for k in range(s + 1)}


def _asha_milestones(sched: SchedulerSpec, max_t: int) -> set[int]:
    if sched.grace_period >= max_t:
        return set()
    rf = sched.reduction_factor
    rungs = int(math.log(max_t / sched.grace_period) / math.log(rf) + 1)
    return {sched.grace_period * rf**k for k in range(rungs)}


def _sha_plan(spec: SweepSpec, max_t: int) -> int:
    """Reports the whole sweep trains under sha: N trials to the first rung, then the quota
    ceil(N / rf) or the slots, whichever is more, ... Ties kept within noise may add to it (at most
    the quota)."""
    sched, n = spec.scheduler, spec.grid_size()
    total, reached, alive, quota = 0, 0, n, n
    for rung in [*sha_rungs(max_t, min(sched.grace_period, max_t), sched.reduction_factor), max_t]:
        total += alive * (rung - reached)
        quota = math.ceil(quota / sched.reduction_factor)
        reached, alive = rung, min(alive, max(quota, spec.resources.max_concurrent))
    return total


# ---------------------------------------------------------------------------- builders (Ray here)
def _build_sha(spec: SweepSpec, max_t: int) -> TrialScheduler:
    from orchestrator.schedule import SIGNAL_STEP_KEY, SuccessiveHalving

    sched = spec.scheduler
    return SuccessiveHalving(time_attr=SIGNAL_STEP_KEY, max_t=max_t, num_trials=spec.grid_size(),
                             grace_period=min(sched.grace_period, max_t),
                             reduction_factor=sched.reduction_factor,
                             slots=spec.resources.max_concurrent, noise_bound=sched.noise_bound)


def _build_asha(spec: SweepSpec, max_t: int) -> TrialScheduler:
    from ray.tune.schedulers import ASHAScheduler

    from orchestrator.schedule import SIGNAL_STEP_KEY

    sched = spec.scheduler
    return ASHAScheduler(time_attr=SIGNAL_STEP_KEY, max_t=max_t, grace_period=sched.grace_period,
                         reduction_factor=sched.reduction_factor)


def _build_hyperband(spec: SweepSpec, max_t: int) -> TrialScheduler:
    from ray.tune.schedulers import HyperBandScheduler

    from orchestrator.schedule import SIGNAL_STEP_KEY

    return HyperBandScheduler(time_attr=SIGNAL_STEP_KEY, max_t=max_t,
                              reduction_factor=spec.scheduler.reduction_factor, stop_last_trials=True)


def _build_fifo(spec: SweepSpec, max_t: int) -> TrialScheduler:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


@dataclass(frozen=True)
class Scheduler:
    """One `scheduler.type`: how it reads, how Tune's scheduler is built, how it decides."""

    label: str  # how the user reads it: "stopped early by ASHA at epoch 2"
    build: Callable[[SweepSpec, int], TrialScheduler]  # (spec, max_t) -> Tune's scheduler
    milestones: Callable[[SchedulerSpec, int], set[int]]  # reports at which it decides (before eval steps)
    pausing: bool = False  # pauses trials at rungs: Ray's resources cap concurrency, not the searcher
    uses_grace: bool = False  # reads scheduler.grace_period (the spec checks it against the epochs)
    plan: Callable[[SweepSpec, int], int] | None = None  # (spec, max_t) -> reports the sweep trains
    summary: str = ""


SCHEDULERS: dict[str, Scheduler] = {
    "sha": Scheduler("successive halving", _build_sha, _sha_milestones, pausing=True, uses_grace=True,
                     plan=_sha_plan,
                     summary="synchronous halving over every trial (the default: README, Decisions)"),
    "asha": Scheduler("ASHA", _build_asha, _asha_milestones, uses_grace=True,
                      summary="Tune's asynchronous successive halving"),
    "hyperband": Scheduler("HyperBand", _build_hyperband, _hyperband_milestones, pausing=True,
                           summary="Tune's synchronous HyperBand (stop_last_trials)"),
    "none": Scheduler("no scheduler", _build_fifo, lambda sched, max_t: set(),
                      summary="every trial trains to the end (FIFO)"),
}


def scheduler_label(type_: str) -> str:
    """How the user reads ``scheduler.type``: ``"sha"`` -> ``"successive halving"``."""
    return SCHEDULERS[type_].label


def is_pausing(spec: Any) -> bool:
    """Whether the spec's scheduler pauses trials at rungs (see ``Scheduler.pausing``)."""
    return SCHEDULERS[spec.scheduler.type].pausing
