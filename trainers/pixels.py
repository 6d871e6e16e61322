"""The one pixel convention: uint8 images on disk, float NCHW in [-1, 1] in the networks.

Datasets are stored as uint8 (N, S, S, 3); generators output float (N, 3, S, S) in [-1, 1] (tanh).
Every conversion between the two goes through this pair, and :func:`quantize` is the round trip the
metric applies to generated images, so real and generated images reach a backbone the same way.
"""

from __future__ import annotations

import numpy as np
import torch


def to_float(u8: torch.Tensor | np.ndarray, memory_format: torch.memory_format = torch.preserve_format
             ) -> torch.Tensor:
    """uint8 NHWC (N, S, S, 3) -> float32 NCHW in [-1, 1] (level k -> k / 127.5 - 1).

    ``memory_format`` as for ``Tensor.to`` (the training loop asks for channels_last); the default
    keeps the NHWC strides, as ``.float()`` of the permuted batch does.
    """
    t = torch.from_numpy(np.ascontiguousarray(u8)) if isinstance(u8, np.ndarray) else u8
    x = t.permute(0, 3, 1, 2).to(dtype=torch.float32, memory_format=memory_format)
    return x.div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float NCHW in [-1, 1] -> uint8 NCHW: rounded to the nearest of the 256 levels, clamped."""
    return images.detach().float().clamp(-1, 1).add(1).mul_(127.5).round_().to(torch.uint8)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Float images as the real ones reach the backbone: rounded to the 256 uint8 levels, still float
    NCHW in [-1, 1] (``to_float(to_uint8(x))`` but NaN stays NaN, so a diverged generator's NaN
    output keeps failing the metric instead of becoming black pixels).

    Real images are uint8; a generator's float output carries sub-1/255 detail (and values outside
    [-1, 1]) no saved image has, which FID would otherwise reward or punish (StyleGAN2-ADA and
    torch-fidelity quantise the same way). Idempotent: quantised images pass through unchanged.
    uint8 images (NCHW or NHWC: a sampler may hand over saved images) are only converted.
    """
    if images.dtype == torch.uint8:
        nchw = images.shape[1] == 3 or images.shape[-1] != 3
        return to_float(images.permute(0, 2, 3, 1) if nchw else images)
    return images.detach().float().clamp(-1, 1).add(1).mul_(127.5).round_().div_(127.5).sub_(1.0)
