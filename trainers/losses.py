"""GAN objectives: non-saturating BCE with one-sided label smoothing, and WGAN-GP.

Kept as pure functions of logits / critic values so they can be checked against hand-computed
cases, independent of the models and the loop. BCE losses take logits (``binary_cross_entropy_with
_logits`` is numerically stable and autocast-safe, unlike Sigmoid + BCELoss).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def d_loss_bce(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Discriminator loss: BCE(real, 1 - label_smoothing) + BCE(fake, 0), each a batch mean.

    One-sided smoothing (Salimans et al. 2016) only softens the real target, so a confidently-right
    discriminator is penalised and keeps giving G useful gradients.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    real_target = torch.full_like(real_logits, 1.0 - label_smoothing)
    real = F.binary_cross_entropy_with_logits(real_logits, real_target)
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def g_loss_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)) (Goodfellow et al. 2014): BCE(fake, 1)."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss E[f(fake)] - E[f(real)] (the negated Wasserstein estimate), penalty excluded."""
    return fake_scores.float().mean() - real_scores.float().mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss -E[f(G(z))]."""
    return -fake_scores.float().mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    lambda_gp: float = 10.0,
    scale: float | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty lambda * E[(||grad_x f(x_hat)||_2 - 1)^2] on random real/fake interpolates.

    The interpolation weights come from torch's RNG on ``real``'s device (seeded by the loop).
    ``scale``: under fp16 GradScaler, pass ``scaler.get_scale()``; the critic output is scaled
    before differentiation (so small input gradients do not underflow in half precision) and the
    gradients are unscaled again before the norm, as the torch AMP docs prescribe for penalties.
    The graph is kept (``create_graph``) so the penalty trains the critic.
    """
    fake = fake.detach()
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    x_hat = (alpha * real.float() + (1 - alpha) * fake.float()).to(real.dtype)
    x_hat.requires_grad_(True)
    scores = critic(x_hat).float().sum()
    if scale is not None:
        scores = scores * scale
    (grads,) = torch.autograd.grad(scores, x_hat, create_graph=True)
    grads = grads.float().flatten(1)
    if scale is not None:
        grads = grads / scale
    return lambda_gp * ((grads.norm(2, dim=1) - 1.0) ** 2).mean()
