"""GPU figures in one run: trainer img/s (seed-style loop vs ours), two trials sharing a GPU, FID speed,
and a short real CelebA training whose FID falls. Prints ONE markdown table.

Why one script: no GPU has run this code before, a device loan is short, and the machine has torch,
torchvision, numpy and PIL but no Ray, MLflow or optuna. Everything here imports only ``trainers`` (torch
only) and carries its own data, so it is one prepared call.

Rows (64 px, batch 128, conv_dim 64/128/256, DCGAN and WGAN-GP):
  * trainer: ``seed-style fp32`` is the loop people ran in notebooks (torchvision ImageFolder over JPEGs,
    PIL Resize/CenterCrop/ToTensor/Normalize per image, DataLoader(shuffle, workers), plain fp32 step,
    ``.item()`` of both losses every step), written out below as the baseline; ``ours`` is
    ``trainers.loop.train`` on the same JPEGs decoded once by ``trainers.data``, in fp32, bf16,
    bf16+channels_last and bf16+compile. img/s is the median over reports after two warm-up reports
    (compile time excluded); "vs base" is the ratio to the seed-style loop of the same family/conv_dim;
    peak is ``torch.cuda.max_memory_allocated`` during that run (the dataset held on the GPU included).
  * share: DCGAN conv_dim 64 bf16 in one process alone vs two processes at once on the same GPU (what
    ``gpus_per_trial: 0.5`` does), aggregate img/s.
  * fid: Inception-v3 (FID architecture, self-made random weights: speed only) and ``rand`` features of
    10k generated samples, seconds, plus one whole evaluation (generator + features + FID + KID).
  * train: DCGAN conv_dim 64 bf16 on the CelebA subset for a few epochs, FID (rand backbone) per epoch.

On the device (nothing outside it is reachable; ``../shared`` does not travel):
  1. here, once: ``python benchmarks/gpu_suite.py --make-subset benchmarks/data/celeba64_10k
     --celeba-zip ../shared/data/celeba/celeba64_30k.zip --images 10000`` (24 MB of JPEGs plus pytorch-fid's
     Inception module, into the git-ignored ``benchmarks/data/``);
  2. one device call, ``carry: ["benchmarks/data"]``, ``timeout_s: 540``::

       PYTHONUNBUFFERED=1 python3 benchmarks/gpu_suite.py --data benchmarks/data/celeba64_10k
       --out $OUT/gpu_suite.md 2>&1 | tee $OUT/gpu_suite.log

  Expected under 8 minutes on one H100/H200. ``--sections trainer,share,fid,train`` reruns a part.

CI: ``python benchmarks/gpu_suite.py --quick --device cpu --data DIR`` (tiny sizes, no compile) so the
script never rots (tests/benchmarks/test_gpu_suite.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from trainers import metrics  # noqa: E402
from trainers.config import TrainConfig  # noqa: E402
from trainers.data import DataConfig, prepare  # noqa: E402
from trainers.loop import resolve_device, train  # noqa: E402
from trainers.models import build_discriminator, build_generator  # noqa: E402
from trainers.pixels import quantize  # noqa: E402

IMAGES = "images/celeba64"  # ImageFolder(DIR/images) wants one sub-folder per class
PYLIB = "pylib"  # pytorch-fid's Inception module travels here (the device image lacks pytorch-fid)
FAMILIES = ("dcgan", "wgan_gp")
VARIANTS: dict[str, dict[str, Any]] = {
    "ours fp32": {},
    "ours bf16": {"precision": "bf16"},
    "ours bf16+channels_last": {"precision": "bf16", "channels_last": True},
    "ours bf16+compile": {"precision": "bf16", "compile": True},
}
COLUMNS = ("section", "config", "variant", "value", "unit", "vs base", "peak MiB")


@dataclass(frozen=True)
class Sizes:
    image_size: int
    batch: int
    conv_dims: tuple[int, ...]
    variants: tuple[str, ...]
    report_steps: int  # training steps between reports (one img/s sample each)
    reports: int  # reports per run, the first two are warm-up
    seed_steps: int  # seed-style steps timed (after 5 warm-up steps)
    share_reports: int
    fid_real: int  # real images behind the FID rows' statistics
    fid_samples: int
    rand_samples: int
    train_epochs: int
    train_fid_samples: int
    seed_workers: int
    inception_eval: bool = True  # a whole Inception evaluation (minutes on a CPU: 2048-d eigensolves)


FULL = Sizes(64, 128, (64, 128, 256), tuple(VARIANTS), 20, 7, 60, 25, 2000, 10_000, 10_000, 8, 5000, 6)
# CPU: torch.compile would spend minutes in the C++ compiler of a 2-core box, so quick mode skips it
QUICK = Sizes(32, 16, (8,), tuple(v for v in VARIANTS if "compile" not in v),
              2, 4, 4, 4, 16, 8, 128, 3, 64, 0, inception_eval=False)


# --------------------------------------------------------------------------------------------- data


def make_subset(dest: Path, celeba_zip: Path, images: int) -> int:
    """The first ``images`` JPEGs (sorted) of the zip into ``dest/images/celeba64/``, plus pytorch-fid's
    Inception module (pure Python) into ``dest/pylib/``."""
    out = dest / IMAGES
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(celeba_zip) as zf:
        names = sorted(m for m in zf.namelist() if m.lower().endswith(".jpg"))[:images]
        for name in names:
            (out / Path(name).name).write_bytes(zf.read(name))
    try:
        import pytorch_fid

        lib = dest / PYLIB / "pytorch_fid"
        lib.mkdir(parents=True, exist_ok=True)
        src = Path(pytorch_fid.__file__).parent
        (lib / "__init__.py").write_text(f"__version__ = {pytorch_fid.__version__!r}\n")
        shutil.copy(src / "inception.py", lib / "inception.py")
    except ImportError:
        print("pytorch-fid not installed here: the Inception rows will use torchvision's blocks")
    return len(names)


def load_images(data_dir: Path, size: int, batch: int, cache: Path) -> np.ndarray:
    """The subset through ``trainers.data`` (decoded once), cut to a multiple of ``batch`` so every step has
    the same shape (a short last batch would make torch.compile recompile inside the timed reports)."""
    folder = data_dir / IMAGES
    n = sum(1 for p in folder.iterdir() if p.suffix.lower() == ".jpg")
    keep = max(batch, n // batch * batch)
    prepared = prepare(DataConfig("folder", str(folder), image_size=size, limit=keep if keep < n else None),
                       cache_dir=cache, progress=False)
    return prepared.load(mmap=False)


# --------------------------------------------------------------------------------------------- trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def seed_style(folder: Path, cfg: TrainConfig, device: torch.device, steps: int, workers: int) -> float:
    """The notebooks' loop (fp32, per-image PIL, DataLoader, .item() every step); img/s over ``steps``."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([
        transforms.Resize(cfg.image_size),
        transforms.CenterCrop(cfg.image_size),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    loader = DataLoader(datasets.ImageFolder(str(folder), transform=tf), batch_size=cfg.batch_size,
                        shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    torch.manual_seed(cfg.seed)
    g, d = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    wgan = cfg.family == "wgan_gp"
    betas = (0.0, 0.9) if wgan else (0.5, 0.999)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=betas)
    bce = nn.BCEWithLogitsLoss()

    def step(i: int, real: torch.Tensor) -> None:
        real = real.to(device)
        b = real.size(0)
        fake = g(torch.randn(b, cfg.z_dim, device=device))
        d.zero_grad()
        if wgan:  # the usual notebook WGAN-GP: penalty on random interpolates, G every n_critic steps
            eps = torch.rand(b, 1, 1, 1, device=device)
            mix = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            grad = torch.autograd.grad(d(mix).sum(), mix, create_graph=True)[0]
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            d_loss = d(fake.detach()).mean() - d(real).mean() + cfg.knobs.gp_lambda * gp
        else:
            d_loss = bce(d(real).view(-1), torch.ones(b, device=device)) + bce(
                d(fake.detach()).view(-1), torch.zeros(b, device=device))
        d_loss.backward()
        opt_d.step()
        if wgan and (i + 1) % cfg.knobs.n_critic:
            d_loss.item()
            return
        g.zero_grad()
        out = d(fake).view(-1)
        g_loss = -out.mean() if wgan else bce(out, torch.ones(b, device=device))
        g_loss.backward()
        opt_g.step()
        d_loss.item(), g_loss.item()  # the notebooks print losses every step

    warmup, i, seen, start = 5, 0, 0, 0.0
    while i < warmup + steps:
        for real, _ in loader:
            if i == warmup:
                _sync(device)
                start = time.perf_counter()
            step(i, real)
            seen += real.size(0) if i >= warmup else 0
            i += 1
            if i >= warmup + steps:
                break
    _sync(device)
    # img/s through G, the unit trainers.loop reports (a step of ours is n_critic critic steps + one G
    # step); counting the critic's batches here made WGAN-GP look 0.3x slower than it is
    return seen / (cfg.knobs.n_critic if wgan else 1) / (time.perf_counter() - start)


