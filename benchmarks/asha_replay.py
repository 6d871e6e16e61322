"""Replay Ray Tune's schedulers on recorded learning curves (the ``replay`` half of bench_asha.py).

Each simulated sweep drives the real scheduler objects (``ASHAScheduler``, ``HyperBandScheduler``
with ``stop_last_trials``, ``FIFOScheduler``) through the calls Tune's controller makes
(``on_trial_add``, ``choose_trial_to_run``, ``on_trial_result``, ``on_trial_complete``, and
``stop_trial`` / ``on_trial_remove`` for paused trials), with lightweight trial objects. What is
simulated like Tune does it:

- ``slots`` is the concurrency limit (``max_concurrent``): a new trial is created (added to the
  scheduler) only while fewer than ``slots`` created trials are unfinished, paused ones included
  (Tune's ``BasicVariantGenerator(max_concurrent)`` / ``ConcurrencyLimiter`` count them live);
  at most ``slots`` trials train at once.
- an epoch of a trial takes its recorded median epoch seconds (train + metric), so slow (wide)
  trials report later than fast ones, as in a real asynchronous sweep; trials arrive in a random
  order (what random search gives).
- the trial reports what ``orchestrator.schedule`` makes it report: the raw metric, its best so
  far and its smoothed value, with ``signal_step`` as the schedulers' time attribute.

How a result is judged (the re-measure idea): every trial keeps the generator of its best
``signal`` epoch among the epochs it trained; the ``top_k`` trials by that value are re-measured
(the recorded ``judge`` draw of that generator, independent noise, more samples) and the winner is
the best re-measured one. ``regret = winner's judge / full grid's winner's judge - 1``, where the
full grid is the same procedure with every trial trained to the end. ``compute`` is the seconds
trained / the full grid's seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    TrialScheduler,
)

from orchestrator.record.names import noise_key
from orchestrator.schedule import (
    NOISE_BOUND,
    SIGNAL_STEP_KEY,
    SignalState,
    SuccessiveHalving,
    diverged_scalars,
    next_signal,
    signal_key,
    signal_scalars,
)
from orchestrator.schedulers import SHA_REDUCTION_FACTOR

METRIC = "fid"


@dataclass(frozen=True)
class Curves:
    signal: list[list[float]]  # per trial, per epoch (shorter when it diverged; inf at that epoch)
    judge: list[list[float]]
    cost: list[list[float]]  # seconds per epoch (train + metric)
    epochs: int
    noise: list[list[float]] | None = None  # the signal's noise estimate per epoch (newer recordings)

    @property
    def n(self) -> int:
        return len(self.signal)


def load_curves(path: Path) -> Curves:
    raw = json.loads(path.read_text())
    # eval_s timed both draws; a sweep only pays for the signal's (older recordings: equal sizes)
    share = raw.get("samples", 1) / (raw.get("samples", 1) + raw.get("judge_samples", 1))
    signal, judge, cost, noise = [], [], [], []
    for t in raw["trials"]:
        s, j = list(t["signal"]), list(t["judge"])
        noise.append(list(t.get("noise", [math.nan] * len(s))) + [math.nan])
        # A trial's epochs all cost its median recorded epoch (train + metric): the shared machine's
        # load made single epochs vary; the config (width) is what sets the cost.
        seconds = [a + share * b for a, b in zip(t["train_s"], t["eval_s"], strict=True)]
        if t.get("diverged"):  # the diverging epoch: trained, judged worst
            s.append(math.inf)
            j.append(math.inf)
        c = [float(np.median(seconds)) if seconds else 1.0] * len(s)
        signal.append(s)
        judge.append(j)
        cost.append(c)
    return Curves(signal, judge, cost, int(raw["epochs"]), noise)


class _SimTrial:
    """The attributes Tune's schedulers read from a trial."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.trial_id = f"t{index:03d}"
        self.status = Trial.PENDING
        self.is_saving = False
        self.last_result: dict[str, Any] = {}
        self.epochs_done = 0
        self.signal = SignalState()

    def __repr__(self) -> str:
        return self.trial_id


class _Controller:
    """The two controller methods the schedulers call."""

    def __init__(self, scheduler: TrialScheduler) -> None:
        self.scheduler = scheduler
        self.trials: list[_SimTrial] = []

    def get_trials(self) -> list[_SimTrial]:
        return self.trials

    def stop_trial(self, trial: _SimTrial) -> None:
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self.scheduler.on_trial_remove(self, trial)
        elif trial.status == Trial.RUNNING:
            self.scheduler.on_trial_complete(self, trial, trial.last_result)
        trial.status = Trial.TERMINATED


