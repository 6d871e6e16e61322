"""Training throughput: the seed notebooks' loop vs ``trainers.loop.train``, side by side in one process.

(a) seed-style: torchvision ``ImageFolder`` over JPEGs on disk, PIL ``Resize/ToTensor/Normalize``
    per image, ``DataLoader(shuffle=True)``, a plain fp32 DCGAN step (the PyTorch DCGAN tutorial's).
(b) ours: ``trainers.data`` decodes the same zip once into a cached uint8 array (its one-time cost
    is printed apart), then ``trainers.loop.train`` with the same G/D, batch size and device.

Both are timed over whole epochs, wall clock, model construction excluded for (a) and included
for (b) (it is inside ``train``, together with the per-epoch grid, EMA and BatchNorm
recalibration). Every variant of (b) (``--variants fp32,bf16,fp16,bf16+cl``) is printed against
both references side by side: the seed-style fp32 loop and our own fp32. Usage::

    python benchmarks/bench_trainer.py --celeba-dir /path/to/celeba --images 1024
    python benchmarks/bench_trainer.py --celeba-dir ... --image-size 32 --conv-dim 32 --variants bf16,fp16
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.config import TrainConfig  # noqa: E402
from trainers.data import DataConfig, prepare  # noqa: E402
from trainers.loop import resolve_device, train  # noqa: E402
from trainers.models import build_discriminator, build_generator  # noqa: E402

ZIP_NAME = "celeba64_30k.zip"


def unpack(zip_path: Path, dest: Path, n: int) -> int:
    """The first ``n`` JPEGs of the zip into ``dest/celeba64/`` (one ImageFolder class)."""
    out = dest / "celeba64"
    out.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(m for m in zf.namelist() if m.lower().endswith(".jpg"))[:n]
        for name in names:
            (out / Path(name).name).write_bytes(zf.read(name))
    return len(names)


def seed_style(folder: Path, cfg: TrainConfig, device: torch.device, workers: int) -> float:
    """The notebooks' loop; returns images per second over cfg.epochs epochs (data loading included)."""
    tf = transforms.Compose(
        [
            transforms.Resize(cfg.image_size),
            transforms.CenterCrop(cfg.image_size),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )
    loader = DataLoader(
        datasets.ImageFolder(str(folder), transform=tf),
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=workers,
    )
    torch.manual_seed(cfg.seed)
    g, d = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    seen = 0
    start = time.perf_counter()
    for _ in range(cfg.epochs):
        for real, _ in loader:
            real = real.to(device)
            b = real.size(0)
            ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
            fake = g(torch.randn(b, cfg.z_dim, device=device))
            d.zero_grad()
            d_loss = bce(d(real), ones) + bce(d(fake.detach()), zeros)
            d_loss.backward()
            opt_d.step()
            g.zero_grad()
            g_loss = bce(d(fake), ones)
            g_loss.backward()
            opt_g.step()
            d_loss.item(), g_loss.item()  # the notebooks log losses every step
            seen += b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def ours(data, cfg: TrainConfig) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """trainers.loop.train; returns (wall-clock img/s incl. setup and reports, the loop's own img/s)."""
    start = time.perf_counter()
    history = train(cfg, data, None, lambda r: None)
    images = history[-1]["images_seen"]
    wall = images / (time.perf_counter() - start)
    inner = images / sum(h["epoch_s"] for h in history)
    return wall, inner


def _variant(cfg: TrainConfig, name: str) -> TrainConfig:
    """``fp32`` / ``bf16`` / ``fp16``, with ``+cl`` for channels_last (e.g. ``bf16+cl``)."""
    precision, _, extra = name.partition("+")
    if precision not in ("fp32", "bf16", "fp16") or extra not in ("", "cl"):
        raise ValueError(f"bad variant {name!r} (expected fp32|bf16|fp16, optionally +cl)")
    return cfg.with_values(precision=precision, channels_last=extra == "cl")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--celeba-dir", required=True, type=Path, help=f"folder holding {ZIP_NAME}")
    ap.add_argument("--image-size", type=int, default=64, choices=(32, 64))
    ap.add_argument("--conv-dim", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the seed-style loop")
    ap.add_argument(
        "--variants",
        default="fp32,bf16",
        help="ours, comma-separated: fp32|bf16|fp16 with optional +cl (channels_last)",
    )
    ap.add_argument(
        "--repeats", type=int, default=1, help="alternate all loops this many times, keep the best"
    )
    args = ap.parse_args(argv)

    zip_path = args.celeba_dir / ZIP_NAME
    if not zip_path.exists():
        ap.error(f"{zip_path} not found")
    device = resolve_device(args.device)
    cfg = TrainConfig(
        image_size=args.image_size,
        conv_dim=args.conv_dim,
        batch_size=args.batch_size,
        epochs=args.epochs,
        device=str(device),
    )
    try:
        variants = {name: _variant(cfg, name) for name in ["fp32", *args.variants.split(",")]}
    except ValueError as err:
        ap.error(str(err))
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, {args.images} images "
        f"{args.image_size}px, conv_dim {args.conv_dim}, batch {args.batch_size}, {args.epochs} epoch(s); "
        f"ours with its defaults (EMA on, BatchNorm recalibrated at each report)"
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench_trainer_"))
    try:
        n = unpack(zip_path, tmp / "images", args.images)
        t = time.perf_counter()
        data_cfg = DataConfig("zip", path=str(zip_path), image_size=args.image_size, limit=args.images)
        prepared = prepare(data_cfg, cache_dir=tmp / "cache", progress=False)
        data = prepared.load(mmap=True)
        prep_s = time.perf_counter() - t
        print(f"trainers.data one-time decode of {prepared.count} images: {prep_s:.1f} s (cached afterwards)")
        base = 0.0
        best: dict[str, tuple[float, float]] = {name: (0.0, 0.0) for name in variants}
        for _ in range(args.repeats):
            base = max(
                base, seed_style(tmp / "images", cfg.with_values(precision="fp32"), device, args.workers)
            )
            for name, vcfg in variants.items():
                wall, inner = ours(data, vcfg)
                best[name] = (max(best[name][0], wall), max(best[name][1], inner))
        # every variant against BOTH references: the seed-style loop and our own fp32 (issue 15: a
        # "bf16 1.93x" against fp32 alone hid how much of it was the loop and how much the precision)
        print("\n| loop | img/s wall | loop's own img/s | vs seed-style fp32 | vs ours fp32 |")
        print("|---|---|---|---|---|")
        print(
            f"| (a) seed-style ImageFolder+DataLoader fp32 ({n} jpgs, workers={args.workers}) | {base:.1f} | "
            f"- | 1.00x | {base / best['fp32'][0]:.2f}x |"
        )
        for name, (wall, inner) in best.items():
            print(
                f"| (b) trainers.loop.train {name} | {wall:.1f} | {inner:.1f} | {wall / base:.2f}x | "
                f"{wall / best['fp32'][0]:.2f}x |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
