"""The FID's noise estimate (trainers.metrics.evaluator): a bootstrap of the features of one draw must
say how much the FID moves between independent draws of the generated samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainers.data import synthetic_faces
from trainers.metrics import build_metric, real_stats
from trainers.metrics.evaluator import bootstrap_noise, noise_name


def _metric(tmp_path: Path, samples: int, noise_draws: int = 8) -> object:
    real = synthetic_faces(2000, 32, seed=0)
    _, path = real_stats(real, "noise-test-2000", backbone="rand", samples=2000, progress=False)
    return build_metric(path, "rand", samples, kid=False, noise_draws=noise_draws)


def _draws(pool: torch.Tensor, n: int, seed: int):  # noqa: ANN202 - a Sampler
    """Sampler over a fixed pool of 'generated' faces (other synthetic faces, a little noise)."""
    gen = torch.Generator().manual_seed(seed)
    order = iter(torch.randperm(len(pool), generator=gen)[:n].split(250))

    def sample(k: int) -> torch.Tensor:
        x = pool[next(order)][:k]
        return (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)

    return sample


def test_bootstrap_noise_matches_the_spread_of_independent_draws(tmp_path: Path) -> None:
    metric = _metric(tmp_path, samples=1000)
    name = metric.names[0]
    pool = torch.from_numpy(synthetic_faces(6000, 32, seed=1)).permute(0, 3, 1, 2).float() / 127.5 - 1
    outs = [metric(_draws(pool, 1000, seed)) for seed in range(8)]
    assert set(outs[0]) == {name, noise_name(name)} and name == "fid1k_rand"
    spread = float(np.std([o[name] for o in outs], ddof=1))
    estimate = float(np.mean([o[noise_name(name)] for o in outs]))
    assert 0.5 < estimate / spread < 2.0, (estimate, spread)  # same order as the real draw-to-draw noise


def test_noise_is_deterministic_and_can_be_turned_off(tmp_path: Path) -> None:
    feats = np.random.default_rng(0).normal(size=(300, 16))
    score = lambda f: float(np.square(f.mean(axis=0)).sum())  # noqa: E731
    assert bootstrap_noise(score, feats) == bootstrap_noise(score, feats) > 0
    assert np.isnan(bootstrap_noise(score, feats, draws=1))
    quiet = _metric(tmp_path, samples=500, noise_draws=0)
    pool = torch.from_numpy(synthetic_faces(600, 32, seed=1)).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert set(quiet(_draws(pool, 500, 0))) == {"fid500_rand"}