def simulate(curves: Curves, scheduler: TrialScheduler, slots: int, order: list[int],
             smoothing: float = 0.5, limiter: bool = True) -> tuple[list[int], bool]:
    """One sweep: (epochs each recorded trial trained, whether the sweep deadlocked); see
    :func:`simulate_timed`."""
    epochs, deadlocked, _ = simulate_timed(curves, scheduler, slots, order, smoothing, limiter)
    return epochs, deadlocked


def simulate_timed(curves: Curves, scheduler: TrialScheduler, slots: int, order: list[int],
                   smoothing: float = 0.5, limiter: bool = True) -> tuple[list[int], bool, float]:
    """One sweep: (epochs each recorded trial trained, whether the sweep deadlocked, wall seconds).

    Deadlocked: trials are left paused that the scheduler never resumes and nothing runs (Tune's
    HyperBand after a trial in a processed bracket ends early); Tune would wait forever there, the
    replay stops and scores what was trained. ``limiter=False``: every trial is created at once
    (only ``slots`` run at a time), what Tune does when resources, not the searcher, limit a sweep.
    """
    ctl = _Controller(scheduler)
    queue = list(order)
    running: dict[_SimTrial, float] = {}  # trial -> time its current epoch ends
    now = 0.0
    while True:
        while queue and (not limiter or sum(t.status != Trial.TERMINATED for t in ctl.trials) < slots):
            trial = _SimTrial(queue.pop(0))
            ctl.trials.append(trial)
            scheduler.on_trial_add(ctl, trial)
        while len(running) < slots:
            trial = scheduler.choose_trial_to_run(ctl)
            if trial is None:
                break
            trial.status = Trial.RUNNING
            running[trial] = now + curves.cost[trial.index][trial.epochs_done]
        if not running:
            deadlocked = bool(queue) or any(t.status != Trial.TERMINATED for t in ctl.trials)
            break
        trial = min(running, key=lambda t: (running[t], t.index))
        now = running.pop(trial)
        trial.epochs_done += 1
        step = trial.epochs_done
        value = curves.signal[trial.index][step - 1]
        noise = curves.noise[trial.index][step - 1] if curves.noise else math.nan
        if math.isfinite(value):
            trial.signal = next_signal(trial.signal, value, step, smoothing=smoothing, noise=noise)
            result = {METRIC: value, noise_key(METRIC): noise, **signal_scalars(trial.signal, METRIC)}
        else:  # what orchestrator.trial reports for a diverged run
            result = diverged_scalars(METRIC, "min", trial.signal.step)
        result["training_iteration"] = step
        trial.last_result = result
        last = step >= len(curves.signal[trial.index])
        decision = scheduler.on_trial_result(ctl, trial, result)
        if trial.status == Trial.TERMINATED:  # stopped by the scheduler through the controller
            continue
        if decision == TrialScheduler.STOP or last:
            ctl.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            trial.status = Trial.PAUSED
        else:
            running[trial] = now + curves.cost[trial.index][step]
    done = {t.index: t.epochs_done for t in ctl.trials}
    return [done.get(i, 0) for i in range(curves.n)], deadlocked, now


def _pick(curves: Curves, reached: list[int], top_k: int) -> tuple[int, float]:
    """The trial the sweep picks and its re-measured value (see the module docstring): among the top
    ``top_k`` by their best signal epoch trained, the best judge draw of that epoch."""
    chosen = []
    for i, e in enumerate(reached):
        finite = [(v, k) for k, v in enumerate(curves.signal[i][:e]) if math.isfinite(v)]
        if finite:
            v, k = min(finite)
            chosen.append((v, curves.judge[i][k], i))
    chosen.sort()
    _, judge, index = min(chosen[: max(top_k, 1)], key=lambda c: c[1])
    return index, judge


def pick(curves: Curves, reached: list[int], top_k: int) -> int:
    """The trial the sweep picks."""
    return _pick(curves, reached, top_k)[0]


def winner_judge(curves: Curves, reached: list[int], top_k: int) -> float:
    """The re-measured value of the sweep's pick."""
    return _pick(curves, reached, top_k)[1]


Policy = tuple[str, str, Callable[[str, int, int, int], TrialScheduler], bool]


