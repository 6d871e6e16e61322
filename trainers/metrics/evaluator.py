"""The metric the training loop calls: FID (and KID) of generated images against cached real statistics."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from trainers.metrics.backbones import features, load_backbone, quantize
from trainers.metrics.frechet import frechet_from_sqrt, mean_cov, sqrtm_psd
from trainers.metrics.kid import KIDSide, kid_from_sides
from trainers.metrics.protocol import metric_names
from trainers.metrics.real_stats import RealStats, load_real_stats

Sampler = Callable[[int], torch.Tensor]


class FIDMetric:
    """FID (and KID) of ``samples`` generated images against cached real statistics.

    Implements the training loop's Metric protocol. ``sqrt(sigma_real)`` is computed once here, so each
    evaluation costs the generator, the feature net, one covariance and one symmetric eigensolve.
    """

    def __init__(self, stats: RealStats, backbone_module: nn.Module, samples: int, kid: bool = True,
                 batch_size: int = 250, device: str | torch.device = "cpu") -> None:
        if stats.backbone != backbone_module.name:
            raise ValueError(f"real statistics were computed with backbone {stats.backbone!r}, "
                             f"not {backbone_module.name!r}")
        self.stats = stats
        self.model = backbone_module.to(device).eval()
        self.samples = int(samples)
        self.kid = kid
        self.batch_size = int(batch_size)
        self.device = device
        fid_name, kid_name = metric_names(stats.backbone, self.samples)
        self.names: tuple[str, ...] = (fid_name, kid_name) if kid else (fid_name,)
        self._sqrt_real = sqrtm_psd(stats.sigma)
        self._tr_real = float(np.trace(stats.sigma))
        self.kid_subsets, self.kid_subset_size = 100, 1000
        self._kid_real: KIDSide | None = None

    def features(self, sample: Sampler) -> np.ndarray:
        """Features (samples, dim) float32 of freshly drawn generator images, quantised to uint8 first."""
        out, left = [], self.samples
        while left > 0:
            batch = quantize(sample(min(self.batch_size, left)))
            if self.stats.image_size and batch.shape[-1] != self.stats.image_size:
                raise ValueError(f"generated images are {batch.shape[-1]} px but the real statistics are "
                                 f"{self.stats.image_size} px")
            out.append(features(self.model, batch, self.device))
            left -= batch.shape[0]
        return torch.cat(out)[: self.samples].numpy()

    def __call__(self, sample: Sampler) -> dict[str, float]:
        with torch.no_grad():
            feats = self.features(sample)
        mu, sigma = mean_cov(feats)
        result = {self.names[0]: frechet_from_sqrt(self.stats.mu, self._sqrt_real, self._tr_real, mu, sigma)}
        if self.kid:
            m = min(self.kid_subset_size, len(self.stats.kid_feats), len(feats))
            if self._kid_real is None or self._kid_real.m != m:
                self._kid_real = KIDSide(self.stats.kid_feats, m, self.kid_subsets, seed=0)
            fake = KIDSide(feats, m, self.kid_subsets, seed=1)
            result[self.names[1]] = kid_from_sides(self._kid_real, fake)
        return result


def build_metric(stats_path: str | os.PathLike[str], backbone: str, samples: int,
                 weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                 kid: bool = True, batch_size: int = 250) -> FIDMetric:
    """Load cached real statistics and the backbone, and return the metric a trial hands to the loop."""
    stats = load_real_stats(stats_path)
    return FIDMetric(stats, load_backbone(backbone, weights, device), samples, kid=kid,
                     batch_size=batch_size, device=device)
