"""WGAN-GP (Gulrajani et al. 2017): InstanceNorm critic, Wasserstein loss + gradient penalty, n_critic steps.

The critic has no BatchNorm (the penalty is per sample, which batch statistics would break). The
penalty runs through the eager critic (double backward) in fp32 (see ``losses.gradient_penalty``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import torch
from pydantic import Field
from torch import nn

from ..config import Count
from ..losses import gradient_penalty, wgan_d_loss, wgan_g_loss
from ..models import make_discriminator
from . import Critic, Family, Knobs

if TYPE_CHECKING:
    from ..config import TrainConfig


class WGANGPKnobs(Knobs):
    gp_lambda: Annotated[float, Field(ge=0)] = 10.0  # weight of the gradient penalty
    n_critic: Count = 5  # critic steps per generator step


def _build(cfg: TrainConfig) -> nn.Module:
    return make_discriminator(cfg, norm="instance")


def _d_loss(
    d: Critic, real: torch.Tensor, fake: torch.Tensor, cfg: TrainConfig, d_eager: nn.Module
) -> torch.Tensor:
    return wgan_d_loss(d(real), d(fake)) + gradient_penalty(d_eager, real, fake, cfg.knobs.gp_lambda)


def _g_loss(d: Critic, fake: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    return wgan_g_loss(d(fake))


def _d_steps(cfg: TrainConfig) -> int:
    return cfg.knobs.n_critic


FAMILY = Family(
    name="wgan_gp",
    betas=(0.0, 0.9),
    build_discriminator=_build,
    d_loss=_d_loss,
    g_loss=_g_loss,
    d_steps=_d_steps,
    knobs=WGANGPKnobs,
)
