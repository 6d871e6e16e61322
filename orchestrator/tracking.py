"""MLflow record of a sweep: sweep = parent run, trial = nested child run.

There is exactly one writer: `MLflowTrialLogger`, a Ray Tune callback that runs in the driver
process. Trials never talk to MLflow; they put their sample grid and generator weights in the
checkpoint they report, and the driver logs from there. That keeps a SQLite store free of
"database is locked" however many trials run at once, and on a cluster it means only the driver
needs to reach the tracking server. Child runs are tagged with the Tune trial id, so a resumed
sweep (`--resume`, a new driver process) re-attaches to the same runs instead of duplicating them.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from orchestrator.spec import SweepSpec

TAG_SWEEP = "gansweep.sweep"
TAG_KIND = "gansweep.kind"  # "sweep" | "trial"
TAG_TRIAL = "gansweep.trial_id"
TAG_STATUS = "gansweep.status"  # running | completed | stopped | failed
TAG_DETAIL = "gansweep.status_detail"
TAG_SWEPT = "gansweep.swept_params"
TAG_BACKBONE = "gansweep.fid_backbone"
TAG_METRIC = "gansweep.metric"
TAG_NODE = "gansweep.node_id"
PARENT = "mlflow.parentRunId"
NOT_LOGGED = {"final", "node_id"}


def local_store_uri() -> str:
    """The embedded default store: SQLite inside ./mlruns (MLflow 3 refuses the old file store)."""
    return f"sqlite:///{Path.cwd().resolve() / 'mlruns' / 'mlflow.db'}"


def default_artifact_root(uri: str) -> str | None:
    """Artifacts of a local SQLite store live beside the database, in `<db dir>/artifacts`."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return None


def client_for(uri: str) -> MlflowClient:
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=default_artifact_root(uri))


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def start_sweep_run(
    spec: SweepSpec, state_file: Path, real_stats: dict[str, Any], resume: bool
) -> tuple[str, str]:
    """Create (or, when resuming, re-open) the parent run. Returns (experiment_id, run_id).

    The parent run id is kept in `state_file` inside the sweep's storage directory, which is
    what `--resume` restores from, so the pairing of Tune experiment and MLflow run is durable.
    """
    client = client_for(spec.tracking_uri)
    experiment_id = ensure_experiment(client, spec.experiment, spec.tracking_uri)
    if resume and state_file.exists():
        saved = json.loads(state_file.read_text())
        client.update_run(saved["parent_run_id"], status="RUNNING")
        return experiment_id, saved["parent_run_id"]
    run = client.create_run(
        experiment_id,
        run_name=spec.name,
        tags={
            TAG_SWEEP: spec.name,
            TAG_KIND: "sweep",
            TAG_METRIC: spec.asha_metric,
            TAG_BACKBONE: spec.metrics.backbone,
            "gansweep.spec_hash": spec.spec_hash,
            "gansweep.git_commit": git_commit() or "unknown",
            TAG_SWEPT: ",".join(sorted(spec.search_params())),
        },
    )
    run_id = run.info.run_id
    resolved = spec.resolved()
    params = {f"spec.{k}": v for k, v in _flatten(resolved).items()}
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "resolved_spec.json").write_text(json.dumps(resolved, indent=2, default=str))
        Path(directory, "real_stats.json").write_text(json.dumps(real_stats, indent=2, default=str))
        client.log_artifact(run_id, str(Path(directory, "resolved_spec.json")), "spec")
        client.log_artifact(run_id, str(Path(directory, "real_stats.json")), "spec")
    if spec.source_path is not None and Path(spec.source_path).exists():
        client.log_artifact(run_id, str(spec.source_path), "spec")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state = {"parent_run_id": run_id, "experiment_id": experiment_id, "spec_hash": spec.spec_hash}
    state_file.write_text(json.dumps(state))
    # The resolved spec also lives beside Tune's results (and inside every trial checkpoint).
    (state_file.parent / "resolved_spec.json").write_text(json.dumps(resolved, indent=2, default=str))
    return experiment_id, run_id


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _trial_error(trial: Any) -> str:
    """The last line of the trial's exception: the reason a user reads in the table.

    Ray writes the traceback to `trial.error_file` on the driver's local path first; the copy
    `trial.get_error()` reads from storage may not be synced yet when the callback runs.
    """
    text = ""
    error_file = getattr(trial, "error_file", None)
    if error_file and Path(error_file).exists():
        text = Path(error_file).read_text(errors="replace")
    if not text.strip():
        try:
            error = trial.get_error()
        except Exception:  # noqa: BLE001 - best effort; Ray versions differ here
            error = None
        text = str(error) if error is not None else "unknown error"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "unknown error")[:500]


