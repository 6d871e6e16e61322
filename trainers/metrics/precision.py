"""Improved precision (Kynkaanniemi et al., 2019): a higher-is-better metric in the metric registry.

FID mixes two failures, samples that look wrong and samples that miss part of the data; precision
measures the first alone: the share of generated samples that fall inside the real manifold, estimated
as the union of balls around each real feature with the radius of its k-th nearest real neighbour.
It is registered with ``mode="max"`` (``trainers.registry.METRICS["prec"]``), so a sweep can be
scheduled on it (``scheduler.metric: prec``) and every ranking turns round.

Real side: the fixed-seed subset of real features the statistics keep for KID (``RealStats.kid_feats``),
so no extra pass over the data; their k-NN radii are computed once per metric object.
"""

from __future__ import annotations

import numpy as np

from trainers.metrics.real_stats import RealStats

K = 3  # the paper's default neighbourhood size
CHUNK = 1024  # fake rows per distance block (memory: CHUNK x real features floats)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) in float64, clipped at 0 against round-off."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    d = (a64 * a64).sum(1)[:, None] + (b64 * b64).sum(1)[None, :] - 2.0 * a64 @ b64.T
    return np.maximum(d, 0.0)


class PrecisionScore:
    """Share of fake features within the k-NN radius of at least one real feature (0..1, higher is better)."""

    def __init__(self, stats: RealStats, k: int = K) -> None:
        self.real = np.asarray(stats.kid_feats, dtype=np.float32)
        if len(self.real) <= k:
            raise ValueError(f"precision needs more than k={k} real features, got {len(self.real)}")
        d = _sq_dists(self.real, self.real)
        np.fill_diagonal(d, np.inf)  # a point is not its own neighbour
        self.radii = np.partition(d, k - 1, axis=1)[:, k - 1]  # squared radius of the k-th neighbour

    def __call__(self, feats: np.ndarray) -> float:
        inside = 0
        for start in range(0, len(feats), CHUNK):
            d = _sq_dists(np.asarray(feats[start:start + CHUNK]), self.real)
            inside += int((d <= self.radii[None, :]).any(axis=1).sum())
        return inside / max(len(feats), 1)
