"""How a trial's values are drawn: a spec param as a Tune domain, the grid's points, per-trial seeds.

Shared by the search algorithms (`orchestrator.space` for random and grid search, and
`orchestrator.optuna_search` for TPE). At run time it imports no other gansweep module, so the
registry in `space` and the TPE searcher both use it without an import cycle.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from orchestrator.sweep_spec import SweepSpec

SEED_KEY = "seed"
SEED_HIGH = 2**31 - 1


def tune_domain(kind: str, values: list[Any]) -> Any:
    """One spec param -> one Tune domain. randint bounds are inclusive in the spec."""
    from ray import tune

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


# ------------------------------------------------------------------ reseeds (metrics.final_seeds)
# A reseed trial's whole Tune config is one grid point under RESEED_KEY: the original trial's sampled
# config with another seed, and which trial and seed index it is. `tune.grid_search` over these points
# runs each once; `unwrap_reseed` gives the trainable its plain config and the writer its tags.
RESEED_KEY = "reseed"
RESEED_OF = "of"  # the Tune trial id of the trial retrained
RESEED_INDEX = "index"  # 1..N-1 (index 0 is the original trial's own seed)


def reseed_seed(seed: int, index: int) -> int:
    """The training seed of reseed ``index`` of a trial trained with ``seed`` (reproducible, distinct)."""
    return int(np.random.default_rng([int(seed), int(index), 7919]).integers(SEED_HIGH))


def reseed_points(configs: dict[str, dict[str, Any]], seeds: int, base_seed: int) -> list[dict[str, Any]]:
    """The grid points retraining each trial of ``configs`` ({trial id: its Tune config}) with
    ``seeds - 1`` further seeds; a config without a seed was trained with ``base_seed``."""
    points = []
    for trial_id, config in sorted(configs.items()):
        for index in range(1, seeds):
            sampled = {**config, SEED_KEY: reseed_seed(config.get(SEED_KEY, base_seed), index)}
            points.append({RESEED_OF: trial_id, RESEED_INDEX: index, "config": sampled})
    return points


def unwrap_reseed(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the trial's plain sampled config, its reseed point or None for a sweep trial)."""
    point = config.get(RESEED_KEY)
    if not isinstance(point, dict):
        return config, None
    return dict(point["config"]), point
