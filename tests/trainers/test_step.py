"""One generator step (D steps, G step, autocast, GradScaler) and divergence detection in the loss log."""

from __future__ import annotations

import pytest
import torch

from trainers.config import TrainConfig
from trainers.families import get_family
from trainers.models import build_discriminator, build_generator
from trainers.results import TrainingDiverged
from trainers.step import LossLog, Stepper


def _stepper(cfg: TrainConfig, amp: torch.dtype | None) -> tuple[Stepper, torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    g, d = build_generator(cfg), build_discriminator(cfg)
    return Stepper(get_family(cfg.family), cfg, (g, d, g, d), amp, torch.Generator().manual_seed(1)), g, d


def _real(k: int) -> torch.Tensor:
    return torch.rand(k, 3, 32, 32) * 2 - 1


def test_fp16_wgan_gp_with_grad_scaler_trains_from_the_initial_scale() -> None:
    """Issue 15: at GradScaler's initial scale (2**16) the penalty used to be NaN and the run 'diverged'.

    Real float16 autocast + GradScaler on CPU (the loop itself maps CPU fp16 to bf16 for speed)."""
    cfg = TrainConfig(family="wgan_gp", conv_dim=4, z_dim=8, n_critic=2, batch_size=8, precision="fp16")
    steps, g, d = _stepper(cfg, torch.float16)
    assert steps.scaler.is_enabled() and steps.scaler.get_scale() == 2.0**16
    d0 = [p.detach().clone() for p in d.parameters()]
    log = LossLog(steps.scaler)
    for i in range(8):
        d_loss, g_loss = steps.step(_real, 8)
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss), (i, d_loss, g_loss)
        log.add(i + 1, 1, d_loss, g_loss)
    log.check()  # does not raise
    assert log.count == 8
    # the scaler backed off from overflowing scales and then let updates through
    assert steps.scaler.get_scale() < 2.0**16
    assert any(not torch.equal(a, b) for a, b in zip(d0, d.parameters(), strict=True))


@pytest.mark.parametrize("family", ["dcgan", "wgan_gp", "sngan"])
def test_d_steps_per_g_step(family: str) -> None:
    knobs = {"n_critic": 3} if family == "wgan_gp" else {}  # a knob of WGAN-GP only
    cfg = TrainConfig(family=family, conv_dim=4, z_dim=8, batch_size=8, **knobs)
    steps, _, _ = _stepper(cfg, None)
    taken: list[int] = []

    def real(k: int) -> torch.Tensor:
        taken.append(k)
        return _real(k)

    steps.step(real, 5)
    assert taken == [5] * (3 if family == "wgan_gp" else 1)
    assert steps.opt_d.state_dict()["state"][0]["step"] == len(taken)
    assert steps.opt_g.state_dict()["state"][0]["step"] == 1
    assert all(p.requires_grad for p in steps.D.parameters())  # unfrozen after the G step


def _nan_log(scaler: torch.amp.GradScaler) -> LossLog:
    log = LossLog(scaler)
    log.add(1, 1, torch.tensor(1.0), torch.tensor(2.0))
    log.add(2, 1, torch.tensor(float("nan")), torch.tensor(2.0))
    log.add(3, 1, torch.tensor(3.0), torch.tensor(4.0))
    return log


def test_non_finite_loss_under_an_active_scaler_is_a_skipped_step() -> None:
    log = _nan_log(torch.amp.GradScaler("cpu", init_scale=1024.0))
    log.check()
    assert (log.count, log.skipped, log.d_sum, log.g_sum) == (2, 1, 4.0, 6.0)


@pytest.mark.parametrize("scaler", [torch.amp.GradScaler("cpu", enabled=False),
                                    torch.amp.GradScaler("cpu", init_scale=0.5)])
def test_non_finite_loss_is_divergence_without_scaler_or_below_scale_1(scaler: torch.amp.GradScaler) -> None:
    with pytest.raises(TrainingDiverged, match=r"^d_loss became nan at epoch 1 step 2$"):
        _nan_log(scaler).check()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_does_not_sync_with_the_host() -> None:
    """Issue 15: one host sync per step came from `idx.to(device)`; batches and steps stay on the device."""
    import numpy as np

    from trainers.loop import _Stream

    cfg = TrainConfig(conv_dim=8, batch_size=16, device="cuda")
    torch.manual_seed(0)
    g, d = build_generator(cfg).cuda(), build_discriminator(cfg).cuda()
    steps = Stepper(get_family("dcgan"), cfg, (g, d, g, d), None, torch.Generator("cuda").manual_seed(1))
    data = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    stream = _Stream(data, torch.device("cuda"), torch.contiguous_format, 0)
    steps.step(stream.take, 16)  # warm-up (lazy optimiser state, cuDNN autotuning)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            steps.step(stream.take, 16)
    finally:
        torch.cuda.set_sync_debug_mode("default")