def ours(data: np.ndarray, cfg: TrainConfig, reports: int, report_steps: int) -> float:
    """``trainers.loop.train``: median img/s of its reports after two warm-up reports."""
    every = report_steps * cfg.batch_size
    epochs = max(1, math.ceil(reports * every / len(data)))
    cfg = cfg.with_values(epochs=epochs, report_every_images=every, grid_size=0)
    rates: list[float] = []
    train(cfg, data, None, lambda rep: rates.append(rep.img_per_s))
    return statistics.median(rates[2:reports] or rates[-1:])


def trainer_rows(args: argparse.Namespace, sz: Sizes, data: np.ndarray, device: torch.device) -> list[tuple]:
    rows: list[tuple] = []
    folder = args.data / IMAGES.split("/")[0]
    for family in FAMILIES:
        for cd in sz.conv_dims:
            base_cfg = TrainConfig(family=family, image_size=sz.image_size, conv_dim=cd, batch_size=sz.batch,
                                   device=str(device))
            config = f"{family} cd{cd} b{sz.batch} {sz.image_size}px"
            _reset_peak(device)
            base = seed_style(folder, base_cfg, device, sz.seed_steps, sz.seed_workers)
            rows.append(("trainer", config, f"seed-style fp32 (workers={sz.seed_workers})", base, "img/s",
                         1.0, _peak_mib(device)))
            for variant in sz.variants:
                _reset_peak(device)
                rate = ours(data, base_cfg.with_values(**VARIANTS[variant]), sz.reports, sz.report_steps)
                rows.append(("trainer", config, variant, rate, "img/s", rate / base, _peak_mib(device)))
            print(f"  done {config}", file=sys.stderr)
    return rows


