"""GAN families: everything that differs between DCGAN, WGAN-GP, ... lives in one file per family.

A :class:`Family` says how to build the discriminator, the Adam betas it is tuned for, how many
discriminator (critic) steps it takes per generator step, and its two losses. The training loop
(:mod:`trainers.loop`) is generic over this record, in the spirit of StyleGAN2-ADA's
``training/loss.py``: the loop owns optimisers, precision, EMA and bookkeeping; a family owns the
objective. The generator is shared by all families (:func:`trainers.models.build_generator`).

Adding a family = one new module here that defines ``FAMILY = Family(...)``, plus its name in
``_MODULES`` below (see ``sngan.py`` for a worked example).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ..config import TrainConfig

Critic = Callable[[torch.Tensor], torch.Tensor]
"""The discriminator as the loop runs it (possibly ``torch.compile``d): images -> (N,) scores."""


@dataclass(frozen=True)
class Family:
    """One GAN family's objective and discriminator.

    ``d_loss(d, real, fake, cfg, d_eager)``: the discriminator loss on a real batch and a detached
    fake batch, called under the run's autocast; ``d_eager`` is the uncompiled discriminator for
    anything that needs double backward (``torch.compile`` cannot), e.g. a gradient penalty, which
    should switch autocast off itself. ``g_loss(d, fake, cfg)``: the generator loss, gradients flow
    through ``d`` into ``fake`` (the loop freezes D's weights). Losses return fp32 scalars.
    ``d_steps(cfg)``: discriminator steps per generator step, each on a fresh real batch.
    """

    name: str
    betas: tuple[float, float]
    build_discriminator: Callable[[TrainConfig], nn.Module]
    d_loss: Callable[[Critic, torch.Tensor, torch.Tensor, TrainConfig, nn.Module], torch.Tensor]
    g_loss: Callable[[Critic, torch.Tensor, TrainConfig], torch.Tensor]
    d_steps: Callable[[TrainConfig], int] = lambda cfg: 1


_MODULES = ("dcgan", "wgan_gp", "sngan")

FAMILIES: dict[str, Family] = {
    fam.name: fam for fam in (importlib.import_module(f"{__name__}.{m}").FAMILY for m in _MODULES)
}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def get_family(name: str) -> Family:
    """The registered family called ``name``; a one-line error listing the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown GAN family {name!r} (known: {', '.join(FAMILY_NAMES)})") from None
