"""Spec search section -> Ray Tune search space / searcher."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.sample import Categorical, Float, Integer

from orchestrator.space import GridCrossedOptuna, build_search, grid_points, tune_domain
from orchestrator.spec import from_dict


def _spec(algorithm: str, tmp_path: Path) -> object:
    return from_dict(
        {
            "name": "s",
            "storage": str(tmp_path),
            "data": {"source": "synthetic", "image_size": 32, "count": 64},
            "search": {
                "algorithm": algorithm,
                "num_samples": 3,
                "params": {
                    "conv_dim": {"grid": [16, 32]},
                    "batch_size": {"grid": [16, 64]},
                    "lr": {"loguniform": [1.0e-5, 1.0e-3]},
                    "optimizer": {"choice": ["adam", "rmsprop"]},
                    "n_critic": {"randint": [1, 5]},
                },
            },
            "metrics": {"backbone": "rand", "samples": 64},
        }
    )


def test_domains_map_one_to_one() -> None:
    assert tune_domain("grid", [1, 2]) == {"grid_search": [1, 2]}
    assert isinstance(tune_domain("choice", ["a"]), Categorical)
    assert isinstance(tune_domain("loguniform", [1e-4, 1e-2]), Float)
    randint = tune_domain("randint", [1, 5])
    assert isinstance(randint, Integer)
    assert (randint.lower, randint.upper) == (1, 6)  # spec bounds are inclusive


def test_random_search_leaves_crossing_to_tune(tmp_path: Path) -> None:
    space, searcher, num_samples = build_search(_spec("random", tmp_path))
    assert isinstance(searcher, BasicVariantGenerator) and num_samples == 3
    assert space["conv_dim"] == {"grid_search": [16, 32]}
    assert isinstance(space["lr"], Float)


def test_optuna_is_crossed_with_every_grid_point(tmp_path: Path) -> None:
    spec = _spec("optuna", tmp_path)
    space, searcher, num_samples = build_search(spec)
    assert space == {} and isinstance(searcher, GridCrossedOptuna)
    assert num_samples == spec.grid_size() == 12
    assert len(grid_points(spec)) == 4

    seen: Counter[tuple[int, int]] = Counter()
    for i in range(num_samples):
        config = searcher.suggest(f"t{i}")
        assert config is not None
        assert 1e-5 <= config["lr"] <= 1e-3 and config["optimizer"] in {"adam", "rmsprop"}
        assert 1 <= config["n_critic"] <= 5
        seen[(config["conv_dim"], config["batch_size"])] += 1
        searcher.on_trial_complete(f"t{i}", result={spec.asha_metric: float(i), "training_iteration": 1})
    assert seen == Counter({(c, b): 3 for c in (16, 32) for b in (16, 64)})
    assert searcher.suggest("extra") == Searcher.FINISHED


def test_optuna_searcher_state_survives_a_restore(tmp_path: Path) -> None:
    spec = _spec("optuna", tmp_path)
    _, searcher, _ = build_search(spec)
    assert isinstance(searcher, GridCrossedOptuna)
    for i in range(5):
        searcher.suggest(f"t{i}")
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    _, restored, _ = build_search(spec)
    assert isinstance(restored, GridCrossedOptuna)
    restored.restore(str(path))
    remaining = 0
    while restored.suggest(f"r{remaining}") != Searcher.FINISHED and remaining < 100:
        remaining += 1
    assert remaining == 12 - 5
