"""Build and run the Ray Tune experiment of a sweep (or restore an interrupted one).

The driver does the shared, expensive work once (decode the dataset into a cached array,
compute the real-image FID statistics) and hands trials paths to it; the Tuner gets ASHA on the
spec's metric, the spec's search algorithm, per-trial resources and the MLflow writer callback.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from orchestrator import tracking
from orchestrator.console import LiveTrialTable, console
from orchestrator.space import build_search
from orchestrator.spec import SweepSpec
from orchestrator.trial import TrialInputs, run_trial
from trainers import data as data_mod
from trainers import metrics as fid

STATE_FILE = "gansweep.json"


class SweepError(RuntimeError):
    """A problem the user can fix (bad store, nothing to resume, ...): exit 2, one line."""


@dataclass(frozen=True)
class SweepResult:
    experiment_dir: Path
    parent_run_id: str
    experiment_id: str
    wall_s: float
    prepare_s: float
    interrupted: bool


def prepare_inputs(spec: SweepSpec, progress: bool = True) -> tuple[TrialInputs, dict[str, Any]]:
    """Decode/cache the dataset and the real FID statistics once, in the driver."""
    if spec.metrics.backbone == "inception":  # fail on missing weights before decoding any data
        fid.resolve_inception_weights(spec.metrics.weights)
    prepared = data_mod.prepare(spec.data_config(), progress=progress)
    images = prepared.load(mmap=True)
    metrics = spec.metrics
    real_n = min(spec.real_samples, prepared.count)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    stats, stats_path = fid.real_stats(
        images,
        prepared.fingerprint,
        backbone=metrics.backbone,
        samples=real_n,
        weights=metrics.weights,
        device=device,
        cache_dir=None,
        progress=progress,
    )
    base = spec.base_train_config().to_dict()
    inputs = TrialInputs(
        base_config=base,
        data_path=str(prepared.path),
        stats_path=str(stats_path),
        backbone=metrics.backbone,
        samples=metrics.samples,
        kid=metrics.kid,
        weights=metrics.weights,
        metric_batch_size=metrics.batch_size,
        resolved_spec=spec.resolved(),
        asha_metric=spec.asha_metric,
        mode=spec.scheduler.mode,
        checkpoint_every=spec.checkpoint.every,
        checkpoint_steps=rung_steps(spec, prepared.count),
    )
    info = {
        "dataset": str(prepared.path),
        "dataset_fingerprint": prepared.fingerprint,
        "images": prepared.count,
        "skipped_images": prepared.skipped,
        "real_stats": str(stats_path),
        "real_samples": real_n,
        "backbone": metrics.backbone,
        "generated_samples": metrics.samples,
    }
    return inputs, info


def experiment_dir(spec: SweepSpec, resume: bool) -> Path:
    """Where Tune keeps this sweep. A new run never reuses (overwrites) an old sweep's folder."""
    storage = spec.storage_path.resolve()
    if resume:
        candidates = sorted(
            (p for p in storage.glob(f"{spec.name}*") if (p / STATE_FILE).exists()),
            key=lambda p: p.stat().st_mtime,
        )
        candidates = [p for p in candidates if p.name == spec.name or p.name.startswith(spec.name + "-")]
        if not candidates:
            raise SweepError(f"--resume: no earlier sweep named '{spec.name}' under {storage}")
        return candidates[-1]
    path = storage / spec.name
    if path.exists():
        path = storage / f"{spec.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return path


def init_ray(address: str | None, verbose: bool, num_cpus: int | None = None) -> None:
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if not verbose:  # the legacy reporter honours verbose=0; the new one still prints banners
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": verbose,
        "logging_level": "INFO" if verbose else "ERROR",
        "configure_logging": True,
    }
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)


def rung_steps(spec: SweepSpec, images: int) -> tuple[int, ...]:
    """The reports at which the scheduler decides (ASHA's rungs): where trials write resume state
    when `checkpoint.every` is null, so a trial stopped or restarted there loses nothing."""
    sched = spec.scheduler
    max_t = spec.max_t(images) or 1
    if sched.type == "none" or sched.grace_period >= max_t:
        return ()
    rungs = int(math.log(max_t / sched.grace_period) / math.log(sched.reduction_factor) + 1)
    return tuple(int(sched.grace_period * sched.reduction_factor**k) for k in range(rungs))


