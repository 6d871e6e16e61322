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

from orchestrator.record.names import SIGNAL_STEP_KEY
from orchestrator.rungs import sha_rungs

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from orchestrator.sweep_spec import SweepSpec
    from orchestrator.sweep_spec.sections import SchedulerSpec


# sha's default factor, chosen on four real-CelebA recordings replayed (README, Decisions; issue 20)
# and held on a fifth recorded afterwards: the first rung keeps ceil(n / 2.25), 6 of 12 and 4 of 9.
# Recording B needs >= 6 of 12 (its winner was 6th at epoch 1: rf < 2.4); C's trial-epoch target
# (<= 40%) needs <= 4 of 9 (rf >= 2.25). A narrow window, fitted to four sweeps: rf 2 is the safer
# choice where compute matters less than the winner. tests/benchmarks/test_asha_replay.py replays it.
SHA_REDUCTION_FACTOR = 2.25


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
    from orchestrator.schedule import SuccessiveHalving

    sched = spec.scheduler
    return SuccessiveHalving(time_attr=SIGNAL_STEP_KEY, max_t=max_t, num_trials=spec.grid_size(),
                             grace_period=min(sched.grace_period, max_t),
                             reduction_factor=sched.reduction_factor,
                             slots=spec.resources.max_concurrent, noise_bound=sched.noise_bound)


def _build_asha(spec: SweepSpec, max_t: int) -> TrialScheduler:
    from ray.tune.schedulers import ASHAScheduler

    sched = spec.scheduler
    return ASHAScheduler(time_attr=SIGNAL_STEP_KEY, max_t=max_t, grace_period=sched.grace_period,
                         reduction_factor=sched.reduction_factor)


def _build_hyperband(spec: SweepSpec, max_t: int) -> TrialScheduler:
    from ray.tune.schedulers import HyperBandScheduler

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
    reduction_factor: float = 3.0  # scheduler.reduction_factor when the spec leaves it out


SCHEDULERS: dict[str, Scheduler] = {
    "sha": Scheduler("successive halving", _build_sha, _sha_milestones, pausing=True, uses_grace=True,
                     plan=_sha_plan, reduction_factor=SHA_REDUCTION_FACTOR,
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


def planned_reports(spec: Any, images: int | None) -> int | None:
    """Reports (epochs) the whole sweep will train when its scheduler knows that in advance
    (``Scheduler.plan``: sha), else None (ASHA decides as it goes, a time budget may end it early)."""
    plan, max_t = SCHEDULERS[spec.scheduler.type].plan, spec.max_t(images)
    if plan is None or max_t is None or spec.time_budget_s is not None:
        return None
    return plan(spec, max_t)


def searcher_limit(spec: Any) -> int:
    """Trials the search algorithm may keep alive at once (0: no limit).

    Tune's limiters (``BasicVariantGenerator(max_concurrent)``, ``ConcurrencyLimiter``) count paused
    trials as live, so under a pausing scheduler they would hold a bracket to ``max_concurrent``
    trials and halve among those. There every trial is created and ``resources.max_concurrent``
    is enforced by Ray's resources instead (``ray_cpus``)."""
    return 0 if is_pausing(spec) else spec.resources.max_concurrent


def ray_cpus(spec: Any, address: str | None) -> int | None:
    """CPUs of the local Ray gansweep starts: under a pausing scheduler exactly ``max_concurrent``
    trials' worth, so Ray runs that many at once; otherwise (and on a cluster) Ray's own count."""
    if address or not is_pausing(spec):
        return None
    return max(1, math.ceil(spec.resources.max_concurrent * spec.resources.cpus_per_trial))


def build_scheduler(spec: Any, images: int | None) -> TrialScheduler:  # noqa: F821 (Ray: typing only)
    """Tune's scheduler for ``spec.scheduler`` (metric and mode come from the TuneConfig)."""
    return SCHEDULERS[spec.scheduler.type].build(spec, spec.max_t(images) or 1)


def eval_steps(max_t: int, every: int) -> list[int]:
    """Reports at which the metric is evaluated: 1, 1 + every, 1 + 2 every, ..., and the last."""
    steps = list(range(1, max_t + 1, max(every, 1)))
    return steps if steps[-1] == max_t else [*steps, max_t]


def decision_steps(spec: Any, images: int | None) -> tuple[int, ...]:
    """The reports at which the scheduler decides (its rungs, moved to the first evaluation at or
    after them): where a trial should write resume state so a stop, pause or restart loses nothing."""
    max_t = spec.max_t(images) or 1
    milestones = SCHEDULERS[spec.scheduler.type].milestones(spec.scheduler, max_t)
    evals = eval_steps(max_t, spec.metrics.every)
    out = {next(e for e in evals if e >= m) for m in milestones if 1 <= m <= max_t}
    return tuple(sorted(int(s) for s in out))
