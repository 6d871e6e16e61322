"""The Ray Tune trainable: adapts `trainers.loop.train` to Tune's report/checkpoint API.

Everything heavy (the decoded dataset array, the real-image FID statistics) was prepared once by
the driver; a trial only memory-maps the array and loads the statistics file by path.

What travels where (this module owns the names; the MLflow writer calls the functions at the end):
- every report: scalars, and the epoch's fixed-noise sample grid as PNG bytes under `GRID_KEY`
  (small; travels with the result through Ray itself, so it works on any cluster and never sits
  in a checkpoint). The writer takes it out with `pop_epoch_grid` before Tune's own loggers run.
- checkpoints, only at the checkpoint points (`checkpoint.every`, or at the scheduler rungs, and
  at the end): the resume state, the best generator so far and the last one, so a restarted
  trial (dead worker, `--resume`) continues from there and loses no best-epoch weights.
- divergence is a normal final result: the metric is the worst value and `DIVERGED_KEY` says
  why, so a retry does not re-diverge and the searcher learns from it.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from PIL import Image
from ray import tune

from orchestrator.record import names
from orchestrator.record.names import FINAL_KEY
from orchestrator.sampling import unwrap_reseed
from orchestrator.schedule import DecisionSignal
from trainers.config import TrainConfig, for_family
from trainers.loop import resolve_device, train
from trainers.metrics import build_metric
from trainers.results import EpochReport, TrainingDiverged

# checkpoint files
STATE_FILE = "state.pt"  # resume state (G, D, EMA, optimizers, RNG, progress)
BEST_GENERATOR_FILE = names.BEST_GENERATOR_NAME  # {"config", "generator", "step", "value"}: best epoch so far
GENERATOR_FILE = names.GENERATOR_NAME  # same format: the generator at this checkpoint's report
CONFIG_FILE = names.TRIAL_CONFIG_NAME  # {"config", "spec", "best", "final"}
# result keys
GRID_KEY = "grid_png"  # PNG bytes of the report's sample grid (removed by the writer)
INITIAL_GRID_KEY = "grid0_png"  # PNG bytes of the untrained generator's grid, first report only
DIVERGED_KEY = "diverged"  # str: why training diverged; that result's metric is the worst value
NODE_KEY = "node_id"
NOT_METRICS = frozenset({GRID_KEY, DIVERGED_KEY, FINAL_KEY, NODE_KEY})  # result keys that are no metric
# artifact names under the trial's MLflow "model/" folder, by checkpoint file
MODEL_ARTIFACTS = {BEST_GENERATOR_FILE: names.BEST_GENERATOR_NAME, GENERATOR_FILE: names.GENERATOR_NAME,
                   CONFIG_FILE: names.TRIAL_CONFIG_NAME}


@dataclass(frozen=True)
class TrialInputs:
    """What every trial shares, prepared once by the driver and passed by value (small) or path."""

    base_config: dict[str, Any]  # TrainConfig values from the spec, before sampling (spec.base_train_values)
    data_path: str  # cached uint8 array (.npy)
    stats_path: str | None  # cached real statistics (.npz), None when no metric
    backbone: str
    samples: int
    kinds: tuple[str, ...]  # the registered metrics each evaluation computes (spec metrics.kinds)
    weights: str | None
    metric_batch_size: int
    resolved_spec: dict[str, Any]
    asha_metric: str = "fid"
    mode: str = "min"
    checkpoint_every: int | None = None  # write resume state every N reports ...
    checkpoint_steps: tuple[int, ...] = ()  # ... or (None) at these reports: the scheduler's rungs
    checkpoint_every_s: float | None = None  # and at the first report this long after the last one


# ------------------------------------------------------------------ what the MLflow writer calls
def pop_epoch_grid(result: dict[str, Any]) -> bytes | None:
    """The report's sample grid as PNG bytes, removed from `result`.

    Call it from the writer's `on_trial_result`: Tune lets callbacks change a result in place, and
    user callbacks run before Tune's own JSON/CSV loggers, so no image bytes reach them or the
    experiment snapshot.
    """
    data = result.pop(GRID_KEY, None)
    return bytes(data) if data is not None else None


@contextmanager
def model_files(checkpoint: tune.Checkpoint | None) -> Iterator[dict[str, Path]]:
    """Local copies of the files a finished trial logs under `model/`: {artifact name: path}.

    Pass the trial's latest checkpoint (`trial.checkpoint`); it holds the best generator so far,
    the generator of its report and the trial config. Only files present are listed.
    """
    if checkpoint is None:
        yield {}
        return
    with checkpoint.as_directory() as directory:
        found = {name: Path(directory) / file for file, name in MODEL_ARTIFACTS.items()}
        meta_file = Path(directory) / CONFIG_FILE
        if meta_file.exists() and json.loads(meta_file.read_text()).get("last_is_best"):
            found[MODEL_ARTIFACTS[GENERATOR_FILE]] = Path(directory) / BEST_GENERATOR_FILE
        yield {name: path for name, path in found.items() if path.exists()}


def diverged_reason(result: Mapping[str, Any]) -> str | None:
    """Why the trial diverged (from its final result), or None."""
    reason = result.get(DIVERGED_KEY)
    return str(reason) if reason else None


# ------------------------------------------------------------------ the trainable
def _device(requested: str) -> str:
    """As `resolve_device`, but `auto` is CUDA only where Ray gave this trial a GPU."""
    device = str(resolve_device(requested))
    if requested == "auto" and device == "cuda" and not ray.get_gpu_ids():
        return "cpu"
    return device


def merged_config(base: Mapping[str, Any], sampled: Mapping[str, Any]) -> TrainConfig:
    """The one place a trial's config is made: the spec's values, the sampled ones over them, and
    only the trial's own family's knobs (a sweep searching ``family`` sets those of each family).
    The trial trains with it; the MLflow writer logs it as the child run's params."""
    return TrainConfig.from_dict(for_family({**base, **sampled}))


