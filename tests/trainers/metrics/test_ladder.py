"""Disturbance ladder on real CelebA (Heusel et al. 2017, Fig. 1): FID must rise with each disturbance."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from trainers import metrics


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def _noise(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _u8(x + rng.standard_normal(x.shape).astype(np.float32) * s)


def _blur(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _u8(gaussian_filter(x, sigma=(0, s, s, 0)))


def _occlude(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """One black square per image, side = frac * image side, at a random place."""
    x = x.copy()
    n, h, w, _ = x.shape
    r = int(round(h * frac))
    ys, xs = rng.integers(0, h - r + 1, n), rng.integers(0, w - r + 1, n)
    for i in range(n):
        x[i, ys[i] : ys[i] + r, xs[i] : xs[i] + r] = 0
    return _u8(x)


def _salt_pepper(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    m = rng.random(x.shape[:3])
    x[m < p / 2] = 0.0
    x[(m >= p / 2) & (m < p)] = 1.0
    return _u8(x)


def _swap_patches(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Swap ``frac`` x (number of patches) random patch pairs, each with a patch at most 2 patches away."""
    x = x.copy()
    n, h, _, _ = x.shape
    ps = h // 16
    g = h // ps
    idx = np.arange(n)[:, None, None]
    span = np.arange(ps)
    for _ in range(int(round(frac * g * g))):
        y1, x1 = rng.integers(0, g, n), rng.integers(0, g, n)
        y2 = np.clip(y1 + rng.integers(-2, 3, n), 0, g - 1)
        x2 = np.clip(x1 + rng.integers(-2, 3, n), 0, g - 1)
        ay, ax = ((y1 * ps)[:, None] + span)[:, :, None], ((x1 * ps)[:, None] + span)[:, None, :]
        by, bx = ((y2 * ps)[:, None] + span)[:, :, None], ((x2 * ps)[:, None] + span)[:, None, :]
        a, b = x[idx, ay, ax].copy(), x[idx, by, bx].copy()
        x[idx, ay, ax] = b
        x[idx, by, bx] = a
    return _u8(x)


LADDER = {
    "gaussian_noise": (_noise, [0.05, 0.1, 0.2]),
    "gaussian_blur": (_blur, [0.5, 1.0, 2.0]),
    "black_rectangle": (_occlude, [0.2, 0.3, 0.45]),
    "salt_and_pepper": (_salt_pepper, [0.01, 0.03, 0.1]),
    "patch_swaps": (_swap_patches, [0.05, 0.15, 0.3]),
}


@pytest.mark.parametrize("size", [64, 32])
def test_rand_fid_orders_disturbance_ladder(celeba2k: np.ndarray, size: int) -> None:
    """FID(real A, disturbed real B) rises strictly with strength, starting above FID(A, B)."""
    imgs = celeba2k
    if size != 64:
        imgs = np.stack([np.asarray(Image.fromarray(i).resize((size, size), Image.BICUBIC)) for i in imgs])
    model = metrics.load_backbone("rand")
    real_a, real_b = imgs[:1000], imgs[1000:]
    feats_a = metrics.extract_features(model, real_a)
    base = metrics.fid_from_features(feats_a, metrics.extract_features(model, real_b))
    b01 = real_b.astype(np.float32) / 255
    failures = []
    for name, (disturb, strengths) in LADDER.items():
        rng = np.random.default_rng(1)
        values = [base]
        for strength in strengths:
            disturbed = disturb(b01, strength, rng)
            values.append(metrics.fid_from_features(feats_a, metrics.extract_features(model, disturbed)))
        if not all(lo * 1.1 < hi for lo, hi in zip(values, values[1:], strict=False)):
            failures.append(f"{name}: {[round(v, 4) for v in values]}")
    assert not failures, f"ladder not ordered at {size}px (base first): {failures}"


def _simple_faces(n: int, size: int, seed: int) -> np.ndarray:
    """Fallback face-like renderer (used only when trainers.data is unavailable)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.ones((size, size, 3)) * rng.uniform(0.2, 0.9, 3)
        face = ((xx - 0.5) / 0.3) ** 2 + ((yy - 0.5) / 0.4) ** 2 < 1
        img[face] = rng.uniform(0.5, 0.9) * np.array([1.0, 0.8, 0.7])
        for ex in (0.4, 0.6):
            img[((xx - ex) ** 2 + (yy - 0.42) ** 2) < 0.002] = 0.1
        img[(np.abs(xx - 0.5) < 0.1) & (np.abs(yy - 0.68) < 0.02)] = [0.6, 0.1, 0.1]
        out[i] = (img * 255).astype(np.uint8)
    return out


def test_real_halves_far_closer_than_synthetic_faces(celeba2k: np.ndarray) -> None:
    try:
        from trainers.data import synthetic_faces
    except ImportError:
        synthetic_faces = _simple_faces
    synth = synthetic_faces(1000, 64, 0)
    model = metrics.load_backbone("rand")
    feats_a = metrics.extract_features(model, celeba2k[:1000])
    halves = metrics.fid_from_features(feats_a, metrics.extract_features(model, celeba2k[1000:]))
    vs_synth = metrics.fid_from_features(feats_a, metrics.extract_features(model, synth))
    assert halves * 20 < vs_synth, (halves, vs_synth)
