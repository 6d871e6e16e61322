"""``python -m trainers``: one training run without Ray or MLflow, for debugging a config by hand.

Every TrainConfig field and family knob is a ``--flag`` (``--conv-dim 16 --precision bf16 --ema true
--family wgan_gp --n-critic 3``); the data flags mirror trainers.data.DataConfig (``--source`` takes
trainers.data.SOURCES). Prints one line per report and, with ``--out DIR``, writes each report's
sample grid as PNG and the last checkpoint (``last.pt``).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from .config import TrainConfig, first_error
from .results import EpochReport, TrainingDiverged


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _flag_fields() -> dict[str, FieldInfo]:
    """TrainConfig's fields, then every family's knobs (TrainConfig refuses those of another family)."""
    from .families import KNOB_FIELDS

    return {**TrainConfig.model_fields, **KNOB_FIELDS}


def _add_config_flags(ap: argparse.ArgumentParser) -> None:
    for name, info in _flag_fields().items():
        base = info.annotation
        if typing.get_origin(base) in (typing.Union, types.UnionType):  # X | None -> X
            base = next(a for a in typing.get_args(base) if a is not type(None))
        if typing.get_origin(base) is typing.Annotated:  # Annotated[float, Field(gt=0)] -> float
            base = typing.get_args(base)[0]
        choices = typing.get_args(base) if typing.get_origin(base) is typing.Literal else None
        conv: Any = _parse_bool if base is bool else base if base in (int, float) else str
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=conv, choices=choices, default=None,
                        help=f"default {info.default!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainers", description=__doc__.splitlines()[0])
    from .data import SOURCES

    ap.add_argument("--source", default="synthetic", choices=SOURCES)
    ap.add_argument("--path", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--count", type=int, default=2000, help="synthetic images")
    ap.add_argument("--out", type=Path, default=None, help="folder for grids and the last checkpoint")
    _add_config_flags(ap)
    args = ap.parse_args(argv)
    values = {name: getattr(args, name) for name in _flag_fields() if getattr(args, name) is not None}
    try:
        cfg = TrainConfig(**values)
    except ValidationError as err:  # the first problem, one line
        ap.exit(2, f"error: {first_error(err)}\n")

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