def trial_config(inputs: TrialInputs, sampled: dict[str, Any]) -> TrainConfig:
    cfg = merged_config(inputs.base_config, sampled)
    return cfg.with_values(device=_device(cfg.device))


def _png(grid: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return buffer.getvalue()


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _resume_state(report: EpochReport) -> dict[str, Any]:
    """Built only here, at checkpoint points: the report builds it lazily."""
    return report.resume_state()


def _generator_state(report: EpochReport) -> dict[str, torch.Tensor]:
    """A copy that outlives the report callback (the report's tensors may be the live weights on CPU)."""
    return _cpu_copy(report.generator_state())


def is_checkpoint_step(inputs: TrialInputs, step: int, trained_s: float = 0.0) -> bool:
    """Whether report `step` (1-based) writes resume state (the final report always checkpoints);
    `trained_s`: seconds of training since this trial's last resume state (or its start)."""
    if inputs.checkpoint_every_s is not None and trained_s >= inputs.checkpoint_every_s:
        return True  # a dead worker loses at most ~checkpoint_every_s of training, rungs or not
    if inputs.checkpoint_every is not None:
        return step % inputs.checkpoint_every == 0
    return step in inputs.checkpoint_steps


class _Best:
    """The best generator so far, held in memory and written into every checkpoint."""

    def __init__(self, metric: str, mode: str) -> None:
        self.metric, self.sign = metric, (1.0 if mode == "min" else -1.0)
        self.step = 0
        self.value = math.nan
        self.generator: dict[str, torch.Tensor] | None = None

    def offer(self, step: int, scalars: Mapping[str, float], report: EpochReport) -> None:
        value = float(scalars.get(self.metric, math.nan))
        first = self.generator is None
        better = math.isfinite(value) and not (self.sign * value >= self.sign * self.value)  # NaN best: any
        if first or better:
            self.step, self.generator = step, _generator_state(report)
            if math.isfinite(value):
                self.value = value

    def load(self, directory: Path) -> None:
        path = directory / BEST_GENERATOR_FILE
        if path.exists():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            self.generator, self.step = saved["generator"], int(saved.get("step", 0))
            self.value = float(saved.get("value", math.nan))


def _generator_file(cfg: TrainConfig, generator: Mapping[str, torch.Tensor], step: int, value: float) -> dict:
    # Self-describing: `gansweep generate` rebuilds the model from the config stored beside it.
    return {"config": cfg.to_dict(), "generator": dict(generator), "step": step, "value": value}


def _write_checkpoint(
    directory: Path, report: EpochReport, cfg: TrainConfig, inputs: TrialInputs, best: _Best, final: bool
) -> None:
    if not final:  # a trial restored from its final checkpoint ends at once: no resume state needed
        torch.save(_resume_state(report), directory / STATE_FILE)
    if best.generator is not None:
        saved = _generator_file(cfg, best.generator, best.step, best.value)
        torch.save(saved, directory / BEST_GENERATOR_FILE)
    last_is_best = best.generator is not None and best.step == report.step
    if not last_is_best:  # else one file serves as both (`model_files`)
        last = _generator_state(report)
        torch.save(_generator_file(cfg, last, report.step, math.nan), directory / GENERATOR_FILE)
    meta = {"config": cfg.to_dict(), "spec": inputs.resolved_spec, "final": final,
            "best": {"step": best.step, "value": best.value}, "last_is_best": last_is_best}
    (directory / CONFIG_FILE).write_text(json.dumps(meta, default=str))


def load_resume_state(path: Path, device: str) -> dict[str, Any]:
    """The resume state of `path`, read with `weights_only=True`.

    Whoever can write the checkpoint storage (S3, NFS) must not run code in every trial worker: the
    state holds tensors and primitives only (`trainers.checkpoint.capture`), so torch's restricted
    unpickler reads it, and a file holding any other pickled object is refused.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f"{path}: refused, not a plain resume state (tensors and primitives only): "
            f"{str(err).strip().splitlines()[0]}"
        ) from None


def _check_shared(paths: tuple[str | None, ...]) -> None:
    for shared in paths:
        if shared is not None and not Path(shared).exists():
            raise FileNotFoundError(
                f"{shared} (prepared by the driver) is not visible on node {ray.util.get_node_ip_address()}: "
                "put $GANSWEEP_CACHE_DIR on storage shared by all nodes (see docker/README.md)"
            )


def run_trial(sampled: dict[str, Any], inputs: TrialInputs) -> None:
    """Tune function trainable. `sampled` is the trial's config from the search space, or a reseed
    point (`orchestrator.reseed`: a top trial's config with another seed), trained the same way."""
    sampled, _ = unwrap_reseed(sampled)
    cfg = trial_config(inputs, sampled)
    best = _Best(inputs.asha_metric, inputs.mode)
    signal = DecisionSignal(inputs.asha_metric, inputs.mode, inputs.resolved_spec["scheduler"]["smoothing"])
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            meta = json.loads((Path(directory) / CONFIG_FILE).read_text())
            if meta.get("final"):
                # Restored from its final checkpoint (the driver died before Tune's next snapshot):
                # nothing left to train. Returning without a report ends the trial with the
                # checkpoint's result, which Tune restored as the trial's last result.
                return
            best.load(Path(directory))
            signal.load(Path(directory))
            resume = load_resume_state(Path(directory) / STATE_FILE, cfg.device)
    # One torch thread pool per trial, sized to the CPUs Tune reserved for it (no oversubscription
    # when several trials share a machine).
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, int(cpus)))
    _check_shared((inputs.data_path, inputs.stats_path))
    data = np.load(inputs.data_path, mmap_mode="r")
    metric = None
    if inputs.stats_path is not None:
        metric = build_metric(
            inputs.stats_path,
            backbone=inputs.backbone,
            samples=inputs.samples,
            weights=inputs.weights,
            device=cfg.device,
            kinds=tuple(inputs.kinds),
            batch_size=inputs.metric_batch_size,
        )
    node_id = ray.get_runtime_context().get_node_id()
    last: dict[str, Any] = {}
    saved_at = [time.monotonic()]  # when this trial last wrote resume state (or started training)

    def report(epoch_report: EpochReport) -> None:
        scalars: dict[str, Any] = epoch_report.scalars()
        final = epoch_report.epoch >= cfg.epochs - 1e-9
        best.offer(epoch_report.step, scalars, epoch_report)
        scalars.update({FINAL_KEY: float(final), NODE_KEY: node_id})
        scalars.update(signal.update(scalars, epoch_report.step))  # the schedulers' decision signal
        last.update(step=epoch_report.step, epoch=epoch_report.epoch, images_seen=epoch_report.images_seen)
        if epoch_report.grid is not None:
            scalars[GRID_KEY] = _png(epoch_report.grid)
        if epoch_report.initial_grid is not None:
            scalars[INITIAL_GRID_KEY] = _png(epoch_report.initial_grid)
        if not (final or is_checkpoint_step(inputs, epoch_report.step, time.monotonic() - saved_at[0])):
            tune.report(scalars)
            return
        with tempfile.TemporaryDirectory(prefix="gansweep-ckpt-") as directory:
            _write_checkpoint(Path(directory), epoch_report, cfg, inputs, best, final)
            signal.save(Path(directory))
            tune.report(scalars, checkpoint=tune.Checkpoint.from_directory(directory))
        saved_at[0] = time.monotonic()

    try:
        train(cfg, data, metric, report, resume=resume)
    except TrainingDiverged as err:
        _report_divergence(str(err), cfg, inputs, best, {**last, "signal": signal.diverged()})


