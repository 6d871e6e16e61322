"""Early-stopping decisions that survive GAN noise: the decision signal and the Tune scheduler.

Why not judge the raw metric: the per-epoch FID of one GAN trial swings 2-3x between neighbouring
epochs, so a rung decision on one raw value is close to a coin toss (issue 10; measured with
``benchmarks/bench_asha.py``). A trial therefore reports, next to the raw metric, two running
summaries of the values that were *freshly evaluated* (``metrics.every`` may skip reports; the loop
repeats the last value in between, which must never be judged again):

- ``<metric>_best``: the best value so far (a spike up does not kill a trial that was good);
- ``<metric>_smooth``: an exponential moving average, ``s = w * s_prev + (1 - w) * x`` with
  ``w = scheduler.smoothing``.

and the noise of each (``<signal key>_noise``: the standard deviation of that value over draws of
the generated samples, from the metric's own ``<metric>_noise``, see ``trainers.metrics.evaluator``),
plus ``signal_step``: the report index at which the signal's latest input was measured. The
schedulers count their rungs in that key, so a rung (in reports, i.e. training done) is decided on
the first fresh evaluation at or after it and never on a repeated stale value. The Tuner's metric
is the signal the spec asks for (``scheduler.signal``: ``raw`` | ``best`` | ``smoothed``).

Schedulers (``scheduler.type``): ``sha`` (the default: synchronous successive halving over all the
sweep's trials, ``SuccessiveHalving``), ``asha`` (Tune's asynchronous successive halving),
``hyperband`` (Tune's synchronous HyperBand with ``stop_last_trials``), ``none`` (FIFO). In the
synchronous ones decisions do not depend on arrival order; trials pause at rungs and resume from
their rung checkpoint.

Two rules widen a synchronous rung beyond its quota (``promotions``), both measured on a live
real-CelebA sweep (issue 20): the rung keeps at least as many trials as there are slots (a slot left
idle buys nothing: on the same slots it costs no wall-clock time), and it also keeps the trials whose
value is within the evaluation noise of the cut line (a cut at a 0.25% margin is a coin toss), at most
``NOISE_BOUND`` x the quota.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import HyperBandScheduler, TrialScheduler
from ray.tune.schedulers.hyperband import _Bracket

from orchestrator.record.names import SIGNAL_STEP_KEY, SIGNAL_SUFFIX, noise_key, signal_key
from orchestrator.rungs import halvings

SIGNAL_FILE = "decision_signal.json"  # the signal state inside a trial checkpoint (resumes continue it)
NOISE_BOUND = 2.0  # a rung keeps at most this many times its quota for trials within noise of the cut
NOISE_Z = 1.0  # "within noise": behind the cut line by at most NOISE_Z standard deviations of the difference


@dataclass(frozen=True)
class SignalState:
    """Running summaries of a trial's fresh metric values (small, JSON-able: it rides in checkpoints)."""

    step: int = 0  # report index of the latest fresh value (0: none yet)
    raw: float = math.nan
    best: float = math.nan
    smooth: float = math.nan
    best_noise: float = 0.0  # std of the evaluation that set ``best`` (0: not estimated)
    smooth_noise: float = 0.0  # std of ``smooth`` (independent evaluation noises through the EMA)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> SignalState:
        return cls(**values) if values else cls()


def next_signal(state: SignalState, value: float, step: int, *, mode: str = "min",
                smoothing: float = 0.5, noise: float = math.nan) -> SignalState:
    """The state after a fresh evaluation ``value`` (std ``noise``) at report ``step`` (pure).

    A non-finite value (a diverged or broken generator) is the worst possible: the smoothed signal
    becomes it, the best-so-far keeps the earlier best. The smoothed signal's noise follows the EMA:
    ``var = w^2 var_prev + (1 - w)^2 noise^2`` (evaluations draw independent samples).
    """
    sign = 1.0 if mode == "min" else -1.0
    noise = noise if math.isfinite(noise) and noise > 0 else 0.0  # a metric without an estimate: 0
    if not math.isfinite(value):
        value = sign * math.inf
        keep = not math.isnan(state.best)
        return SignalState(step=step, raw=value, best=state.best if keep else value,
                           smooth=value, best_noise=state.best_noise if keep else 0.0)
    improved = math.isnan(state.best) or sign * value < sign * state.best
    best, best_noise = (value, noise) if improved else (state.best, state.best_noise)
    if math.isfinite(state.smooth):
        smooth = smoothing * state.smooth + (1.0 - smoothing) * value
        smooth_noise = math.hypot(smoothing * state.smooth_noise, (1.0 - smoothing) * noise)
    else:
        smooth, smooth_noise = value, noise
    return SignalState(step=step, raw=value, best=best, smooth=smooth, best_noise=best_noise,
                       smooth_noise=smooth_noise)


