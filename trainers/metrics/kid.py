"""Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, pure maths, no I/O.

Float64 throughout: the estimate is a small difference of large kernel sums.
"""

from __future__ import annotations

import numpy as np
import torch


def subsets(n: int, m: int, count: int, seed: int) -> list[torch.Tensor]:
    """Fixed-seed subsets of size m (one subset, the whole set, when m == n: all would be identical)."""
    if m == n:
        return [torch.arange(n)]
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=gen)[:m] for _ in range(count)]


def _indicators(n: int, idx: list[torch.Tensor]) -> torch.Tensor:
    s = torch.zeros(n, len(idx), dtype=torch.float64)
    for j, i in enumerate(idx):
        s[i, j] = 1.0
    return s


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Polynomial kernel ``(a.b / dim + 1)^3``."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _pair_sums(a: torch.Tensor, b: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor, block: int = 2048
               ) -> torch.Tensor:
    """``s_a^T K(a, b) s_b`` for every subset column, building K in row blocks (bounded memory)."""
    out = torch.zeros(max(sa.shape[1], sb.shape[1]), dtype=torch.float64)
    for i in range(0, a.shape[0], block):
        out += (sa[i : i + block] * (_kernel(a[i : i + block], b) @ sb)).sum(0)
    return out


class KIDSide:
    """One feature set's subsets and within-set kernel sums (diagonal excluded).

    The metric keeps the real side between evaluations: its subsets are fixed by the seed, so its
    kernel sums never change and each evaluation only pays for the fake side and the cross term.
    """

    def __init__(self, feats: np.ndarray | torch.Tensor, m: int, count: int, seed: int) -> None:
        self.x = torch.as_tensor(np.asarray(feats), dtype=torch.float64)
        self.m = m
        self.idx = subsets(self.x.shape[0], m, count, seed)
        self.full = self._full_cost_ok(self.x.shape[0], len(self.idx))
        diag = (((self.x * self.x).sum(1) / self.x.shape[1]) + 1.0) ** 3
        if self.full:
            self.s = _indicators(self.x.shape[0], self.idx)
            self.within = _pair_sums(self.x, self.x, self.s, self.s) - diag @ self.s
        else:
            self.within = torch.stack([_kernel(self.x[i], self.x[i]).sum() - diag[i].sum() for i in self.idx])

    def _full_cost_ok(self, n: int, k: int) -> bool:
        """Whole-set kernel (n^2 (dim + k)) when not dearer than k separate m x m kernels (k m^2 dim)."""
        d = self.x.shape[1]
        return n * n * (d + k) <= 2 * k * self.m * self.m * d

    def cross(self, other: KIDSide) -> torch.Tensor:
        if self.full and other.full:
            return _pair_sums(self.x, other.x, self.s, other.s)
        ka, kb = len(self.idx), len(other.idx)
        return torch.stack([_kernel(self.x[self.idx[j % ka]], other.x[other.idx[j % kb]]).sum()
                            for j in range(max(ka, kb))])


def kid_from_sides(real: KIDSide, fake: KIDSide) -> float:
    """Mean over subsets of the unbiased MMD^2 (as torchmetrics' ``maximum_mean_discrepancy``)."""
    m = real.m
    mmd = (real.within + fake.within) / (m * (m - 1)) - 2.0 * real.cross(fake) / (m * m)
    return float(mmd.mean())


def kid(real_feats: np.ndarray | torch.Tensor, fake_feats: np.ndarray | torch.Tensor, subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> float:
    """Kernel Inception Distance: mean over ``subsets`` random subsets of the unbiased MMD^2 with the
    polynomial kernel ``k(x, y) = (x.y / dim + 1)^3`` (Binkowski et al. 2018; torchmetrics/torch-fidelity).

    Subset size is ``min(subset_size, n_real, n_fake)``; subsets are drawn without replacement with fixed
    seeds (one per side) so repeated evaluations differ only by the images. A side whose subset is the
    whole set is used once rather than ``subsets`` times (its subsets would all be identical). Kernel
    sums over all subsets at once are ``s^T K s`` products with subset-indicator matrices, so the kernel
    matrix is built once instead of once per subset whenever that is cheaper.
    """
    x, y = np.asarray(real_feats), np.asarray(fake_feats)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feature shapes differ: {x.shape} vs {y.shape}")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    return kid_from_sides(KIDSide(x, m, subsets, seed), KIDSide(y, m, subsets, seed + 1))
