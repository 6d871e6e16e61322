"""The disturbance ladder (Heusel et al. 2017, Fig. 1): how a backbone's FID responds to known damage.

A backbone worth ranking GANs with must (1) rise strictly with the strength of every disturbance, and
(2) rank face *structure* above small global *colour* changes: an upside-down face, swapped halves or
shuffled quadrants are not faces, a slightly warm white balance still is. The benchmark
``benchmarks/bench_backbone_ladder.py`` prints the figures; ``tests/trainers/metrics/test_ladder.py``
asserts them on real CelebA for every offline backbone. Images are float (N,H,W,3) in [0, 1] in, uint8 out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter

from trainers.metrics.backbones import extract_features, load_backbone
from trainers.metrics.frechet import fid_from_features

Disturb = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def noise(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return to_uint8(x + rng.standard_normal(x.shape).astype(np.float32) * s)


def blur(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return to_uint8(gaussian_filter(x, sigma=(0, s, s, 0)))


def occlude(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """One black square per image, side = frac * image side, at a random place."""
    x = x.copy()
    n, h, w, _ = x.shape
    r = int(round(h * frac))
    ys, xs = rng.integers(0, h - r + 1, n), rng.integers(0, w - r + 1, n)
    for i in range(n):
        x[i, ys[i] : ys[i] + r, xs[i] : xs[i] + r] = 0
    return to_uint8(x)


def salt_pepper(x: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    m = rng.random(x.shape[:3])
    x[m < p / 2] = 0.0
    x[(m >= p / 2) & (m < p)] = 1.0
    return to_uint8(x)


def swap_patches(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
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
    return to_uint8(x)


def _some(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``frac`` of the images (the structural disturbances are all-or-nothing per image, so their
    strength is how many faces are broken)."""
    return rng.random(len(x)) < frac


def upside_down(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    pick = _some(x, frac, rng)
    x[pick] = x[pick, ::-1]
    return to_uint8(x)


def halves_swapped(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Top and bottom halves exchanged (mouth above the eyes)."""
    x = x.copy()
    pick = _some(x, frac, rng)
    x[pick] = np.roll(x[pick], x.shape[1] // 2, axis=1)
    return to_uint8(x)


def quadrant_shuffle(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """The four quadrants rotated one place clockwise (every quadrant moves, none is lost)."""
    x = x.copy()
    pick = np.flatnonzero(_some(x, frac, rng))
    h = x.shape[1] // 2
    q = [x[pick, :h, :h].copy(), x[pick, :h, h:].copy(), x[pick, h:, h:].copy(), x[pick, h:, :h].copy()]
    x[pick, :h, h:], x[pick, h:, h:], x[pick, h:, :h], x[pick, :h, :h] = q
    return to_uint8(x)


def colour_cast(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """A global warm white-balance shift: red up by ``s``, blue down by ``s`` (same for every image)."""
    return to_uint8(x + np.array([s, 0.0, -s], dtype=np.float32))


def channel_gain(x: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """Saturation change: colour differences from the grey value scaled by ``1 + s``."""
    grey = x.mean(axis=3, keepdims=True)
    return to_uint8(grey + (x - grey) * (1.0 + s))


def rb_swap(x: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Red and blue channels exchanged in a ``frac`` of the images."""
    x = x.copy()
    pick = _some(x, frac, rng)
    x[pick] = x[pick][..., ::-1]
    return to_uint8(x)


LADDER: dict[str, tuple[Disturb, tuple[float, ...]]] = {
    "gaussian_noise": (noise, (0.05, 0.1, 0.2)),
    "gaussian_blur": (blur, (0.5, 1.0, 2.0)),
    "black_rectangle": (occlude, (0.2, 0.3, 0.45)),
    "salt_and_pepper": (salt_pepper, (0.01, 0.03, 0.1)),
    "patch_swaps": (swap_patches, (0.05, 0.15, 0.3)),
    "upside_down": (upside_down, (0.25, 0.5, 1.0)),
    "halves_swapped": (halves_swapped, (0.25, 0.5, 1.0)),
    "quadrant_shuffle": (quadrant_shuffle, (0.25, 0.5, 1.0)),
    "colour_cast": (colour_cast, (0.02, 0.05, 0.1)),
    "saturation": (channel_gain, (0.2, 0.5, 1.0)),
    "rb_swap": (rb_swap, (0.25, 0.5, 1.0)),
}


def ladder(backbone: str, real_a: np.ndarray, real_b: np.ndarray, seed: int = 1,
           extra: dict[str, np.ndarray] | None = None) -> tuple[float, dict[str, list[float]]]:
    """FID(real A, disturbed real B) for every rung, as ratios to the real-vs-real floor FID(A, B).

    Returns (floor, {disturbance: [ratio per strength]}); ``extra`` image sets (e.g. synthetic faces) are
    scored against A too, under their own names, as one-element lists.
    """
    model = load_backbone(backbone)
    feats_a = extract_features(model, real_a)
    floor = fid_from_features(feats_a, extract_features(model, real_b))
    b01 = real_b.astype(np.float32) / 255
    out: dict[str, list[float]] = {}
    for name, (disturb, strengths) in LADDER.items():
        rng = np.random.default_rng(seed)
        out[name] = [fid_from_features(feats_a, extract_features(model, disturb(b01, s, rng))) / floor
                     for s in strengths]
    for name, images in (extra or {}).items():
        out[name] = [fid_from_features(feats_a, extract_features(model, images)) / floor]
    return floor, out
