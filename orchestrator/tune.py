"""Build and run the Ray Tune experiment of a sweep (or restore an interrupted one).

The driver does the shared, expensive work once (decode the dataset into a cached array,
compute the real-image FID statistics) and hands trials paths to it; the Tuner gets ASHA on the
spec's metric, the spec's search algorithm, per-trial resources and the MLflow writer callback.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from filelock import FileLock, Timeout
from ray import tune
from ray.tune import Callback
from ray.tune.callback import CallbackList

from orchestrator import reaper, storage
from orchestrator.console import LiveTrialTable, console, phase
from orchestrator.prepare import prepare_inputs
from orchestrator.record import names as record_names
from orchestrator.record import store as record_store
from orchestrator.record.lease import LeaseError, SweepLease
from orchestrator.record.sqlite import sqlite_path
from orchestrator.record.writer import MLflowTrialLogger
from orchestrator.remeasure import final_samples, remeasure_top
from orchestrator.reseed import ReseedPhase, record_seed_spread, run_reseeds
from orchestrator.schedule import tuner_metric
from orchestrator.schedulers import build_scheduler, ray_cpus, searcher_limit
from orchestrator.space import build_search
from orchestrator.storage import SWEEP_STATE_FILE, SweepFolder
from orchestrator.sweep_spec import SweepSpec
from orchestrator.trial import run_trial
from orchestrator.writable import NotWritableError, check_sweep_locations


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


def sweep_folder(spec: SweepSpec, resume: bool) -> SweepFolder:
    """Where Tune keeps this sweep (`spec.storage_uri`, passed to Ray as is)."""
    try:
        return storage.sweep_folder(spec.storage_uri, spec.name, resume)
    except storage.StorageError as err:
        raise SweepError(str(err)) from None


def experiment_dir(spec: SweepSpec, resume: bool) -> Path:
    """The folder on this machine holding the sweep's `gansweep.json` (see orchestrator/storage.py)."""
    return sweep_folder(spec, resume).local


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
        reaper.watch()  # this local Ray ends with this driver, even a SIGKILLed one (orchestrator/reaper.py)


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
    try:  # before anything is created: a folder, a store, a parent run
        check_sweep_locations(spec)
    except NotWritableError as err:
        raise SweepError(str(err)) from None
    folder = sweep_folder(spec, resume)
    exp_dir = folder.local
    if resume:
        check_resumable(spec, exp_dir)
    store_lock = exclusive_store(spec)  # held (by this process) until the sweep ends
    lease: SweepLease | None = None
    try:
        if resume:  # a second driver of this sweep is refused before it prepares anything
            lease = _take_lease(spec, exp_dir / SWEEP_STATE_FILE)
        if progress:
            phase(f"{spec.name}: preparing the dataset and the real statistics of {spec.asha_metric} "
                  "(cached)")
        inputs, stats_info = prepare_inputs(spec, progress=progress)
        prepare_s = time.perf_counter() - started
        experiment_id, parent_run_id = record_store.start_sweep_run(
            spec, exp_dir / SWEEP_STATE_FILE, stats_info, resume=resume
        )
        try:
            if lease is None:
                lease = _take_lease(spec, exp_dir / SWEEP_STATE_FILE)
            return _drive(spec, folder, inputs, stats_info, experiment_id, parent_run_id,
                          resume=resume, address=address, verbose=verbose, progress=progress, live=live,
                          started=started, prepare_s=prepare_s)
        except BaseException as err:  # never leave the parent RUNNING after a failed start or run
            _end_parent(spec, parent_run_id, "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
            raise
    finally:
        if lease is not None:
            lease.release()
        if store_lock is not None:
            store_lock.release()


def _take_lease(spec: SweepSpec, state_file: Path) -> SweepLease | None:
    """This driver's lease on the sweep's parent run (None: no parent recorded yet)."""
    try:
        parent = json.loads(state_file.read_text())["parent_run_id"]
    except (OSError, KeyError, ValueError):
        return None
    try:
        return SweepLease(record_store.client_for(spec.tracking_uri), parent, spec.name).acquire()
    except LeaseError as err:
        raise SweepError(str(err)) from None


def _end_parent(spec: SweepSpec, parent_run_id: str, status: str) -> None:
    try:
        record_store.client_for(spec.tracking_uri).set_terminated(parent_run_id, status=status)
    except Exception:  # noqa: BLE001 - the store itself may be what failed; the original error wins
        pass


def _drive(
    spec: SweepSpec, folder: SweepFolder, inputs: Any, stats_info: dict[str, Any], experiment_id: str,
    parent_run_id: str, *, resume: bool, address: str | None, verbose: bool, progress: bool, live: bool,
    started: float, prepare_s: float,
) -> SweepResult:
    """Everything after the parent run exists: Ray, the Tuner, the re-measurement, the report."""
    exp_dir = folder.local
    folder.push()
    cpus = ray_cpus(spec, address)
    if progress:  # Ray takes seconds to start: say so instead of sitting silent
        phase(f"connecting to Ray at {address}" if address else f"starting Ray ({cpus or 'all local'} CPUs)")
    init_ray(address, verbose, cpus)
    table = LiveTrialTable.for_sweep(spec, stats_info["images"], enabled=live)
    logger = MLflowTrialLogger.for_sweep(spec, experiment_id, parent_run_id, stats_info)
    # Built here from the current spec and environment, also on --resume (see SweepCallbacks).
    callbacks = SweepCallbacks([logger, table])
    resources = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(run_trial, inputs=inputs), resources)
    param_space, search_alg, num_samples = build_search(spec)

    try:
        if resume and tune.Tuner.can_restore(folder.uri):
            # Errored trials (retries used up, or the driver died) continue from their last checkpoint.
            tuner = tune.Tuner.restore(
                folder.uri, trainable=trainable, param_space=param_space,
                resume_unfinished=True, resume_errored=True,
            )
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    metric=tuner_metric(spec),  # the decision signal (orchestrator.schedule)
                    mode=spec.scheduler.mode,
                    scheduler=build_scheduler(spec, stats_info["images"]),
                    search_alg=search_alg,
                    num_samples=num_samples,
                    max_concurrent_trials=searcher_limit(spec) or None,
                    time_budget_s=spec.time_budget_s,
                    # Locally, warm trial processes save a torch import per trial. On a cluster a
                    # reused actor would pin trials to the nodes that came up first (a worker's
                    # first actor waits for its runtime_env), so trials get fresh actors there.
                    reuse_actors=address is None,
                ),
                run_config=storage.run_config(spec, folder.name, folder.storage, callbacks),
            )
        grid = tuner.fit()
    finally:
        table.close()

    # everything worth keeping is in MLflow; the summary reads it from there. The trials' configs
    # stay for the reseeds (metrics.final_seeds), which retrain the top trials' configs.
    configs = {r.metrics["trial_id"]: dict(r.config) for r in grid if r.metrics and "trial_id" in r.metrics}
    del grid
    client = record_store.client_for(spec.tracking_uri)
    interrupted = _interrupted(client, experiment_id, parent_run_id, spec)
    if not interrupted:  # the top trials re-measured on a larger sample: `final_<metric>` (ranked first)
        k, n = spec.metrics.final_top_k, final_samples(spec, int(stats_info["images"]))
        if progress and k and n:
            phase(f"re-measuring the top {k} trials on {n} samples (their best generators, a larger sample)")
        remeasured = remeasure_top(spec, client, experiment_id, parent_run_id, stats_info, progress=progress)
        if spec.metrics.final_seeds > 1 and remeasured:
            reseeds = ReseedPhase(spec, folder, trainable, SweepCallbacks([logger]),
                                  reuse_actors=address is None)
            interrupted = not _reseed(reseeds, client, experiment_id, parent_run_id, stats_info, configs,
                                      remeasured, progress)
    from orchestrator.report import log_sweep_report  # table + plots to the parent run; never raises

    if progress:
        phase("writing the report (table, plots, description) to the sweep's MLflow run")
    log_sweep_report(client, parent_run_id)
    client.set_terminated(parent_run_id, status="KILLED" if interrupted else "FINISHED")
    state = {"parent_run_id": parent_run_id, "experiment_id": experiment_id, "spec_hash": spec.spec_hash}
    (exp_dir / SWEEP_STATE_FILE).write_text(json.dumps({**state, "finished": not interrupted}))
    folder.push()
    return SweepResult(
        experiment_dir=exp_dir,
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        wall_s=time.perf_counter() - started,
        prepare_s=prepare_s,
        interrupted=interrupted,
    )


