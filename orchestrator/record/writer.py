"""The one MLflow writer of a sweep: a Ray Tune callback in the driver process.

Trials never talk to MLflow; they report scalars and checkpoints to Tune and the driver logs
them. That keeps a SQLite store free of "database is locked" however many trials run at once,
and on a cluster only the driver needs to reach the tracking server. Child runs are tagged with
the Tune trial id, so a resumed sweep (`--resume`, a new driver process) re-attaches to the same
runs instead of duplicating them, and steps already logged are skipped.

What a child run holds: the trial's whole resolved TrainConfig as params; per epoch (step =
epoch) the chartable values (`names.chartable`), `best_<metric>`/`best_epoch` when the metric
improves, and the fixed-noise sample grid as an MLflow image (the run page's step slider, from the
untrained generator's grid at step 0); at the
end the status, and the best epoch's generator once. The parent gets the sweep's best.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from PIL import Image
from ray.tune import Callback

from orchestrator import trial as trial_mod
from orchestrator.record import names
from orchestrator.record.store import client_for, dataset_input, source_tags
from orchestrator.sampling import RESEED_INDEX, RESEED_KEY, RESEED_OF, SEED_KEY, unwrap_reseed
from orchestrator.schedule import SIGNAL_STEP_KEY, signal_key
from orchestrator.schedulers import scheduler_label
from orchestrator.sweep_spec import SweepSpec


def trial_error(trial: Any) -> str:
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
        scheduler: str = "ASHA",
        base_config: dict[str, Any] | None = None,
        run_tags: dict[str, str] | None = None,
        dataset: Any = None,
    ) -> None:
        self.uri = uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.sweep = sweep
        self.metric = metric
        self._sign = names.sign_of(metric)  # sign * value is lower-is-better (the metric's mode)
        self.backbone = backbone
        self.swept = swept
        self.done_dir = done_dir
        self.scheduler = scheduler  # its display name, for "stopped early by ASHA at epoch 2"
        self.base_config = dict(base_config or {})
        self.run_tags = dict(run_tags or {})  # MLflow source tags shared with the parent
        self.dataset = dataset  # mlflow DatasetInput of the training images, or None
        self._client: MlflowClient | None = None
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, int] = {}
        self._last_checkpoint: dict[str, Any] = {}
        self._best: dict[str, float] = {}  # per trial, sign * its best value
        self._sweep_best: float | None = None

    @classmethod
    def for_sweep(
        cls, spec: SweepSpec, experiment_id: str, parent_run_id: str, info: dict[str, Any],
        done_dir: str | None = None,
    ) -> MLflowTrialLogger:
        """The writer of `spec`'s sweep, everything it needs taken from the spec and prepare's info."""
        return cls(
            uri=spec.tracking_uri,
            experiment_id=experiment_id,
            parent_run_id=parent_run_id,
            sweep=spec.name,
            metric=spec.asha_metric,
            backbone=spec.metrics.backbone,
            swept=sorted(spec.search_params()),
            scheduler=scheduler_label(spec.scheduler.type),
            done_dir=done_dir,
            base_config=spec.base_train_values(),
            run_tags=source_tags(spec),
            dataset=dataset_input(spec, info),
        )

    # Tune pickles its callbacks with the experiment (for Tuner.restore); drop live handles.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_client=None, _runs={}, _last_step={}, _last_checkpoint={}, _best={}, _sweep_best=None)
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
            filter_string=f"tags.`{names.PARENT}` = '{self.parent_run_id}' and "
            f"tags.`{names.TAG_TRIAL}` = '{trial_id}'",
            max_results=1,
        )
        if found:
            run_id = found[0].info.run_id
            history = self.client.get_metric_history(run_id, "d_loss")
            self._last_step[run_id] = max((m.step for m in history), default=0)
            scores = self.client.get_metric_history(run_id, self.metric)
            self._best[trial_id] = min((self._sign * m.value for m in scores), default=math.inf)
            # MLflow follows Tune: a trial Tune runs again after a restore (unfinished in its last
            # snapshot, or errored) is open again, whatever this store said before the driver died.
            self.client.update_run(run_id, status="RUNNING")
            self.client.set_tag(run_id, names.TAG_STATUS, "running")
        else:
            run_id = self._create_child(trial)
        self._runs[trial_id] = run_id
        return run_id

    def _create_child(self, trial: Any) -> str:
        sampled, reseed = unwrap_reseed(dict(trial.config))
        config = trial_mod.merged_config(self.base_config, sampled).to_dict()
        swept = " ".join(f"{k}={_short(config[k])}" for k in self.swept if k in config)
        # a reseed (metrics.final_seeds) is a child of the same parent, of its own kind: reports and
        # the re-measurement's ranking count sweep trials only; it names the trial it retrains
        kind = {names.TAG_KIND: names.KIND_TRIAL}
        if reseed is not None:
            of = names.short_trial_id(reseed[RESEED_OF])
            swept = f"reseed {reseed[RESEED_INDEX]} of {of} seed={config.get(SEED_KEY)} {swept}"
            kind = {names.TAG_KIND: names.KIND_RESEED, names.TAG_RESEED_OF: reseed[RESEED_OF],
                    names.TAG_RESEED_INDEX: str(reseed[RESEED_INDEX])}
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{trial.trial_id} {swept}".strip(),
            tags={
                **self.run_tags,
                names.PARENT: self.parent_run_id,
                names.TAG_SWEEP: self.sweep,
                **kind,
                names.TAG_TRIAL: trial.trial_id,
                names.TAG_STATUS: "running",
                names.TAG_METRIC: self.metric,
                names.TAG_BACKBONE: self.backbone,
                names.TAG_SWEPT: ",".join(self.swept),
            },
        )
        run_id = run.info.run_id
        params = names.flat_params(config)
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in sorted(params.items())])
        if self.dataset is not None:
            self.client.log_inputs(run_id, datasets=[self.dataset])
        self._last_step[run_id] = 0
        return run_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.run_id(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        grid = trial_mod.pop_epoch_grid(result)  # first, so no image bytes reach Tune's own loggers
        initial = result.pop(trial_mod.INITIAL_GRID_KEY, None)  # the untrained G: the slider's step 0
        run_id = self.run_id(trial)
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step.get(run_id, 0):
            return  # already logged before the driver restarted
        self._last_step[run_id] = step
        now = int(time.time() * 1000)
        # The schedulers' best-so-far signal repeats `best_<metric>` and `signal_step` is their clock:
        # neither is a chart a person wants, so a child holds one "best" series.
        hidden = {signal_key(self.metric, "best"), SIGNAL_STEP_KEY}
        values = {k: v for k, v in names.chartable(result).items() if math.isfinite(v) and k not in hidden}
        score = values.get(self.metric, math.nan)
        if self._sign * score < self._best.get(trial.trial_id, math.inf):  # False for NaN
            self._best[trial.trial_id] = self._sign * score
            values[names.best_key(self.metric)] = score
            values[names.BEST_EPOCH] = float(step)
            if RESEED_KEY not in trial.config:  # a reseed never becomes the sweep's best trial
                self._improve_sweep(trial, run_id, score, step)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        tags = [RunTag(names.TAG_NODE, str(result["node_id"]))] if "node_id" in result else []
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        for at, png in ((0, initial), (step, grid)):  # MLflow's image slider on the run page: one per step
            if png is not None:
                with Image.open(io.BytesIO(bytes(png))) as image:
                    self.client.log_image(run_id, image.convert("RGB"), key=names.SAMPLES_KEY, step=at)

    def _improve_sweep(self, trial: Any, run_id: str, score: float, step: int) -> None:
        """Keep the parent's `best_<metric>` and best-run tags on the best child so far."""
        key = names.best_key(self.metric)
        if self._sweep_best is None:  # first use (also after a restore): what the parent holds
            held = self.client.get_run(self.parent_run_id).data.metrics.get(key)
            self._sweep_best = self._sign * held if held is not None else math.inf
        if self._sign * score >= self._sweep_best:
            return
        self._sweep_best = self._sign * score
        now = int(time.time() * 1000)
        self.client.log_batch(
            self.parent_run_id,
            metrics=[Metric(key, score, now, 0)],
            tags=[RunTag(names.TAG_BEST_RUN, run_id), RunTag(names.TAG_BEST_TRIAL, trial.trial_id),
                  RunTag(names.TAG_BEST_EPOCH, str(step))],
        )

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        self._last_checkpoint[trial.trial_id] = checkpoint  # `trial.checkpoint` may lag behind

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self.run_id(trial)
        last = trial.last_result or {}
        epochs = int(last.get("training_iteration", 0))
        diverged = trial_mod.diverged_reason(last)
        if diverged:
            self._finish(trial, run_id, "failed", f"failed: diverged: {diverged}", "FAILED")
            return
        if last.get(names.FINAL_KEY):
            status, detail = "completed", f"completed {epochs} epochs"
        else:
            status, detail = "stopped", f"stopped early by {self.scheduler} at epoch {epochs}"
        self._finish(trial, run_id, status, detail, "FINISHED")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """The trial's worker died; Tune restarts it from its last checkpoint in the same run."""
        self.client.set_tag(self.run_id(trial), names.TAG_RESTARTS, str(trial.num_failures))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self.run_id(trial)
        self._finish(trial, run_id, "failed", f"failed: {trial_error(trial)}", "FAILED")

    def _finish(self, trial: Any, run_id: str, status: str, detail: str, mlflow_status: str) -> None:
        self.client.set_tag(run_id, names.TAG_STATUS, status)
        self.client.set_tag(run_id, names.TAG_DETAIL, detail)
        self._log_generators(trial, run_id)
        self.client.set_terminated(run_id, status=mlflow_status)

    def _log_generators(self, trial: Any, run_id: str) -> None:
        """Once per trial: the best epoch's generator (what `generate` uses), the last one, the config."""
        checkpoint = self._last_checkpoint.get(trial.trial_id) or trial.checkpoint
        with trial_mod.model_files(checkpoint) as files, tempfile.TemporaryDirectory() as tmp:
            for name, path in files.items():
                target = Path(tmp) / name
                shutil.copyfile(path, target)
                self.client.log_artifact(run_id, str(target), names.MODEL_DIR)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
