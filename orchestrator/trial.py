"""The Ray Tune trainable: adapts `trainers.loop.train` to Tune's report/checkpoint API.

Everything heavy (the decoded dataset array, the real-image FID statistics) was prepared once by
the driver; a trial only memory-maps the array and loads the statistics file by path. Each
report carries a checkpoint directory holding the full resume state, the fixed-noise sample
grid of that epoch and the generator weights, so the driver-side MLflow writer can log them and
`--resume` can continue the trial where it stopped.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from PIL import Image
from ray import tune

from trainers.config import TrainConfig
from trainers.fid import build_metric
from trainers.loop import train
from trainers.metric import EpochReport, TrainingDiverged

STATE_FILE = "state.pt"
GRID_FILE = "grid.png"
GENERATOR_FILE = "generator.pt"
CONFIG_FILE = "trial_config.json"
ALREADY_FINISHED = "already_finished"


@dataclass(frozen=True)
class TrialInputs:
    """What every trial shares, prepared once by the driver and passed by value (small) or path."""

    base_config: dict[str, Any]  # TrainConfig fields from the spec, before sampling
    data_path: str  # cached uint8 array (.npy)
    stats_path: str | None  # cached real statistics (.npz), None when no metric
    backbone: str
    samples: int
    kid: bool
    weights: str | None
    metric_batch_size: int
    resolved_spec: dict[str, Any]
    done_dir: str | None = None  # markers of trials MLflow already recorded as finished (see below)
    asha_metric: str = "fid"


def _device(requested: str) -> str:
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() and ray.get_gpu_ids() else "cpu"


def trial_config(inputs: TrialInputs, sampled: dict[str, Any]) -> TrainConfig:
    values = {**inputs.base_config, **sampled}
    values["device"] = _device(values.get("device", "auto"))
    return TrainConfig.from_dict(values)


def _write_checkpoint(directory: Path, report: EpochReport, cfg: TrainConfig, spec: dict[str, Any]) -> None:
    state = report.checkpoint or {}
    torch.save(state, directory / STATE_FILE)
    generator = state.get("ema") or state.get("G")
    if generator is not None:
        # Self-describing: `gansweep generate` rebuilds the model from the config stored beside it.
        torch.save({"config": cfg.to_dict(), "generator": generator}, directory / GENERATOR_FILE)
    if report.grid is not None:
        Image.fromarray(report.grid).save(directory / GRID_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps({"config": cfg.to_dict(), "spec": spec}, default=str))


def run_trial(sampled: dict[str, Any], inputs: TrialInputs) -> None:
    """Tune function trainable. `sampled` is the trial's config from the search space."""
    # Tune snapshots its experiment state periodically; a driver killed after a trial ended (and
    # MLflow recorded it) but before the next snapshot would restore that trial as unfinished.
    # The driver leaves a marker when a trial ends, and such a trial ends again at once here.
    if inputs.done_dir and (Path(inputs.done_dir) / tune.get_context().get_trial_id()).exists():
        # Tune insists on its metric in every result; the tracker ignores this one.
        tune.report({inputs.asha_metric: float("nan"), ALREADY_FINISHED: 1.0})
        return
    cfg = trial_config(inputs, sampled)
    # One torch thread pool per trial, sized to the CPUs Tune reserved for it (no oversubscription
    # when several trials share a machine).
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, int(cpus)))
    for shared in (inputs.data_path, inputs.stats_path):
        if shared is not None and not Path(shared).exists():
            raise FileNotFoundError(
                f"{shared} (prepared by the driver) is not visible on node {ray.util.get_node_ip_address()}: "
                "put $GANSWEEP_CACHE_DIR on storage shared by all nodes (see docker/README.md)"
            )
    data = np.load(inputs.data_path, mmap_mode="r")
    metric = None
    if inputs.stats_path is not None:
        metric = build_metric(
            inputs.stats_path,
            backbone=inputs.backbone,
            samples=inputs.samples,
            weights=inputs.weights,
            device=cfg.device,
            kid=inputs.kid,
            batch_size=inputs.metric_batch_size,
        )
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            resume = torch.load(Path(directory) / STATE_FILE, map_location=cfg.device, weights_only=False)
    node_id = ray.get_runtime_context().get_node_id()

    def report(epoch_report: EpochReport) -> None:
        scalars = epoch_report.scalars()
        scalars["final"] = float(epoch_report.epoch >= cfg.epochs - 1e-9)
        scalars["node_id"] = node_id
        with tempfile.TemporaryDirectory(prefix="gansweep-ckpt-") as directory:
            _write_checkpoint(Path(directory), epoch_report, cfg, inputs.resolved_spec)
            tune.report(scalars, checkpoint=tune.Checkpoint.from_directory(directory))

    try:
        train(cfg, data, metric, report, resume=resume)
    except TrainingDiverged as err:
        # Surfaces as a failed trial whose reason the tracker records.
        raise RuntimeError(f"diverged: {err}") from None
