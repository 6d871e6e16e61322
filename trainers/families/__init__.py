"""GAN families: everything that differs between DCGAN, WGAN-GP, ... lives in one file per family.

A :class:`Family` says how to build the discriminator, the Adam betas it is tuned for, how many
discriminator (critic) steps it takes per generator step, and its two losses. The training loop
(:mod:`trainers.loop`) is generic over this record, in the spirit of StyleGAN2-ADA's
``training/loss.py``: the loop owns optimisers, precision, EMA and bookkeeping; a family owns the
objective. The generator is shared by all families (:func:`trainers.models.build_generator`).

A family's own settings (WGAN-GP's ``n_critic`` and ``gp_lambda``, DCGAN's ``label_smoothing``) are
its ``knobs``: a :class:`Knobs` model declared in its module, defaults and bounds in one place. The
config takes them as fields of that family (``TrainConfig(family="wgan_gp", n_critic=3)``, read as
``cfg.knobs.n_critic``), the sweep spec accepts them under ``train:`` and as search params, and a
knob of a family the sweep does not train is refused.

Adding a family = one new module here that defines ``FAMILY = Family(...)`` (and its ``Knobs``, if
any), plus its name in ``_MODULES`` below (see ``sngan.py`` for a worked example).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo
from torch import nn

if TYPE_CHECKING:
    from ..config import TrainConfig

Critic = Callable[[torch.Tensor], torch.Tensor]
"""The discriminator as the loop runs it (possibly ``torch.compile``d): images -> (N,) scores."""


class Knobs(BaseModel):
    """Base of a family's knobs: each field a setting with its default and bounds (pydantic's)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True)
class Family:
    """One GAN family's objective and discriminator.

    ``d_loss(d, real, fake, cfg, d_eager)``: the discriminator loss on a real batch and a detached
    fake batch, called under the run's autocast; ``d_eager`` is the uncompiled discriminator for
    anything that needs double backward (``torch.compile`` cannot), e.g. a gradient penalty, which
    should switch autocast off itself. ``g_loss(d, fake, cfg)``: the generator loss, gradients flow
    through ``d`` into ``fake`` (the loop freezes D's weights). Losses return fp32 scalars.
    ``d_steps(cfg)``: discriminator steps per generator step, each on a fresh real batch.
    ``knobs``: the family's own settings (a :class:`Knobs` subclass), read as ``cfg.knobs.NAME``.
    """

    name: str
    betas: tuple[float, float]
    build_discriminator: Callable[[TrainConfig], nn.Module]
    d_loss: Callable[[Critic, torch.Tensor, torch.Tensor, TrainConfig, nn.Module], torch.Tensor]
    g_loss: Callable[[Critic, torch.Tensor, TrainConfig], torch.Tensor]
    d_steps: Callable[[TrainConfig], int] = lambda cfg: 1
    knobs: type[Knobs] = Knobs


_MODULES = ("dcgan", "wgan_gp", "sngan")

FAMILIES: dict[str, Family] = {
    fam.name: fam for fam in (importlib.import_module(f"{__name__}.{m}").FAMILY for m in _MODULES)
}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def _knob_owners() -> dict[str, tuple[str, ...]]:
    """Knob name -> the families declaring it; two families may share a name only with one type."""
    owners: dict[str, tuple[str, ...]] = {}
    for fam in FAMILIES.values():
        for name, info in fam.knobs.model_fields.items():
            if name in owners:
                first = FAMILIES[owners[name][0]].knobs.model_fields[name]
                if (first.annotation, first.metadata) != (info.annotation, info.metadata):
                    raise TypeError(f"knob {name} of {fam.name} has another type than {owners[name][0]}'s")
            owners[name] = (*owners.get(name, ()), fam.name)
    return owners


KNOB_OWNERS: dict[str, tuple[str, ...]] = _knob_owners()
KNOB_FIELDS: dict[str, FieldInfo] = {  # each knob once (families sharing a name share its type)
    name: FAMILIES[owners[0]].knobs.model_fields[name] for name, owners in KNOB_OWNERS.items()
}


def get_family(name: str) -> Family:
    """The registered family called ``name``; a one-line error listing the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown GAN family {name!r} (known: {', '.join(FAMILY_NAMES)})") from None
