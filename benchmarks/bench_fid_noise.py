"""Per-epoch FID noise on real CelebA, before and after the BatchNorm fix (issue 15).

One DCGAN run (EMA on) on CelebA at 32 px; after every epoch the SAME weights are measured four
ways with the offline ``rand`` backbone and a fixed set of generated samples:

* ``G stale``   live G in eval mode with its momentum running statistics (the old evaluation),
* ``G recal``   live G, BatchNorm statistics recomputed on fresh noise (``recalibrate_batchnorm``),
* ``EMA stale`` EMA weights with the live G's running statistics (the old EMA: buffers copied),
* ``EMA recal`` EMA weights, statistics recomputed for them (what the loop evaluates now).

Noise = standard deviation of the epoch-to-epoch ratio fid[e+1] / fid[e] (a ratio of 1 +- 0.5 makes
an ASHA rung decision a coin toss); also its geometric spread exp(std(log ratio)).

    python benchmarks/bench_fid_noise.py --celeba-dir /path/to/celeba   # holds celeba64_30k.zip
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.config import TrainConfig  # noqa: E402
from trainers.data import DataConfig, prepare  # noqa: E402
from trainers.loop import train  # noqa: E402
from trainers.metrics import extract_features, load_backbone  # noqa: E402
from trainers.metrics.backbones import features  # noqa: E402
from trainers.metrics.frechet import frechet_distance, mean_cov  # noqa: E402
from trainers.models import build_generator, recalibrate_batchnorm  # noqa: E402
from trainers.pixels import quantize  # noqa: E402
from trainers.results import EpochReport  # noqa: E402

VARIANTS = ("G stale", "G recal", "EMA stale", "EMA recal")


def _is_stat(key: str) -> bool:
    return "running_" in key or "num_batches_tracked" in key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--celeba-dir", type=Path, required=True, help="folder holding celeba64_30k.zip")
    ap.add_argument("--limit", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--conv-dim", type=int, default=32)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    prepared = prepare(
        DataConfig("zip", path=str(args.celeba_dir / "celeba64_30k.zip"), image_size=32, limit=args.limit),
        progress=False,
    )
    data = prepared.load(mmap=False)
    backbone = load_backbone("rand")
    mu_r, sig_r = mean_cov(extract_features(backbone, data))
    print(f"{len(data)} CelebA images at 32 px, real stats in {time.perf_counter() - t0:.0f} s", flush=True)

    cfg = TrainConfig(
        image_size=32,
        conv_dim=args.conv_dim,
        epochs=args.epochs,
        batch_size=64,
        ema=True,
        grid_size=0,
        seed=args.seed,
        device="cpu",
    )
    z = torch.randn(args.samples, cfg.z_dim, generator=torch.Generator().manual_seed(1234))
    curves: dict[str, list[float]] = {v: [] for v in VARIANTS}

    def fid(g: torch.nn.Module) -> float:
        with torch.no_grad():
            feats = torch.cat([features(backbone, quantize(g(zb)), "cpu") for zb in z.split(500)]).numpy()
        mu, sig = mean_cov(feats)
        return frechet_distance(mu_r, sig_r, mu, sig)

    def measure(state: dict, ema_state: dict) -> dict[str, float]:
        gen = torch.Generator().manual_seed(99)
        noise = lambda: torch.randn(256, cfg.z_dim, generator=gen)  # noqa: E731
        out = {}
        g = build_generator(cfg)
        stale_ema = {k: (state[k] if _is_stat(k) else v) for k, v in ema_state.items()}
        for name, weights, recal in (
            ("G stale", state, False),
            ("G recal", state, True),
            ("EMA stale", stale_ema, False),
            ("EMA recal", ema_state, False),
        ):
            g.load_state_dict(weights)
            if recal:
                recalibrate_batchnorm(g, noise, 4)
            out[name] = fid(g.eval())
        return out

    def report(r: EpochReport) -> None:
        state = r.resume_state()
        # generator_state(): the EMA weights with statistics the loop recomputed for them
        scores = measure(state["G"], r.generator_state())
        for k, v in scores.items():
            curves[k].append(v)
        print(
            f"epoch {r.epoch:.0f} ({r.epoch_s:.0f} s): "
            + "  ".join(f"{k} {v:.4f}" for k, v in scores.items()),
            flush=True,
        )

    train(cfg, data, None, report)
    print(
        f"\nfid2k_rand noise over {args.epochs} epochs ({args.limit} CelebA images, conv_dim {args.conv_dim},"
        f" seed {args.seed}), wall {time.perf_counter() - t0:.0f} s"
    )
    print("| evaluation | final fid | best fid | std(fid[e+1]/fid[e]) | exp(std(log ratio)) |")
    print("|---|---|---|---|---|")
    for name, c in curves.items():
        ratio = np.array(c[1:]) / np.array(c[:-1])
        print(
            f"| {name} | {c[-1]:.4f} | {min(c):.4f} | {ratio.std(ddof=1):.3f} | "
            f"{np.exp(np.log(ratio).std(ddof=1)):.3f} |"
        )


if __name__ == "__main__":
    main()
