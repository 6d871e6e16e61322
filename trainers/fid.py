"""Feature backbones, cached real-image statistics, FID and KID.

Two backbones, one interface (``load_backbone(name) -> nn.Module`` with ``.name`` and ``.dim``,
input float NCHW in [-1, 1], output ``(N, dim)`` features):

* ``"inception"``: the standard FID network, Inception-v3 pool3 (2048-d) with the TF-ported weights
  ``pt_inception-2015-12-05-6726825d.pth`` used by pytorch-fid, torch-fidelity and torchmetrics. The
  architecture is pytorch-fid's (torchvision Inception3 with its FID blocks swapped in); inputs are
  resized to 299x299 bilinearly as those libraries do. FIDs from it are comparable with published ones.
* ``"rand"``: a fixed-seed randomly initialised conv net (random embeddings, Naeem et al. 2020). It needs
  no download, is identical on every machine (weights come from numpy's legacy ``RandomState``, whose
  stream numpy guarantees not to change) and is fast on a CPU. It is *not* comparable with Inception
  FIDs, nor across image resolutions (it sees images at their native size, no resize, so 32 px and
  64 px runs get different statistics; the cache key and the sweep's fixed resolution keep them apart).

Metric names state the protocol (see :func:`metric_names`) so unlike values never share a key.

The Frechet distance uses the symmetric form ``Tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1)))``
in float64: it is the same number ``scipy.linalg.sqrtm`` gives (to ~1e-8 relative, also for rank-deficient
covariances where sqrtm needs pytorch-fid's eps offset or yields imaginary parts), but it is 20-100x faster
and ``sqrt(S_real)`` can be precomputed once per trial.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn

from trainers.cache import atomic_write, cache_root, locked, stable_hash

Sampler = Callable[[int], torch.Tensor]

BACKBONES = ("inception", "rand")
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_HASH_PREFIX = "6726825d"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
WEIGHTS_ENV = "GANSWEEP_FID_WEIGHTS"
KID_REAL_MAX = 5000  # real features kept for KID (a fixed-seed subset; enough for 100 subsets of 1000)
SMALL_LINALG_DIM = 512  # up to this feature dim, FID linear algebra runs single-threaded
STATS_VERSION = 1  # bump when the stats computation changes, so old cache entries are not reused


class FIDWeightsError(RuntimeError):
    """The Inception FID weights are missing, unreadable or not the FID network's (one-line message)."""


# --------------------------------------------------------------------------------------------------
# Pure math
# --------------------------------------------------------------------------------------------------


def _blas_threads(dim: int) -> threadpool_limits:
    """One BLAS thread for small matrices: at a few hundred dims threading buys nothing, and on a busy
    machine OpenBLAS's spinning threads made one 240-d eigensolve 100x slower (2 s instead of 10 ms)."""
    return threadpool_limits(limits=1 if dim <= SMALL_LINALG_DIM else None, user_api="blas")


def _sqrtm_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance matrix (negative round-off eigenvalues clipped to 0)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    sigma = (sigma + sigma.T) / 2
    with _blas_threads(len(sigma)):
        w, v = np.linalg.eigh(sigma)
        return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _frechet_from_sqrt(mu1: np.ndarray, sqrt_sigma1: np.ndarray, tr_sigma1: float, mu2: np.ndarray,
                       sigma2: np.ndarray) -> float:
    """Frechet distance given a precomputed ``sqrt(sigma1)`` (the real-statistics side)."""
    with _blas_threads(len(sqrt_sigma1)):
        m = sqrt_sigma1 @ np.asarray(sigma2, dtype=np.float64) @ sqrt_sigma1
        eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    return float(diff @ diff + tr_sigma1 + np.trace(sigma2) - 2.0 * tr_covmean)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))`` in float64.

    Equal covariances give exactly the squared distance of the means. ``sqrt(S1 S2)`` has the same
    eigenvalues as the symmetric PSD ``sqrt(S1) S2 sqrt(S1)``, so its trace comes from ``eigvalsh``: no
    complex round-off and no eps offset needed for near-singular (e.g. fewer samples than dims) inputs.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    return _frechet_from_sqrt(mu1, _sqrtm_psd(sigma1), float(np.trace(sigma1)), mu2, sigma2)


