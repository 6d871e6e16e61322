"""How fast is the FID metric? Feature throughput and seconds per evaluation.

Prints images/s of feature extraction for the ``rand`` backbone on the CPU at 32 and 64 px, the seconds
one evaluation takes at the demo size (1000 generated 32x32 images, FID + KID) and at 10k, and, when
``--inception-weights`` is given, the same for Inception (on CUDA when available). The generator is
replaced by slices of a precomputed tensor so only the metric is timed; real statistics are computed
once beforehand (as the sweep driver does) and not counted.

    python benchmarks/bench_fid.py                       # rand, CPU
    python benchmarks/bench_fid.py --threads 1           # what a 1-CPU Ray trial gets
    python benchmarks/bench_fid.py --inception-weights PATH/pt_inception-2015-12-05-6726825d.pth
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from trainers import metrics as fid
from trainers.loop import resolve_device
from trainers.pixels import to_float


def _images(n: int, size: int) -> np.ndarray:
    """Face-like test images (trainers.data's synthetic source when present, else noise)."""
    try:
        from trainers.data import synthetic_faces

        return synthetic_faces(n, size, 0)
    except ImportError:
        return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _sampler(images: np.ndarray, device: str) -> Callable[[int], torch.Tensor]:
    """A stand-in generator: cycles through precomputed [-1, 1] NCHW images already on ``device``."""
    data = to_float(images).to(device)
    pos = [0]

    def sample(n: int) -> torch.Tensor:
        idx = (torch.arange(n, device=device) + pos[0]) % len(data)
        pos[0] += n
        return data[idx]

    return sample


def throughput(model: torch.nn.Module, size: int, n: int, device: str, repeats: int, batch: int = 250
               ) -> float:
    x = torch.rand(n, 3, size, size, device=device) * 2 - 1

    def run() -> None:
        with torch.no_grad():
            for i in range(0, n, batch):
                model(x[i : i + batch])
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return n / _timed(run, repeats)


def evaluation(backbone: str, samples: int, size: int, device: str, repeats: int, weights: str | None,
               cache_dir: str) -> float:
    real = _images(max(samples, 2000), size)
    stats, _ = fid.real_stats(real, f"bench-{size}-{len(real)}", backbone, samples, weights=weights,
                              device=device, cache_dir=cache_dir, progress=False)
    metric = fid.FIDMetric(stats, fid.load_backbone(backbone, weights, device), samples, kid=True,
                           device=device)
    sample = _sampler(_images(2000, size)[::-1].copy(), device)
    return _timed(lambda: metric(sample), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inception-weights", default=None, help=f"path to {fid.INCEPTION_FILE}")
    parser.add_argument("--skip-10k", action="store_true", help="skip the 10k-sample evaluations")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, "
          f"CUDA {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}")
    with tempfile.TemporaryDirectory() as cache:
        rand = fid.load_backbone("rand")
        for size in (32, 64):
            ips = throughput(rand, size, 2000, "cpu", args.repeats)
            print(f"rand features, CPU, {size}px: {ips:,.0f} images/s")
        demo = evaluation("rand", 1000, 32, "cpu", args.repeats, None, cache)
        print(f"rand evaluation, CPU, 1000 samples 32px (FID+KID): {demo:.3f} s")
        if not args.skip_10k:
            big = evaluation("rand", 10000, 32, "cpu", max(1, args.repeats // 2), None, cache)
            print(f"rand evaluation, CPU, 10000 samples 32px (FID+KID): {big:.3f} s")
        if args.inception_weights:
            device = str(resolve_device("auto"))
            inc = fid.load_backbone("inception", args.inception_weights, device)
            for size in (32, 64):
                n = 2000 if device == "cuda" else 100
                ips = throughput(inc, size, n, device, max(1, args.repeats // 2), batch=100)
                print(f"inception features, {device}, {size}px: {ips:,.0f} images/s")
            if device == "cuda":
                for samples in (1000,) if args.skip_10k else (1000, 10000):
                    secs = evaluation("inception", samples, 64, device, 2, args.inception_weights, cache)
                    print(f"inception evaluation, {device}, {samples} samples 64px (FID+KID): {secs:.3f} s")
            else:
                print("inception evaluations skipped: no GPU (CPU Inception takes minutes per 10k)")


if __name__ == "__main__":
    main()
