"""DCGAN generators and discriminators (32/64 px, any power-of-two width) and the WGAN-GP critic.

One builder per role, parameterised by :class:`~trainers.config.TrainConfig`, so a sweep can vary
family, width (``conv_dim``), the Udacity-style fully-connected variant (``fc``) and D dropout
without touching code. The shapes follow Radford et al. (2016): ConvTranspose 4x4 stride 2 + BN +
ReLU up to a Tanh in G, strided 4x4 convs + LeakyReLU(0.2) in D with BatchNorm from the second
layer on. The WGAN-GP critic drops BatchNorm (the gradient penalty is per-sample, which batch
statistics would break, Gulrajani et al. 2017) in favour of affine InstanceNorm and ends linear.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .config import TrainConfig, check_conv_dim
from .pixels import to_uint8

SUPPORTED_SIZES = (32, 64)


def _check(cfg: TrainConfig) -> int:
    """Validate the shape knobs and return the number of 2x up/down-sampling stages (4x4 <-> S)."""
    if cfg.image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_SIZES}, got {cfg.image_size}")
    try:
        check_conv_dim(cfg.conv_dim)
    except ValueError as err:
        raise ValueError(f"conv_dim {err}") from None
    return int(math.log2(cfg.image_size // 4))


class Generator(nn.Module):
    """z (N, z_dim) -> image (N, 3, S, S) in [-1, 1].

    ``fc=False``: z is a 1x1 map and the first ConvTranspose (4x4, stride 1) makes the 4x4 map.
    ``fc=True``: a Linear layer makes the 4x4 map (the Udacity face-generation project's shape).
    """

    def __init__(self, z_dim: int, conv_dim: int, image_size: int, fc: bool) -> None:
        super().__init__()
        stages = int(math.log2(image_size // 4))
        top = conv_dim * 2 ** (stages - 1)
        self.z_dim, self.fc, self.top = z_dim, fc, top
        if fc:
            self.project: nn.Module = nn.Linear(z_dim, top * 16, bias=False)
        else:
            self.project = nn.ConvTranspose2d(z_dim, top, 4, 1, 0, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(top), nn.ReLU(inplace=True)]
        ch = top
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2),
                       nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.fc:
            x = self.project(z).view(z.shape[0], self.top, 4, 4)
        else:
            x = self.project(z.view(z.shape[0], self.z_dim, 1, 1))
        return self.body(x)


class Discriminator(nn.Module):
    """image (N, 3, S, S) -> (N,) logits (dcgan) or critic values (wgan_gp).

    ``norm`` is "batch" for DCGAN (none on the first layer), "instance" for the WGAN-GP critic or
    "none" (e.g. under spectral normalisation). ``fc=False`` ends in a 4x4 valid conv to one value,
    ``fc=True`` in Flatten + Linear.
    """

    def __init__(self, conv_dim: int, image_size: int, fc: bool, norm: str, dropout: float) -> None:
        super().__init__()
        stages = int(math.log2(image_size // 4))
        layers: list[nn.Module] = []
        ch_in, ch = 3, conv_dim
        for i in range(stages):
            layers.append(nn.Conv2d(ch_in, ch, 4, 2, 1, bias=(i == 0 or norm == "none")))
            if i > 0:
                if norm == "batch":
                    layers.append(nn.BatchNorm2d(ch))
                elif norm == "instance":
                    layers.append(nn.InstanceNorm2d(ch, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            ch_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers)
        if fc:
            self.head: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(ch_in * 16, 1))
        else:
            self.head = nn.Conv2d(ch_in, 1, 4, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


def init_weights(module: nn.Module) -> None:
    """DCGAN init: conv/linear weights N(0, 0.02), norm weights N(1, 0.02), all biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_generator(cfg: TrainConfig) -> nn.Module:
    """The generator for ``cfg`` (same for both families), DCGAN-initialised from torch's global RNG."""
    _check(cfg)
    g = Generator(cfg.z_dim, cfg.conv_dim, cfg.image_size, cfg.fc)
    init_weights(g)
    return g


def make_discriminator(cfg: TrainConfig, norm: str) -> nn.Module:
    """The DCGAN-shaped discriminator for ``cfg`` with ``norm`` layers, DCGAN-initialised (for families)."""
    _check(cfg)
    d = Discriminator(cfg.conv_dim, cfg.image_size, cfg.fc, norm, cfg.d_dropout)
    init_weights(d)
    return d


def build_discriminator(cfg: TrainConfig) -> nn.Module:
    """``cfg.family``'s discriminator (see :mod:`trainers.families`)."""
    from .families import get_family  # lazy: families import this module

    return get_family(cfg.family).build_discriminator(cfg)


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, noise: Callable[[], torch.Tensor], batches: int) -> None:
    """Recompute every BatchNorm's running statistics of ``net`` on ``batches`` fresh noise batches.

    Why: sampling in eval mode uses the running statistics, which lag the weights (momentum 0.1 of
    past batches) and, for an EMA generator, are not its own at all; measured, that alone moved a
    checkpoint's FID 4x (issue 15). Here the statistics are reset and re-estimated as a cumulative
    average (``momentum=None``) of train-mode forward passes, then ``net`` is left in eval mode.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        net.eval()
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    try:
        for _ in range(batches):
            net(noise())
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        net.eval()


def images_to_grid(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """Float NCHW images in [-1, 1] -> one uint8 HxWx3 grid (square-ish, 2 px padding) for logging."""
    images = to_uint8(images.detach().cpu())
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    from torchvision.utils import make_grid  # here: importing torchvision costs ~2 s per process

    grid = make_grid(images, nrow=nrow, padding=2, pad_value=0)
    return grid.permute(1, 2, 0).contiguous().numpy()
