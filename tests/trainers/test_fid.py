"""FID/KID math, the two backbones, the real-statistics cache and the disturbance ladder."""

from __future__ import annotations

import io
import time
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from trainers import fid

# test-written Inception weights are random, so loading them warns that FIDs are not comparable
pytestmark = pytest.mark.filterwarnings("ignore:.*does not start with 6726825d:UserWarning")

@pytest.fixture(autouse=True)
def one_thread() -> object:
    """One torch thread: on a shared 2-core box two OpenMP threads competing with other processes
    run the feature nets several times slower (measured 0.3 s -> 3-5 s per 1000 images)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------------------------------
# Frechet distance and KID
# --------------------------------------------------------------------------------------------------


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
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_scipy_frechet(mu1, s1, mu2, s2), rel=1e-6)


def test_frechet_near_singular_covariance() -> None:
    """Eigenvalues spanning 12 orders of magnitude: still matches scipy, never NaN or complex."""
    rng = np.random.default_rng(3)
    q1, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    q2, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    s1 = (q1 * np.logspace(0, -12, 30)) @ q1.T
    s2 = (q2 * np.logspace(0.5, -12, 30)) @ q2.T
    mu1, mu2 = rng.standard_normal(30), rng.standard_normal(30)
    got = fid.frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(got)
    assert got == pytest.approx(_scipy_frechet(mu1, s1, mu2, s2), rel=1e-6)


def test_frechet_known_answers() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 12))
    sigma = np.cov(a, rowvar=False)
    mu1, mu2 = rng.standard_normal(12), rng.standard_normal(12)
    # equal covariances -> squared distance of the means
    expected = float(((mu1 - mu2) ** 2).sum())
    assert fid.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9)
    assert fid.frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0.0, abs=1e-9)
    # 1-d Gaussians: (m1 - m2)^2 + (s1 - s2)^2
    assert fid.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == (
        pytest.approx(4.0 + 1.0)
    )
    with pytest.raises(ValueError, match="shape"):
        fid.frechet_distance(mu1, sigma, mu2[:5], sigma[:5, :5])


def test_kid_matches_torchmetrics_and_is_unbiased() -> None:
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 20)).astype(np.float32)
    y = (rng.standard_normal((300, 20)) + 0.5).astype(np.float32)
    ref = poly_mmd(torch.from_numpy(x).double(), torch.from_numpy(y).double()).item()
    assert fid.kid(x, y, subset_size=1000) == pytest.approx(ref, rel=1e-9)
    # subsets of a larger set: same-distribution KID centres on 0, shifted one is clearly positive
    x2 = rng.standard_normal((1200, 20)).astype(np.float32)
    same = fid.kid(x2, rng.standard_normal((400, 20)), subsets=20, subset_size=200)
    shifted = fid.kid(x2, rng.standard_normal((400, 20)) + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 0.02 < shifted
    # deterministic subsets
    assert fid.kid(x2, y, subsets=5, subset_size=100) == fid.kid(x2, y, subsets=5, subset_size=100)


def test_kid_whole_kernel_equals_per_subset_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The s^T K s shortcut and the plain per-subset computation give the same number."""
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((500, 16)), rng.standard_normal((300, 16)) + 0.2
    fast = fid.kid(x, y, subsets=10, subset_size=100)
    monkeypatch.setattr(fid._KIDSide, "_full_cost_ok", lambda self, n, k: False)
    assert fid.kid(x, y, subsets=10, subset_size=100) == pytest.approx(fast, rel=1e-9)
    # and both are torchmetrics' poly_mmd averaged over the same subsets
    ix = fid._subsets(500, 100, 10, 0)
    iy = fid._subsets(300, 100, 10, 1)
    ref = np.mean([poly_mmd(torch.from_numpy(x[a]), torch.from_numpy(y[b])).item()
                   for a, b in zip(ix, iy, strict=True)])
    assert fast == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize(
    ("backbone", "samples", "names"),
    [
        ("rand", 2000, ("fid2k_rand", "kid2k_rand")),
        ("inception", 10000, ("fid10k", "kid10k")),
        ("rand", 500, ("fid500_rand", "kid500_rand")),
        ("rand", 1500, ("fid1500_rand", "kid1500_rand")),
        ("inception", 1000, ("fid1k", "kid1k")),
    ],
)
def test_metric_names(backbone: str, samples: int, names: tuple[str, str]) -> None:
    assert fid.metric_names(backbone, samples) == names


def test_metric_names_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown FID backbone"):
        fid.metric_names("vgg", 1000)
    with pytest.raises(ValueError, match="positive"):
        fid.metric_names("rand", 0)


