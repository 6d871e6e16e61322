"""The answer with its uncertainty: is the sweep's winner better than its runner-up, or a coin toss?

The end-of-sweep re-measurement (``orchestrator.remeasure``) evaluates each of the top K trials'
chosen generator ``metrics.final_draws`` times, each draw on fresh latents (draw ``d`` uses the same
latent seed for every trial: a paired comparison). This module turns those values into

- per trial: ``final_<metric>`` = the mean over draws, ``final_<metric>_std`` = their std (ddof 1);
- per sweep: the winner (lowest mean), the runner-up, the margin between them and its standard error
  over the paired per-draw differences, and one line saying whether the winner is ahead by more than
  ``Z`` standard errors or "within noise". The line is the parent run's ``gansweep.verdict`` tag (with
  ``final_margin`` and ``final_margin_noise`` as metrics); ``gansweep run`` and ``gansweep report``
  print it.

What it does not cover: the noise of training itself (another seed trains another generator); the
draws say only how well the sample draws measured the generators that were trained.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from mlflow.tracking import MlflowClient

from orchestrator.record import names

Z = 2.0  # the winner "beats" the runner-up when the margin exceeds Z standard errors (~95%)


@dataclass(frozen=True)
class Measured:
    """One re-measured trial: its draws (same latent seeds for every trial, draw by draw)."""

    trial: str  # the short trial id shown to users
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan


@dataclass(frozen=True)
class Verdict:
    metric: str  # the re-measured key, e.g. final_fid5k_rand
    winner: Measured
    runner_up: Measured | None

    @property
    def margin(self) -> float:
        """How far the winner is ahead of the runner-up (> 0: the winner is better, whatever the mode)."""
        if self.runner_up is None:
            return math.nan
        return names.sign_of(self.metric) * (self.runner_up.mean - self.winner.mean)

    @property
    def noise(self) -> float:
        """Standard error of the margin from the paired per-draw differences (NaN with one draw)."""
        if self.runner_up is None:
            return math.nan
        diffs = np.subtract(self.runner_up.values, self.winner.values)
        return float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.nan

    @property
    def beyond_noise(self) -> bool:
        return math.isfinite(self.noise) and self.margin > Z * self.noise

    def line(self) -> str:
        w, r = self.winner, self.runner_up
        head = f"winner {w.trial}: {self.metric} {_pm(w)} over {len(w.values)} draws"
        if r is None:
            return f"{head}; no runner-up was re-measured"
        tail = f"runner-up {r.trial}: {_pm(r)}"
        if not math.isfinite(self.noise):
            return f"{head}; {tail}; margin {self.margin:.4g}, noise unknown (metrics.final_draws is 1)"
        if self.beyond_noise:
            return (f"{head}; {tail}; the winner is ahead by {self.margin:.4g}, more than the noise "
                    f"({Z:g} x {self.noise:.2g})")
        return f"{head}; {tail}; within noise (margin {self.margin:.4g} <= {Z:g} x {self.noise:.2g})"


def _pm(m: Measured) -> str:
    return f"{m.mean:.4g} ± {m.std:.2g}" if math.isfinite(m.std) else f"{m.mean:.4g}"


def verdict(metric: str, measured: Sequence[Measured]) -> Verdict | None:
    """The winner (best mean by the metric's mode) and the runner-up among ``measured`` trials; None when
    there are none."""
    sign = names.sign_of(metric)
    finite = sorted((m for m in measured if math.isfinite(m.mean)), key=lambda m: (sign * m.mean, m.trial))
    if not finite:
        return None
    return Verdict(metric, finite[0], finite[1] if len(finite) > 1 else None)


def record(client: MlflowClient, parent_run_id: str, metric: str,
           measured: Mapping[str, Measured], logged: Collection[str] = ()) -> Verdict | None:
    """Log mean and std on every re-measured child run (keyed by run id; not on those in ``logged``,
    whose values a killed driver already recorded) and the verdict on the parent."""
    for run_id, m in measured.items():
        if run_id in logged:
            continue
        client.log_metric(run_id, metric, m.mean)
        if math.isfinite(m.std):
            client.log_metric(run_id, names.std_key(metric), m.std)
    found = verdict(metric, list(measured.values()))
    if found is None:
        return None
    client.set_tag(parent_run_id, names.TAG_VERDICT, found.line())
    if found.runner_up is not None:
        client.log_metric(parent_run_id, names.MARGIN, found.margin)
        if math.isfinite(found.noise):
            client.log_metric(parent_run_id, names.MARGIN_NOISE, found.noise)
    return found


def recorded_line(client: MlflowClient, parent_run_id: str) -> str | None:
    """The verdict line a finished sweep recorded (None for sweeps before it or without re-measurement)."""
    return client.get_run(parent_run_id).data.tags.get(names.TAG_VERDICT)
