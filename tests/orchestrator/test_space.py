"""Spec search section -> Ray Tune search space / searcher (orchestrator.space)."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
from ray.tune.search.sample import Categorical, Float, Integer

from orchestrator.optuna_search import SweepOptuna, startup_trials
from orchestrator.sampling import grid_points, trial_seed, tune_domain
from orchestrator.schedule import diverged_scalars
from orchestrator.space import build_search
from orchestrator.sweep_spec import from_dict


def _spec(algorithm: str, tmp_path: Path, num_samples: int = 3, scheduler: str = "asha", **extra: Any) -> Any:
    params = extra.pop("params", {
        "conv_dim": {"grid": [16, 32]},
        "batch_size": {"grid": [16, 64]},
        "lr": {"loguniform": [1.0e-5, 1.0e-3]},
        "optimizer": {"choice": ["adam", "rmsprop"]},
        "n_critic": {"randint": [1, 5]},  # a knob of WGAN-GP, the family below
    })
    return from_dict(
        {
            "name": "s",
            "storage": str(tmp_path),
            "data": {"source": "synthetic", "image_size": 32, "count": 64},
            "model": {"family": "wgan_gp"},
            "search": {"algorithm": algorithm, "num_samples": num_samples, "params": params, **extra},
            "metrics": {"backbone": "rand", "samples": 64},
            "resources": {"max_concurrent": 3},
            "scheduler": {"type": scheduler},
        },
        check_data=False,
    )


def _optuna(spec: Any) -> SweepOptuna:
    _, alg, _ = build_search(spec)
    assert isinstance(alg, ConcurrencyLimiter) and isinstance(alg.searcher, SweepOptuna)
    return alg.searcher


def test_domains_map_one_to_one() -> None:
    assert tune_domain("grid", [1, 2]) == {"grid_search": [1, 2]}
    assert isinstance(tune_domain("choice", ["a"]), Categorical)
    assert isinstance(tune_domain("loguniform", [1e-4, 1e-2]), Float)
    randint = tune_domain("randint", [1, 5])
    assert isinstance(randint, Integer)
    assert (randint.lower, randint.upper) == (1, 6)  # spec bounds are inclusive


def test_random_search_is_limited_and_seeds_every_trial(tmp_path: Path) -> None:
    space, searcher, num_samples = build_search(_spec("random", tmp_path))
    assert isinstance(searcher, BasicVariantGenerator) and num_samples == 3
    assert searcher.max_concurrent == 3  # the limit travels with the generator (Tune drops its own)
    assert space["conv_dim"] == {"grid_search": [16, 32]}
    assert isinstance(space["lr"], Float) and isinstance(space["seed"], Integer)


def test_a_searched_seed_is_left_to_the_user(tmp_path: Path) -> None:
    spec = _spec("grid", tmp_path, params={"seed": {"grid": [0, 1]}})
    space, _, _ = build_search(spec)
    assert space["seed"] == {"grid_search": [0, 1]}
    params = {"seed": {"choice": [3, 4]}, "lr": {"uniform": [0.1, 0.2]}}
    searcher = _optuna(_spec("optuna", tmp_path, params=params))
    assert searcher.suggest("t0")["seed"] in (3, 4)


def test_replicates_of_one_grid_point_get_different_seeds(tmp_path: Path) -> None:
    """Tune's own variant generation over the space build_search returns (random search)."""
    from ray.tune.search.variant_generator import generate_variants

    spec = _spec("grid", tmp_path, num_samples=2, params={"conv_dim": {"grid": [16]}})
    space, _, num_samples = build_search(spec)
    seeds = [config["seed"] for _ in range(num_samples) for _, config in generate_variants(space)]
    assert len(seeds) == 2 and seeds[0] != seeds[1]

    searcher = _optuna(_spec("optuna", tmp_path, num_samples=2, params={"conv_dim": {"grid": [16]},
                                                                        "lr": {"uniform": [0.1, 0.2]}}))
    optuna_seeds = [searcher.suggest(f"t{i}")["seed"] for i in range(2)]
    assert optuna_seeds == [trial_seed(0, 0), trial_seed(0, 1)] and optuna_seeds[0] != optuna_seeds[1]


def test_optuna_is_one_tpe_with_equal_trials_per_grid_value(tmp_path: Path) -> None:
    spec = _spec("optuna", tmp_path)
    space, alg, num_samples = build_search(spec)
    assert space == {} and isinstance(alg, ConcurrencyLimiter) and alg.max_concurrent == 3
    assert num_samples == spec.grid_size() == 12 and len(grid_points(spec)) == 4
    searcher = alg.searcher
    sampler = searcher._ot_study.sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == startup_trials(spec) == 3 and sampler._multivariate
    assert sampler._constant_liar
    seen: Counter[tuple[int, int]] = Counter()
    for i in range(num_samples):
        config = searcher.suggest(f"t{i}")
        assert 1e-5 <= config["lr"] <= 1e-3 and config["optimizer"] in {"adam", "rmsprop"}
        seen[(config["conv_dim"], config["batch_size"])] += 1
        searcher.on_trial_complete(f"t{i}", result={searcher.metric: float(i), "final": 1.0})
    assert seen == Counter({(c, b): 3 for c in (16, 32) for b in (16, 64)})
    # the grid params are dimensions TPE models, not separate studies
    assert set(searcher._ot_study.trials[0].distributions) >= {"conv_dim", "batch_size", "lr"}


