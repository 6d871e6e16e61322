"""One GAN training run: ``train(cfg, data, metric, report)``.

The loop is deliberately plain (one function, config as values) and knows nothing of Ray or
MLflow: it hands an :class:`~trainers.results.EpochReport` to a callable after every epoch (or
every ``cfg.report_every_images`` images), with a sample grid and a checkpoint that
``train(..., resume=checkpoint)`` continues from so exactly that the next losses equal those of
an uninterrupted run (on CPU; on CUDA up to the nondeterminism of cuDNN kernels).

Throughput choices, because per-batch Python work is what made the seed notebooks slow:

* data is a uint8 ``(N, S, S, 3)`` array (possibly a memory map) decoded once by ``trainers.data``;
  a batch is an index slice of a seeded per-epoch permutation, converted to float [-1, 1] NCHW on
  the device. No PIL, no DataLoader workers. On CUDA the whole array is uploaded once when it
  fits (uint8 is 4x smaller than float).
* the DCGAN generator step reuses the fake batch of the discriminator step, and D's parameters
  are frozen during it so no weight gradients of D are computed for G's loss.
* losses are checked for NaN/inf in batches of steps on CUDA (one sync per ``_CHECK_EVERY``
  steps, exact failing step still reported), every step on CPU where a sync is free.

Precision: ``fp32``; ``bf16`` = autocast to bfloat16 (no loss scaling needed); ``fp16`` =
autocast to float16 + GradScaler on CUDA. On CPU, float16 kernels are an order of magnitude
slower than fp32 (measured: 0.69 s vs 0.05 s per DCGAN-32 step), so ``fp16`` on CPU runs as
``bf16`` autocast (same 16-bit storage, wider exponent, no scaler) and logs a warning once.

RNG: the run never disturbs the caller's RNG (``torch.random.fork_rng``). Model init and
dropout / gradient-penalty interpolation use torch's (forked) global RNG seeded with
``cfg.seed``; shuffling and training noise use their own generators; the fixed grid noise and the
metric's noise come from further fixed seeds, so evaluating never changes the training stream.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .losses import d_loss_bce, g_loss_bce, gradient_penalty, wgan_d_loss, wgan_g_loss
from .models import build_discriminator, build_generator, images_to_grid
from .results import EpochReport, Metric, Report, TrainingDiverged

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
_EMA_RAMPUP = 0.05  # EMA half-life <= 5% of the images seen so far (StyleGAN2-ADA's ema_rampup)
_CHECK_EVERY = 20  # CUDA: steps between NaN checks (each check is one host sync)
_SHAPE_FIELDS = ("family", "fc", "image_size", "conv_dim", "z_dim")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if cfg.precision == "fp32":
        return None
    if cfg.precision == "bf16":
        return torch.bfloat16
    if device.type == "cpu":
        warnings.warn("precision fp16 on CPU runs as bf16 autocast (CPU float16 kernels are very slow)",
                      stacklevel=3)
        return torch.bfloat16
    return torch.float16


def _make_optimizer(cfg: TrainConfig, params: Any, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """adam (cfg.betas), rmsprop (torch defaults), sgd (momentum = beta1 only if set explicitly)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, fused=device.type == "cuda" or None)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.beta1 or 0.0)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def grid_noise(cfg: TrainConfig) -> torch.Tensor:
    """The fixed (grid_size, z_dim) noise behind every report's sample grid (CPU, from seed + 2), so
    grids of one run, and of runs sharing a seed, are comparable image by image."""
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    return torch.randn(cfg.grid_size, cfg.z_dim, generator=gen)


def _check_data(cfg: TrainConfig, data: np.ndarray) -> None:
    s = cfg.image_size
    if data.dtype != np.uint8 or data.ndim != 4 or data.shape[1:] != (s, s, 3):
        raise ValueError(f"data must be a uint8 array of shape (N, {s}, {s}, 3), got {data.dtype} "
                         f"{data.shape}")
    if len(data) == 0:
        raise ValueError("data is empty")