def _reseed(phase_: ReseedPhase, client: Any, experiment_id: str, parent_run_id: str,
            stats_info: dict[str, Any], configs: dict[str, dict[str, Any]], remeasured: dict[str, float],
            progress: bool) -> bool:
    """The top trials trained again with other seeds, measured, and the verdict across seeds
    (orchestrator.reseed); False when interrupted (then `--resume` finishes the reseeds)."""
    spec = phase_.spec
    trial_ids = {client.get_run(run_id).data.tags.get(record_names.TAG_TRIAL) for run_id in remeasured}
    chosen = {t: configs[t] for t in trial_ids if t in configs}
    if progress:
        more = spec.metrics.final_seeds - 1
        phase(f"retraining the top {len(chosen)} trials with {more} more seed{'s' if more > 1 else ''} each "
              f"({len(chosen) * more} full trainings, metrics.final_seeds={spec.metrics.final_seeds})")
    if not run_reseeds(phase_, client, experiment_id, parent_run_id, chosen):
        return False
    if progress:
        phase("measuring the reseeded generators the same way")
    record_seed_spread(spec, client, experiment_id, parent_run_id, stats_info, remeasured, progress=progress)
    return True


class SweepCallbacks(CallbackList):
    """The driver's Tune callbacks (MLflow writer, progress table), pickled by reference only.

    Tune pickles `RunConfig.callbacks` into the experiment (`tuner.pkl`) and `Tuner.restore` has no
    argument to replace them, so a plain callback would come back with the paths and handles of
    the process that died (an absolute SQLite path, a moved results folder). Pickled as "the
    callbacks of the current driver", `Tuner.restore` gets the ones this process just built from
    the current spec and environment. Tune itself treats it as one callback that forwards every
    hook (`CallbackList`).
    """

    current: SweepCallbacks | None = None

    def __init__(self, callbacks: list[Callback]) -> None:
        super().__init__(callbacks)
        SweepCallbacks.current = self

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_current_callbacks, ())