# --------------------------------------------------------------------------------------------- sharing


def child(spec: dict[str, Any]) -> None:
    """One trainer process of the sharing test: wait at a file barrier so both train at once, print img/s."""
    torch.set_num_threads(spec["threads"])
    data = np.load(spec["array"], mmap_mode="r")
    cfg = TrainConfig.from_dict(spec["cfg"])
    torch.zeros(1, device=resolve_device(cfg.device))  # CUDA context before the barrier
    barrier = Path(spec["barrier"])
    (barrier / f"ready-{os.getpid()}").touch()
    while len(list(barrier.glob("ready-*"))) < spec["parties"]:
        time.sleep(0.01)
    print(json.dumps({"img_s": ours(data, cfg, spec["reports"], spec["report_steps"])}))


def share_rows(sz: Sizes, data: np.ndarray, device: torch.device, tmp: Path) -> list[tuple]:
    array = tmp / "share.npy"
    np.save(array, np.ascontiguousarray(data))
    cfg = TrainConfig(image_size=sz.image_size, conv_dim=sz.conv_dims[0], batch_size=sz.batch,
                      precision="bf16", device=str(device))
    results = {}
    for parties in (1, 2):
        barrier = tmp / f"barrier{parties}"
        barrier.mkdir()
        spec = {"array": str(array), "cfg": cfg.to_dict(), "barrier": str(barrier), "parties": parties,
                "reports": sz.share_reports, "report_steps": sz.report_steps,
                "threads": torch.get_num_threads()}
        procs = [subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(parties)]
        outs = [p.communicate(timeout=600)[0] for p in procs]
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a sharing child failed: {outs}")
        results[parties] = sum(json.loads(o.strip().splitlines()[-1])["img_s"] for o in outs)
    config = f"dcgan cd{cfg.conv_dim} b{sz.batch} bf16"
    return [("share", config, "1 process", results[1], "img/s", 1.0, None),
            ("share", config, "2 processes, aggregate", results[2], "img/s", results[2] / results[1], None)]