def _to_cpu(obj: Any) -> Any:
    """Deep copy of a (nested) state with every tensor cloned to CPU: safe to keep while training goes on."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return copy.deepcopy(obj)


class _Batches:
    """Index-sliced uint8 batches -> float [-1, 1] NCHW on the device."""

    def __init__(self, data: np.ndarray, device: torch.device, memory_format: torch.memory_format) -> None:
        self.data = data
        self.device = device
        self.memory_format = memory_format
        self.resident: torch.Tensor | None = None
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if data.nbytes < 0.25 * free:
                self.resident = torch.from_numpy(np.ascontiguousarray(data)).to(device)

    def __call__(self, idx: torch.Tensor) -> torch.Tensor:
        if self.resident is not None:
            u8 = self.resident[idx.to(self.device)]
        else:
            # sorted indices: sequential reads from a memory map; order within a batch is irrelevant
            rows = np.sort(idx.numpy())
            u8 = torch.from_numpy(np.take(self.data, rows, axis=0))
            u8 = u8.to(self.device, non_blocking=self.device.type == "cuda")
        x = u8.permute(0, 3, 1, 2).to(dtype=torch.float32, memory_format=self.memory_format)
        return x.div_(127.5).sub_(1.0)


def train(
    cfg: TrainConfig,
    data: np.ndarray,
    metric: Metric | None,
    report: Report,
    resume: dict[str, Any] | None = None,
) -> list[dict[str, float]]:
    """Train one GAN on uint8 ``data`` (N, S, S, 3) for ``cfg.epochs`` epochs; return each report's scalars.

    ``report`` receives an EpochReport after every epoch (or every ``cfg.report_every_images``
    images, plus one at the very end); ``metric(sample)`` is evaluated at reports 1, 1 + m,
    1 + 2m, ... (m = ``cfg.metric_every``) and at the last one, its last values repeated in
    between. ``resume``: a checkpoint from an earlier report; training continues where it was
    taken, with ``cfg`` (the caller re-applies the trial's config). Raises TrainingDiverged on a
    NaN/inf loss.
    """
    _check_data(cfg, data)
    device = resolve_device(cfg.device)
    if cfg.family == "wgan_gp" and cfg.n_critic < 1:
        raise ValueError("n_critic must be >= 1")
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        return _Run(cfg, data, metric, report, resume, device).run()


class _Run:
    """State of one training run (kept in an object so checkpointing can read it all)."""

    def __init__(
        self,
        cfg: TrainConfig,
        data: np.ndarray,
        metric: Metric | None,
        report: Report,
        resume: dict[str, Any] | None,
        device: torch.device,
    ) -> None:
        self.cfg, self.data, self.metric, self.report, self.device = cfg, data, metric, report, device
        self.n = len(data)
        torch.manual_seed(cfg.seed)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G = build_generator(cfg).to(device, memory_format=fmt)
        self.D = build_discriminator(cfg).to(device, memory_format=fmt)
        self.ema: nn.Module | None = None
        if cfg.ema:
            self.ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = _make_optimizer(cfg, self.G.parameters(), cfg.lr, device)
        self.opt_d = _make_optimizer(cfg, self.D.parameters(), cfg.d_lr, device)
        self.amp_dtype = _autocast_dtype(cfg, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.batches = _Batches(data, device, fmt)
        self.g_run: nn.Module = self.G
        self.d_run: nn.Module = self.D
        if cfg.compile:
            self.g_run = torch.compile(self.G)  # type: ignore[assignment]
            self.d_run = torch.compile(self.D)  # type: ignore[assignment]
        # generators: shuffling (CPU), training noise (device); fixed grid noise
        self.shuffle_gen = torch.Generator().manual_seed(cfg.seed)
        self.noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        self.grid_z = grid_noise(cfg).to(device)
        # progress
        self.epoch = 0  # completed epochs
        self.pos = 0  # position inside the current epoch's permutation
        self.perm: torch.Tensor | None = None
        self.step = 0  # discriminator steps (one per real batch)
        self.g_steps = 0
        self.images_seen = 0
        self.report_index = 0
        self.next_report_at = cfg.report_every_images or 0
        self.last_metrics: dict[str, float] = {}
        self.last_g_loss = float("nan")
        if resume is not None:
            self._load(resume)
        # per-report accumulators
        self.pending: list[tuple[int, int, torch.Tensor, torch.Tensor | None]] = []
        self.d_sum = self.g_sum = 0.0
        self.d_count = self.g_count = 0
        self.images_since = 0
        self.reporting = False  # EpochReport states may be taken only while True

    # ----------------------------------------------------------------------------- steps
    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=self.noise_gen, device=self.device)

    def _backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)

    def _dcgan_step(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self._noise(real.shape[0])
        with self._autocast():
            fake = self.g_run(z)
            real_logits = self.d_run(real)
            fake_logits = self.d_run(fake.detach())
            d_loss = d_loss_bce(real_logits, fake_logits, self.cfg.label_smoothing)
        self._backward_step(d_loss, self.opt_d)
        self.D.requires_grad_(False)  # G's loss needs gradients through D, not of D's weights
        with self._autocast():
            g_loss = g_loss_bce(self.d_run(fake))
        self._backward_step(g_loss, self.opt_g)
        self.D.requires_grad_(True)
        self.scaler.update()
        return d_loss.detach(), g_loss.detach()

    def _wgan_step(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.cfg
        z = self._noise(real.shape[0])
        with self._autocast():
            with torch.no_grad():
                fake = self.g_run(z)
            d_loss = wgan_d_loss(self.d_run(real), self.d_run(fake))
            # double backward: always through the eager critic (torch.compile cannot do it)
            d_loss = d_loss + gradient_penalty(self.D, real, fake, cfg.gp_lambda)
        self._backward_step(d_loss, self.opt_d)
        g_loss: torch.Tensor | None = None
        if (self.step + 1) % cfg.n_critic == 0:
            self.D.requires_grad_(False)
            with self._autocast():
                g_loss = wgan_g_loss(self.d_run(self.g_run(self._noise(real.shape[0]))))
            self._backward_step(g_loss, self.opt_g)
            self.D.requires_grad_(True)
            g_loss = g_loss.detach()
        self.scaler.update()
        return d_loss.detach(), g_loss

    @torch.no_grad()
    def _update_ema(self) -> None:
        """EMA of G's weights with a half-life of ``cfg.ema_kimg`` thousand images (StyleGAN2-ADA), ramped
        up as ``_EMA_RAMPUP`` x images seen so short runs are not dominated by the initial weights;
        buffers (BN statistics) are copied."""
        assert self.ema is not None
        half_life = min(self.cfg.ema_kimg * 1000.0, self.images_seen * _EMA_RAMPUP)
        decay = 0.5 ** (self.cfg.batch_size / max(half_life, 1e-8))
        ema_p = list(self.ema.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in self.G.parameters()], 1.0 - decay)
        for eb, gb in zip(self.ema.buffers(), self.G.buffers(), strict=True):
            eb.copy_(gb)

    # ----------------------------------------------------------------------------- checks
    def _check_losses(self) -> None:
        """Move pending per-step losses to the host (one sync), raise on the first NaN/inf."""
        if not self.pending:
            return
        d = torch.stack([p[2] for p in self.pending]).float().cpu()
        g_items = [(i, p[3]) for i, p in enumerate(self.pending) if p[3] is not None]
        g = torch.stack([t for _, t in g_items]).float().cpu() if g_items else torch.empty(0)
        bad_d = (~torch.isfinite(d)).nonzero()
        bad_g = (~torch.isfinite(g)).nonzero()
        first: tuple[int, str, float] | None = None
        if len(bad_d):
            i = int(bad_d[0])
            first = (i, "d_loss", float(d[i]))
        if len(bad_g):
            i = g_items[int(bad_g[0])][0]
            if first is None or i < first[0]:
                first = (i, "g_loss", float(g[int(bad_g[0])]))
        if first is not None:
            i, name, value = first
            step, epoch = self.pending[i][0], self.pending[i][1]
            what = "nan" if math.isnan(value) else "inf"
            raise TrainingDiverged(f"{name} became {what} at epoch {epoch} step {step}")
        self.d_sum += float(d.sum())
        self.d_count += len(d)
        self.g_sum += float(g.sum())
        self.g_count += len(g)
        self.pending.clear()

    # ----------------------------------------------------------------------------- sampling
    def _sampler_net(self) -> nn.Module:
        return self.ema if self.ema is not None else self.G

    @torch.no_grad()
    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        net = self._sampler_net()
        was_training = net.training
        net.eval()
        try:
            with self._autocast():
                return net(z).float()
        finally:
            net.train(was_training)

    def _evaluate(self) -> dict[str, float]:
        assert self.metric is not None
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 3)

        def sample(k: int) -> torch.Tensor:
            return self._generate(torch.randn(k, self.cfg.z_dim, generator=gen, device=self.device))

        return {k: float(v) for k, v in self.metric(sample).items()}

    # ----------------------------------------------------------------------------- checkpoints
    def checkpoint(self) -> dict[str, Any]:
        rng: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "shuffle": self.shuffle_gen.get_state(),
            "noise": self.noise_gen.get_state(),
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {
            "version": CHECKPOINT_VERSION,
            "cfg": self.cfg.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "perm": self.perm,
            "progress": {
                "epoch": self.epoch,
                "pos": self.pos,
                "step": self.step,
                "g_steps": self.g_steps,
                "images_seen": self.images_seen,
                "report_index": self.report_index,
                "next_report_at": self.next_report_at,
                "last_metrics": dict(self.last_metrics),
                "last_g_loss": self.last_g_loss,
            },
        }
        return _to_cpu(state)

    def _load(self, ck: dict[str, Any]) -> None:
        if ck.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"unsupported checkpoint version {ck.get('version')!r}")
        old = ck["cfg"]
        for name in _SHAPE_FIELDS:
            if old.get(name) != getattr(self.cfg, name):
                now = getattr(self.cfg, name)
                raise ValueError(f"checkpoint was made with {name}={old.get(name)!r}, config says {now!r}")
        self.G.load_state_dict(ck["G"])
        self.D.load_state_dict(ck["D"])
        if self.ema is not None:
            self.ema.load_state_dict(ck["ema"] if ck.get("ema") is not None else ck["G"])
        self.opt_g.load_state_dict(ck["opt_g"])
        self.opt_d.load_state_dict(ck["opt_d"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        rng = ck["rng"]
        torch.set_rng_state(rng["torch"])
        self.shuffle_gen.set_state(rng["shuffle"])
        self.noise_gen.set_state(rng["noise"])
        if self.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        perm = ck.get("perm")
        if perm is not None and len(perm) != self.n:
            raise ValueError(f"checkpoint was made on {len(perm)} images, data has {self.n}")
        self.perm = perm
        p = ck["progress"]
        self.epoch, self.pos, self.step = p["epoch"], p["pos"], p["step"]
        self.g_steps, self.images_seen = p["g_steps"], p["images_seen"]
        self.report_index, self.next_report_at = p["report_index"], p["next_report_at"]
        self.last_metrics, self.last_g_loss = dict(p["last_metrics"]), p["last_g_loss"]

    # ----------------------------------------------------------------------------- reports
    def _while_reporting(self, build: Any) -> dict[str, Any]:
        if not self.reporting:
            raise RuntimeError("EpochReport states can only be taken inside the report callback")
        return build()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _emit(self, train_s: float, final: bool) -> dict[str, float]:
        self._check_losses()
        self.report_index += 1
        d_loss = self.d_sum / max(self.d_count, 1)
        if self.g_count:
            self.last_g_loss = self.g_sum / self.g_count
        eval_s = 0.0
        m = max(self.cfg.metric_every, 1)
        if self.metric is not None and ((self.report_index - 1) % m == 0 or final):
            t = time.perf_counter()
            self.last_metrics = self._evaluate()
            self._sync()
            eval_s = time.perf_counter() - t
        rep = EpochReport(
            step=self.report_index,
            epoch=self.images_seen / self.n,
            images_seen=self.images_seen,
            d_loss=d_loss,
            g_loss=self.last_g_loss,
            epoch_s=train_s,
            img_per_s=self.images_since / train_s if train_s > 0 else 0.0,
            eval_s=eval_s,
            metrics=dict(self.last_metrics),
            grid=images_to_grid(self._generate(self.grid_z)) if self.cfg.grid_size > 0 else None,
            _resume_state=lambda: self._while_reporting(self.checkpoint),
            _generator_state=lambda: self._while_reporting(lambda: _to_cpu(self._sampler_net().state_dict())),
        )
        self.d_sum = self.g_sum = 0.0
        self.d_count = self.g_count = 0
        self.images_since = 0
        self.reporting = True
        try:
            self.report(rep)
        finally:
            self.reporting = False
        return rep.scalars()

    # ----------------------------------------------------------------------------- main loop
    def run(self) -> list[dict[str, float]]:
        cfg, n = self.cfg, self.n
        step_fn = self._dcgan_step if cfg.family == "dcgan" else self._wgan_step
        check_every = _CHECK_EVERY if self.device.type == "cuda" else 1
        every = cfg.report_every_images
        history: list[dict[str, float]] = []
        self.G.train()
        self.D.train()
        t0 = time.perf_counter()
        while self.epoch < cfg.epochs:
            if self.perm is None:
                self.perm = torch.randperm(n, generator=self.shuffle_gen)
            idx = self.perm[self.pos : self.pos + cfg.batch_size]
            real = self.batches(idx)
            d_loss, g_loss = step_fn(real)
            self.step += 1
            if g_loss is not None:
                self.g_steps += 1
                if self.ema is not None:
                    self._update_ema()
            self.pending.append((self.step, self.epoch + 1, d_loss, g_loss))
            if len(self.pending) >= check_every:
                self._check_losses()
            self.pos += len(idx)
            self.images_seen += len(idx)
            self.images_since += len(idx)
            epoch_end = self.pos >= n
            if epoch_end:
                self.epoch += 1
                self.pos = 0
                self.perm = None
            final = self.epoch >= cfg.epochs
            due = epoch_end if every is None else self.images_seen >= self.next_report_at
            if due or final:
                if every is not None:
                    while self.next_report_at <= self.images_seen:
                        self.next_report_at += every
                self._sync()
                train_s = time.perf_counter() - t0
                history.append(self._emit(train_s, final))
                t0 = time.perf_counter()
        return history
