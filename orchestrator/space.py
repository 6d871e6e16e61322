"""Turn a spec's `search` section into what Ray Tune runs: a param_space and a search algorithm.

random / grid use Tune's BasicVariantGenerator, which already crosses `grid_search` values with
sampled ones (every grid point gets `num_samples` samples). Optuna's TPE cannot take a grid, so
for `optuna` with grid params we cross them explicitly: one OptunaSearch per grid point, each
asked `num_samples` times, so "conv_dim 64 vs 128 vs 256" gets the same tuning effort per width
instead of being one more categorical TPE may ignore.
"""

from __future__ import annotations

import itertools
import pickle
from typing import Any

from ray import tune
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch

from orchestrator.spec import SweepSpec


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


class GridCrossedOptuna(Searcher):
    """Optuna TPE run separately inside each grid point, grid points visited round-robin.

    Tune calls `suggest` until it returns None (Searcher.FINISHED) once every grid point had its
    `num_samples` suggestions. State (including each study) is pickled with the searcher, so
    `Tuner.restore` continues the same studies.
    """

    def __init__(
        self,
        sampled_space: dict[str, Any],
        points: list[dict[str, Any]],
        samples_per_point: int,
        metric: str,
        mode: str,
        seed: int,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self._points = points
        self._samples = samples_per_point
        self._searchers = [
            OptunaSearch(
                space=OptunaSearch.convert_search_space(dict(sampled_space)), metric=metric, mode=mode,
                seed=seed + i,
            )
            if sampled_space
            else None
            for i in range(len(points))
        ]
        self._issued = [0] * len(points)
        self._owner: dict[str, int] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        pending = [i for i, n in enumerate(self._issued) if n < self._samples]
        if not pending:
            return Searcher.FINISHED
        index = min(pending, key=lambda i: (self._issued[i], i))
        self._issued[index] += 1
        self._owner[trial_id] = index
        searcher = self._searchers[index]
        sampled = searcher.suggest(trial_id) if searcher is not None else {}
        if sampled is None:  # an inner searcher can be exhausted or waiting
            return None
        return {**self._points[index], **sampled}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        searcher = self._inner(trial_id)
        if searcher is not None:
            searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        searcher = self._inner(trial_id)
        if searcher is not None:
            searcher.on_trial_complete(trial_id, result=result, error=error)

    def _inner(self, trial_id: str) -> OptunaSearch | None:
        index = self._owner.get(trial_id)
        return None if index is None else self._searchers[index]

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


def build_search(spec: SweepSpec) -> tuple[dict[str, Any], Searcher | BasicVariantGenerator, int]:
    """(param_space, search_alg, num_samples for TuneConfig)."""
    params = spec.search_params()
    if spec.search.algorithm != "optuna":
        space = {k: tune_domain(p.kind, list(p.values)) for k, p in params.items()}
        # Seeded, so the same spec samples the same trials (reproducible demo, comparable reruns).
        return space, BasicVariantGenerator(random_state=spec.seed), spec.search.num_samples
    sampled = {k: tune_domain(p.kind, list(p.values)) for k, p in params.items() if p.kind != "grid"}
    points = grid_points(spec)
    searcher = GridCrossedOptuna(
        sampled_space=sampled,
        points=points,
        samples_per_point=spec.search.num_samples,
        metric=spec.asha_metric,
        mode=spec.scheduler.mode,
        seed=spec.seed,
    )
    return {}, searcher, len(points) * spec.search.num_samples
