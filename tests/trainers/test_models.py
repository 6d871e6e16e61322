"""Shapes, initialisation and layer layout of the DCGAN / WGAN-GP networks for every size and width."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainers.config import TrainConfig
from trainers.models import (
    build_discriminator,
    build_generator,
    images_to_grid,
    recalibrate_batchnorm,
)


@pytest.mark.parametrize("family", ["dcgan", "wgan_gp", "sngan"])
@pytest.mark.parametrize("fc", [False, True])
@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("conv_dim", [8, 16, 32, 64])
def test_shapes(family: str, fc: bool, image_size: int, conv_dim: int) -> None:
    cfg = TrainConfig(family=family, fc=fc, image_size=image_size, conv_dim=conv_dim, z_dim=20)  # type: ignore[arg-type]
    g, d = build_generator(cfg), build_discriminator(cfg)
    with torch.no_grad():
        x = g(torch.randn(3, 20))
        assert x.shape == (3, 3, image_size, image_size)
        assert x.abs().max() <= 1.0  # tanh output
        assert d(x).shape == (3,)
    assert isinstance(g.project, nn.Linear if fc else nn.ConvTranspose2d)
    assert isinstance(d.head[-1] if fc else d.head, nn.Linear if fc else nn.Conv2d)


def test_generator_widths_double_towards_the_4x4_map() -> None:
    g = build_generator(TrainConfig(image_size=64, conv_dim=16))
    outs = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert outs == [128, 64, 32, 16, 3]


def test_dcgan_discriminator_has_batchnorm_from_second_layer_and_dropout() -> None:
    d = build_discriminator(TrainConfig(image_size=32, conv_dim=8, d_dropout=0.3))
    kinds = [type(m).__name__ for m in d.body]
    assert kinds[:2] == ["Conv2d", "LeakyReLU"]  # no BN after the first conv
    assert kinds.count("BatchNorm2d") == 2
    assert kinds.count("Dropout") == 3
    assert not any(isinstance(m, nn.Dropout) for m in build_discriminator(TrainConfig()).modules())


def test_wgan_critic_has_no_batchnorm() -> None:
    d = build_discriminator(TrainConfig(family="wgan_gp", image_size=64, conv_dim=8))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in d.modules()) == 3
    # per-sample: one image's score does not depend on the rest of the batch
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(d(x)[:1], d(x[:1]), atol=1e-5)


def test_dcgan_init() -> None:
    torch.manual_seed(0)
    g = build_generator(TrainConfig(conv_dim=64))
    convs = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    bns = torch.cat([m.weight for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 1e-3 and abs(convs.std().item() - 0.02) < 1e-3
    assert abs(bns.mean().item() - 1.0) < 0.01 and abs(bns.std().item() - 0.02) < 0.01
    assert all(float(m.bias.detach().abs().sum()) == 0 for m in g.modules() if isinstance(m, nn.BatchNorm2d))


def test_init_is_seeded() -> None:
    torch.manual_seed(3)
    a = build_generator(TrainConfig(conv_dim=8)).state_dict()
    torch.manual_seed(3)
    b = build_generator(TrainConfig(conv_dim=8)).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "values", [{"conv_dim": 24}, {"conv_dim": 0}, {"image_size": 48}, {"family": "stylegan"}]
)
def test_invalid_shapes_are_rejected(values: dict) -> None:
    with pytest.raises(ValueError):
        build_generator(TrainConfig(**values))


def test_images_to_grid() -> None:
    imgs = torch.full((5, 3, 8, 8), -1.0)
    imgs[0] = 1.0
    grid = images_to_grid(imgs)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 + 2 * 10, 2 + 3 * 10, 3)  # 3 per row, 2 rows, 2 px padding
    assert grid[2:10, 2:10].min() == 255 and grid[2:10, 12:20].max() == 0


def test_recalibrate_batchnorm_replaces_stale_running_statistics() -> None:
    """Issue 15: eval-mode samples used stale running statistics; recalibration recomputes them."""
    cfg = TrainConfig(image_size=32, conv_dim=8, z_dim=16)
    torch.manual_seed(0)
    g = build_generator(cfg)
    for m in g.modules():  # weights moved since the statistics were last updated: they are stale
        if isinstance(m, nn.ConvTranspose2d):
            m.weight.data.mul_(3.0)
    z = torch.randn(2048, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = g.train()(z)  # batch statistics = the population's
        stale = g.eval()(z)
    gen = torch.Generator().manual_seed(2)
    momenta = [m.momentum for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    recalibrate_batchnorm(g, lambda: torch.randn(256, 16, generator=gen), batches=4)
    assert not g.training and [m.momentum for m in g.modules() if isinstance(m, nn.BatchNorm2d)] == momenta
    with torch.no_grad():
        fresh = g(z)
    bad, good = (stale - reference).abs().mean().item(), (fresh - reference).abs().mean().item()
    assert good < 0.02 and bad > 5 * good, (bad, good)



def test_one_conv_dim_rule_for_the_networks_and_the_spec() -> None:
    """trainers.config.check_conv_dim is the rule; the spec asks for at least MIN_SWEEP_CONV_DIM of it."""
    from trainers.config import MIN_SWEEP_CONV_DIM, check_conv_dim

    assert [check_conv_dim(v) for v in (1, 4, 64)] == [1, 4, 64]
    for bad in (0, 12, 48):
        with pytest.raises(ValueError, match=f"must be a power of two, got {bad}"):
            check_conv_dim(bad)
        with pytest.raises(ValueError, match=f"conv_dim\n.*must be a power of two, got {bad}"):
            TrainConfig(conv_dim=bad)  # the config's own field refuses it, before any network is built
    with pytest.raises(ValueError, match=f"power of two >= {MIN_SWEEP_CONV_DIM}, got 4"):
        check_conv_dim(4, MIN_SWEEP_CONV_DIM)
