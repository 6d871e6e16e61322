"""The replay behind the default scheduler (benchmarks/asha_replay.py) on the committed recordings.

The README's claim for ``SHA_REDUCTION_FACTOR`` is that on every committed real-CelebA recording the
default finds the full grid's winner on 2 slots, where the default before it (rf 3) lost recording
B's. These tests replay Tune's real bracket over those numbers, so changing the default (or the rung
rules) without new evidence fails here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.asha_replay import (
    DEFAULT,
    Curves,
    evaluate,
    load_curves,
    pick,
    policies,
    simulate_timed,
    wall_floor,
)

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
RECORDINGS = sorted(RESULTS.glob("*_curves.json"))


def _policy(name: str):  # noqa: ANN202 (the factory type is the module's)
    return next(make for n, signal, make, _ in policies(0) if n == name and signal == "best")


def _orders(n: int, count: int = 8) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [[int(i) for i in rng.permutation(n)] for _ in range(count)]


def test_every_recording_is_committed() -> None:
    assert len(RECORDINGS) >= 4, RECORDINGS


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_the_default_finds_the_grid_winner_on_every_recording(path: Path) -> None:
    curves = load_curves(path)
    outcome = evaluate(curves, _policy(DEFAULT), "best", 2, _orders(curves.n), False, 3, 0.5, 0)
    assert outcome.regret.max() <= 0.05
    assert outcome.epochs.mean() < 0.5  # it still stops most of the grid


def test_rf3_lost_the_short_epoch_recording_the_default_keeps() -> None:
    """Recording B (2000 faces per epoch): the winner is 6th of 12 after epoch 1, so keeping 4 loses it."""
    curves = load_curves(RESULTS / "celeba32_curves.json")
    old = evaluate(curves, _policy("sha g1 rf3"), "best", 2, _orders(curves.n), False, 3, 0.5, 0)
    assert old.regret.min() > 0.5


def test_pick_and_wall_floor_on_hand_made_curves() -> None:
    # trial 1 ends best and is the slowest (3 s per epoch); two 1 s trials
    signal = [[3.0, 2.0], [4.0, 1.0], [3.5, 2.5]]
    curves = Curves(signal=signal, judge=signal, cost=[[1.0] * 2, [3.0] * 2, [1.0] * 2], epochs=2)
    assert pick(curves, [2, 2, 2], top_k=3) == 1
    assert pick(curves, [2, 1, 2], top_k=3) == 0  # trial 1 stopped after epoch 1 (4.0)
    order = [0, 1, 2]
    from ray.tune.schedulers import FIFOScheduler

    _, _, grid = simulate_timed(curves, FIFOScheduler(), 2, order)
    assert math.isclose(wall_floor(curves, 2, [order], top_k=3), 6.0 / grid)