def _current_callbacks() -> Callback:
    """Unpickling target of SweepCallbacks: this driver's callbacks (a no-op outside a sweep)."""
    return SweepCallbacks.current or Callback()


def exclusive_store(spec: SweepSpec) -> FileLock | None:
    """One sweep at a time per SQLite store: a second driver is refused before anything starts.

    SQLite serialises writers with a file lock and MLflow gives up after a timeout ("database is
    locked"), so two sweeps writing one `mlflow.db` could lose metrics. The lock file sits next to
    the database; the OS frees it when the driver dies, even by SIGKILL. Servers (http://,
    postgresql://) take any number of sweeps.
    """
    uri = spec.tracking_uri
    db = sqlite_path(uri)
    if db is None:
        return None
    db.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{db}.sweep.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SweepError(
            f"tracking.uri {uri}: another sweep is writing to this SQLite store right now; wait for it "
            "to end, or give this sweep its own store (tracking.uri) or an MLflow server "
            "(tracking.uri: http://HOST:5000)"
        ) from None
    return lock


def _interrupted(client: Any, experiment_id: str, parent_run_id: str, spec: SweepSpec) -> bool:
    """True when fit() returned early (Ctrl-C): a trial is still open, or (no time budget) some
    planned trial never started. `--resume` then finishes the sweep."""
    children = client.search_runs(  # the sweep's trials (reseeds, kind `reseed`, are counted apart)
        [experiment_id], filter_string=f"tags.`{record_names.PARENT}` = '{parent_run_id}' "
                                       f"and tags.`{record_names.TAG_KIND}` = '{record_names.KIND_TRIAL}'",
        max_results=10_000,
    )
    if any(c.data.tags.get(record_names.TAG_STATUS) == "running" for c in children):
        return True
    return spec.time_budget_s is None and len(children) < spec.grid_size()


def check_resumable(spec: SweepSpec, exp_dir: Path) -> None:
    """A sweep is resumed with the spec it started with; anything else would mix two experiments."""
    state_file = exp_dir / SWEEP_STATE_FILE
    saved = json.loads(state_file.read_text()) if state_file.exists() else {}
    if saved.get("spec_hash") not in (None, spec.spec_hash):
        raise SweepError(
            f"--resume: {spec.source_path or spec.name} changed since sweep {exp_dir.name} started "
            f"(spec hash {saved['spec_hash']} -> {spec.spec_hash}); run it without --resume for a new sweep"
        )


__all__ = ["SweepError", "SweepResult", "console", "prepare_inputs", "run"]
