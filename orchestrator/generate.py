"""`gansweep generate`: faces from a trained generator recorded in MLflow.

A trial logs `model/generator.pt` = {"config": TrainConfig dict, "generator": state_dict}, so the
model is rebuilt from plain values with `trainers.models.build_generator` and loaded with
`torch.load(weights_only=True)` (no pickled code runs). Everything happens on CPU in eval mode,
with latents drawn from a seeded CPU `torch.Generator`: the same run and seed give the same PNG
bytes on any machine with the same torch build.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from mlflow.tracking import MlflowClient
from PIL import Image
from torch import nn

from orchestrator.record import names
from orchestrator.record.names import TAG_KIND, TAG_TRIAL
from orchestrator.report import build_report, find_sweep, open_store, short_trial_id
from orchestrator.report.generators import GenerateError, load_generator
from trainers import pixels
from trainers.models import images_to_grid


@dataclass(frozen=True)
class Target:
    run_id: str
    label: str  # what the user is told was used


def resolve_target(client: MlflowClient, ref: str) -> Target:
    """A child run id as is; a sweep name or parent run id -> its best trial that has weights."""
    try:
        run = client.get_run(ref)
    except Exception:  # noqa: BLE001 - not a run id: a sweep name
        run = None
    if run is not None and run.data.tags.get(TAG_KIND) != names.KIND_SWEEP:
        trial = short_trial_id(run.data.tags.get(TAG_TRIAL, run.info.run_name))
        return Target(run.info.run_id, f"trial {trial} (run {run.info.run_id})")
    sweep = find_sweep(client, ref)
    report = build_report(client, sweep)
    metric_col = names.best_key(sweep.metric)
    for _, row in report.table.dropna(subset=[metric_col]).iterrows():
        artifacts = {a.path for a in client.list_artifacts(row["run_id"], names.MODEL_DIR)}
        if names.GENERATOR in artifacts:
            return Target(
                row["run_id"],
                f"best trial {row['trial']} of sweep {sweep.name} ({sweep.metric}={row[metric_col]:.4g}, "
                f"run {row['run_id']})",
            )
    raise GenerateError(f"sweep '{sweep.name}' has no trial with {sweep.metric} and saved generator weights")


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal latents from a seeded CPU generator (independent of the global RNG)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(n, z_dim, generator=gen)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation: keeps the norm Gaussian latents have (lerp passes near zero)."""
    cos = torch.clamp(torch.dot(a, b) / (a.norm() * b.norm()), -1.0, 1.0)
    omega = torch.arccos(cos)
    if float(torch.sin(omega)) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def latent_walk(anchors: torch.Tensor, frames: int) -> torch.Tensor:
    """`frames` latents along the slerp path through the anchor latents, ends included."""
    segments = anchors.shape[0] - 1
    out = []
    for position in np.linspace(0.0, float(segments), frames):
        i = min(int(position), segments - 1)
        out.append(slerp(anchors[i], anchors[i + 1], float(position - i)))
    return torch.stack(out)


@torch.no_grad()
def render(model: nn.Module, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([model(z[i:i + batch]) for i in range(0, z.shape[0], batch)])


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] -> (N, S, S, 3) uint8, the same rounding as the logged grids."""
    return pixels.to_uint8(images).permute(0, 2, 3, 1).contiguous().numpy()


def _check_free(paths: list[Path], force: bool) -> None:
    taken = [p for p in paths if p.exists()]
    if taken and not force:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise GenerateError(f"{taken[0]} already exists{more}; pass --force to overwrite")


def planned_outputs(output: Path, n: int, individual: bool) -> list[Path]:
    if individual:
        digits = max(3, len(str(n - 1)))
        return [output / f"{i:0{digits}d}.png" for i in range(n)]
    return [output]


def generate(
    ref: str,
    output: Path,
    n: int | None = None,
    seed: int = 0,
    store: str | None = None,
    individual: bool = False,
    interpolate: bool = False,
    anchors: int = 2,
    force: bool = False,
    last: bool = False,
) -> tuple[Target, list[Path]]:
    """Write a grid (or individual PNGs, or a latent walk strip) and return what was written.

    n defaults to 64 images, or 10 frames for `interpolate`. Existing files are never overwritten
    without `force`; the check runs before any download so a mistake costs nothing.
    """
    if interpolate and individual:
        raise GenerateError("--interpolate and --individual cannot be combined")
    n = n if n is not None else (10 if interpolate else 64)
    if n < 1 or (interpolate and n < 2):
        raise GenerateError(f"-n must be at least {2 if interpolate else 1}, got {n}")
    if interpolate and anchors < 2:
        raise GenerateError(f"--anchors must be at least 2, got {anchors}")
    if individual and output.exists() and not output.is_dir():
        raise GenerateError(f"{output} exists and is not a folder (--individual writes one PNG per image)")
    if not individual and output.suffix.lower() != ".png":
        raise GenerateError(f"-o {output}: the output must be a .png file (or use --individual for a folder)")
    paths = planned_outputs(output, n, individual)
    _check_free(paths, force)

    client = open_store(store)
    target = resolve_target(client, ref)
    model, cfg = load_generator(client, target.run_id, last=last)
    if interpolate:
        z = latent_walk(latents(anchors, cfg.z_dim, seed), n)
    else:
        z = latents(n, cfg.z_dim, seed)
    images = render(model, z)

    if individual:
        output.mkdir(parents=True, exist_ok=True)
        for path, array in zip(paths, to_uint8(images), strict=True):
            Image.fromarray(array).save(path)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        nrow = min(n, 16) if interpolate else max(1, math.ceil(math.sqrt(n)))
        Image.fromarray(images_to_grid(images, nrow=nrow)).save(output)
    return target, paths
