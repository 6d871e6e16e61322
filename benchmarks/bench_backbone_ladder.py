"""Disturbance ladder of the offline backbones on real CelebA: FID ratio to the real-vs-real floor.

Two disjoint sets of real faces A and B (``--count`` each) from the shared 64 px zip; every rung disturbs B
and scores it against A. A ratio of 1 means "as close as another sample of real faces". Also scores the
cartoon synthetic faces (trainers.data.synthetic_faces). Structural rungs (upside_down, halves_swapped,
quadrant_shuffle) should sit far above the small colour rungs (colour_cast 0.02-0.05, saturation 0.2).

    python benchmarks/bench_backbone_ladder.py --celeba-dir D [--count 1000] [--size 64 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trainers import metrics
from trainers.metrics.ladder import LADDER, ladder


def load_faces(celeba_dir: Path, count: int, size: int) -> np.ndarray:
    """The first ``count`` faces of celeba64_30k.zip (sorted names), resized bicubically if size != 64."""
    with zipfile.ZipFile(celeba_dir / "celeba64_30k.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".jpg"))[:count]
        imgs = [Image.open(io.BytesIO(z.read(n))).convert("RGB") for n in names]
    if size != 64:
        imgs = [i.resize((size, size), Image.BICUBIC) for i in imgs]
    return np.stack([np.asarray(i) for i in imgs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--celeba-dir", type=Path, required=True, help="folder holding celeba64_30k.zip")
    parser.add_argument("--count", type=int, default=1000, help="faces per set (A and B)")
    parser.add_argument("--size", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--backbone", nargs="+", default=[b for b in metrics.BACKBONES if b != "inception"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from trainers.data import synthetic_faces

    for size in args.size:
        faces = load_faces(args.celeba_dir, 2 * args.count, size)
        extra = {"synthetic_faces": synthetic_faces(args.count, size, 0)}
        results = {}
        for backbone in args.backbone:
            t0 = time.perf_counter()
            floor, ratios = ladder(backbone, faces[: args.count], faces[args.count :], extra=extra)
            results[backbone] = (floor, ratios)
            print(f"# {backbone} {size}px: floor FID {floor:.4g}, {time.perf_counter() - t0:.0f} s")
        print(f"\n{size} px, {args.count} vs {args.count} CelebA faces; FID / real-vs-real floor\n")
        print("| disturbance | strength | " + " | ".join(args.backbone) + " |")
        print("|---|---|" + "---|" * len(args.backbone))
        rows = [(name, s, i) for name, (_, strengths) in LADDER.items() for i, s in enumerate(strengths)]
        rows += [(name, "", 0) for name in extra]
        for name, strength, i in rows:
            cells = " | ".join(f"{results[b][1][name][i]:.1f}" for b in args.backbone)
            print(f"| {name} | {strength} | {cells} |")
        print()


if __name__ == "__main__":
    main()
