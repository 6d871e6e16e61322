"""GAN objectives: non-saturating BCE with one-sided label smoothing, WGAN-GP and hinge.

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
) -> torch.Tensor:
    """WGAN-GP penalty lambda * E[(||grad_x f(x_hat)||_2 - 1)^2] on random real/fake interpolates.

    Computed in fp32 with autocast switched off, whatever the run's precision: under fp16 the
    input gradients of a loss-scaled critic overflow (GradScaler starts at 2**16), which made the
    penalty itself NaN; in fp32 the penalty is finite and GradScaler only has to deal with the
    ordinary backward. The interpolation weights come from torch's RNG on ``real``'s device
    (seeded by the loop). The graph is kept (``create_graph``) so the penalty trains the critic.
    """
    with torch.autocast(real.device.type, enabled=False):
        real, fake = real.float(), fake.detach().float()
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        scores = critic(x_hat).float().sum()
        (grads,) = torch.autograd.grad(scores, x_hat, create_graph=True)
        return lambda_gp * ((grads.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def d_loss_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (Lim & Ye 2017; Miyato 2018)."""
    return F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()


def g_loss_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss -E[D(G(z))] (the same form as WGAN's)."""
    return -fake_logits.float().mean()
