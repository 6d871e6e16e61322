"""DCGAN (Radford et al. 2016): BatchNorm discriminator, non-saturating BCE with one-sided label smoothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..config import Fraction
from ..losses import d_loss_bce, g_loss_bce
from ..models import make_discriminator
from . import Critic, Family, Knobs

if TYPE_CHECKING:
    from ..config import TrainConfig


class DCGANKnobs(Knobs):
    label_smoothing: Fraction = 0.0  # one-sided: real label = 1 - label_smoothing (0.1 -> 0.9)


def _build(cfg: TrainConfig) -> nn.Module:
    return make_discriminator(cfg, norm="batch")


def _d_loss(
    d: Critic, real: torch.Tensor, fake: torch.Tensor, cfg: TrainConfig, d_eager: nn.Module
) -> torch.Tensor:
    # real and fake in separate forward passes: each gets its own BatchNorm batch statistics
    return d_loss_bce(d(real), d(fake), cfg.knobs.label_smoothing)


def _g_loss(d: Critic, fake: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    return g_loss_bce(d(fake))


FAMILY = Family(name="dcgan", betas=(0.5, 0.999), build_discriminator=_build, d_loss=_d_loss, g_loss=_g_loss,
                knobs=DCGANKnobs)