# --------------------------------------------------------------------------------------------- FID


def random_inception(device: torch.device, pylib: Path) -> tuple[nn.Module, str]:
    """The FID Inception architecture with its default random init (speed only, no weights file)."""
    try:
        net, label = metrics.fid_inception_net(), "inception (FID blocks, random weights)"
    except ImportError:
        sys.path.insert(0, str(pylib))
        try:
            net, label = metrics.fid_inception_net(), "inception (FID blocks, random weights)"
        except ImportError:
            import torchvision

            net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None)
            label = "inception (torchvision blocks, random weights)"
    return metrics.InceptionBackbone(net, weights_id="random-speed-only").to(device), label


def generator_sampler(cfg: TrainConfig, device: torch.device) -> Callable[[int], torch.Tensor]:
    """A fresh generator sampled as the loop does (eval, autocast, quantised to 256 levels)."""
    torch.manual_seed(0)
    g = build_generator(cfg).to(device).eval()
    dtype = torch.bfloat16 if cfg.precision == "bf16" else None

    @torch.no_grad()
    def sample(k: int) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            x = g(torch.randn(k, cfg.z_dim, device=device)).float()
        return quantize(x)

    return sample


def _features_s(model: nn.Module, sample: Callable[[int], torch.Tensor], n: int, device: torch.device,
                batch: int = 250) -> float:
    """Seconds to draw ``n`` samples and extract their features in batches, as FIDMetric.features does."""
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, batch):
            model(sample(min(batch, n - start))).float().cpu()
    _sync(device)
    return time.perf_counter() - t0


def fid_rows(sz: Sizes, data: np.ndarray, device: torch.device, pylib: Path) -> list[tuple]:
    """Feature seconds for Inception and rand on ``n`` generated samples; a whole evaluation (FIDMetric:
    generator + features + FID + KID) for rand always and for Inception at full size only (on a CPU its
    2048-d eigensolves and 299 px forward passes take minutes)."""
    cfg = TrainConfig(image_size=sz.image_size, conv_dim=sz.conv_dims[0], precision="bf16",
                      device=str(device))
    sample = generator_sampler(cfg, device)
    rows: list[tuple] = []
    inception, label = random_inception(device, pylib)
    rand = metrics.load_backbone("rand", device=str(device))
    for name, model, n in ((label, inception, sz.fid_samples), ("rand", rand, sz.rand_samples)):
        config = f"{name}, {sz.image_size}px"
        _features_s(model, sample, min(n, 500), device)  # warm-up (cuDNN autotune, lazy init)
        _reset_peak(device)
        secs = _features_s(model, sample, n, device)
        rows.append(("fid", config, f"features of {n} generated", secs, "s", None, _peak_mib(device)))
        if model is inception and not sz.inception_eval:
            continue
        feats = metrics.extract_features(model, data[: sz.fid_real], device=str(device))
        stats = metrics.RealStats(mu=feats.mean(axis=0).astype(np.float64), sigma=np.cov(feats, rowvar=False),
                                  kid_feats=feats, n=len(feats), backbone=model.name, key="gpu-suite",
                                  image_size=sz.image_size, weights_id=model.weights_id)
        metric = metrics.FIDMetric(stats, model, n, kid=True, device=str(device))
        t0 = time.perf_counter()
        values = metric(sample)
        _sync(device)
        if not all(math.isfinite(v) for v in values.values()):
            raise RuntimeError(f"{config}: non-finite metric values {values}")
        rows.append(("fid", config, f"evaluation of {n} (G + features + FID + KID)", time.perf_counter() - t0,
                     "s", None, None))
    return rows


# --------------------------------------------------------------------------------------------- training