def _scheduler(spec: SweepSpec, images: int) -> Any:
    sched = spec.scheduler
    if sched.type == "none":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=spec.max_t(images) or 1,
        grace_period=sched.grace_period,
        reduction_factor=sched.reduction_factor,
    )


def run(
    spec: SweepSpec,
    *,
    resume: bool = False,
    address: str | None = None,
    verbose: bool = False,
    progress: bool = True,
    live: bool = True,
) -> SweepResult:
    """Run (or resume) the sweep to the end and return where its record lives."""
    started = time.perf_counter()
    exp_dir = experiment_dir(spec, resume)
    if resume:
        check_resumable(spec, exp_dir)
    done_dir = exp_dir / "finished_trials"
    inputs, stats_info = prepare_inputs(spec, progress=progress)
    prepare_s = time.perf_counter() - started

    experiment_id, parent_run_id = tracking.start_sweep_run(
        spec, exp_dir / STATE_FILE, stats_info, resume=resume
    )
    swept = sorted(spec.search_params())
    init_ray(address, verbose)
    table = LiveTrialTable(spec.asha_metric, swept, enabled=live)
    logger = tracking.MLflowTrialLogger(
        uri=spec.tracking_uri,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        sweep=spec.name,
        metric=spec.asha_metric,
        backbone=spec.metrics.backbone,
        swept=swept,
        done_dir=str(done_dir),
    )
    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(run_trial, inputs=inputs), resources)
    param_space, search_alg, num_samples = build_search(spec)

    try:
        if resume and tune.Tuner.can_restore(str(exp_dir)):
            tuner = tune.Tuner.restore(
                str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=False
            )
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    metric=spec.asha_metric,
                    mode=spec.scheduler.mode,
                    scheduler=_scheduler(spec, stats_info["images"]),
                    search_alg=search_alg,
                    num_samples=num_samples,
                    max_concurrent_trials=spec.resources.max_concurrent,
                    time_budget_s=spec.time_budget_s,
                    # Locally, warm trial processes save a torch import per trial. On a cluster a
                    # reused actor would pin trials to the nodes that came up first (a worker's
                    # first actor waits for its runtime_env), so trials get fresh actors there.
                    reuse_actors=address is None,
                ),
                run_config=tune.RunConfig(
                    name=exp_dir.name,
                    storage_path=str(exp_dir.parent),
                    callbacks=[logger, table],
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    failure_config=tune.FailureConfig(max_failures=0),
                    verbose=0,
                ),
            )
        grid = tuner.fit()
    finally:
        table.close()

    del grid  # everything worth keeping is in MLflow; the summary reads it from there
    client = tracking.client_for(spec.tracking_uri)
    interrupted = _interrupted(client, experiment_id, parent_run_id, spec)
    from orchestrator.report import log_sweep_report  # table + plots to the parent run; never raises

    log_sweep_report(client, parent_run_id)
    client.set_terminated(parent_run_id, status="KILLED" if interrupted else "FINISHED")
    state = {"parent_run_id": parent_run_id, "experiment_id": experiment_id, "spec_hash": spec.spec_hash}
    (exp_dir / STATE_FILE).write_text(json.dumps({**state, "finished": not interrupted}))
    return SweepResult(
        experiment_dir=exp_dir,
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        wall_s=time.perf_counter() - started,
        prepare_s=prepare_s,
        interrupted=interrupted,
    )


def _interrupted(client: Any, experiment_id: str, parent_run_id: str, spec: SweepSpec) -> bool:
    """True when fit() returned early (Ctrl-C): a trial is still open, or (no time budget) some
    planned trial never started. `--resume` then finishes the sweep."""
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.`{tracking.PARENT}` = '{parent_run_id}'", max_results=10_000
    )
    if any(c.data.tags.get(tracking.TAG_STATUS) == "running" for c in children):
        return True
    return spec.time_budget_s is None and len(children) < spec.grid_size()


def check_resumable(spec: SweepSpec, exp_dir: Path) -> None:
    """A sweep is resumed with the spec it started with; anything else would mix two experiments."""
    state_file = exp_dir / STATE_FILE
    saved = json.loads(state_file.read_text()) if state_file.exists() else {}
    if saved.get("spec_hash") not in (None, spec.spec_hash):
        raise SweepError(
            f"--resume: {spec.source_path or spec.name} changed since sweep {exp_dir.name} started "
            f"(spec hash {saved['spec_hash']} -> {spec.spec_hash}); run it without --resume for a new sweep"
        )


__all__ = ["SweepError", "SweepResult", "console", "prepare_inputs", "run"]
