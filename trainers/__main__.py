"""``python -m trainers``: one training run without Ray or MLflow, for debugging a config by hand.

Every TrainConfig field is a ``--flag`` (``--conv-dim 16 --precision bf16 --ema true``); the data
flags mirror trainers.data.DataConfig. Prints one line per report and, with ``--out DIR``, writes
each report's sample grid as PNG and the last checkpoint (``last.pt``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

from .config import TrainConfig
from .results import EpochReport, TrainingDiverged


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add_config_flags(ap: argparse.ArgumentParser) -> None:
    hints = {"int": int, "float": float, "str": str, "bool": _parse_bool}
    for f in fields(TrainConfig):
        kind = str(f.type)
        choices = None
        if f.name == "family":
            from .families import FAMILY_NAMES

            choices, conv = FAMILY_NAMES, str
        elif kind.startswith(("Optimizer", "Precision")):
            choices = get_args(getattr(sys.modules[TrainConfig.__module__], kind))
            conv: Any = str
        else:
            base = kind.split(" | ")[0]
            conv = hints.get(base, str)
        flag = "--" + f.name.replace("_", "-")
        ap.add_argument(flag, dest=f.name, type=conv, choices=choices, default=None,
                        help=f"default {f.default!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainers", description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="synthetic", choices=("synthetic", "folder", "zip", "celeba"))
    ap.add_argument("--path", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--count", type=int, default=2000, help="synthetic images")
    ap.add_argument("--out", type=Path, default=None, help="folder for grids and the last checkpoint")
    _add_config_flags(ap)
    args = ap.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    cfg = TrainConfig(**values)

    import torch
    from PIL import Image

    from .data import DataConfig, DataError, prepare
    from .loop import train

    try:
        data_cfg = DataConfig(args.source, path=args.path, image_size=cfg.image_size, limit=args.limit,
                              count=args.count, seed=cfg.seed)
        prepared = prepare(data_cfg)
    except DataError as err:
        ap.exit(2, f"error: {err}\n")
    data = prepared.load()
    print(f"{prepared.count} images {cfg.image_size}px from {args.source}")
    print(f"config {json.dumps(cfg.to_dict())}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)

    def report(r: EpochReport) -> None:
        line = {k: round(v, 4) for k, v in r.scalars().items()}
        print(f"report {r.step}: {line}", flush=True)
        if args.out is not None:
            if r.grid is not None:
                Image.fromarray(r.grid).save(args.out / f"grid_{r.step:04d}.png")
            torch.save(r.resume_state(), args.out / "last.pt")

    try:
        train(cfg, data, None, report)
    except TrainingDiverged as err:
        print(f"diverged: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
