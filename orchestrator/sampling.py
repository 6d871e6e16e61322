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