def signal_scalars(state: SignalState, metric: str) -> dict[str, float]:
    """What a trial adds to its result: every signal of ``metric`` and the step they were measured at.

    Empty before the first evaluation, so no scheduler judges a trial that has no measurement yet.
    """
    if state.step == 0:
        return {}
    best, smooth = signal_key(metric, "best"), signal_key(metric, "smoothed")
    out = {best: state.best, smooth: state.smooth, SIGNAL_STEP_KEY: float(state.step)}
    for key, noise in ((best, state.best_noise), (smooth, state.smooth_noise)):
        if noise > 0:  # the metric estimates its noise (FID does, see trainers.metrics)
            out[noise_key(key)] = noise
    return out


def diverged_scalars(metric: str, mode: str = "min", step: int = 0) -> dict[str, float]:
    """The signals of a diverged trial's final result: all the worst value, so the searcher learns that
    this point failed (and the result carries the Tuner's metric whatever the signal).

    ``signal_step`` stays at ``step``, the last fresh evaluation, so no scheduler files the worst value
    under a rung: one infinite value in a rung makes ASHA's percentile cutoff NaN, and a NaN cutoff
    stops nobody for the rest of the sweep (measured in the replay, ``benchmarks/asha_replay.py``).
    """
    worst = math.inf if mode == "min" else -math.inf
    signals = {signal_key(metric, s): worst for s in SIGNAL_SUFFIX}
    return {metric: worst, **signals, SIGNAL_STEP_KEY: float(step)}


def is_fresh(scalars: dict[str, Any], metric: str) -> bool:
    """Whether this report evaluated ``metric`` (the loop spends ``eval_s`` > 0 only then)."""
    return metric in scalars and float(scalars.get("eval_s", 0.0)) > 0.0


class DecisionSignal:
    """The per-trial holder ``trial.py`` uses: feed each report's scalars, get the keys to add."""

    def __init__(self, metric: str, mode: str = "min", smoothing: float = 0.5,
                 state: dict[str, Any] | None = None) -> None:
        self.metric, self.mode, self.smoothing = metric, mode, smoothing
        self.state = SignalState.from_dict(state)

    def update(self, scalars: dict[str, Any], step: int) -> dict[str, float]:
        if is_fresh(scalars, self.metric):
            noise = float(scalars.get(noise_key(self.metric), math.nan))
            self.state = next_signal(self.state, float(scalars[self.metric]), step, mode=self.mode,
                                     smoothing=self.smoothing, noise=noise)
        return signal_scalars(self.state, self.metric)

    def save(self, directory: Path) -> None:
        """Write the state into a checkpoint folder, so a restored trial continues the same signal."""
        (Path(directory) / SIGNAL_FILE).write_text(json.dumps(self.state.to_dict()))

    def load(self, directory: Path) -> None:
        path = Path(directory) / SIGNAL_FILE
        if path.exists():
            self.state = SignalState.from_dict(json.loads(path.read_text()))

    def diverged(self) -> dict[str, float]:
        """The keys of the final result of a trial that diverged (see :func:`diverged_scalars`)."""
        return diverged_scalars(self.metric, self.mode, self.state.step)


# ------------------------------------------------------------------------------------ schedulers
def tuner_metric(spec: Any) -> str:
    """The metric the Tuner, its scheduler and its searcher optimise: the spec's decision signal."""
    return signal_key(spec.asha_metric, spec.scheduler.signal)


def promotions(values: list[float], noises: list[float], quota: int, slots: int = 1,
               bound: float = NOISE_BOUND) -> int:
    """How many trials a synchronous rung keeps, given their values best first (lower is better).

    At least ``quota`` (Tune's 1/rf of the bracket) and at least ``slots`` (a slot left idle while a
    trial is cut saves no wall-clock time), never more than are alive. Then every further trial whose
    value is behind the cut line (the last trial those two rules keep; it does not move) by at most
    ``NOISE_Z`` standard deviations of the difference (``hypot`` of both noises; an unknown noise
    counts as 0) is kept too, up to ``bound`` x quota: the order inside the noise is a coin toss, so it
    is not a reason to cut.
    """
    alive = len(values)
    keep = min(alive, max(quota, slots))
    if keep == 0:
        return 0
    limit = min(alive, max(keep, math.floor(bound * quota)))
    line, line_noise = values[keep - 1], _noise(noises[keep - 1])
    while keep < limit and values[keep] - line <= NOISE_Z * math.hypot(_noise(noises[keep]), line_noise):
        keep += 1  # False for NaN values, and for an infinite one (diverged) behind a finite line
    return keep


