"""Are the sweep's stopping decisions trustworthy? Record real learning curves once, replay the schedulers.

``record``: trains a small real-CelebA sweep to the end with no scheduler (32 px from the shared
64 px zip; ``--space celeba32``: conv_dim {16, 32} x lr loguniform [3e-5, 2e-3] x {adam, rmsprop};
``--space batch``: batch size {32, 64, 128} x lr x optimizer; ``--space families``: DCGAN vs
WGAN-GP x lr x optimizer), and stores every trial's per-epoch
metric and its bootstrap noise estimate as JSON (numbers only, no images; committed under
``benchmarks/results/``). Per epoch two independent evaluations
of the evaluated generator (EMA by default) are kept: ``signal`` (what a sweep sees, e.g.
``fid2k_rand``) and ``judge`` (a second, larger draw with other noise: what the end-of-sweep
re-measurement would report). Trials run directly through ``trainers`` (no Ray), a few processes
with one thread each.

``replay``: drives Ray Tune's own scheduler objects (ASHA, HyperBand with ``stop_last_trials``,
FIFO) over those curves in many random arrival orders and slot counts, and prints per policy the
compute and trial-epochs used, the wall-clock against the full grid on the same slots, the regret
and how often the result is within 5% of the full grid's (``--markdown``: the README's table).
See ``benchmarks/asha_replay.py`` for how a policy is simulated and judged.

Usage::

    python benchmarks/bench_asha.py record --celeba-zip ../shared/data/celeba/celeba64_30k.zip \
        --out benchmarks/results/celeba32_curves.json
    python benchmarks/bench_asha.py replay benchmarks/results/celeba32_curves.json --orders 200
    python benchmarks/bench_asha.py record --space batch --celeba-zip Z --limit 4000 --trials 9 \
        --epochs 6 --judge-samples 3000 --out benchmarks/results/celeba32_batch_curves.json
    python benchmarks/bench_asha.py replay benchmarks/results/celeba32_batch_curves.json --markdown
    python benchmarks/bench_asha.py replay benchmarks/results/*_curves.json --targets
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EMA_KIMG = 10.0  # the trainer's default EMA half-life (thousands of images), used if it is not yet a field


def _configs(n: int, seed: int, space: str = "celeba32") -> list[dict[str, Any]]:
    """n configs of ``space``, lr log-uniform from ``seed``, the grid values balanced (cycled).

    ``celeba32`` (curves A and B): conv_dim {16, 32} x {adam, rmsprop}, lr in [3e-5, 2e-3].
    ``batch``: batch size searched, {32, 64, 128} x {adam, rmsprop}, conv_dim 32, lr in [5e-5, 2e-3]:
    an epoch is the same images whatever the batch, so rungs count comparable work (images through
    G), while an epoch's seconds differ (small batches take more steps).
    ``families``: DCGAN vs WGAN-GP (n_critic 5) x {adam, rmsprop}, conv_dim 32, lr in [5e-5, 2e-3]:
    an epoch is the same images through G for both (a WGAN-GP epoch also runs 5 critic batches per
    generator batch), so a rung compares the generators at equal generator work.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if space == "families":
            lr = float(math.exp(rng.uniform(math.log(5e-5), math.log(2e-3))))
            out.append({"conv_dim": 32, "family": ("dcgan", "wgan_gp")[i % 2],
                        "optimizer": ("adam", "rmsprop")[(i // 2) % 2], "lr": lr})
            continue
        if space == "batch":
            lr = float(math.exp(rng.uniform(math.log(5e-5), math.log(2e-3))))
            out.append({"conv_dim": 32, "batch_size": (32, 64, 128)[i % 3],
                        "optimizer": ("adam", "rmsprop")[(i // 3) % 2], "lr": lr})
            continue
        lr = float(math.exp(rng.uniform(math.log(3e-5), math.log(2e-3))))
        out.append({"conv_dim": (16, 32)[i % 2], "optimizer": ("adam", "rmsprop")[(i // 2) % 2], "lr": lr})
    return out


def _train_config(params: dict[str, Any], epochs: int, seed: int) -> Any:
    """The trainer's defaults (EMA generator evaluated) plus the trial's params, CPU, fp32."""
    from trainers.config import TrainConfig

    # a pydantic model since issue 22 (the family knobs then come with the family: n_critic 5 by default)
    names = set(getattr(TrainConfig, "model_fields", None) or {f.name for f in fields(TrainConfig)})
    values: dict[str, Any] = {"image_size": 32, "epochs": epochs, "batch_size": 64, "z_dim": 100,
                              "device": "cpu", "seed": seed, "ema": True, **params}
    if "ema_kimg" not in names and "ema_decay" in names:  # before the EMA half-life landed
        values["ema_decay"] = 0.5 ** (64 / (EMA_KIMG * 1000))
    return TrainConfig(**{k: v for k, v in values.items() if k in names})


def _run_trial(job: dict[str, Any]) -> dict[str, Any]:
    """Train one config to the end; the metric at every epoch (signal + judge draws). Runs in a worker."""
    import torch

    torch.set_num_threads(1)
    from trainers.data import DataConfig, prepare
    from trainers.loop import train

    try:
        from trainers.metrics import build_metric
    except ImportError:  # before the metrics package landed
        from trainers.fid import build_metric  # type: ignore[no-redef]
    try:
        from trainers.results import TrainingDiverged
    except ImportError:
        from trainers.metric import TrainingDiverged  # type: ignore[no-redef]

    data = prepare(DataConfig(**job["data"]), progress=False).load()
    signal = build_metric(job["stats"], "rand", job["samples"], kid=False)
    judge = build_metric(job["stats"], "rand", job["judge_samples"], kid=False)
    cfg = _train_config(job["params"], job["epochs"], job["seed"])
    curve: dict[str, list[float]] = {"signal": [], "noise": [], "judge": [], "train_s": [], "eval_s": []}
    started = time.perf_counter()

    def both(sample: Any) -> dict[str, float]:
        out = signal(sample)
        # second evaluation from fresh generator noise: an independent re-measurement of this generator
        out.update({f"judge_{k}": v for k, v in judge(sample).items()})
        return out

    names = (signal.names[0], f"judge_{judge.names[0]}")
    both.names = names  # type: ignore[attr-defined]

    partial = Path(job["partial"])

    def report(rep: Any) -> None:
        s = rep.scalars()
        curve["signal"].append(float(s[names[0]]))
        curve["noise"].append(float(s.get(f"{names[0]}_noise", math.nan)))  # the bootstrap estimate
        curve["judge"].append(float(s[names[1]]))
        curve["train_s"].append(float(s.get("epoch_s", 0.0)))
        curve["eval_s"].append(float(s.get("eval_s", 0.0)))
        partial.write_text(json.dumps({"params": job["params"], **curve}))  # progress, readable mid-run

    reason = None
    try:
        train(cfg, data, both, report)
    except TrainingDiverged as exc:
        reason = str(exc)
    return {"params": job["params"], "seed": job["seed"], "diverged": reason, "signal_name": names[0],
            "judge_name": judge.names[0], "wall_s": time.perf_counter() - started,
            "ema": bool(getattr(cfg, "ema", False)), **curve}


def record(args: argparse.Namespace) -> None:
    from trainers.data import DataConfig, prepare

    try:
        from trainers.metrics import real_stats
    except ImportError:
        from trainers.fid import real_stats  # type: ignore[no-redef]

    data_cfg = {"source": "zip", "path": str(args.celeba_zip), "image_size": 32, "limit": args.limit,
                "seed": 0}
    prepared = prepare(DataConfig(**data_cfg), progress=False)
    images = prepared.load()
    real_n = min(10000, len(images))
    _, stats_path = real_stats(images, prepared.fingerprint, "rand", real_n, progress=False)
    partial_dir = args.out.with_suffix(".partial")
    partial_dir.mkdir(parents=True, exist_ok=True)
    jobs = [{"data": data_cfg, "stats": str(stats_path), "samples": args.samples,
             "judge_samples": args.judge_samples, "epochs": args.epochs, "seed": args.seed + i, "params": p,
             "partial": str(partial_dir / f"{i:02d}.json")}
            for i, p in enumerate(_configs(args.trials, args.seed, args.space))]
    # slow trials first (WGAN-GP's critic steps, wide, then small batches): the pool ends together
    jobs.sort(key=lambda j: (j["params"].get("family", "dcgan") != "wgan_gp", -j["params"]["conv_dim"],
                             j["params"].get("batch_size", 64)))
    out: dict[str, Any] = {"dataset": {"source": "celeba64_30k.zip", "image_size": 32, "count": len(images),
                                       "fingerprint": prepared.fingerprint},
                           "space": args.space,  # the command, the zip named by its file name only
                           "command": " ".join(Path(a).name if a == str(args.celeba_zip) else a
                                               for a in sys.argv[1:]),
                           "epochs": args.epochs, "images_per_epoch": len(images), "samples": args.samples,
                           "judge_samples": args.judge_samples, "trials": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.procs) as pool:
        for trial in pool.imap_unordered(_run_trial, jobs):
            out["trials"].append(trial)
            out["wall_s"] = time.perf_counter() - started
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(out, indent=1))
            os.replace(tmp, args.out)
            best = min(trial["signal"]) if trial["signal"] else float("nan")
            print(f"[{out['wall_s']:6.0f} s] {len(out['trials'])}/{len(jobs)} {trial['params']} "
                  f"best {trial['signal_name']} {best:.3f} diverged={trial['diverged']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="train the sweep to the end and store its learning curves")
    rec.add_argument("--celeba-zip", type=Path, required=True)
    rec.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "celeba32_curves.json")
    rec.add_argument("--limit", type=int, default=4000)
    rec.add_argument("--trials", type=int, default=12)
    rec.add_argument("--epochs", type=int, default=8)
    rec.add_argument("--samples", type=int, default=2000, help="generated samples of the per-epoch signal")
    rec.add_argument("--judge-samples", type=int, default=2000, help="samples of the independent judge draw")
    rec.add_argument("--procs", type=int, default=2)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--space", choices=["celeba32", "batch", "families"], default="celeba32",
                     help="celeba32: conv_dim x optimizer x lr; batch: batch size x optimizer x lr; "
                          "families: DCGAN vs WGAN-GP x optimizer x lr")
    rep = sub.add_parser("replay", help="replay Tune's schedulers on recorded curves")
    rep.add_argument("curves", type=Path, nargs="+")
    rep.add_argument("--orders", type=int, default=200)
    rep.add_argument("--slots", type=int, nargs="+", default=[2, 4, 8])
    rep.add_argument("--top-k", type=int, default=3, help="trials re-measured at the end (final_top_k)")
    rep.add_argument("--smoothing", type=float, default=0.5, help="scheduler.smoothing (smoothed signal)")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--markdown", action="store_true",
                     help="the README table: regret, trial-epochs, wall-clock vs the full grid per slots")
    rep.add_argument("--targets", action="store_true",
                     help="one row per recording (several files): the default on 2 slots against issue 20's "
                          "targets and the wall floor")
    args = parser.parse_args()
    if args.cmd == "record":
        record(args)
    else:
        from benchmarks.asha_replay import main_replay

        main_replay(args)


if __name__ == "__main__":
    main()
