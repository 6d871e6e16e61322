"""Bytes a trial writes to Tune's storage: the old checkpoint policy vs the lean one (issue 11).

before: every report wrote a checkpoint holding the full resume state (G, D, EMA, both optimizer
        states, RNG), a second copy of the generator and the sample grid PNG.
after:  `orchestrator/trial.py`: resume state only at the checkpoint points (default: the
        scheduler's rungs) plus the best generator so far (and the last one when it differs); the
        final checkpoint holds the generators only; grids travel in the result, not in storage.

Both are measured by writing the real files with torch.save into a temp dir, from a real
`trainers.loop.train` report after one training step (file sizes do not depend on how long a
model trained; the sample grid's PNG size does, a little). "after, per epoch" spreads the
checkpoints of a trial that runs all epochs of search_spaces/celeba.yaml (20 epochs, ASHA grace
2, reduction 3: rungs 2, 6, 18, then the end) over its epochs. Usage::

    python benchmarks/bench_checkpoint.py                 # conv_dim 64 and 256, 64 px
    python benchmarks/bench_checkpoint.py --conv-dims 64 --image-size 32
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator import trial  # noqa: E402
from trainers.config import TrainConfig  # noqa: E402
from trainers.loop import train  # noqa: E402

EPOCHS, GRACE, REDUCTION = 20, 2, 3  # search_spaces/celeba.yaml


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _old_policy(directory: Path, report: Any, cfg: TrainConfig) -> None:
    """What orchestrator/trial.py wrote at every report before issue 11."""
    state = trial._resume_state(report)
    torch.save(state, directory / "state.pt")
    generator = state.get("ema") or state["G"]
    torch.save({"config": cfg.to_dict(), "generator": generator}, directory / "generator.pt")
    Image.fromarray(report.grid).save(directory / "grid.png")


def measure(conv_dim: int, image_size: int, batch_size: int) -> dict[str, float]:
    cfg = TrainConfig.from_dict({"conv_dim": conv_dim, "image_size": image_size, "batch_size": batch_size,
                                 "epochs": 1, "device": "cpu"})
    shape = (batch_size, image_size, image_size, 3)  # one training step, one report
    data = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    inputs = trial.TrialInputs(base_config={}, data_path="", stats_path=None, backbone="rand", samples=0,
                               kid=False, weights=None, metric_batch_size=1, resolved_spec={})
    sizes: dict[str, float] = {}

    def report(epoch_report: Any) -> None:
        best = trial._Best("fid", "min")
        best.offer(0, {}, epoch_report)  # as if an earlier report was the best: two generator files
        with tempfile.TemporaryDirectory() as old, tempfile.TemporaryDirectory() as rung, \
                tempfile.TemporaryDirectory() as final:
            _old_policy(Path(old), epoch_report, cfg)
            trial._write_checkpoint(Path(rung), epoch_report, cfg, inputs, best, final=False)
            trial._write_checkpoint(Path(final), epoch_report, cfg, inputs, best, final=True)
            sizes.update(before=_size(Path(old)), rung=_size(Path(rung)), final=_size(Path(final)))
        buffer = io.BytesIO()
        Image.fromarray(epoch_report.grid).save(buffer, format="PNG")
        sizes["grid"] = len(buffer.getvalue())

    train(cfg, data, None, report)
    return sizes


def rungs(epochs: int, grace: int, reduction: int) -> list[int]:
    count = int(math.log(epochs / grace) / math.log(reduction) + 1)
    return [grace * reduction**k for k in range(count) if grace * reduction**k < epochs]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conv-dims", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    points = rungs(EPOCHS, GRACE, REDUCTION)
    mb = 1e6
    print(f"torch {torch.__version__}, {args.image_size} px, checkpoints with resume state at epochs "
          f"{points} of {EPOCHS}, then the final one (generators only)\n")
    print("| conv_dim | before: per epoch | after: rung checkpoint | after: final checkpoint "
          "| after: per epoch (20-epoch trial) | before / after | grid PNG in the result |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for conv_dim in args.conv_dims:
        s = measure(conv_dim, args.image_size, args.batch_size)
        after_per_epoch = (len(points) * s["rung"] + s["final"]) / EPOCHS
        cells = [f"{s['before'] / mb:,.1f} MB", f"{s['rung'] / mb:,.1f} MB", f"{s['final'] / mb:,.1f} MB",
                 f"{after_per_epoch / mb:,.1f} MB", f"{s['before'] / after_per_epoch:.1f}x",
                 f"{s['grid'] / 1e3:.0f} kB"]
        print(f"| {conv_dim} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