def _noise(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) and value > 0 else 0.0


class _HalvingBracket(_Bracket):
    """Tune's bracket with the rung rule of :func:`promotions` (free slots, ties within noise).

    Tune's own halving still advances the bracket (quota, next rung); only who goes on changes. The
    next rung's quota stays Tune's (1/rf of this rung's quota), so a widened rung costs its extra
    trials once, not at every later rung.
    """

    def __init__(self, *args: Any, slots: int = 1, noise_bound: float = NOISE_BOUND, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots, self.noise_bound = slots, noise_bound

    def successive_halving(self, metric: str, metric_op: float) -> tuple[list[Any], list[Any]]:
        good, bad = super().successive_halving(metric, metric_op)
        if not bad:
            return good, bad
        ranked = [*reversed(good), *reversed(bad)]  # best first (Tune sorts worst first)
        results = [self._live_trials[t] for t in ranked]
        values = [-metric_op * float(r[metric]) for r in results]  # lower is better whatever the mode
        noises = [r.get(noise_key(metric)) for r in results]
        keep = promotions(values, noises, len(good), self.slots, self.noise_bound)
        return ranked[:keep], ranked[keep:]


class SuccessiveHalving(HyperBandScheduler):
    """Synchronous successive halving: Tune's HyperBand with one bracket holding every trial.

    Why (measured with ``benchmarks/bench_asha.py`` on real CelebA curves): on a sweep of tens of
    trials ASHA promotes early arrivals (the first trial at a rung always goes on), so it spends
    45-50% of the grid's compute; HyperBand adds brackets that never stop a trial. Here all trials
    train to ``grace_period``, the best 1/rf go on to ``grace_period * rf``, and so on to ``max_t``:
    with 12 trials x 8 epochs, rf 2.25 (the default, ``orchestrator.schedulers.SHA_REDUCTION_FACTOR``)
    trains 12 + 6 x 1 + 3 x 2 + 2 x 4 = 32 epochs, 33% of the grid, and no decision depends on
    arrival order. Tune's own bracket does the halving, pausing and unpausing; trials resume from
    their rung checkpoint.

    Every trial must be created up front (a paused trial holds no slot): the concurrency limit is
    then Ray's resources, not the searcher (``orchestrator.tune``, ``orchestrator.space``). On
    ``--resume`` the trials that had ended stay out of the bracket; the bracket keeps its size, so
    the unfinished ones are cut no harder than in the first run.

    A rung keeps at least ``slots`` trials (``resources.max_concurrent``) and the ties within noise
    (:func:`promotions`); ``noise_bound`` 1 turns the latter off.
    """

    def __init__(self, *, num_trials: int, grace_period: int, slots: int = 1,
                 noise_bound: float = NOISE_BOUND, **kwargs: Any) -> None:
        super().__init__(stop_last_trials=True, **kwargs)
        self._num_trials = max(1, num_trials)
        self._grace = grace_period
        self._slots, self._noise_bound = max(1, slots), noise_bound

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        # Tuner.restore starts from a fresh scheduler and re-adds every trial; one that had already
        # ended would sit in the bracket without ever reporting, so no rung would complete (a hang).
        # The unfinished trials of a resumed sweep are halved among themselves.
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            return
        super().on_trial_add(tune_controller, trial)

    def _process_bracket(self, tune_controller: Any, bracket: _Bracket) -> str:
        # A trial restored by --resume may already be past the next rung; Tune's bracket then keeps
        # it paused forever (it unpauses only trials short of the rung). Decide every rung that all
        # live trials have already passed, now.
        action = super()._process_bracket(tune_controller, bracket)
        while action != TrialScheduler.STOP and bracket.current_trials() and bracket.cur_iter_done():
            action = super()._process_bracket(tune_controller, bracket)
        return action

    def _create_bracket(self, s: int) -> _Bracket:
        return _HalvingBracket(time_attr=self._time_attr, max_trials=self._num_trials,
                               init_t_attr=self._grace, max_t_attr=self._max_t_attr, eta=self._eta,
                               s=halvings(self._max_t_attr, self._grace, self._eta), stop_last_trials=True,
                               slots=self._slots, noise_bound=self._noise_bound)
