"""The small interface between the training loop and whatever measures the generator.

The loop does not care whether it is FID on Inception, FID on a random backbone or KID: it hands
the metric a ``sample(n)`` function that returns ``n`` generated images (float, NCHW, in [-1, 1]
and quantised to the 256 levels of uint8 images, on the trial's device, produced without gradients
by the evaluated generator in eval mode with freshly recalibrated BatchNorm statistics) and records
the dict it returns.
Metric names state their protocol (``fid2k_rand``, ``kid2k_rand``, ``fid10k``) so the same
string can be the Tune metric, the ASHA metric and the MLflow key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

Sampler = Callable[[int], torch.Tensor]


class Metric(Protocol):
    names: tuple[str, ...]

    def __call__(self, sample: Sampler) -> dict[str, float]: ...


@dataclass
class EpochReport:
    """What the loop hands to ``report`` after every epoch (or every N images)."""

    step: int  # 1-based report index (the Tune "training_iteration")
    epoch: float  # images_seen / dataset size
    images_seen: int
    d_loss: float
    g_loss: float
    epoch_s: float  # seconds spent training since the previous report (excludes metric time)
    img_per_s: float
    eval_s: float  # seconds spent in the metric at this report
    metrics: dict[str, float] = field(default_factory=dict)
    grid: np.ndarray | None = None  # uint8 HxWx3 grid of fixed-noise samples
    # The untrained generator's grid of the same noise (step 0), on the first report of a fresh run
    # only: a run's sample slider then starts at what training started from.
    initial_grid: np.ndarray | None = None
    # Filled by the loop; building the CPU copy of every state dict costs time and memory, so it
    # happens only when the report's receiver asks (e.g. only at checkpoint rungs).
    _resume_state: Callable[[], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    _generator_state: Callable[[], dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def resume_state(self) -> dict[str, Any]:
        """The full resume state (CPU tensors, torch-serialisable) for ``train(..., resume=...)``.

        Valid only while the ``report`` callback runs: the loop goes on training afterwards.
        """
        if self._resume_state is None:
            raise RuntimeError("this report carries no training state")
        return self._resume_state()

    def generator_state(self) -> dict[str, Any]:
        """State dict of the evaluated generator (the EMA one when ``cfg.ema``), BatchNorm statistics
        recalibrated, CPU tensors: what the metric and the grid of this report used. Same validity as
        :meth:`resume_state`."""
        if self._generator_state is None:
            raise RuntimeError("this report carries no training state")
        return self._generator_state()

    def scalars(self) -> dict[str, float]:
        out = {
            "epoch": self.epoch,
            "images_seen": float(self.images_seen),
            "d_loss": self.d_loss,
            "g_loss": self.g_loss,
            "epoch_s": self.epoch_s,
            "img_per_s": self.img_per_s,
            "eval_s": self.eval_s,
        }
        out.update(self.metrics)
        return out


Report = Callable[[EpochReport], None]


class TrainingDiverged(RuntimeError):
    """Raised by the loop when a loss becomes NaN/inf; the message says which and when."""
