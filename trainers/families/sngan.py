"""SNGAN (Miyato et al. 2018): spectrally normalised discriminator trained with the hinge loss.

The worked example of adding a family: this file plus its name in ``families._MODULES``.
Spectral normalisation bounds each layer's Lipschitz constant by one power iteration per forward
pass (``torch.nn.utils.parametrizations.spectral_norm``), so no BatchNorm and no gradient penalty
are needed; one discriminator step per generator step, Adam betas (0.0, 0.9) as in the paper's
DCGAN-shaped setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..losses import d_loss_hinge, g_loss_hinge
from ..models import make_discriminator
from . import Critic, Family

if TYPE_CHECKING:
    from ..config import TrainConfig


def _build(cfg: TrainConfig) -> nn.Module:
    d = make_discriminator(cfg, norm="none")
    for m in list(d.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            spectral_norm(m)
    return d


def _d_loss(
    d: Critic, real: torch.Tensor, fake: torch.Tensor, cfg: TrainConfig, d_eager: nn.Module
) -> torch.Tensor:
    return d_loss_hinge(d(real), d(fake))


def _g_loss(d: Critic, fake: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    return g_loss_hinge(d(fake))


FAMILY = Family(name="sngan", betas=(0.0, 0.9), build_discriminator=_build, d_loss=_d_loss, g_loss=_g_loss)