def _subsets(n: int, m: int, subsets: int, seed: int) -> list[torch.Tensor]:
    """Fixed-seed subsets of size m (one subset, the whole set, when m == n: all would be identical)."""
    if m == n:
        return [torch.arange(n)]
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=gen)[:m] for _ in range(subsets)]


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


class _KIDSide:
    """One feature set's subsets and within-set kernel sums (diagonal excluded).

    FIDMetric keeps the real side between evaluations: its subsets are fixed by the seed, so its
    kernel sums never change and each evaluation only pays for the fake side and the cross term.
    """

    def __init__(self, feats: np.ndarray | torch.Tensor, m: int, subsets: int, seed: int) -> None:
        self.x = torch.as_tensor(np.asarray(feats), dtype=torch.float64)
        self.m = m
        self.idx = _subsets(self.x.shape[0], m, subsets, seed)
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

    def cross(self, other: _KIDSide) -> torch.Tensor:
        if self.full and other.full:
            return _pair_sums(self.x, other.x, self.s, other.s)
        ka, kb = len(self.idx), len(other.idx)
        return torch.stack([_kernel(self.x[self.idx[j % ka]], other.x[other.idx[j % kb]]).sum()
                            for j in range(max(ka, kb))])


def _kid_from_sides(real: _KIDSide, fake: _KIDSide) -> float:
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
    matrix is built once instead of once per subset whenever that is cheaper. Float64 throughout: the
    estimate is a small difference of large kernel sums.
    """
    x, y = np.asarray(real_feats), np.asarray(fake_feats)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feature shapes differ: {x.shape} vs {y.shape}")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    return _kid_from_sides(_KIDSide(x, m, subsets, seed), _KIDSide(y, m, subsets, seed + 1))


def metric_names(backbone: str, samples: int) -> tuple[str, str]:
    """(fid name, kid name) stating the protocol: sample count and backbone.

    Multiples of 1000 are written in thousands (2000 -> ``fid2k``), anything else in full
    (500 -> ``fid500``); the ``rand`` backbone adds ``_rand``. Inception at 10000 -> ("fid10k", "kid10k"),
    rand at 2000 -> ("fid2k_rand", "kid2k_rand").
    """
    if backbone not in BACKBONES:
        raise ValueError(f"unknown FID backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    if samples < 1:
        raise ValueError(f"samples must be positive, got {samples}")
    count = f"{samples // 1000}k" if samples % 1000 == 0 else str(samples)
    suffix = "" if backbone == "inception" else f"_{backbone}"
    return f"fid{count}{suffix}", f"kid{count}{suffix}"


# --------------------------------------------------------------------------------------------------
# Backbones
# --------------------------------------------------------------------------------------------------


class RandBackbone(nn.Module):
    """Fixed-seed random conv net: multi-scale globally pooled features of a LeakyReLU conv pyramid.

    Why this shape: pooled responses of the first, full-resolution layer see pixel-level statistics
    (noise, salt-and-pepper, blur all change them), the deeper stride-2 stages see larger structure
    (occlusions, patch swaps, faces vs not-faces). First-layer filters are made zero-mean so they respond
    to structure rather than to brightness alone. He-normal weights keep activations at a similar scale
    in every stage, so no stage dominates the concatenated feature.
    """

    name = "rand"
    cpu_chunk = 32  # small CPU micro-batches keep the full-resolution activations in cache (2-4x faster)

    def __init__(self, seed: int = 0, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        rng = np.random.RandomState(seed)  # legacy stream: numpy guarantees it never changes
        convs = []
        c_in = 3
        for i, c_out in enumerate(widths):
            conv = nn.Conv2d(c_in, c_out, 3, stride=1 if i == 0 else 2, padding=1, bias=False)
            std = np.sqrt(2.0 / (c_in * 9))
            w = rng.standard_normal(conv.weight.shape).astype(np.float32) * np.float32(std)
            if i == 0:
                w -= w.mean(axis=(1, 2, 3), keepdims=True)
            conv.weight.data = torch.from_numpy(w)
            conv.weight.requires_grad_(False)
            convs.append(conv)
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        self.dim = int(sum(widths))
        self.seed = seed
        digest = hashlib.sha256(b"".join(c.weight.numpy().tobytes() for c in convs)).hexdigest()[:12]
        # the weights' own hash: if a numpy release ever changed the stream, caches would not mix
        self.weights_id = f"rand-s{seed}-" + "-".join(map(str, widths)) + f"-{digest}"
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.shape[0] > self.cpu_chunk:
            return torch.cat([self.forward(part) for part in x.split(self.cpu_chunk)])
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            feats.append(x.mean(dim=(2, 3)))
        return torch.cat(feats, dim=1)


def _fid_inception_net() -> nn.Module:
    """pytorch-fid's FID Inception-v3 architecture, built without downloading anything."""
    import torchvision
    from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                          init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class InceptionBackbone(nn.Module):
    """Inception-v3 pool3 features (2048-d), exactly pytorch-fid's ``InceptionV3([3])`` forward pass.

    Input is already in [-1, 1] (what the TF weights expect), so no (0,1)->(-1,1) rescale is applied.
    """

    name = "inception"
    dim = 2048

    def __init__(self, net: nn.Module, weights_id: str) -> None:
        super().__init__()
        self.net = net
        self.weights_id = weights_id
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = n.maxpool1(n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x))))
        x = n.maxpool2(n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x)))
        for block in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                      "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(n, block)(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def _hub_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _download(url: str, dst: Path) -> None:
    """Download with torch.hub's hash-prefix check (a separate function so tests can simulate offline)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dst), hash_prefix=INCEPTION_HASH_PREFIX, progress=True)


def resolve_inception_weights(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Find the FID Inception weights: explicit path (the spec), then ``$GANSWEEP_FID_WEIGHTS``, then the
    torch hub cache (``torch.hub.get_dir()/checkpoints/<file>``, where pytorch-fid/torchvision keep it),
    then a download into that cache when online (sha256 prefix checked). Otherwise a one-line
    :class:`FIDWeightsError` that says which file, where to put it and where to get it.
    """
    for source, candidate in (("given path", explicit), (f"${WEIGHTS_ENV}", os.environ.get(WEIGHTS_ENV))):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise FIDWeightsError(f"FID Inception weights not found at {path} ({source}); get "
                                      f"{INCEPTION_FILE} from {INCEPTION_URL}")
            return path
    hub = _hub_weights_path()
    if hub.is_file():
        return hub
    try:
        _download(INCEPTION_URL, hub)
    except Exception as exc:  # offline, proxy, hash mismatch: all end in the same user-fixable message
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FIDWeightsError(
            f"FID Inception weights {INCEPTION_FILE} not found and could not be downloaded ({reason}); "
            f"download {INCEPTION_URL} and put it at {hub}, or pass its path (metrics.weights in the spec "
            f"or ${WEIGHTS_ENV}), or use backbone 'rand'") from exc
    return hub