def train_rows(sz: Sizes, data: np.ndarray, device: torch.device, cache: Path) -> list[tuple]:
    """DCGAN cd64 bf16 for a few epochs on the subset; FID (rand) after every epoch should fall."""
    stats, _ = metrics.real_stats(data, f"gpu-suite-{len(data)}", "rand", len(data), device=str(device),
                                  cache_dir=cache, progress=False)
    metric = metrics.FIDMetric(stats, metrics.load_backbone("rand", device=str(device)), sz.train_fid_samples,
                               kid=False, device=str(device))
    cfg = TrainConfig(image_size=sz.image_size, conv_dim=sz.conv_dims[0], batch_size=sz.batch,
                      precision="bf16", epochs=sz.train_epochs, grid_size=0, device=str(device))
    fids: list[float] = []
    train(cfg, data, metric, lambda rep: fids.append(next(v for k, v in rep.metrics.items() if "fid" in k)))
    config = f"celeba {len(data)} imgs, dcgan cd{cfg.conv_dim} b{sz.batch} bf16"
    return [("train", config, f"fid_rand epoch {i + 1} ({sz.train_fid_samples} samples)", f, "fid",
             f / fids[0], None) for i, f in enumerate(fids)]


# --------------------------------------------------------------------------------------------- table


def _cell(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if unit == "x":
            return f"{value:.2f}x"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def markdown(rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for section, config, variant, value, unit, ratio, peak in rows:
        lines.append(f"| {section} | {config} | {variant} | {_cell(value)} | {unit} | {_cell(ratio, 'x')} "
                     f"| {_cell(peak)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a folder made by --make-subset")
    ap.add_argument("--make-subset", type=Path, metavar="DIR", help="copy a CelebA subset into DIR and exit")
    ap.add_argument("--celeba-zip", type=Path, help="celeba64_30k.zip (for --make-subset)")
    ap.add_argument("--images", type=int, default=10_000, help="images in the subset (--make-subset)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, no compile (CI)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 with --quick, as a "
                    "shared CI box oversubscribed by 2 threads per process runs ~30x slower)")
    ap.add_argument("--sections", default="trainer,share,fid,train")
    ap.add_argument("--out", type=Path, help="also write the table here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.make_subset:
        if args.celeba_zip is None or not args.celeba_zip.is_file():
            ap.error(f"--celeba-zip: not a file: {args.celeba_zip}")
        n = make_subset(args.make_subset, args.celeba_zip, args.images)
        print(f"{args.make_subset}: {n} images")
        return 0
    if args.data is None or not (args.data / IMAGES).is_dir():
        ap.error(f"--data: {args.data} holds no {IMAGES}/ folder (make one with --make-subset)")
    sz = QUICK if args.quick else FULL
    if args.threads or args.quick:
        torch.set_num_threads(args.threads or 1)
    sections = set(args.sections.split(","))
    device = resolve_device(args.device)
    if device.type == "cpu":
        sz = replace(sz, variants=tuple(v for v in sz.variants if "compile" not in v))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    print(f"gpu_suite: {name}, torch {torch.__version__}, {'quick' if args.quick else 'full'} sizes",
          file=sys.stderr)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_suite_") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["GANSWEEP_CACHE_DIR"] = str(tmp / "cache")
        data = load_images(args.data, sz.image_size, sz.batch, tmp / "cache")
        rows: list[tuple] = []
        steps: dict[str, Callable[[], list[tuple]]] = {
            "trainer": lambda: trainer_rows(args, sz, data, device),
            "share": lambda: share_rows(sz, data, device, tmp),
            "fid": lambda: fid_rows(sz, data, device, args.data / PYLIB),
            "train": lambda: train_rows(sz, data, device, tmp / "cache"),
        }
        for section, run in steps.items():
            if section in sections:
                t = time.perf_counter()
                rows += run()
                print(f"{section}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    table = markdown(rows)
    header = (f"gpu_suite on {name}, torch {torch.__version__}, {len(data)} CelebA images "
              f"{sz.image_size}px, {time.perf_counter() - t0:.0f} s")
    print(header)
    print(table)
    if args.out:
        args.out.write_text(header + "\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
