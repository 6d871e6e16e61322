"""One GAN training run: ``train(cfg, data, metric, report)``, generic over the GAN family.

The loop knows nothing of Ray or MLflow, nor of any particular GAN objective: the family
(:mod:`trainers.families`) supplies the discriminator and the two losses, the loop owns
optimisers, precision, EMA, data, evaluation and bookkeeping. After every epoch (or every
``cfg.report_every_images`` images) it hands an :class:`~trainers.results.EpochReport` to a
callable, with a sample grid and, on request, the resume state that ``train(..., resume=state)``
continues from so exactly that the next losses equal those of an uninterrupted run (on CPU; on
CUDA up to the nondeterminism of cuDNN kernels).

What an epoch is: ``ceil(N / batch_size)`` generator steps whose batches add up to exactly N
images (the last one is partial), for every family, so ``images_seen`` counts images through G
and an ASHA rung at epoch k means the same generator training for DCGAN and WGAN-GP. Each
generator step is preceded by ``family.d_steps(cfg)`` discriminator steps (WGAN-GP: n_critic),
each on a fresh real batch from a data stream that reshuffles whenever it has been through the
data, independent of epoch boundaries (with one D step per G step the two coincide).

Throughput: data is a uint8 ``(N, S, S, 3)`` array (possibly a memory map) decoded once by
``trainers.data``; on CUDA it is uploaded once when it fits and the shuffled indices live on the
device too, so a step does not synchronise with the host (losses are checked for NaN/inf in
batches of ``_CHECK_EVERY`` steps). With one D step per G step the G step reuses the D step's
fake batch; D's weights are frozen during the G step.

Precision: ``fp32``; ``bf16`` = autocast to bfloat16; ``fp16`` = autocast to float16 + GradScaler
on CUDA; a non-finite loss under GradScaler is a skipped step (the scaler halves its scale), and
divergence only once the scale has fallen below 1. On CPU, float16 kernels are two orders of
magnitude slower than fp32, so ``fp16`` on CPU runs as ``bf16`` autocast and warns once.

Evaluation: the evaluated generator (EMA when ``cfg.ema``) has its BatchNorm statistics
recomputed on fresh noise before each report (:func:`~trainers.models.recalibrate_batchnorm`);
the metric gets images quantised to uint8 levels, still float in [-1, 1].

RNG: the run never disturbs the caller's RNG (``torch.random.fork_rng``). Model init and
dropout / gradient-penalty interpolation use torch's (forked) global RNG seeded with
``cfg.seed``; shuffling and training noise have their own generators; grid, metric and BatchNorm
calibration noise come from further fixed seeds, so evaluating never changes the training stream.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from . import checkpoint
from .config import TrainConfig
from .families import get_family
from .models import build_discriminator, build_generator, images_to_grid, recalibrate_batchnorm
from .pixels import quantize, to_float
from .results import EpochReport, Metric, Report
from .step import LossLog, Stepper, autocast_dtype

_CHECK_EVERY = 20  # CUDA: steps between NaN checks (each check is one host sync)
_EMA_RAMPUP = 0.05  # EMA half-life <= 5% of the images seen so far (StyleGAN2-ADA's ema_rampup)
_BN_BATCHES, _BN_BATCH = 4, 256  # BatchNorm recalibration: 1024 samples


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def grid_noise(cfg: TrainConfig) -> torch.Tensor:
    """The fixed (grid_size, z_dim) noise behind every report's sample grid (CPU, from seed + 2), so
    grids of one run, and of runs sharing a seed, are comparable image by image."""
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    return torch.randn(cfg.grid_size, cfg.z_dim, generator=gen)


def ema_beta(batch: int, images_seen: int, ema_kimg: float) -> float:
    """Per-step EMA decay for a step of ``batch`` images: a half-life of ``ema_kimg`` thousand images
    (StyleGAN2-ADA), whatever the batch size, ramped up to at most ``_EMA_RAMPUP`` x the images seen
    so far, so that short runs are not dominated by the initial weights."""
    half_life = min(ema_kimg * 1000.0, images_seen * _EMA_RAMPUP)
    return 0.5 ** (batch / max(half_life, 1e-8))


def _check_data(cfg: TrainConfig, data: np.ndarray) -> None:
    s = cfg.image_size
    if data.dtype != np.uint8 or data.ndim != 4 or data.shape[1:] != (s, s, 3):
        raise ValueError(
            f"data must be a uint8 array of shape (N, {s}, {s}, 3), got {data.dtype} {data.shape}"
        )
    if len(data) == 0:
        raise ValueError("data is empty")


class _Stream:
    """Real batches (float [-1, 1] NCHW on the device) from seeded per-pass permutations of uint8 data.

    On CUDA the array is uploaded once when it fits, and each pass's permutation is moved to the
    device once, so taking a batch is a device-side gather with no host sync.
    """

    def __init__(self, data: np.ndarray, device: torch.device, fmt: torch.memory_format, seed: int) -> None:
        self.data, self.device, self.fmt, self.n = data, device, fmt, len(data)
        self.gen = torch.Generator().manual_seed(seed)
        self.perm: torch.Tensor | None = None  # CPU, the resumable truth
        self.perm_dev: torch.Tensor | None = None
        self.pos = 0
        self.resident: torch.Tensor | None = None
        if device.type == "cuda" and data.nbytes < 0.25 * torch.cuda.mem_get_info(device)[0]:
            self.resident = torch.from_numpy(np.ascontiguousarray(data)).to(device)

    def take(self, k: int) -> torch.Tensor:
        """The next (up to) ``k`` images; a pass's last batch may be shorter."""
        if self.perm is None:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        if self.resident is not None:
            if self.perm_dev is None:
                self.perm_dev = self.perm.to(self.device)
            u8 = self.resident[self.perm_dev[self.pos : self.pos + k]]
        else:
            rows = np.sort(self.perm[self.pos : self.pos + k].numpy())  # sequential reads from a memory map
            u8 = torch.from_numpy(np.take(self.data, rows, axis=0))
            if self.device.type == "cuda":
                u8 = u8.pin_memory().to(self.device, non_blocking=True)
        self.pos += u8.shape[0]
        if self.pos >= self.n:
            self.perm = self.perm_dev = None
        return to_float(u8, self.fmt)

    def state(self) -> dict[str, Any]:
        return {"perm": self.perm, "pos": self.pos}

    def load(self, state: dict[str, Any]) -> None:
        perm = state["perm"]
        if perm is not None and len(perm) != self.n:
            raise ValueError(f"checkpoint was made on {len(perm)} images, data has {self.n}")
        self.perm, self.perm_dev, self.pos = perm, None, state["pos"]


