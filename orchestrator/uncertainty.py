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

What the draws do not cover: the noise of training itself (another seed trains another generator);
they say only how well the sample draws measured the generators that were trained. With
``metrics.final_seeds: N`` (``orchestrator.reseed``) each top trial is trained N-1 more times with
other seeds, each measured the same way, and ``seed_verdict`` asks the same question across seeds:
the values are the N per-seed means (the original's and the reseeds'), ``final_<metric>_seeds`` and
``final_<metric>_seeds_std`` on each trial, and the margin is judged against the standard error of
a difference of two means over independent seeds (unpaired: seed j of one trial has nothing to do
with seed j of another), ``sqrt(s_w^2/n_w + s_r^2/n_r)``. The line is the parent's
``gansweep.seed_verdict`` tag, with ``final_seed_margin`` and ``final_seed_margin_noise``.
"""

from __future__ import annotations

import math
import time
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
    unit: str = "draws"  # what the values are: sample draws (paired) or training seeds (unpaired)

    @property
    def margin(self) -> float:
        """How far the winner is ahead of the runner-up (> 0: the winner is better, whatever the mode)."""
        if self.runner_up is None:
            return math.nan
        return names.sign_of(self.metric) * (self.runner_up.mean - self.winner.mean)

    @property
    def paired(self) -> bool:
        return self.unit == "draws"

    @property
    def noise(self) -> float:
        """Standard error of the margin (NaN with one value each): over the paired per-draw differences
        for draws, over two independent means (``sqrt(s_w^2/n_w + s_r^2/n_r)``) for seeds."""
        if self.runner_up is None:
            return math.nan
        if not self.paired:
            w, r = self.winner, self.runner_up
            if len(w.values) < 2 or len(r.values) < 2:
                return math.nan
            return math.sqrt(w.std**2 / len(w.values) + r.std**2 / len(r.values))
        diffs = np.subtract(self.runner_up.values, self.winner.values)
        return float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.nan

    @property
    def beyond_noise(self) -> bool:
        return math.isfinite(self.noise) and self.margin > Z * self.noise

    def line(self) -> str:
        w, r = self.winner, self.runner_up
        noise = "noise" if self.paired else "seed spread"
        lead = "" if self.paired else "across training seeds: "
        head = f"{lead}winner {w.trial}: {self.metric} {_pm(w)} over {len(w.values)} {self.unit}"
        if r is None:
            return f"{head}; no runner-up was re-measured"
        tail = f"runner-up {r.trial}: {_pm(r)}"
        if not math.isfinite(self.noise):
            why = "metrics.final_draws is 1" if self.paired else "a trial has fewer than 2 seeds measured"
            return f"{head}; {tail}; margin {self.margin:.4g}, {noise} unknown ({why})"
        if self.beyond_noise:
            return (f"{head}; {tail}; the winner is ahead by {self.margin:.4g}, more than the {noise} "
                    f"({Z:g} x {self.noise:.2g})")
        return f"{head}; {tail}; within {noise} (margin {self.margin:.4g} <= {Z:g} x {self.noise:.2g})"


def _pm(m: Measured) -> str:
    return f"{m.mean:.4g} ± {m.std:.2g}" if math.isfinite(m.std) else f"{m.mean:.4g}"


def verdict(metric: str, measured: Sequence[Measured], unit: str = "draws") -> Verdict | None:
    """The winner (best mean by the metric's mode) and the runner-up among ``measured`` trials; None when
    there are none. ``unit``: "draws" (paired sample draws) or "seeds" (independent training seeds)."""
    sign = names.sign_of(metric)
    finite = sorted((m for m in measured if math.isfinite(m.mean)), key=lambda m: (sign * m.mean, m.trial))
    if not finite:
        return None
    return Verdict(metric, finite[0], finite[1] if len(finite) > 1 else None, unit)


def record(client: MlflowClient, parent_run_id: str, metric: str,
           measured: Mapping[str, Measured], logged: Collection[str] = (), verdict_tag: bool = True,
           ) -> Verdict | None:
    """Log mean and std on every re-measured child run (keyed by run id; not on those in ``logged``,
    whose values a killed driver already recorded) and (``verdict_tag``) the verdict on the parent."""
    for run_id, m in measured.items():
        if run_id in logged:
            continue
        client.log_metric(run_id, metric, m.mean)
        if math.isfinite(m.std):
            client.log_metric(run_id, names.std_key(metric), m.std)
    found = verdict(metric, list(measured.values()))
    if found is None or not verdict_tag:
        return None
    _record_verdict(client, parent_run_id, found, names.TAG_VERDICT, names.MARGIN, names.MARGIN_NOISE)
    return found


def record_seeds(client: MlflowClient, parent_run_id: str, metric: str,
                 measured: Mapping[str, Measured], logged: Collection[str] = ()) -> Verdict | None:
    """Per top trial (keyed by run id; skipping those in ``logged``) its values over training seeds, in
    one batch: ``<metric>_per_seed`` (step = seed index), their mean ``<metric>_seeds`` and std; and
    the verdict across seeds on the parent. ``metric`` is the re-measured key (``final_fid5k_rand``)."""
    for run_id, m in measured.items():
        if run_id not in logged:
            log_measured(client, run_id, names.per_seed_key(metric), names.seeds_key(metric), m)
    found = verdict(metric, list(measured.values()), unit="seeds")
    if found is None:
        return None
    _record_verdict(client, parent_run_id, found, names.TAG_SEED_VERDICT, names.SEED_MARGIN,
                    names.SEED_MARGIN_NOISE)
    return found


def log_measured(client: MlflowClient, run_id: str, values_key: str, key: str, m: Measured) -> None:
    """One trial's values (``values_key``, step = draw or seed index), their mean (``key``) and std in
    one batch: all of them are on record or none, so a driver killed after it loses nothing of it."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(values_key, v, now, i) for i, v in enumerate(m.values)]
    batch.append(Metric(key, m.mean, now, 0))
    if math.isfinite(m.std):
        batch.append(Metric(names.std_key(key), m.std, now, 0))
    client.log_batch(run_id, metrics=batch)


def _record_verdict(client: MlflowClient, parent_run_id: str, found: Verdict, tag: str, margin: str,
                    margin_noise: str) -> None:
    """The verdict line as the parent's ``tag``, and its margin and noise as the parent's metrics."""
    client.set_tag(parent_run_id, tag, found.line())
    if found.runner_up is not None:
        client.log_metric(parent_run_id, margin, found.margin)
        if math.isfinite(found.noise):
            client.log_metric(parent_run_id, margin_noise, found.noise)


def recorded_line(client: MlflowClient, parent_run_id: str) -> str | None:
    """The verdict line a finished sweep recorded (None for sweeps before it or without re-measurement)."""
    return client.get_run(parent_run_id).data.tags.get(names.TAG_VERDICT)
