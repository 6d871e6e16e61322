"""KID: equals torchmetrics' poly_mmd, unbiased, and the whole-kernel shortcut changes nothing."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from trainers import metrics

kid_mod = importlib.import_module("trainers.metrics.kid")  # the package's `kid` is the function


def test_kid_matches_torchmetrics_and_is_unbiased() -> None:
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 20)).astype(np.float32)
    y = (rng.standard_normal((300, 20)) + 0.5).astype(np.float32)
    ref = poly_mmd(torch.from_numpy(x).double(), torch.from_numpy(y).double()).item()
    assert metrics.kid(x, y, subset_size=1000) == pytest.approx(ref, rel=1e-9)
    # subsets of a larger set: same-distribution KID centres on 0, shifted one is clearly positive
    x2 = rng.standard_normal((1200, 20)).astype(np.float32)
    same = metrics.kid(x2, rng.standard_normal((400, 20)), subsets=20, subset_size=200)
    shifted = metrics.kid(x2, rng.standard_normal((400, 20)) + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 0.02 < shifted
    # deterministic subsets
    assert metrics.kid(x2, y, subsets=5, subset_size=100) == metrics.kid(x2, y, subsets=5, subset_size=100)


def test_kid_whole_kernel_equals_per_subset_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The s^T K s shortcut and the plain per-subset computation give the same number."""
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((500, 16)), rng.standard_normal((300, 16)) + 0.2
    fast = metrics.kid(x, y, subsets=10, subset_size=100)
    monkeypatch.setattr(kid_mod.KIDSide, "_full_cost_ok", lambda self, n, k: False)
    assert metrics.kid(x, y, subsets=10, subset_size=100) == pytest.approx(fast, rel=1e-9)
    # and both are torchmetrics' poly_mmd averaged over the same subsets
    ix = kid_mod.subsets(500, 100, 10, 0)
    iy = kid_mod.subsets(300, 100, 10, 1)
    ref = np.mean([poly_mmd(torch.from_numpy(x[a]), torch.from_numpy(y[b])).item()
                   for a, b in zip(ix, iy, strict=True)])
    assert fast == pytest.approx(ref, rel=1e-9)
