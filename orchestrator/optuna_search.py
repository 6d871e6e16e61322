"""`search.algorithm: optuna`: one TPE over the whole space, driven through Tune's OptunaSearch.

- Grid params become categoricals TPE models (TPE sees that conv_dim matters), start-up trials are
  sized to the budget, multivariate + constant_liar for parallel asks.
- Grid values still get equal trial counts: each ask enqueues the next grid point round-robin
  (Optuna's `enqueue_trial` with partial params), TPE picks the other params. Equal counts, not
  equal compute: the scheduler may stop one width's trials more often.
- Trials the scheduler stopped are told to Optuna as PRUNED (with their reported intermediate
  values), not as COMPLETE with an epoch-1 value; a diverged trial ends with a normal final result
  (metric +inf, `orchestrator.schedule.diverged_scalars`) and is told as COMPLETE, so TPE learns
  that region fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna
from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from orchestrator.record.names import FINAL_KEY
from orchestrator.sampling import SEED_KEY, grid_points, trial_seed, tune_domain
from orchestrator.schedule import tuner_metric
from orchestrator.schedulers import searcher_limit

if TYPE_CHECKING:  # annotations only: at run time the spec imports this module's registry (via space)
    from orchestrator.sweep_spec import SweepSpec


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


def build_optuna(spec: SweepSpec) -> tuple[dict[str, Any], ConcurrencyLimiter | SweepOptuna, int]:
    """(empty param_space: the searcher owns the space, the limited searcher, one trial per budget slot).

    Under a pausing scheduler (sha, hyperband) every trial is asked up front (unlimited; constant
    liar keeps the asks apart), so TPE models the next sweep, not this one's later trials: pair
    optuna with asha when TPE should learn within one sweep."""
    params = spec.search_params()
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
        seed_base=spec.seed if SEED_KEY not in params else None,
    )
    limit = searcher_limit(spec)
    return {}, ConcurrencyLimiter(searcher, max_concurrent=limit) if limit else searcher, spec.grid_size()
