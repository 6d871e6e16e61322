"""Frechet distance: agrees with the scipy sqrtm computation pytorch-fid does, also when near-singular."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from trainers import metrics


def _scipy_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, eps: float = 1e-6
                   ) -> float:
    """The direct computation pytorch-fid does: sqrtm of the product, eps offset when not finite."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = np.eye(len(s1)) * eps
        covmean = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize(
    ("n", "d", "shift"),
    [(400, 16, 0.3), (2000, 48, 0.05), (20, 64, 0.5), (40, 40, 1.0)],
    ids=["well-conditioned", "close-distributions", "rank-deficient", "n-equals-d"],
)
def test_frechet_matches_scipy(n: int, d: int, shift: float) -> None:
    rng = np.random.default_rng(d)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    a = rng.standard_normal((n, d)) @ mix
    b = (rng.standard_normal((n, d)) + shift) @ (mix + 0.1 * np.eye(d))
    mu1, s1 = _stats(a)
    mu2, s2 = _stats(b)
    expected = _scipy_frechet(mu1, s1, mu2, s2)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_frechet_near_singular_covariance() -> None:
    """Eigenvalues spanning 12 orders of magnitude: still matches scipy, never NaN or complex."""
    rng = np.random.default_rng(3)
    q1, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    q2, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    s1 = (q1 * np.logspace(0, -12, 30)) @ q1.T
    s2 = (q2 * np.logspace(0.5, -12, 30)) @ q2.T
    mu1, mu2 = rng.standard_normal(30), rng.standard_normal(30)
    got = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(got)
    assert got == pytest.approx(_scipy_frechet(mu1, s1, mu2, s2), rel=1e-6)


def test_frechet_known_answers() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 12))
    sigma = np.cov(a, rowvar=False)
    mu1, mu2 = rng.standard_normal(12), rng.standard_normal(12)
    # equal covariances -> squared distance of the means
    expected = float(((mu1 - mu2) ** 2).sum())
    assert metrics.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0.0, abs=1e-9)
    # 1-d Gaussians: (m1 - m2)^2 + (s1 - s2)^2
    one_d = metrics.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]]))
    assert one_d == pytest.approx(4.0 + 1.0)
    with pytest.raises(ValueError, match="shape"):
        metrics.frechet_distance(mu1, sigma, mu2[:5], sigma[:5, :5])
