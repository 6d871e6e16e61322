"""Real statistics cache (values, reuse, key) and the metric object the loop calls."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from trainers import metrics
from trainers.registry import MetricKind

real_stats_mod = importlib.import_module("trainers.metrics.real_stats")  # not the function

# test-written Inception weights are random, so loading them warns that FIDs are not comparable
pytestmark = pytest.mark.filterwarnings("ignore:.*does not start with 6726825d:UserWarning")


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_real_stats_values_and_cache_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    imgs = _images(300, 32)
    stats, path = metrics.real_stats(imgs, "fp-a", "rand", 250, cache_dir=tmp_path, progress=False,
                                     batch_size=64)
    assert path.parent == tmp_path / "fid_stats" and path.name == f"{stats.key}.npz"
    assert stats.n == 250 and stats.backbone == "rand" and stats.image_size == 32
    assert stats.mu.dtype == np.float64 and stats.sigma.shape == (230, 230)
    assert stats.kid_feats.shape == (250, 230) and stats.kid_feats.dtype == np.float32
    # running sums equal a direct computation over the same fixed-seed subset
    feats = metrics.extract_features(metrics.load_backbone("rand"), imgs)
    chosen = np.random.default_rng(0).permutation(300)[:250]
    np.testing.assert_allclose(stats.mu, feats[chosen].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.sigma, np.cov(feats[chosen].astype(np.float64), rowvar=False),
                               rtol=1e-4, atol=1e-7)
    # second call: loaded, nothing recomputed
    monkeypatch.setattr(real_stats_mod, "load_backbone",
                        lambda *a, **k: pytest.fail("recomputed cached stats"))
    again, path2 = metrics.real_stats(imgs, "fp-a", "rand", 250, cache_dir=tmp_path, progress=False)
    assert path2 == path and again.key == stats.key
    np.testing.assert_array_equal(again.sigma, stats.sigma)
    loaded = metrics.load_real_stats(path)
    assert loaded.n == 250 and loaded.backbone == "rand"


def test_real_stats_key_changes_with_inputs(tmp_path: Path, fake_inception: Path) -> None:
    def key(imgs: np.ndarray, fp: str = "fp-a", backbone: str = "rand", n: int = 100,
            weights: str | None = None) -> str:
        stats, _ = metrics.real_stats(imgs, fp, backbone, n, weights=weights, cache_dir=tmp_path,
                                      progress=False)
        return stats.key

    small = _images(120, 32)
    base = key(small)
    keys = {
        base,
        key(small, fp="fp-b"),  # dataset
        key(_images(120, 64)),  # resolution
        key(small, n=120),  # N
        key(small[:4], backbone="inception", n=4, weights=str(fake_inception)),  # backbone
    }
    assert len(keys) == 5
    assert key(small) == base
    # samples above the dataset size use (and key on) the whole dataset
    assert key(small, n=120) == key(small, n=5000)


def test_fid_metric(tmp_path: Path) -> None:
    imgs = _images(400, 32)
    stats, path = metrics.real_stats(imgs, "fp", "rand", 400, cache_dir=tmp_path, progress=False)
    real = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
    calls = []

    def sample_real(n: int) -> torch.Tensor:
        calls.append(n)
        return real[torch.randint(0, 400, (n,))]

    def sample_grey(n: int) -> torch.Tensor:
        return torch.zeros(n, 3, 32, 32)

    metric = metrics.FIDMetric(stats, metrics.load_backbone("rand"), samples=300, batch_size=128)
    assert metric.names == ("fid300_rand", "kid300_rand")
    good = metric(sample_real)
    assert calls == [128, 128, 44]
    bad = metric(sample_grey)
    assert set(good) == {*metric.names, "fid300_rand_noise"}  # FID comes with its bootstrap noise
    assert good["fid300_rand"] * 10 < bad["fid300_rand"]
    assert good["kid300_rand"] < bad["kid300_rand"]

    only_fid = metrics.build_metric(path, "rand", 1000, kid=False)
    assert only_fid.names == ("fid1k_rand",)
    assert set(only_fid(sample_real)) == {"fid1k_rand", "fid1k_rand_noise"}
    with pytest.raises(ValueError, match="64 px but the real statistics are 32 px"):
        metric(lambda n: torch.zeros(n, 3, 64, 64))


def test_fid_metric_rejects_other_backbone(tmp_path: Path, fake_inception: Path) -> None:
    stats, _ = metrics.real_stats(_images(50, 32), "fp", "rand", 50, cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="backbone 'rand', not 'inception'"):
        metrics.FIDMetric(stats, metrics.load_backbone("inception", weights=str(fake_inception)), samples=10)


def test_generated_images_are_quantised_like_real_ones(tmp_path: Path) -> None:
    """Float generator output, its uint8 rounding (NCHW or NHWC) and sub-1/255 jitter all score the same:
    the backbone only ever sees what a saved image could hold."""
    imgs = _images(200, 32)
    stats, _ = metrics.real_stats(imgs, "fp", "rand", 200, cache_dir=tmp_path, progress=False)
    fake = torch.from_numpy(_images(100, 32, seed=5)).permute(0, 3, 1, 2).float() / 127.5 - 1
    jitter = (torch.rand_like(fake) - 0.5) * (0.9 / 127.5)  # below half a uint8 step
    u8_nchw = ((fake + 1) * 127.5).round().to(torch.uint8)
    runs = {
        "float": lambda n: fake[:n],
        "jittered": lambda n: fake[:n] + jitter[:n],
        "uint8_nchw": lambda n: u8_nchw[:n],
        "uint8_nhwc": lambda n: u8_nchw[:n].permute(0, 2, 3, 1),
    }
    metric = metrics.FIDMetric(stats, metrics.load_backbone("rand"), samples=100, kid=False)
    values = {name: metric(sample)["fid100_rand"] for name, sample in runs.items()}
    assert len(set(values.values())) == 1, values
    # out-of-range values are clipped as saving an image would clip them
    assert metric(lambda n: fake[:n] * 1.5)["fid100_rand"] == metric(lambda n: (fake[:n] * 1.5).clamp(-1, 1))[
        "fid100_rand"]


def test_feature_extraction_runs_without_tf32_and_restores_it() -> None:
    """TF32 would make GPU Inception features differ from the fp32 reference; the loop's own choice of
    TF32 must survive the evaluation."""
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
            return x.mean(dim=(2, 3))

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        metrics.extract_features(Probe(), _images(3, 8))
        assert seen == [(False, False)]
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_metric_registry_adds_a_metric_with_one_entry(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A new kind registered in METRICS is computed on the same features and named by the one rule."""
    imgs = _images(120, 16)
    stats, _ = metrics.real_stats(imgs, "fp", "rand", 120, cache_dir=tmp_path, progress=False)
    real = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1

    def mean_gap(s: metrics.RealStats) -> object:
        return lambda feats: float(np.abs(feats.mean(0) - s.mu).sum())

    monkeypatch.setitem(metrics.METRICS, "gap", MetricKind(mean_gap))
    metric = metrics.FIDMetric(stats, metrics.load_backbone("rand"), samples=120, kinds=("fid", "gap"))
    assert metric.names == ("fid120_rand", "gap120_rand") and not metric.kid
    values = metric(lambda n: real[:n])
    assert values["gap120_rand"] == pytest.approx(0.0, abs=1e-5)  # the real images themselves
    assert values["fid120_rand"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        metrics.FIDMetric(stats, metrics.load_backbone("rand"), samples=10, kinds=("nope",))