class MLflowTrialLogger(Callback):
    """Tune callback: the single MLflow writer for all trials of one sweep."""

    def __init__(
        self,
        uri: str,
        experiment_id: str,
        parent_run_id: str,
        sweep: str,
        metric: str,
        backbone: str,
        swept: list[str],
        done_dir: str | None = None,
    ) -> None:
        self.uri = uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.sweep = sweep
        self.metric = metric
        self.backbone = backbone
        self.swept = swept
        self.done_dir = done_dir
        self._client: MlflowClient | None = None
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, int] = {}
        self._last_checkpoint: dict[str, Any] = {}
        self._best: dict[str, float] = {}

    # Tune pickles its callbacks with the experiment (for Tuner.restore); drop live handles.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_client=None, _runs={}, _last_step={}, _last_checkpoint={}, _best={})
        return state

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = client_for(self.uri)
        return self._client

    def run_id(self, trial: Any) -> str:
        """The child run of a trial: created once, found again by tag after a restore."""
        trial_id = trial.trial_id
        if trial_id in self._runs:
            return self._runs[trial_id]
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{PARENT}` = '{self.parent_run_id}' and tags.`{TAG_TRIAL}` = '{trial_id}'",
            max_results=1,
        )
        if found:
            run_id = found[0].info.run_id
            history = self.client.get_metric_history(run_id, "d_loss")
            self._last_step[run_id] = max((m.step for m in history), default=0)
            scores = self.client.get_metric_history(run_id, self.metric)
            self._best[trial_id] = min((m.value for m in scores), default=math.inf)
            if not self._recorded_as_finished(trial):
                self.client.update_run(run_id, status="RUNNING")
        else:
            run_id = self._create_child(trial)
        self._runs[trial_id] = run_id
        return run_id

    def _create_child(self, trial: Any) -> str:
        config = dict(trial.config)
        name = f"{trial.trial_id} " + " ".join(f"{k}={_short(config[k])}" for k in self.swept if k in config)
        run = self.client.create_run(
            self.experiment_id,
            run_name=name.strip(),
            tags={
                PARENT: self.parent_run_id,
                TAG_SWEEP: self.sweep,
                TAG_KIND: "trial",
                TAG_TRIAL: trial.trial_id,
                TAG_STATUS: "running",
                TAG_METRIC: self.metric,
                TAG_BACKBONE: self.backbone,
                TAG_SWEPT: ",".join(self.swept),
            },
        )
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in sorted(config.items())])
        self._last_step[run.info.run_id] = 0
        return run.info.run_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.run_id(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if result.get("already_finished"):
            return  # a trial ending again after a restore (orchestrator/trial.py); nothing new
        run_id = self.run_id(trial)
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step.get(run_id, 0):
            return  # already logged before the driver restarted
        self._last_step[run_id] = step
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, step)
            for key, value in result.items()
            if key in _logged_keys(result) and math.isfinite(float(value))
        ]
        tags = [RunTag(TAG_NODE, str(result["node_id"]))] if "node_id" in result else []
        self.client.log_batch(run_id, metrics=metrics, tags=tags)

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        if self._recorded_as_finished(trial):
            return
        run_id = self.run_id(trial)
        self._last_checkpoint[trial.trial_id] = checkpoint
        step = int((trial.last_result or {}).get("training_iteration", 0))
        score = float((trial.last_result or {}).get(self.metric, math.nan))
        improved = score < self._best.get(trial.trial_id, math.inf)  # False for NaN
        if improved:
            self._best[trial.trial_id] = score
        with checkpoint.as_directory() as directory, tempfile.TemporaryDirectory() as tmp:
            grid = Path(directory) / "grid.png"
            if grid.exists():
                target = Path(tmp) / f"epoch_{step:03d}.png"
                target.write_bytes(grid.read_bytes())
                self.client.log_artifact(run_id, str(target), "grids")
            weights = Path(directory) / "generator.pt"
            if improved and weights.exists():
                # The generator of the best epoch so far (ASHA ranks by it; `generate` uses it).
                best = Path(tmp) / "best_generator.pt"
                best.write_bytes(weights.read_bytes())
                self.client.log_artifact(run_id, str(best), "model")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self.run_id(trial)
        last = trial.last_result or {}
        epochs = int(last.get("training_iteration", 0))
        if last.get("final"):
            status, detail = "completed", f"completed {epochs} epochs"
        else:
            status, detail = "stopped", f"stopped early by ASHA at epoch {epochs}"
        self._finish(trial, run_id, status, detail, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self.run_id(trial)
        self._finish(trial, run_id, "failed", f"failed: {_trial_error(trial)}", "FAILED")

    def _recorded_as_finished(self, trial: Any) -> bool:
        return self.done_dir is not None and (Path(self.done_dir) / trial.trial_id).exists()

    def _finish(self, trial: Any, run_id: str, status: str, detail: str, mlflow_status: str) -> None:
        if self._recorded_as_finished(trial):
            return  # recorded before the driver restarted; the restored trial only ended again
        self.client.set_tag(run_id, TAG_STATUS, status)
        self.client.set_tag(run_id, TAG_DETAIL, detail)
        checkpoint = self._last_checkpoint.get(trial.trial_id) or trial.checkpoint
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                for name, folder in (("generator.pt", "model"), ("trial_config.json", "model")):
                    path = Path(directory) / name
                    if path.exists():
                        self.client.log_artifact(run_id, str(path), folder)
        self.client.set_terminated(run_id, status=mlflow_status)
        if self.done_dir is not None:  # read by the trainable after a restore (orchestrator/trial.py)
            Path(self.done_dir).mkdir(parents=True, exist_ok=True)
            (Path(self.done_dir) / trial.trial_id).write_text(status)


def _logged_keys(result: dict) -> set[str]:
    """Numeric, trial-reported values (ours plus Tune's time counters), not Tune's bookkeeping."""
    keep = {"time_this_iter_s", "time_total_s"}
    ours = {k for k, v in result.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    tune_internal = {
        "timestamp", "training_iteration", "pid", "iterations_since_restore", "time_since_restore",
        "timesteps_total", "episodes_total", "timesteps_since_restore", "done",
    }
    return {k for k in ours if k not in tune_internal and k not in NOT_LOGGED} | (keep & set(result))


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
