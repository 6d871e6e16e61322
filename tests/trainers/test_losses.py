"""Loss functions against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainers.losses import (
    d_loss_bce,
    d_loss_hinge,
    g_loss_bce,
    g_loss_hinge,
    gradient_penalty,
    wgan_d_loss,
    wgan_g_loss,
)


def test_d_loss_at_chance_is_two_log_two() -> None:
    z = torch.zeros(8)
    assert d_loss_bce(z, z).item() == pytest.approx(2 * math.log(2))


def test_label_smoothing_raises_loss_of_confident_discriminator() -> None:
    real, fake = torch.full((16,), 8.0), torch.full((16,), -8.0)
    plain = d_loss_bce(real, fake, 0.0).item()
    smooth = d_loss_bce(real, fake, 0.1).item()
    assert plain < 1e-3
    assert smooth > plain + 0.5  # 0.1 * 8 + small: penalised for over-confidence
    assert smooth == pytest.approx(F.binary_cross_entropy_with_logits(real, torch.full_like(real, 0.9)).item()
                                   + F.softplus(fake).mean().item(), rel=1e-6)


def test_label_smoothing_is_one_sided() -> None:
    # seeded, and real logits offset from 0: an unseeded mean near 0 made rel=1e-5 fail on fp32 cancellation
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, generator=gen) + 1.0, torch.randn(16, generator=gen)
    diff = d_loss_bce(real, fake, 0.2) - d_loss_bce(real, fake, 0.0)
    assert diff.item() == pytest.approx(0.2 * real.mean().item(), rel=1e-5)  # only the real term moves


def test_generator_loss_is_non_saturating() -> None:
    fake = torch.tensor([-10.0, 0.0, 3.0], requires_grad=True)
    loss = g_loss_bce(fake)
    assert loss.item() == pytest.approx(F.softplus(-fake).mean().item())
    loss.backward()
    assert fake.grad is not None and fake.grad[0].item() < -0.3  # strong gradient where D rejects the fake


def test_wgan_losses() -> None:
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert wgan_d_loss(real, fake).item() == pytest.approx(-0.5 - 2.0)
    assert wgan_g_loss(fake).item() == pytest.approx(0.5)


class _Linear(nn.Module):
    """f(x) = <w, x> + b: its input gradient is w everywhere, so the penalty is lambda (||w|| - 1)^2."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * self.w.flatten()).sum(1) + 0.5


@pytest.mark.parametrize("norm", [0.0, 1.0, 3.0])
def test_gradient_penalty_of_linear_critic(norm: float) -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4)
    w = w / w.norm() * norm
    critic = _Linear(w.clone())
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, lambda_gp=10.0)
    assert gp.item() == pytest.approx(10.0 * (norm - 1.0) ** 2, abs=1e-5)
    # the penalty trains the critic: d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    if norm > 0:
        gp.backward()
        expected = 20.0 * (norm - 1.0) * critic.w.detach() / norm
        assert torch.allclose(critic.w.grad, expected, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gradient_penalty_is_fp32_under_autocast(dtype: torch.dtype) -> None:
    """Under 16-bit autocast the penalty is still computed in fp32 (issue 15: it was NaN under fp16)."""
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 1))
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    torch.manual_seed(1)
    a = gradient_penalty(critic, real, fake, 10.0)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=dtype):
        b = gradient_penalty(critic, real.to(dtype), fake.to(dtype), 10.0)
    assert b.dtype == torch.float32 and torch.isfinite(b)
    # the inputs were rounded to 16 bits, the penalty maths was not
    torch.manual_seed(1)
    c = gradient_penalty(critic, real.to(dtype).float(), fake.to(dtype).float(), 10.0)
    assert b.item() == pytest.approx(c.item(), rel=1e-6) and a.item() > 0


def test_hinge_losses() -> None:
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # relu(1 - [2, .5]) = [0, .5] -> .25 ; relu(1 + [-2, 0]) = [0, 1] -> .5
    assert d_loss_hinge(real, fake).item() == pytest.approx(0.75)
    assert g_loss_hinge(fake).item() == pytest.approx(1.0)