def policies(epochs: int) -> list[Policy]:
    """(name, signal, factory(metric key, max_t, trials, slots), limiter) for every policy replayed.

    ``sha``: gansweep's ``SuccessiveHalving`` (one Tune HyperBand bracket of every trial), which
    creates every trial up front (``limiter=False``: paused trials hold no slot, Ray's resources
    limit what runs), as ``orchestrator.tune`` runs it: a rung keeps at least ``slots`` trials and the
    ties within noise (``orchestrator.schedule.promotions``). ``sha ... tune`` is Tune's own bracket
    rule (the quota only), the default before issue 20.

    ``hb rf3 unlimited``: HyperBand with every trial created up front (no searcher-side limit), to
    show what the concurrency limiter costs it: Tune's limiters count paused trials as running.
    """
    Factory = Callable[[str, int, int, int], TrialScheduler]

    def asha(grace: int, rf: float) -> Factory:
        return lambda key, max_t, n, slots: ASHAScheduler(time_attr=SIGNAL_STEP_KEY, metric=key, mode="min",
                                                       max_t=max_t, grace_period=grace, reduction_factor=rf)

    def sha(grace: int, rf: float, widen: bool = True) -> Factory:
        return lambda key, max_t, n, slots: SuccessiveHalving(
            time_attr=SIGNAL_STEP_KEY, metric=key, mode="min", max_t=max_t, grace_period=grace,
            reduction_factor=rf, num_trials=n, slots=slots if widen else 1,
            noise_bound=NOISE_BOUND if widen else 1.0)

    def hyperband(rf: float) -> Factory:
        return lambda key, max_t, n, slots: HyperBandScheduler(time_attr=SIGNAL_STEP_KEY, metric=key,
                                                            mode="min", max_t=max_t, reduction_factor=rf,
                                                            stop_last_trials=True)

    out: list[Policy] = [("fifo (full grid)", "raw", lambda key, max_t, n, slots: FIFOScheduler(), True)]
    for signal in ("raw", "best", "smoothed"):
        out += [(DEFAULT, signal, sha(1, SHA_REDUCTION_FACTOR), False),
                ("sha g1 rf3", signal, sha(1, 3), False),
                ("sha g1 rf3 tune", signal, sha(1, 3, False), False),
                ("sha g1 rf2", signal, sha(1, 2), False), ("sha g1 rf4", signal, sha(1, 4), False),
                ("sha g2 rf3", signal, sha(2, 3), False),
                ("asha g1 rf2", signal, asha(1, 2), True), ("asha g1 rf3", signal, asha(1, 3), True),
                ("asha g1 rf4", signal, asha(1, 4), True), ("asha g2 rf3", signal, asha(2, 3), True),
                ("hyperband rf3", signal, hyperband(3), True),
                ("hb rf3 unlimited", signal, hyperband(3), False)]
    return out


@dataclass
class Outcome:
    """A policy on one slot count over many arrival orders: one value per order."""

    compute: np.ndarray  # trained seconds / the full grid's
    epochs: np.ndarray  # trial-epochs / the full grid's
    wall: np.ndarray  # wall-clock / the full grid's on the same slots and order
    regret: np.ndarray
    stuck: int


def evaluate(curves: Curves, make: Callable[[str, int, int, int], TrialScheduler], signal: str, slots: int,
             orders: list[list[int]], limiter: bool, top_k: int, smoothing: float, seed: int) -> Outcome:
    full_cost = sum(sum(c) for c in curves.cost)
    full_epochs = sum(len(s) for s in curves.signal)
    reference = winner_judge(curves, [len(s) for s in curves.signal], top_k)
    compute, epochs, wall, regret, stuck = [], [], [], [], 0
    np.random.seed(seed)  # ASHA draws its bracket with numpy's global RNG
    for order in orders:
        _, _, grid_wall = simulate_timed(curves, FIFOScheduler(), slots, order, smoothing, True)
        scheduler = make(signal_key(METRIC, signal), curves.epochs, curves.n, slots)
        reached, deadlocked, seconds = simulate_timed(curves, scheduler, slots, order, smoothing, limiter)
        stuck += deadlocked
        compute.append(sum(sum(c[:e]) for c, e in zip(curves.cost, reached, strict=True)) / full_cost)
        epochs.append(sum(reached) / full_epochs)
        wall.append(seconds / grid_wall)
        regret.append(winner_judge(curves, reached, top_k) / reference - 1)
    return Outcome(np.array(compute), np.array(epochs), np.array(wall), np.array(regret), stuck)


DEFAULT = f"sha g1 rf{SHA_REDUCTION_FACTOR:g}"  # what a spec that leaves the scheduler out runs
# the README's rows: the default, its neighbours, the default before issue 20's rules, Tune's own
MARKDOWN = (DEFAULT, "sha g1 rf3", "sha g1 rf3 tune", "sha g1 rf2", "asha g1 rf3", "hyperband rf3")
TARGETS = (0.05, 0.40, 0.45)  # issue 20, on 2 slots: regret, trial-epochs, wall-clock vs the full grid


def wall_floor(curves: Curves, slots: int, orders: list[list[int]], top_k: int) -> float:
    """The least wall-clock (over the full grid's, same slots and orders) of any policy that trains the
    grid's winner as far as the grid did: that trial's own seconds. No early stopping goes below it."""
    winner = pick(curves, [len(s) for s in curves.signal], top_k)
    walls = [simulate_timed(curves, FIFOScheduler(), slots, order, 0.5, True)[2] for order in orders]
    return sum(curves.cost[winner]) / float(np.mean(walls))