def _file_hash(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime): the weights are hashed once per process."""
    st = path.stat()
    return _file_hash_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_hash_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_inception(weights: str | os.PathLike[str] | None) -> InceptionBackbone:
    path = resolve_inception_weights(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FIDWeightsError(f"FID Inception weights {path} are unreadable (truncated or not a torch file: "
                              f"{type(exc).__name__}); re-download {INCEPTION_URL}") from exc
    net = _fid_inception_net()
    try:
        if not isinstance(state, dict):
            raise TypeError(f"holds a {type(state).__name__}, not a state dict")
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise FIDWeightsError(f"{path} is not the FID Inception-v3 state dict ({first}); expected "
                              f"{INCEPTION_FILE} from {INCEPTION_URL}") from exc
    digest = _file_hash(path)
    if not digest.startswith(INCEPTION_HASH_PREFIX):
        warnings.warn(f"{path} loads as FID Inception but its sha256 does not start with "
                      f"{INCEPTION_HASH_PREFIX}: FIDs will not be comparable with published values",
                      stacklevel=3)
    return InceptionBackbone(net, weights_id=digest[:16])


def load_backbone(name: str, weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
                  ) -> nn.Module:
    """A feature network in eval mode on ``device``: ``forward(x float NCHW [-1,1]) -> (N, .dim)``.

    ``weights`` is only used by ``inception`` (see :func:`resolve_inception_weights`). The module carries
    ``.name``, ``.dim`` and ``.weights_id`` (what the real-statistics cache key depends on).
    """
    if name == "rand":
        model: nn.Module = RandBackbone()
    elif name == "inception":
        model = _load_inception(weights)
    else:
        raise ValueError(f"unknown FID backbone {name!r} (choose from {', '.join(BACKBONES)})")
    return model.to(device).eval()


@torch.no_grad()
def _features(model: nn.Module, images: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """Features of a float [-1, 1] NCHW batch, returned as float32 on the CPU."""
    return model(images.to(device=device, dtype=torch.float32)).float().cpu()


def _uint8_to_input(batch: np.ndarray) -> torch.Tensor:
    """(N,S,S,3) uint8 -> float NCHW in [-1, 1] (the generator's output convention)."""
    t = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
    return t.div_(127.5).sub_(1.0)


def extract_features(model: nn.Module, images: np.ndarray, batch_size: int = 250,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """Features (N, dim) float32 of uint8 (N,S,S,3) images; a convenience for tests and benchmarks."""
    model.eval()
    out = [_features(model, _uint8_to_input(images[i:i + batch_size]), device)
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy()


def _mean_cov(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats, dtype=np.float64)
    mu = f.mean(axis=0)
    d = f - mu
    with _blas_threads(f.shape[1]):
        return mu, d.T @ d / max(len(f) - 1, 1)


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (N, dim); used by tests and benchmarks."""
    mu1, s1 = _mean_cov(a)
    mu2, s2 = _mean_cov(b)
    return frechet_distance(mu1, s1, mu2, s2)


# --------------------------------------------------------------------------------------------------
# Real statistics (cached)
# --------------------------------------------------------------------------------------------------


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

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, mu=self.mu, sigma=self.sigma, kid_feats=self.kid_feats, n=self.n,
                     backbone=self.backbone, key=self.key, image_size=self.image_size,
                     weights_id=self.weights_id, version=STATS_VERSION)


def load_real_stats(path: str | os.PathLike[str]) -> RealStats:
    """Read a stats file written by :func:`real_stats`."""
    with np.load(path, allow_pickle=False) as z:
        return RealStats(mu=z["mu"], sigma=z["sigma"], kid_feats=z["kid_feats"], n=int(z["n"]),
                         backbone=str(z["backbone"]), key=str(z["key"]), image_size=int(z["image_size"]),
                         weights_id=str(z["weights_id"]))


def real_stats(images: np.ndarray, fingerprint: str, backbone: str, samples: int,
               weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
               cache_dir: str | os.PathLike[str] | None = None, progress: bool = True,
               batch_size: int = 250) -> tuple[RealStats, Path]:
    """Mean/covariance (float64 running sums) and KID features of ``min(samples, N)`` real images.

    ``images`` is the prepared uint8 (N,S,S,3) array (a memmap is fine); when N > samples a fixed-seed
    subset is used. Cached under ``cache_root(cache_dir)/fid_stats/<key>.npz`` keyed by the dataset
    fingerprint, image size, backbone (+ weights hash for inception) and the real count, written under
    a lock and renamed into place, so concurrent callers compute it once and later calls just load it.
    """
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (N,S,S,3) images, got {images.dtype} {images.shape}")
    n = min(int(samples), len(images))
    size = int(images.shape[1])
    if backbone == "inception":
        weights_id = _file_hash(resolve_inception_weights(weights))[:16]
    elif backbone == "rand":
        weights_id = RandBackbone().weights_id
    else:
        raise ValueError(f"unknown FID backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    key = stable_hash({"v": STATS_VERSION, "fingerprint": fingerprint, "image_size": size,
                       "backbone": backbone, "n": n, "weights": weights_id, "kid_max": KID_REAL_MAX})
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
            feats = _features(model, _uint8_to_input(images[order[pos]]), device).numpy().astype(np.float64)
            total += feats.sum(axis=0)
            outer += feats.T @ feats
            kid_parts.append(feats[kid_pos[pos]].astype(np.float32))
        mu = total / n
        sigma = (outer - n * np.outer(mu, mu)) / max(n - 1, 1)
        stats = RealStats(mu=mu, sigma=sigma, kid_feats=np.concatenate(kid_parts), n=n, backbone=backbone,
                          key=key, image_size=size, weights_id=weights_id)
        atomic_write(path, stats.save)
    return stats, path


# --------------------------------------------------------------------------------------------------
# The metric the training loop calls
# --------------------------------------------------------------------------------------------------


class FIDMetric:
    """FID (and KID) of ``samples`` generated images against cached real statistics.

    Implements :class:`trainers.metric.Metric`. ``sqrt(sigma_real)`` is computed once here, so each
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
        self._sqrt_real = _sqrtm_psd(stats.sigma)
        self._tr_real = float(np.trace(stats.sigma))
        self.kid_subsets, self.kid_subset_size = 100, 1000
        self._kid_real: _KIDSide | None = None

    def features(self, sample: Sampler) -> np.ndarray:
        """Features (samples, dim) float32 of freshly drawn generator images."""
        out, left = [], self.samples
        while left > 0:
            batch = sample(min(self.batch_size, left))
            if self.stats.image_size and batch.shape[-1] != self.stats.image_size:
                raise ValueError(f"generated images are {batch.shape[-1]} px but the real statistics are "
                                 f"{self.stats.image_size} px")
            out.append(_features(self.model, batch.detach(), self.device))
            left -= batch.shape[0]
        return torch.cat(out)[: self.samples].numpy()

    def __call__(self, sample: Sampler) -> dict[str, float]:
        with torch.no_grad():
            feats = self.features(sample)
        mu, sigma = _mean_cov(feats)
        result = {self.names[0]: _frechet_from_sqrt(self.stats.mu, self._sqrt_real, self._tr_real, mu, sigma)}
        if self.kid:
            m = min(self.kid_subset_size, len(self.stats.kid_feats), len(feats))
            if self._kid_real is None or self._kid_real.m != m:
                self._kid_real = _KIDSide(self.stats.kid_feats, m, self.kid_subsets, seed=0)
            fake = _KIDSide(feats, m, self.kid_subsets, seed=1)
            result[self.names[1]] = _kid_from_sides(self._kid_real, fake)
        return result


def build_metric(stats_path: str | os.PathLike[str], backbone: str, samples: int,
                 weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                 kid: bool = True, batch_size: int = 250) -> FIDMetric:
    """Load cached real statistics and the backbone, and return the metric a trial hands to the loop."""
    stats = load_real_stats(stats_path)
    return FIDMetric(stats, load_backbone(backbone, weights, device), samples, kid=kid,
                     batch_size=batch_size, device=device)
