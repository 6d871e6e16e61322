"""Real-image feature statistics, computed once per protocol and cached under a hash of it.

In the spirit of stylegan2-ada's ``dataset_kwargs``-hashed feature cache: the key is the protocol (dataset
fingerprint, image size, backbone and weights id, real sample count, stats version), so a changed input can
never reuse an old file, and concurrent callers compute it once (lock + atomic rename).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.cache import atomic_write, cache_root, locked, stable_hash
from trainers.metrics.backbones import features, load_backbone, weights_id
from trainers.metrics.protocol import protocol
from trainers.pixels import to_float

KID_REAL_MAX = 5000  # real features kept for KID (a fixed-seed subset; enough for 100 subsets of 1000)
STATS_VERSION = 2  # bump when the stats computation changes, so old cache entries are not reused


@dataclass(frozen=True)
class RealStats:
    """Feature statistics of the real images: what every FID/KID evaluation compares against."""

    mu: np.ndarray  # (dim,) float64
    sigma: np.ndarray  # (dim, dim) float64
    kid_feats: np.ndarray  # (<= KID_REAL_MAX, dim) float32, fixed-seed subset of the real features
    n: int  # real images used
    backbone: str
    key: str
    image_size: int = 0
    weights_id: str = ""
    dataset: str = ""  # the dataset fingerprint the statistics were computed from

    def protocol(self, samples: int) -> dict[str, Any]:
        """The measurement protocol of a metric with ``samples`` generated images against these stats."""
        return protocol(self.dataset, self.image_size, self.n, self.backbone, self.weights_id, samples)

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, mu=self.mu, sigma=self.sigma, kid_feats=self.kid_feats, n=self.n,
                     backbone=self.backbone, key=self.key, image_size=self.image_size,
                     weights_id=self.weights_id, dataset=self.dataset, version=STATS_VERSION)


def load_real_stats(path: str | os.PathLike[str]) -> RealStats:
    """Read a stats file written by :func:`real_stats`."""
    with np.load(path, allow_pickle=False) as z:
        return RealStats(mu=z["mu"], sigma=z["sigma"], kid_feats=z["kid_feats"], n=int(z["n"]),
                         backbone=str(z["backbone"]), key=str(z["key"]), image_size=int(z["image_size"]),
                         weights_id=str(z["weights_id"]),
                         dataset=str(z["dataset"]) if "dataset" in z.files else "")


def real_stats(images: np.ndarray, fingerprint: str, backbone: str, samples: int,
               weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
               cache_dir: str | os.PathLike[str] | None = None, progress: bool = True,
               batch_size: int = 250) -> tuple[RealStats, Path]:
    """Mean/covariance (float64 running sums) and KID features of ``min(samples, N)`` real images.

    ``images`` is the prepared uint8 (N,S,S,3) array (a memmap is fine); when N > samples a fixed-seed
    subset is used. Cached under ``cache_root(cache_dir)/fid_stats/<key>.npz`` keyed by the dataset
    fingerprint, image size, backbone (+ weights id) and the real count, written under a lock and renamed
    into place, so concurrent callers compute it once and later calls just load it.
    """
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (N,S,S,3) images, got {images.dtype} {images.shape}")
    n = min(int(samples), len(images))
    size = int(images.shape[1])
    wid = weights_id(backbone, weights)
    key = stable_hash({"v": STATS_VERSION, "fingerprint": fingerprint, "image_size": size,
                       "backbone": backbone, "n": n, "weights": wid, "kid_max": KID_REAL_MAX})
    path = cache_root(cache_dir) / "fid_stats" / f"{key}.npz"
    with locked(path):
        if path.exists():
            return load_real_stats(path), path
        model = load_backbone(backbone, weights, device)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(images))[:n] if n < len(images) else np.arange(n)
        kid_pos = np.zeros(n, dtype=bool)
        kid_pos[rng.permutation(n)[:KID_REAL_MAX]] = True
        sorted_pos = np.argsort(order, kind="stable")  # read the memmap in file order
        total = np.zeros(model.dim, dtype=np.float64)
        outer = np.zeros((model.dim, model.dim), dtype=np.float64)
        kid_parts = []
        starts: Iterable[int] = range(0, n, batch_size)
        if progress:
            from rich.progress import track

            starts = track(starts, description=f"FID real stats ({backbone}, {n} images)", transient=True)
        for start in starts:
            pos = sorted_pos[start:start + batch_size]
            feats = features(model, to_float(images[order[pos]]), device).numpy().astype(np.float64)
            total += feats.sum(axis=0)
            outer += feats.T @ feats
            kid_parts.append(feats[kid_pos[pos]].astype(np.float32))
        mu = total / n
        sigma = (outer - n * np.outer(mu, mu)) / max(n - 1, 1)
        stats = RealStats(mu=mu, sigma=sigma, kid_feats=np.concatenate(kid_parts), n=n, backbone=backbone,
                          key=key, image_size=size, weights_id=wid, dataset=fingerprint)
        atomic_write(path, stats.save)
    return stats, path
