"""The offline rand backbone is fixed and shaped as documented; unknown names are refused."""

from __future__ import annotations

import pytest
import torch

from trainers import metrics


def test_rand_backbone_is_fixed_and_fast_shape() -> None:
    a, b = metrics.load_backbone("rand"), metrics.load_backbone("rand")
    for ca, cb in zip(a.convs, b.convs, strict=True):
        assert torch.equal(ca.weight, cb.weight)
    # recorded once: the weights must be the same on every machine and numpy/torch release
    assert a.weights_id == "rand-s0-16-32-64-128-029771cf6a8e"
    assert a.name == "rand" and a.dim == 240
    for size in (32, 64):
        x = torch.rand(70, 3, size, size) * 2 - 1
        with torch.no_grad():
            out = a(x)
            assert out.shape == (70, a.dim)
            torch.testing.assert_close(out[:5], a(x[:5]), rtol=1e-4, atol=1e-5)  # chunking changes nothing


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="unknown FID backbone"):
        metrics.load_backbone("vgg")
