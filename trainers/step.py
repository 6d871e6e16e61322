"""One generator step of a GAN family, and the per-step loss log that detects divergence.

:class:`Stepper` owns what every family shares: the two optimisers, autocast, GradScaler and the
order D steps -> G step (with D's weights frozen during the G step). The family
(:mod:`trainers.families`) only supplies the losses. :class:`LossLog` keeps per-step losses on the
device and checks them in batches, so a step costs no host sync.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .families import Family
from .results import TrainingDiverged


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``cfg.precision`` on ``device`` (None: fp32, no autocast)."""
    if cfg.precision == "fp32":
        return None
    if cfg.precision == "bf16":
        return torch.bfloat16
    if device.type == "cpu":
        warnings.warn(
            "precision fp16 on CPU runs as bf16 autocast (CPU float16 kernels are very slow)", stacklevel=3
        )
        return torch.bfloat16
    return torch.float16


OPTIMIZERS = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}


def optimizer_settings(cfg: TrainConfig, lr: float) -> dict[str, Any]:
    """The hyper-parameters ``cfg`` gives an optimiser: the one place an optimiser setting is read.

    adam: ``cfg.betas``; rmsprop: torch's defaults; sgd: momentum = beta1 only if set explicitly.
    ``make_optimizer`` builds with them and ``checkpoint.restore`` puts them back on a loaded
    optimiser, so a resumed (or PBT-exploited) trial trains with the values it is given now.
    """
    settings: dict[str, Any] = {"lr": lr}
    if cfg.optimizer == "adam":
        settings["betas"] = cfg.betas
    elif cfg.optimizer == "sgd":
        settings["momentum"] = cfg.beta1 or 0.0
    return settings


def make_optimizer(cfg: TrainConfig, params: Any, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``params`` with :func:`optimizer_settings` (Adam fused on CUDA)."""
    fused = {"fused": device.type == "cuda" or None} if cfg.optimizer == "adam" else {}
    return OPTIMIZERS[cfg.optimizer](params, **optimizer_settings(cfg, lr), **fused)


class Stepper:
    """One generator step of a family, with its discriminator steps, optimisers, autocast and scaler."""

    def __init__(
        self,
        family: Family,
        cfg: TrainConfig,
        nets: tuple[nn.Module, nn.Module, Any, Any],
        amp_dtype: torch.dtype | None,
        noise: torch.Generator,
    ) -> None:
        """``nets``: G, D and the callables that run them (the same, or ``torch.compile``d)."""
        self.family, self.cfg, self.amp_dtype, self.noise_gen = family, cfg, amp_dtype, noise
        self.G, self.D, self.g_run, self.d_run = nets
        self.d_steps = family.d_steps(cfg)
        device = next(self.G.parameters()).device
        self.device = device
        self.opt_g = make_optimizer(cfg, self.G.parameters(), cfg.lr, device)
        self.opt_d = make_optimizer(cfg, self.D.parameters(), cfg.d_lr, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=self.noise_gen, device=self.device)

    def _optimise(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)  # skipped by the scaler when its gradients hold inf/NaN
        self.scaler.update()

    def step(self, real_batch: Callable[[int], torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``d_steps`` D steps on ``real_batch(k)`` batches, then one G step on ``k`` samples.

        Returns (mean D loss, G loss) as device tensors (no host sync)."""
        d_total = torch.zeros((), device=self.device)
        fake: torch.Tensor | None = None
        for _ in range(self.d_steps):
            real = real_batch(k)
            z = self._noise(real.shape[0])
            with self.autocast():
                if self.d_steps == 1:
                    fake = self.g_run(z)  # kept with its graph: the G step reuses it
                else:
                    with torch.no_grad():
                        fake = self.g_run(z)
                d_loss = self.family.d_loss(self.d_run, real, fake.detach(), self.cfg, self.D)
            self._optimise(d_loss, self.opt_d)
            d_total = d_total + d_loss.detach()
        self.D.requires_grad_(False)  # G's loss needs gradients through D, not of D's weights
        try:
            with self.autocast():
                if self.d_steps != 1:
                    fake = self.g_run(self._noise(k))
                assert fake is not None
                g_loss = self.family.g_loss(self.d_run, fake, self.cfg)
            self._optimise(g_loss, self.opt_g)
        finally:
            self.D.requires_grad_(True)
        return d_total / self.d_steps, g_loss.detach()


class LossLog:
    """Per-step losses kept on the device, moved to the host in batches (one sync), averaged per report.

    A non-finite loss raises :class:`TrainingDiverged` naming the step, except while a GradScaler
    is active with a scale >= 1: then it was a step the scaler skipped (and it halved its scale),
    not divergence; once the scale is below 1 scaling cannot be the cause any more.
    """

    def __init__(self, scaler: torch.amp.GradScaler) -> None:
        self.scaler = scaler
        self.pending: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []
        self.reset()

    def reset(self) -> None:
        self.d_sum = self.g_sum = 0.0
        self.count = self.skipped = 0

    def add(self, step: int, epoch: int, d_loss: torch.Tensor, g_loss: torch.Tensor) -> None:
        self.pending.append((step, epoch, d_loss, g_loss))

    def check(self) -> None:
        if not self.pending:
            return
        losses = torch.stack([torch.stack((p[2], p[3])) for p in self.pending]).float().cpu()
        finite = torch.isfinite(losses).all(dim=1)
        if not bool(finite.all()):
            if not (self.scaler.is_enabled() and self.scaler.get_scale() >= 1.0):
                i = int((~finite).nonzero()[0])
                col = 0 if not math.isfinite(float(losses[i, 0])) else 1
                value = float(losses[i, col])
                step, epoch = self.pending[i][0], self.pending[i][1]
                what = "nan" if math.isnan(value) else "inf"
                raise TrainingDiverged(f"{'dg'[col]}_loss became {what} at epoch {epoch} step {step}")
            self.skipped += int((~finite).sum())
        good = losses[finite]
        self.d_sum += float(good[:, 0].sum())
        self.g_sum += float(good[:, 1].sum())
        self.count += len(good)
        self.pending.clear()
