"""Disturbance ladder on real CelebA (Heusel et al. 2017, Fig. 1), for every offline backbone offered.

FID(real A, disturbed real B) must rise strictly with the strength of every disturbance, starting above the
real-vs-real floor FID(A, B); and a backbone must rank face structure above small global colour changes.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from trainers import metrics
from trainers.metrics.ladder import LADDER, colour_cast, ladder, quadrant_shuffle, upside_down

OFFLINE = [b for b in metrics.BACKBONES if b != "inception"]


def _resized(imgs: np.ndarray, size: int) -> np.ndarray:
    if size == imgs.shape[1]:
        return imgs
    return np.stack([np.asarray(Image.fromarray(i).resize((size, size), Image.BICUBIC)) for i in imgs])


@pytest.mark.parametrize("size", [64, 32])
@pytest.mark.parametrize("backbone", OFFLINE)
def test_fid_orders_disturbance_ladder(celeba2k: np.ndarray, backbone: str, size: int) -> None:
    """Every rung at least 10% above the one below it (floor first), for all disturbances."""
    imgs = _resized(celeba2k, size)
    floor, ratios = ladder(backbone, imgs[:1000], imgs[1000:])
    assert set(ratios) == set(LADDER)
    failures = [f"{name}: {[round(v, 2) for v in values]}" for name, values in ratios.items()
                if not all(lo * 1.1 < hi for lo, hi in zip([1.0, *values], values, strict=False))]
    assert not failures, f"ladder not ordered at {size}px (ratios to floor {floor:.4g}): {failures}"


def _synthetic(n: int, size: int) -> np.ndarray:
    from trainers.data import synthetic_faces

    return synthetic_faces(n, size, 0)


@pytest.mark.parametrize("backbone", OFFLINE)
def test_face_structure_outranks_a_small_colour_shift(celeba2k: np.ndarray, backbone: str) -> None:
    """Issue 10: real faces under a small warm white-balance shift (+-0.05, ~13/255) are still faces; they
    must score better (lower FID against other real faces) than upside-down faces, quadrant-shuffled faces
    and the cartoon synthetic faces, and several times better than the cartoons."""
    a, b = celeba2k[:1000], celeba2k[1000:]
    model = metrics.load_backbone(backbone)
    feats_a = metrics.extract_features(model, a)

    def score(images: np.ndarray) -> float:
        return metrics.fid_from_features(feats_a, metrics.extract_features(model, images))

    b01 = b.astype(np.float32) / 255
    rng = np.random.default_rng(0)
    shifted = score(colour_cast(b01, 0.05, rng))
    broken = {"upside_down": score(upside_down(b01, 1.0, rng)),
              "quadrant_shuffle": score(quadrant_shuffle(b01, 1.0, rng)),
              "synthetic_faces": score(_synthetic(1000, 64))}
    assert all(shifted < v for v in broken.values()), (shifted, broken)
    assert shifted * 3 < broken["synthetic_faces"], (shifted, broken)


@pytest.mark.parametrize("backbone", OFFLINE)
def test_real_halves_far_closer_than_synthetic_faces(celeba2k: np.ndarray, backbone: str) -> None:
    model = metrics.load_backbone(backbone)
    feats_a = metrics.extract_features(model, celeba2k[:1000])
    halves = metrics.fid_from_features(feats_a, metrics.extract_features(model, celeba2k[1000:]))
    vs_synth = metrics.fid_from_features(feats_a, metrics.extract_features(model, _synthetic(1000, 64)))
    assert halves * 20 < vs_synth, (halves, vs_synth)