def markdown(curves: Curves, args: argparse.Namespace, orders: list[list[int]]) -> None:
    """The README's replay table: signal best, per policy regret, trial-epochs, wall-clock per slot count."""
    slots = " / ".join(map(str, args.slots))
    print(f"| policy | regret (median / worst) | within 5% | trial-epochs on {slots} slots "
          f"| wall-clock on {slots} slots |")
    print("| --- | --- | --- | --- | --- |")
    for name, signal, make, limiter in policies(curves.epochs):
        if signal != "best" or name not in MARKDOWN:
            continue
        runs = [evaluate(curves, make, signal, k, orders, limiter, args.top_k, args.smoothing, args.seed)
                for k in args.slots]
        regret = np.concatenate([r.regret for r in runs])
        label = f"**{name} (default)**" if name == DEFAULT else name
        print(f"| {label} | {np.median(regret):+.1%} / {regret.max():+.1%} | {np.mean(regret <= 0.05):.0%} "
              f"| {' / '.join(f'{r.epochs.mean():.0%}' for r in runs)} "
              f"| {' / '.join(f'{r.wall.mean():.0%}' for r in runs)} |", flush=True)


def targets(args: argparse.Namespace) -> None:
    """One row per recording: the default on 2 slots against issue 20's targets, and the wall floor."""
    print("| recording | trials x epochs | regret (worst) | trial-epochs | wall-clock | wall floor |")
    print("| --- | --- | --- | --- | --- | --- |")
    make = next(m for name, signal, m, _ in policies(0) if name == DEFAULT and signal == "best")
    for path in args.curves:
        curves = load_curves(path)
        rng = np.random.default_rng(args.seed)
        orders = [[int(i) for i in rng.permutation(curves.n)] for _ in range(args.orders)]
        o = evaluate(curves, make, "best", 2, orders, False, args.top_k, args.smoothing, args.seed)
        cells = [(o.regret.max(), "+.1%"), (o.epochs.mean(), ".0%"), (o.wall.mean(), ".0%")]
        shown = [f"{v:{fmt}}" + ("" if v <= t + 1e-9 else " (miss)")
                 for (v, fmt), t in zip(cells, TARGETS, strict=True)]
        floor = wall_floor(curves, 2, orders, args.top_k)
        print(f"| {path.name} | {curves.n} x {curves.epochs} | {' | '.join(shown)} | {floor:.0%} |",
              flush=True)


def main_replay(args: argparse.Namespace) -> None:
    logging.getLogger("ray.tune").setLevel(logging.WARNING)  # HyperBand logs every pause at INFO
    np.seterr(invalid="ignore")
    if args.targets:
        targets(args)
        return
    if len(args.curves) != 1:
        raise SystemExit("replay: one recording at a time (several only with --targets)")
    args.curves = args.curves[0]
    curves = load_curves(args.curves)
    reference = winner_judge(curves, [len(s) for s in curves.signal], args.top_k)
    oracle = min(v for j in curves.judge for v in j if math.isfinite(v))
    print(f"{curves.n} trials x {curves.epochs} epochs; full grid's re-measured winner {reference:.4f} "
          f"(oracle best judge {oracle:.4f}); top-{args.top_k} re-measured; "
          f"{args.orders} orders per slot count")
    rng = np.random.default_rng(args.seed)
    orders = [[int(i) for i in rng.permutation(curves.n)] for _ in range(args.orders)]
    print(f"wall floor on {' / '.join(map(str, args.slots))} slots (the grid winner's own training): "
          + " / ".join(f"{wall_floor(curves, k, orders, args.top_k):.0%}" for k in args.slots))
    if args.markdown:
        markdown(curves, args, orders)
        return
    header = (f"{'policy':<18}{'signal':<10}{'slots':>6}{'compute':>9}{'epochs':>8}{'wall':>7}"
              f"{'regret med':>11}{'p90':>8}{'within 5%':>10}{'5% & <=1/3':>11}{'stuck':>7}")
    print(header)
    print("-" * len(header))
    for name, signal, make, limiter in policies(curves.epochs):
        for slots in args.slots:
            o = evaluate(curves, make, signal, slots, orders, limiter, args.top_k, args.smoothing, args.seed)
            both = np.mean((o.regret <= 0.05) & (o.compute <= 1 / 3 + 1e-9))
            print(f"{name:<18}{signal:<10}{slots:>6}{o.compute.mean():>9.1%}{o.epochs.mean():>8.1%}"
                  f"{o.wall.mean():>7.0%}{np.median(o.regret):>11.1%}{np.quantile(o.regret, 0.9):>8.1%}"
                  f"{np.mean(o.regret <= 0.05):>10.0%}{both:>11.0%}{o.stuck / len(orders):>7.0%}", flush=True)
