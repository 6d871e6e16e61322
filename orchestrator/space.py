"""Turn a spec's `search` section into what Ray Tune runs: a param_space and a search algorithm.

Three things every algorithm gets (issue 10):

- the concurrency limit (`resources.max_concurrent`) is part of the search algorithm itself
  (`BasicVariantGenerator(max_concurrent=...)`, `ConcurrencyLimiter(...)`): Tune ignores
  `TuneConfig.max_concurrent_trials` when it is handed a ready-made BasicVariantGenerator.
- replicates differ: unless the spec searches `seed` itself, every trial gets its own seed as a
  sampled param (so it is in the trial's config, which the MLflow writer logs as params). Random
  and grid search draw it from `spec.seed`'s random state, Optuna derives it from the trial's
  index; both are reproducible from the spec.
- `optuna` is one TPE over the whole space: grid params become categoricals TPE models (TPE sees
  that conv_dim matters), start-up trials sized to the budget, multivariate + constant_liar for
  parallel asks. Grid values are still given equal trial counts: each ask enqueues the next grid
  point round-robin (Optuna's `enqueue_trial` with partial params), TPE picks the other params.
  Equal counts, not equal compute: the scheduler may stop one width's trials more often.
  Trials the scheduler stopped are told to Optuna as PRUNED (with their reported intermediate
  values), not as COMPLETE with an epoch-1 value; a diverged trial ends with a normal final result
  (metric +inf, `orchestrator.schedule.diverged_scalars`) and is told as COMPLETE, so TPE learns
  that region fails.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import optuna
from ray import tune
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from orchestrator.schedule import tuner_metric
from orchestrator.spec import SweepSpec

FINAL_KEY = "final"  # orchestrator.trial.FINAL_KEY: 1.0 on a trial's last report (trained out or diverged)
SEED_KEY = "seed"
SEED_HIGH = 2**31 - 1


def tune_domain(kind: str, values: list[Any]) -> Any:
    """One spec param -> one Tune domain. randint bounds are inclusive in the spec."""
    if kind == "grid":
        return tune.grid_search(list(values))
    if kind == "choice":
        return tune.choice(list(values))
    if kind == "uniform":
        return tune.uniform(values[0], values[1])
    if kind == "loguniform":
        return tune.loguniform(values[0], values[1])
    if kind == "randint":
        return tune.randint(values[0], values[1] + 1)
    raise ValueError(f"unknown search kind {kind!r}")


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every combination of the spec's grid params ([{}] when there are none)."""
    grids = {k: list(p.values) for k, p in spec.search_params().items() if p.kind == "grid"}
    keys = sorted(grids)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grids[k] for k in keys))]


def trial_seed(base: int, index: int) -> int:
    """The training seed of the `index`-th trial of a sweep seeded `base` (distinct, reproducible)."""
    return int(np.random.default_rng([base, index]).integers(SEED_HIGH))


def startup_trials(spec: SweepSpec) -> int:
    """TPE's random start-up trials: the spec's, else a quarter of the budget (at least 2), so a
    12-trial sweep models after 3 trials instead of never leaving Optuna's default 10."""
    if spec.search.startup_trials is not None:
        return spec.search.startup_trials
    return max(2, spec.grid_size() // 4)


class SweepOptuna(OptunaSearch):
    """Tune's OptunaSearch with the sweep's rules: grid points round-robin, a seed per trial, and
    scheduler-stopped trials told as PRUNED. Pickled whole by OptunaSearch.save (Tuner.restore)."""

    def __init__(self, *, points: list[dict[str, Any]], seed_base: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._points = [p for p in points if p]
        self._asked = 0
        self._seed_base = seed_base

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        fresh = trial_id not in self._ot_trials
        if fresh and self._points:
            self._ot_study.enqueue_trial(self._points[self._asked % len(self._points)], skip_if_exists=False)
        config = super().suggest(trial_id)
        if fresh:
            self._asked += 1
        if config is not None and self._seed_base is not None:
            config[SEED_KEY] = trial_seed(self._seed_base, self._ot_trials[trial_id].number)
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and not error and not result.get(FINAL_KEY):
            # Stopped by the scheduler before its last report: PRUNED keeps the intermediate values
            # (reported at every result), which TPE ranks below finished trials of the same value.
            result = None
        super().on_trial_complete(trial_id, result=result, error=error)


def build_search(spec: SweepSpec) -> tuple[dict[str, Any], Searcher | BasicVariantGenerator, int]:
    """(param_space, search_alg, num_samples for TuneConfig)."""
    params = spec.search_params()
    add_seed = SEED_KEY not in params
    limit = spec.resources.max_concurrent
    if spec.search.algorithm != "optuna" or not params:
        space = {k: tune_domain(p.kind, list(p.values)) for k, p in params.items()}
        if add_seed:
            space[SEED_KEY] = tune.randint(0, SEED_HIGH)
        # Seeded, so the same spec samples the same trials (and seeds): reproducible reruns.
        search_alg = BasicVariantGenerator(max_concurrent=limit, random_state=spec.seed)
        return space, search_alg, spec.search.num_samples
    domains = {k: tune.choice(list(p.values)) if p.kind == "grid" else tune_domain(p.kind, list(p.values))
               for k, p in params.items()}
    sampler = optuna.samplers.TPESampler(n_startup_trials=startup_trials(spec), multivariate=True,
                                         constant_liar=True, seed=spec.seed)
    searcher = SweepOptuna(
        space=OptunaSearch.convert_search_space(domains),
        metric=tuner_metric(spec),
        mode=spec.scheduler.mode,
        sampler=sampler,
        points=grid_points(spec),
        seed_base=spec.seed if add_seed else None,
    )
    return {}, ConcurrencyLimiter(searcher, max_concurrent=limit), spec.grid_size()