def test_tpe_proposes_modelled_points_after_its_startup(tmp_path: Path) -> None:
    """After the start-up trials TPE's relative (multivariate) sampler takes over, and its proposals
    concentrate where the objective is low: around lr = 1e-3.5 here."""
    spec = _spec("optuna", tmp_path, num_samples=40, params={"lr": {"loguniform": [1.0e-6, 1.0e-1]}},
                 startup_trials=5)
    searcher = _optuna(spec)
    study, sampler = searcher._ot_study, searcher._ot_study.sampler
    distances = []
    for i in range(40):
        config = searcher.suggest(f"t{i}")
        trial = study.trials[-1]
        relative = sampler.sample_relative(study, trial, sampler.infer_relative_search_space(study, trial))
        assert bool(relative) == (i >= 5), f"trial {i}: relative sampling {relative}"
        distance = abs(math.log10(config["lr"]) + 3.5)
        distances.append(distance)
        searcher.on_trial_complete(f"t{i}", result={searcher.metric: distance, "final": 1.0})
    # uniform on [-6, -1] in log10: mean distance to -3.5 is 1.25
    assert np.mean(distances[20:]) < 0.6 < np.mean(distances[:5]) + 0.6


def test_stopped_trials_are_pruned_and_diverged_ones_complete(tmp_path: Path) -> None:
    searcher = _optuna(_spec("optuna", tmp_path, num_samples=3, params={"lr": {"uniform": [0.1, 0.2]}}))
    metric = searcher.metric
    for i in range(3):
        searcher.suggest(f"t{i}")
        searcher.on_trial_result(f"t{i}", {metric: 0.5 + i, "training_iteration": 1})
    searcher.on_trial_complete("t0", result={metric: 0.4, "final": 1.0, "training_iteration": 2})
    searcher.on_trial_complete("t1", result={metric: 1.5, "final": 0.0, "training_iteration": 1})  # ASHA stop
    searcher.on_trial_complete("t2", result={**diverged_scalars("fid64_rand"), "final": 1.0})
    trials = searcher._ot_study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert trials[0].value == 0.4 and trials[1].intermediate_values == {1: 1.5}
    assert trials[2].value == math.inf  # the searcher learnt that this point diverged


def test_optuna_searcher_state_survives_a_restore(tmp_path: Path) -> None:
    spec = _spec("optuna", tmp_path)
    searcher = _optuna(spec)
    first = [searcher.suggest(f"t{i}") for i in range(5)]
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    restored = _optuna(spec)
    restored.restore(str(path))
    assert len(restored._ot_study.trials) == 5 and restored._asked == 5
    nxt = restored.suggest("t5")
    point = grid_points(spec)[5 % 4]  # round-robin continues where it stopped
    assert {k: nxt[k] for k in point} == point
    assert first[1]["seed"] != nxt["seed"]


@pytest.mark.parametrize("algorithm", ["random", "optuna"])
def test_a_spec_without_params_still_runs(tmp_path: Path, algorithm: str) -> None:
    space, alg, num_samples = build_search(_spec(algorithm, tmp_path, num_samples=2, params={}))
    assert isinstance(alg, BasicVariantGenerator) and num_samples == 2 and isinstance(space["seed"], Integer)


def test_the_spec_accepts_exactly_the_registered_algorithms() -> None:
    import typing

    from orchestrator.space import ALGORITHMS
    from orchestrator.sweep_spec.params import SearchSpec

    accepted = typing.get_args(SearchSpec.model_fields["algorithm"].annotation)
    assert accepted == tuple(ALGORITHMS)
    assert all(ALGORITHMS[a].summary for a in accepted)


def test_an_algorithm_limited_to_some_kinds_refuses_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kinds an entry declares are what the spec checks (here: random restricted to choice)."""
    import dataclasses

    from orchestrator.space import ALGORITHMS
    from orchestrator.sweep_spec import SpecError

    monkeypatch.setitem(ALGORITHMS, "random", dataclasses.replace(ALGORITHMS["random"], kinds=("choice",)))
    with pytest.raises(SpecError, match=r"search\.params\.lr\.loguniform.*algorithm random takes only choice "
                                        r"params, got loguniform \(use algorithm optuna\)"):
        _spec("random", tmp_path, params={"lr": {"loguniform": [1e-4, 1e-3]}})


@pytest.mark.parametrize("algorithm", ["random", "optuna"])
def test_a_pausing_scheduler_gets_an_unlimited_searcher_and_a_ray_sized_to_the_limit(
    tmp_path: Path, algorithm: str
) -> None:
    """Under sha a limiter would count paused trials and shrink the bracket to max_concurrent trials:
    the searcher creates every trial and the local Ray holds max_concurrent x cpus_per_trial CPUs."""
    from orchestrator.schedulers import ray_cpus

    spec = _spec(algorithm, tmp_path, scheduler="sha")
    _, alg, _ = build_search(spec)
    assert not isinstance(alg, ConcurrencyLimiter)
    if isinstance(alg, BasicVariantGenerator):
        assert alg.max_concurrent == 0
    assert ray_cpus(spec, None) == 3 and ray_cpus(spec, "auto") is None
    assert ray_cpus(_spec(algorithm, tmp_path), None) is None  # asha: the searcher limits
