"""The one uint8 <-> [-1, 1] pair and the metric's quantisation (issue 22: they were 7 copies)."""

from __future__ import annotations

import math

import numpy as np
import torch

from trainers.models import images_to_grid
from trainers.pixels import quantize, to_float, to_uint8


def test_quantize_rounds_to_uint8_levels() -> None:
    x = torch.tensor([-1.0, -0.9999, 0.0, 0.003, 1.0, 1.5, -7.0, math.nan]).view(1, 1, 2, 4)
    levels = ((quantize(x) + 1) * 127.5).flatten()
    want = torch.tensor([0.0, 0.0, 128.0, 128.0, 255.0, 255.0, 0.0])
    assert torch.allclose(levels[:-1], want, atol=1e-4)
    assert math.isnan(levels[-1])  # a diverged generator's NaN is not turned into black pixels


def test_uint8_round_trip_is_exact_and_quantize_is_idempotent() -> None:
    u8 = torch.arange(256, dtype=torch.uint8).repeat(3, 1).T.reshape(1, 16, 16, 3)  # NHWC, every level
    x = to_float(u8)
    assert x.shape == (1, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert torch.equal(to_uint8(x).permute(0, 2, 3, 1), u8)
    assert torch.equal(quantize(x), x)
    assert torch.equal(quantize(quantize(x * 0.77)), quantize(x * 0.77))


def test_to_float_takes_numpy_and_the_old_formulas_agree() -> None:
    """The copies it replaced: `/ 127.5 - 1` after permute, and `div_(127.5).sub_(1)`."""
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    old = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.equal(to_float(images), old)
    channels_last = to_float(images, torch.channels_last)
    assert channels_last.is_contiguous(memory_format=torch.channels_last) and torch.equal(channels_last, old)


def test_quantize_converts_uint8_samples_in_either_layout() -> None:
    u8 = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    want = u8.float() / 127.5 - 1
    assert torch.equal(quantize(u8), want)
    assert torch.equal(quantize(u8.permute(0, 2, 3, 1)), want)


def test_grid_rounds_like_before() -> None:
    """images_to_grid now rounds before laying out; the grid is the same bytes as the float layout gave."""
    from torchvision.utils import make_grid

    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0)).mul_(0.8)
    old = make_grid(x.clamp(-1, 1).add(1).mul(127.5), nrow=3, padding=2, pad_value=0.0)
    old = old.round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(images_to_grid(x), old)
