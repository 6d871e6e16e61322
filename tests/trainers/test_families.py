"""The GAN family registry and the worked example family added through it (hinge-loss SNGAN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainers.config import TrainConfig
from trainers.families import FAMILIES, FAMILY_NAMES, get_family
from trainers.loop import train
from trainers.models import build_discriminator
from trainers.results import EpochReport


def test_registry_lists_every_family_with_its_defaults() -> None:
    assert FAMILY_NAMES == ("dcgan", "wgan_gp", "sngan")
    assert set(FAMILIES) == set(FAMILY_NAMES)
    assert TrainConfig(family="dcgan").betas == (0.5, 0.999)
    assert TrainConfig(family="wgan_gp").betas == (0.0, 0.9)
    assert TrainConfig(family="sngan").betas == (0.0, 0.9)
    assert TrainConfig(family="sngan", beta1=0.5).betas == (0.5, 0.9)


def test_unknown_family_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"family\n.*must be one of 'dcgan', 'wgan_gp' or 'sngan', got"):
        TrainConfig(family="stylegan")  # pydantic's ValidationError, naming the field
    with pytest.raises(ValueError, match="known: dcgan, wgan_gp, sngan"):
        get_family("stylegan")


def test_sngan_discriminator_is_spectrally_normalised_without_batchnorm() -> None:
    d = build_discriminator(TrainConfig(family="sngan", image_size=32, conv_dim=8))
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in d.modules())
    # one power iteration per training forward pass: the largest singular value of a layer -> ~1
    x = torch.randn(16, 3, 32, 32)
    for _ in range(30):
        d(x)
    w = layers[1].weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_sngan_trains_a_few_steps_with_finite_hinge_losses() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    reports: list[EpochReport] = []
    cfg = TrainConfig(family="sngan", image_size=32, conv_dim=8, batch_size=16, epochs=2, grid_size=4)
    history = train(cfg, data, None, reports.append)
    assert len(history) == 2 and [r.images_seen for r in reports] == [64, 128]
    assert all(np.isfinite(h["d_loss"]) and np.isfinite(h["g_loss"]) for h in history)
    assert history[0]["d_loss"] != history[1]["d_loss"]