# --------------------------------------------------------------------------------------------------
# rand backbone
# --------------------------------------------------------------------------------------------------


def test_rand_backbone_is_fixed_and_fast_shape() -> None:
    a, b = fid.load_backbone("rand"), fid.load_backbone("rand")
    for ca, cb in zip(a.convs, b.convs, strict=True):
        assert torch.equal(ca.weight, cb.weight)
    # recorded once: the weights must be the same on every machine and numpy/torch release
    assert a.weights_id == "rand-s0-16-32-64-128-029771cf6a8e"
    assert a.name == "rand" and a.dim == 240
    for size in (32, 64):
        x = torch.rand(70, 3, size, size) * 2 - 1
        with torch.no_grad():
            out = a(x)
            assert out.shape == (70, a.dim)
            torch.testing.assert_close(out[:5], a(x[:5]), rtol=1e-4, atol=1e-5)  # chunking changes nothing


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="unknown FID backbone"):
        fid.load_backbone("vgg")


# --------------------------------------------------------------------------------------------------
# Disturbance ladder on real CelebA (Heusel et al. 2017, Fig. 1)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def celeba2k(celeba_dir: Path) -> np.ndarray:
    """2000 real 64x64 CelebA faces, decoded straight from the zip (independent of trainers.data)."""
    with zipfile.ZipFile(celeba_dir / "celeba64_30k.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".jpg"))[:2000]
        return np.stack([np.asarray(Image.open(io.BytesIO(z.read(n))).convert("RGB")) for n in names])


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
    model = fid.load_backbone("rand")
    real_a, real_b = imgs[:1000], imgs[1000:]
    feats_a = fid.extract_features(model, real_a)
    base = fid.fid_from_features(feats_a, fid.extract_features(model, real_b))
    b01 = real_b.astype(np.float32) / 255
    failures = []
    for name, (disturb, strengths) in LADDER.items():
        rng = np.random.default_rng(1)
        values = [base]
        for strength in strengths:
            disturbed = disturb(b01, strength, rng)
            values.append(fid.fid_from_features(feats_a, fid.extract_features(model, disturbed)))
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
    model = fid.load_backbone("rand")
    feats_a = fid.extract_features(model, celeba2k[:1000])
    halves = fid.fid_from_features(feats_a, fid.extract_features(model, celeba2k[1000:]))
    vs_synth = fid.fid_from_features(feats_a, fid.extract_features(model, synth))
    assert halves * 20 < vs_synth, (halves, vs_synth)


# --------------------------------------------------------------------------------------------------
# Inception path (a test-written random-weights file with the real file's architecture and keys)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = fid._fid_inception_net()
    for m in net.modules():  # sane scales so features are finite and varied
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
    path = tmp_path_factory.mktemp("weights") / fid.INCEPTION_FILE
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def no_weights_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty torch hub dir, no env var and downloads failing as if offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(fid.WEIGHTS_ENV, raising=False)

    def offline(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path / "torch_home" / "hub" / "checkpoints" / fid.INCEPTION_FILE


def test_inception_from_explicit_path_matches_pytorch_fid(
    fake_inception: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytorch_fid.inception as pfi

    model = fid.load_backbone("inception", weights=str(fake_inception))
    assert model.name == "inception" and model.dim == 2048
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        feats = model(x)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    # same forward pass as pytorch-fid's InceptionV3 (pool3 block, bilinear resize to 299)
    monkeypatch.setattr(pfi, "fid_inception_v3", lambda: model.net)
    ref = pfi.InceptionV3([3], resize_input=True, normalize_input=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(feats, ref(x)[0].flatten(1), rtol=1e-4, atol=1e-5)


def test_inception_from_env_and_torch_hub_cache(fake_inception: Path, no_weights_anywhere: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fid.WEIGHTS_ENV, str(fake_inception))
    assert fid.resolve_inception_weights(None) == fake_inception
    monkeypatch.delenv(fid.WEIGHTS_ENV)
    hub = no_weights_anywhere
    hub.parent.mkdir(parents=True)
    hub.symlink_to(fake_inception)
    assert fid.resolve_inception_weights(None) == hub
    model = fid.load_backbone("inception")
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2048)


def test_inception_missing_and_offline_says_what_to_do(no_weights_anywhere: Path) -> None:
    with pytest.raises(fid.FIDWeightsError) as err:
        fid.load_backbone("inception")
    msg = str(err.value)
    assert "\n" not in msg
    assert fid.INCEPTION_FILE in msg and str(no_weights_anywhere) in msg and fid.INCEPTION_URL in msg
    assert "name resolution" in msg


def test_inception_explicit_path_missing(tmp_path: Path) -> None:
    with pytest.raises(fid.FIDWeightsError, match="not found at .*nope.pth"):
        fid.resolve_inception_weights(str(tmp_path / "nope.pth"))


def test_inception_download_checks_hash(no_weights_anywhere: Path, fake_inception: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        seen.update(url=url, hash_prefix=hash_prefix)
        Path(dst).write_bytes(fake_inception.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert fid.resolve_inception_weights(None) == no_weights_anywhere
    assert seen == {"url": fid.INCEPTION_URL, "hash_prefix": "6726825d"}
    assert no_weights_anywhere.is_file()


def test_inception_corrupt_files(tmp_path: Path, fake_inception: Path) -> None:
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(fake_inception.read_bytes()[:5000])
    with pytest.raises(fid.FIDWeightsError, match="unreadable"):
        fid.load_backbone("inception", weights=str(truncated))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(fid.FIDWeightsError, match="unreadable"):
        fid.load_backbone("inception", weights=str(garbage))
    wrong = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, wrong)
    with pytest.raises(fid.FIDWeightsError, match="not the FID Inception-v3 state dict"):
        fid.load_backbone("inception", weights=str(wrong))


# --------------------------------------------------------------------------------------------------
# Real statistics cache and the metric
# --------------------------------------------------------------------------------------------------


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_real_stats_values_and_cache_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    imgs = _images(300, 32)
    stats, path = fid.real_stats(imgs, "fp-a", "rand", 250, cache_dir=tmp_path, progress=False, batch_size=64)
    assert path.parent == tmp_path / "fid_stats" and path.name == f"{stats.key}.npz"
    assert stats.n == 250 and stats.backbone == "rand" and stats.image_size == 32
    assert stats.mu.dtype == np.float64 and stats.sigma.shape == (240, 240)
    assert stats.kid_feats.shape == (250, 240) and stats.kid_feats.dtype == np.float32
    # running sums equal a direct computation over the same fixed-seed subset
    feats = fid.extract_features(fid.load_backbone("rand"), imgs)
    chosen = np.random.default_rng(0).permutation(300)[:250]
    np.testing.assert_allclose(stats.mu, feats[chosen].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.sigma, np.cov(feats[chosen].astype(np.float64), rowvar=False),
                               rtol=1e-4, atol=1e-7)
    # second call: loaded, nothing recomputed
    monkeypatch.setattr(fid, "load_backbone", lambda *a, **k: pytest.fail("recomputed cached stats"))
    t0 = time.perf_counter()
    again, path2 = fid.real_stats(imgs, "fp-a", "rand", 250, cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - t0 < 1.0
    assert path2 == path and again.key == stats.key
    np.testing.assert_array_equal(again.sigma, stats.sigma)
    loaded = fid.load_real_stats(path)
    assert loaded.n == 250 and loaded.backbone == "rand"


def test_real_stats_key_changes_with_inputs(tmp_path: Path, fake_inception: Path) -> None:
    def key(imgs: np.ndarray, fp: str = "fp-a", backbone: str = "rand", n: int = 100,
            weights: str | None = None) -> str:
        stats, _ = fid.real_stats(imgs, fp, backbone, n, weights=weights, cache_dir=tmp_path, progress=False)
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
    stats, path = fid.real_stats(imgs, "fp", "rand", 400, cache_dir=tmp_path, progress=False)
    real = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
    calls = []

    def sample_real(n: int) -> torch.Tensor:
        calls.append(n)
        return real[torch.randint(0, 400, (n,))]

    def sample_grey(n: int) -> torch.Tensor:
        return torch.zeros(n, 3, 32, 32)

    metric = fid.FIDMetric(stats, fid.load_backbone("rand"), samples=300, batch_size=128)
    assert metric.names == ("fid300_rand", "kid300_rand")
    good = metric(sample_real)
    assert calls == [128, 128, 44]
    bad = metric(sample_grey)
    assert set(good) == set(metric.names)
    assert good["fid300_rand"] * 10 < bad["fid300_rand"]
    assert good["kid300_rand"] < bad["kid300_rand"]

    only_fid = fid.build_metric(path, "rand", 1000, kid=False)
    assert only_fid.names == ("fid1k_rand",)
    assert set(only_fid(sample_real)) == {"fid1k_rand"}
    with pytest.raises(ValueError, match="64 px but the real statistics are 32 px"):
        metric(lambda n: torch.zeros(n, 3, 64, 64))


def test_fid_metric_rejects_other_backbone(tmp_path: Path, fake_inception: Path) -> None:
    stats, _ = fid.real_stats(_images(50, 32), "fp", "rand", 50, cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="backbone 'rand', not 'inception'"):
        fid.FIDMetric(stats, fid.load_backbone("inception", weights=str(fake_inception)), samples=10)