def _report_divergence(
    reason: str, cfg: TrainConfig, inputs: TrialInputs, best: _Best, last: Mapping[str, Any]
) -> None:
    """A diverged run ends with a normal, final result: the worst metric value and the reason.

    Its checkpoint keeps the best generator (the last one is NaN garbage) and is marked final, so a
    restart after a dead worker ends at once instead of diverging again.
    """
    worst = math.inf if inputs.mode == "min" else -math.inf
    result = {inputs.asha_metric: worst, DIVERGED_KEY: reason, FINAL_KEY: 1.0,
              "epoch": float(last.get("epoch", 0.0)), "images_seen": float(last.get("images_seen", 0)),
              **last.get("signal", {})}  # every decision signal at its worst too
    with tempfile.TemporaryDirectory(prefix="gansweep-ckpt-") as directory:
        if best.generator is not None:
            torch.save(_generator_file(cfg, best.generator, best.step, best.value),
                       Path(directory) / BEST_GENERATOR_FILE)
        meta = {"config": cfg.to_dict(), "spec": inputs.resolved_spec, "final": True,
                "best": {"step": best.step, "value": best.value}, DIVERGED_KEY: reason}
        (Path(directory) / CONFIG_FILE).write_text(json.dumps(meta, default=str))
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(directory))