def train(
    cfg: TrainConfig,
    data: np.ndarray,
    metric: Metric | None,
    report: Report,
    resume: dict[str, Any] | None = None,
) -> list[dict[str, float]]:
    """Train one GAN on uint8 ``data`` (N, S, S, 3) for ``cfg.epochs`` epochs; return each report's scalars.

    ``report`` receives an EpochReport after every epoch (or every ``cfg.report_every_images``
    images through G, plus one at the very end); ``metric(sample)`` is evaluated at reports 1,
    1 + m, 1 + 2m, ... (m = ``cfg.metric_every``) and at the last one, its last values repeated in
    between. ``resume``: a state from ``EpochReport.resume_state()``; training continues where it
    was taken, with ``cfg``'s learning rates and betas. Raises TrainingDiverged on a NaN/inf loss.
    """
    _check_data(cfg, data)
    device = resolve_device(cfg.device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return _Run(cfg, data, metric, report, resume, device).run()


class _Run:
    """Progress, evaluation and reports of one run (kept in an object so the resume state can read it all)."""

    def __init__(
        self,
        cfg: TrainConfig,
        data: np.ndarray,
        metric: Metric | None,
        report: Report,
        resume: dict[str, Any] | None,
        device: torch.device,
    ) -> None:
        self.cfg, self.metric, self.report, self.device, self.n = cfg, metric, report, device, len(data)
        torch.manual_seed(cfg.seed)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G = build_generator(cfg).to(device, memory_format=fmt)
        self.D = build_discriminator(cfg).to(device, memory_format=fmt)
        self.ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.ema else None
        g_run, d_run = (torch.compile(self.G), torch.compile(self.D)) if cfg.compile else (self.G, self.D)
        self.noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        self.steps = Stepper(
            get_family(cfg.family),
            cfg,
            (self.G, self.D, g_run, d_run),
            autocast_dtype(cfg, device),
            self.noise_gen,
        )
        self.stream = _Stream(data, device, fmt, cfg.seed)
        self.grid_z = grid_noise(cfg).to(device)
        self.g_steps = self.images_seen = self.report_index = 0  # images_seen: through G
        self.next_report_at = cfg.report_every_images or 0
        self.last_metrics: dict[str, float] = {}
        self.last_g_loss = float("nan")
        if resume is not None:
            self._load(resume)
        self.losses = LossLog(self.steps.scaler)
        self.images_since = 0
        self.calibrated_at = -1  # images_seen when the evaluated generator's BN statistics were recomputed
        self.reporting = False  # EpochReport states may be taken only while True
        self.initial_grid: np.ndarray | None = None  # set by run() on a fresh run, sent once

    # ------------------------------------------------------------------------- resume state
    def _parts(self) -> tuple[dict[str, nn.Module | None], dict[str, torch.Generator]]:
        nets: dict[str, nn.Module | None] = {"G": self.G, "D": self.D, "ema": self.ema}
        return nets, {"shuffle": self.stream.gen, "noise": self.noise_gen}

    def resume_state(self) -> dict[str, Any]:
        nets, gens = self._parts()
        progress = {
            "g_steps": self.g_steps,
            "images_seen": self.images_seen,
            "report_index": self.report_index,
            "next_report_at": self.next_report_at,
            "last_metrics": dict(self.last_metrics),
            "last_g_loss": self.last_g_loss,
            "stream": self.stream.state(),
        }
        opts = {"opt_g": self.steps.opt_g, "opt_d": self.steps.opt_d}
        return checkpoint.capture(self.cfg, nets, opts, self.steps.scaler, gens, progress)

    def _load(self, state: dict[str, Any]) -> None:
        nets, gens = self._parts()
        opts = {"opt_g": (self.steps.opt_g, self.cfg.lr), "opt_d": (self.steps.opt_d, self.cfg.d_lr)}
        p = checkpoint.restore(state, self.cfg, nets, opts, self.steps.scaler, gens)
        self.stream.load(p["stream"])
        self.g_steps, self.images_seen, self.report_index = p["g_steps"], p["images_seen"], p["report_index"]
        self.next_report_at, self.last_g_loss = p["next_report_at"], p["last_g_loss"]
        self.last_metrics = dict(p["last_metrics"])

    # ------------------------------------------------------------------------- EMA and evaluation
    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        """Move the EMA weights towards G's; buffers (BatchNorm statistics) are not averaged, they are
        recomputed for the EMA weights before each evaluation."""
        assert self.ema is not None
        decay = ema_beta(batch, self.images_seen, self.cfg.ema_kimg)
        ema_p = list(self.ema.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in self.G.parameters()], 1.0 - decay)

    def _eval_net(self) -> nn.Module:
        """The evaluated generator (EMA or G) in eval mode, BatchNorm statistics recomputed for it."""
        net = self.ema if self.ema is not None else self.G
        if self.calibrated_at != self.images_seen:
            gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 4)
            noise = lambda: torch.randn(_BN_BATCH, self.cfg.z_dim, generator=gen, device=self.device)  # noqa: E731
            with self.steps.autocast():
                recalibrate_batchnorm(net, noise, _BN_BATCHES)
            self.calibrated_at = self.images_seen
        return net.eval()

    @torch.no_grad()
    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        net = self._eval_net()
        try:
            with self.steps.autocast():
                return net(z).float()
        finally:
            self.G.train()  # the live G trains in train mode (an EMA copy stays in eval mode)

    def _evaluate(self) -> dict[str, float]:
        assert self.metric is not None
        gen = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 3)

        def sample(k: int) -> torch.Tensor:
            return quantize(self._generate(torch.randn(k, self.cfg.z_dim, generator=gen, device=self.device)))

        return {k: float(v) for k, v in self.metric(sample).items()}

    # ------------------------------------------------------------------------- reports
    def _while_reporting(self, build: Any) -> dict[str, Any]:
        if not self.reporting:
            raise RuntimeError("EpochReport states can only be taken inside the report callback")
        return build()

    def _generator_state(self) -> dict[str, Any]:
        net = self._eval_net()
        self.G.train()
        return checkpoint.to_cpu(net.state_dict())

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _emit(self, train_s: float, final: bool) -> dict[str, float]:
        self.losses.check()
        self.report_index += 1
        log = self.losses
        if log.count:
            self.last_g_loss = log.g_sum / log.count
        eval_s = 0.0
        due = (self.report_index - 1) % max(self.cfg.metric_every, 1) == 0 or final
        if self.metric is not None and due:
            t = time.perf_counter()
            self.last_metrics = self._evaluate()
            self._sync()
            eval_s = time.perf_counter() - t
        rep = EpochReport(
            step=self.report_index,
            epoch=self.images_seen / self.n,
            images_seen=self.images_seen,
            d_loss=log.d_sum / log.count if log.count else float("nan"),
            g_loss=self.last_g_loss,
            epoch_s=train_s,
            img_per_s=self.images_since / train_s if train_s > 0 else 0.0,
            eval_s=eval_s,
            metrics=dict(self.last_metrics),
            grid=images_to_grid(self._generate(self.grid_z)) if self.cfg.grid_size > 0 else None,
            initial_grid=self.initial_grid,
            _resume_state=lambda: self._while_reporting(self.resume_state),
            _generator_state=lambda: self._while_reporting(self._generator_state),
        )
        log.reset()
        self.images_since = 0
        self.initial_grid = None
        self.reporting = True
        try:
            self.report(rep)
        finally:
            self.reporting = False
        return rep.scalars()

    # ------------------------------------------------------------------------- main loop
    def run(self) -> list[dict[str, float]]:
        cfg, n, bs = self.cfg, self.n, self.cfg.batch_size
        check_every = _CHECK_EVERY if self.device.type == "cuda" else 1
        every = cfg.report_every_images
        history: list[dict[str, float]] = []
        fresh = self.report_index == 0 and cfg.grid_size > 0  # not resumed: draw the untrained G once
        self.initial_grid = images_to_grid(self._generate(self.grid_z)) if fresh else None
        self.G.train()
        self.D.train()
        t0 = time.perf_counter()
        while self.images_seen < cfg.epochs * n:
            epoch = self.images_seen // n
            k = min(bs, (epoch + 1) * n - self.images_seen)  # an epoch's G batches add up to exactly n
            d_loss, g_loss = self.steps.step(self.stream.take, k)
            self.g_steps += 1
            self.images_seen += k
            self.images_since += k
            if self.ema is not None:
                self._update_ema(k)
            self.losses.add(self.g_steps, epoch + 1, d_loss, g_loss)
            if len(self.losses.pending) >= check_every:
                self.losses.check()
            epoch_end = self.images_seen % n == 0
            final = self.images_seen >= cfg.epochs * n
            due = epoch_end if every is None else self.images_seen >= self.next_report_at
            if due or final:
                while every is not None and self.next_report_at <= self.images_seen:
                    self.next_report_at += every
                self._sync()
                history.append(self._emit(time.perf_counter() - t0, final))
                t0 = time.perf_counter()
        return history
