"""Turn a spec's `search` section into what Ray Tune runs: a param_space and a search algorithm.

Search algorithms are a registry (`ALGORITHMS`): the spec's `search.algorithm` accepts exactly its
keys, and each entry says how it becomes Tune's (param_space, search_alg, num_samples) and which
param kinds it can search. Adding one (say Tune's HyperOptSearch) is one builder and one entry
here; nothing else changes. This module imports Ray and Optuna only inside the builders, so the
spec can import the registry cheaply.

Three things every algorithm gets (issue 10):

- the concurrency limit (`resources.max_concurrent`) is part of the search algorithm itself
  (`BasicVariantGenerator(max_concurrent=...)`, `ConcurrencyLimiter(...)`): Tune ignores
  `TuneConfig.max_concurrent_trials` when it is handed a ready-made BasicVariantGenerator.
  Under a scheduler that pauses trials (sha, hyperband) the searcher is not limited and Ray's
  resources are (`orchestrator.schedulers.searcher_limit` / `ray_cpus`).
- replicates differ: unless the spec searches `seed` itself, every trial gets its own seed as a
  sampled param (so it is in the trial's config, which the MLflow writer logs as params). Random
  and grid search draw it from `spec.seed`'s random state, Optuna derives it from the trial's
  index; both are reproducible from the spec.
- one searcher over the whole space (`orchestrator.optuna_search` for TPE).

How one param becomes a Tune domain, the grid points and the trial seeds live in `orchestrator.sampling`,
which this module and `optuna_search` share: `optuna_search` importing them from here made an import
cycle (this module imports it for the registry's `optuna` entry, and the spec imports this module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.sampling import SEED_HIGH, SEED_KEY, tune_domain

if TYPE_CHECKING:
    from orchestrator.sweep_spec import SweepSpec

Built = tuple[dict[str, Any], Any, int]  # (param_space, search_alg, num_samples for TuneConfig)


def _variants(spec: SweepSpec) -> Built:
    """Tune's own variant generation: grid params crossed, the others sampled, `num_samples` times."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    from orchestrator.schedulers import searcher_limit

    params = spec.search_params()
    space = {k: tune_domain(p.kind, list(p.values)) for k, p in params.items()}
    if SEED_KEY not in params:
        space[SEED_KEY] = tune.randint(0, SEED_HIGH)
    # Seeded, so the same spec samples the same trials (and seeds): reproducible reruns.
    search_alg = BasicVariantGenerator(max_concurrent=searcher_limit(spec), random_state=spec.seed)
    return space, search_alg, spec.search.num_samples


def _optuna(spec: SweepSpec) -> Built:
    if not spec.search_params():  # nothing to model: plain variants (num_samples identical-config trials)
        return _variants(spec)
    from orchestrator.optuna_search import build_optuna

    return build_optuna(spec)


@dataclass(frozen=True)
class SearchAlgorithm:
    """One `search.algorithm`: its builder and the param kinds it can search (None: every kind)."""

    build: Callable[[SweepSpec], Built]
    kinds: tuple[str, ...] | None = None
    summary: str = ""


ALGORITHMS: dict[str, SearchAlgorithm] = {
    "grid": SearchAlgorithm(_variants, kinds=("grid",), summary="every grid combination, num_samples times"),
    "random": SearchAlgorithm(_variants, summary="grids crossed, other params sampled at random"),
    "optuna": SearchAlgorithm(_optuna, summary="one TPE over the whole space, grid values round-robin"),
}


def build_search(spec: SweepSpec) -> Built:
    """(param_space, search_alg, num_samples for TuneConfig) of the spec's search algorithm."""
    return ALGORITHMS[spec.search.algorithm].build(spec)
