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
    assert a.weights_id == "rand-v2-s0-16-32-c0.5-a0130e542097"
    assert a.name == "rand" and a.dim == 230
    for size in (32, 64):
        x = torch.rand(70, 3, size, size) * 2 - 1
        with torch.no_grad():
            out = a(x)
            assert out.shape == (70, a.dim)
            torch.testing.assert_close(out[:5], a(x[:5]), rtol=1e-4, atol=1e-5)  # chunking changes nothing


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="unknown FID backbone"):
        metrics.load_backbone("vgg")


def test_rand_backbone_ignores_a_global_colour_offset_except_in_its_colour_block() -> None:
    """Version 2's first layer cancels per-channel offsets exactly (zero-mean filters per input channel,
    replicate padding): a white-balance shift moves only the 6 explicit colour dims."""
    model = metrics.load_backbone("rand")
    x = torch.rand(8, 3, 32, 32) * 1.6 - 0.8  # room for the shift without clipping
    shift = torch.tensor([0.1, 0.0, -0.1]).view(1, 3, 1, 1)
    with torch.no_grad():
        a, b = model(x), model(x + shift)
    torch.testing.assert_close(a[:, 6:], b[:, 6:], rtol=0, atol=1e-5)
    assert (a[:, :3] - b[:, :3]).abs().max() > 0.05


def test_rand_backbone_sees_layout() -> None:
    """Upside-down images have the same pixels and patch statistics but different features."""
    model = metrics.load_backbone("rand")
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    x[:, :, :16] -= 0.5  # a dark top half: an asymmetric layout
    with torch.no_grad():
        assert (model(x) - model(x.flip(2))).abs().max() > 0.05
