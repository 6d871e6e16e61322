"""The MLflow store of sweeps: client, experiment, and the parent run of one sweep.

A sweep is a parent run; its trials are child runs (written by `record.writer`). The parent
carries what every trial shares: the resolved spec (params + artifact), MLflow's own source tags
(git commit, entry point), the dataset as an MLflow input with its fingerprint as digest, a grid of
real training images to hold the samples against, the measurement protocol, and, as trials
report, the sweep's best value and which run holds it. The tracking-URI default rule lives in
the spec package (`orchestrator.sweep_spec.default_tracking_uri`); this module only uses the URI.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mlflow.entities import DatasetInput, InputTag, Param
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags

from orchestrator.record import names
from orchestrator.record.sqlite import sqlite_path

if TYPE_CHECKING:
    from orchestrator.sweep_spec import SweepSpec

REAL_GRID_IMAGES = 64
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def default_artifact_root(uri: str) -> str | None:
    """Artifacts of a local SQLite store live beside the database, in `<db dir>/artifacts`."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").resolve().as_uri() if db is not None else None


# A new SQLite store logs its schema migration at INFO ("Creating initial MLflow database tables",
# alembic's "Running upgrade ..."): dozens of lines before the first line of the sweep's own.
QUIET_LOGGERS = ("mlflow.store.db.utils", "alembic")


def quiet_migrations() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def default_tracking_uri() -> str:
    """``orchestrator.sweep_spec.default_tracking_uri``, imported when called: the spec package loads
    the GAN families (their knobs shape the spec), hence torch, which `report` and `ui` never need."""
    from orchestrator.sweep_spec import default_tracking_uri as rule

    return rule()


def client_for(uri: str | None = None) -> MlflowClient:
    """A client on `uri` (default: the spec package's rule), creating a local SQLite folder."""
    quiet_migrations()
    uri = uri or default_tracking_uri()
    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=default_artifact_root(uri))


def git_commit(directory: Path = PACKAGE_ROOT) -> str | None:
    """The commit of the gansweep code that ran (not of the user's working directory)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def source_tags(spec: SweepSpec) -> dict[str, str]:
    """MLflow's system tags (user, source name/type, git commit): the UI's Source/Version columns."""
    tags = dict(resolve_tags({}))
    tags[names.SOURCE_NAME] = str(spec.source_path) if spec.source_path else f"gansweep run {spec.name}"
    tags[names.SOURCE_TYPE] = "LOCAL"
    commit = git_commit()
    if commit:
        tags[names.GIT_COMMIT] = commit
    return {k: str(v) for k, v in tags.items()}


def dataset_input(spec: SweepSpec, info: dict[str, Any]) -> DatasetInput | None:
    """The training images as an MLflow dataset: name, digest = the cache fingerprint, source path."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    fingerprint = info.get("dataset_fingerprint")
    if not fingerprint:
        return None
    where = spec.data.path or info.get("dataset") or spec.data.source
    with warnings.catch_warnings():  # MLflow warns that two local sources match a path: same thing
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(str(where))
    name = f"{spec.data.source}-{spec.data.image_size}px-{info.get('images', '?')}"
    dataset = MetaDataset(source, name=name, digest=str(fingerprint)[:36])
    return DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "train")])


def protocol_tags(info: dict[str, Any]) -> dict[str, str]:
    """Tags naming the measurement protocol (from preparation's `"protocol"` entry, when present)."""
    protocol = info.get("protocol")
    if not protocol:
        return {}
    tags = {names.TAG_PROTOCOL: json.dumps(protocol, sort_keys=True, default=str)[:5000]}
    try:
        from trainers.metrics import protocol_key
    except ImportError:  # the metrics package predates the protocol helpers
        return tags
    tags[names.TAG_PROTOCOL_KEY] = protocol_key(protocol)
    return tags


def real_grid(data_path: str | None, count: int = REAL_GRID_IMAGES, seed: int = 0) -> np.ndarray | None:
    """A grid of `count` random real training images (uint8 HWC), laid out like the sample grids."""
    if not data_path or not Path(data_path).exists():
        return None
    from trainers.models import images_to_grid
    from trainers.pixels import to_float

    images = np.load(data_path, mmap_mode="r")
    if images.ndim != 4 or len(images) == 0:
        return None
    picks = np.sort(np.random.default_rng(seed).choice(len(images), min(count, len(images)), replace=False))
    return images_to_grid(to_float(images[picks]))


# MLflow 3's UI opens an experiment in its GenAI workspace (Traces, Evaluations, Judges) unless the
# experiment says it holds model training: the experiment tag below, and `workflowType` in the URL
# for UIs that keep the workspace choice per browser.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
WORKFLOW = "workflowType=machine_learning"


def sweep_view_key(parent_run_id: str) -> str:
    """The shared-view key of one sweep's runs table: `gansweep-<first 8 of its parent run id>`."""
    return f"{names.VIEW_KEY}-{parent_run_id[:8]}"


def runs_view(metric: str, swept: list[str], parent_run_id: str | None = None,
              final: str | None = None) -> dict[str, Any]:
    """The runs table state MLflow's UI restores from a shared-view tag.

    With `parent_run_id`: only that sweep's trials (`searchFilter` on the parent tag), sorted by the
    re-measured `final` metric when the sweep has one (trials without it come after), else by best.
    """
    best = f"metrics.`{names.best_key(metric)}`"
    columns = [f"metrics.`{final}`"] if final else []
    columns += [best, f"metrics.`{names.BEST_EPOCH}`"]
    columns += [f"params.`{p}`" for p in swept]
    columns += [f"tags.`{names.TAG_STATUS}`", f"metrics.`{metric}`"]
    view: dict[str, Any] = {
        "selectedColumns": columns,
        "orderByKey": f"metrics.`{final}`" if final else best,
        "orderByAsc": True,
    }
    if parent_run_id:
        view["searchFilter"] = f"tags.`{names.PARENT}` = '{parent_run_id}'"
    return view


def install_view(client: MlflowClient, experiment_id: str, metric: str, swept: list[str],
                 parent_run_id: str | None = None, final: str | None = None, latest: bool = True) -> str:
    """Store the sweep's view (and, `latest`, the experiment-wide `gansweep` view); returns its key.

    Also marks the experiment as model training, so the UI opens on runs, not on GenAI traces.
    """
    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    view = json.dumps(runs_view(metric, swept, parent_run_id, final))
    if latest:
        client.set_experiment_tag(experiment_id, names.VIEW_TAG, view)
    if parent_run_id is None:
        return names.VIEW_KEY
    key = sweep_view_key(parent_run_id)
    client.set_experiment_tag(experiment_id, f"mlflow.sharedViewState.{key}", view)
    return key


def install_sweep_view(client: MlflowClient, parent_run_id: str, latest: bool = False) -> tuple[str, str]:
    """The view of a recorded sweep, from its parent's tags; returns (experiment id, view key)."""
    run = client.get_run(parent_run_id)
    tags = run.data.tags
    swept = [s for s in tags.get(names.TAG_SWEPT, "").split(",") if s]
    key = install_view(client, run.info.experiment_id, tags.get(names.TAG_METRIC, "fid"), swept,
                       parent_run_id, tags.get(names.TAG_FINAL_METRIC), latest=latest)
    return run.info.experiment_id, key


def experiment_url(base: str, experiment_id: str | None, key: str = names.VIEW_KEY) -> str:
    """The UI page of an experiment, opening on a saved runs view; `base` without a slash."""
    if experiment_id is None:
        return base + "/"
    return f"{base}/#/experiments/{experiment_id}/runs?viewStateShareKey={key}&{WORKFLOW}"


def parent_run_name(name: str, started: float | None = None) -> str:
    """`demo 2026-12-07 16:09`: sweeps of one name stay apart in the UI's run list."""
    return f"{name} {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}"


def start_sweep_run(
    spec: SweepSpec, state_file: Path, info: dict[str, Any], resume: bool
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
    swept = sorted(spec.search_params())
    run = client.create_run(
        experiment_id,
        run_name=parent_run_name(spec.name),
        tags={
            **source_tags(spec),
            **protocol_tags(info),
            names.TAG_SWEEP: spec.name,
            names.TAG_KIND: names.KIND_SWEEP,
            names.TAG_METRIC: spec.asha_metric,
            names.TAG_BACKBONE: spec.metrics.backbone,
            names.TAG_SPEC_HASH: spec.spec_hash,
            names.TAG_SWEPT: ",".join(swept),
        },
    )
    run_id = run.info.run_id
    try:
        _fill_sweep_run(client, spec, experiment_id, run_id, state_file, info, swept)
    except BaseException:  # a parent that failed to start is FAILED, never RUNNING for ever
        client.set_terminated(run_id, status="FAILED")
        raise
    return experiment_id, run_id


def _fill_sweep_run(client: MlflowClient, spec: SweepSpec, experiment_id: str, run_id: str, state_file: Path,
                    info: dict[str, Any], swept: list[str]) -> None:
    """What a new parent run carries (params, inputs, real grid, spec artifacts) and the state file."""
    resolved = spec.resolved()
    params = names.flat_params(resolved, names.SPEC_PARAM_PREFIX)
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    dataset = dataset_input(spec, info)
    if dataset is not None:
        client.log_inputs(run_id, datasets=[dataset])
    grid = real_grid(info.get("dataset"), seed=spec.seed)
    if grid is not None:
        client.log_image(run_id, grid, key=names.REAL_KEY, step=0)
    install_view(client, experiment_id, spec.asha_metric, swept, run_id)
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "resolved_spec.json").write_text(json.dumps(resolved, indent=2, default=str))
        Path(directory, "real_stats.json").write_text(json.dumps(info, indent=2, default=str))
        client.log_artifact(run_id, str(Path(directory, "resolved_spec.json")), names.SPEC_DIR)
        client.log_artifact(run_id, str(Path(directory, "real_stats.json")), names.SPEC_DIR)
    if spec.source_path is not None and Path(spec.source_path).exists():
        client.log_artifact(run_id, str(spec.source_path), names.SPEC_DIR)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state = {"parent_run_id": run_id, "experiment_id": experiment_id, "spec_hash": spec.spec_hash}
    state_file.write_text(json.dumps(state))
    # The resolved spec also lives beside Tune's results (and inside every trial checkpoint).
    (state_file.parent / "resolved_spec.json").write_text(json.dumps(resolved, indent=2, default=str))


def sample_steps(client: MlflowClient, run_id: str, key: str = names.SAMPLES_KEY) -> dict[int, str]:
    """{step: artifact path} of the full-size images logged under `key` (MLflow's image naming)."""
    out: dict[int, str] = {}
    for item in client.list_artifacts(run_id, "images"):
        stem = Path(item.path).name
        if not stem.endswith(".png") or not stem.startswith(f"{key}+step+"):
            continue
        step = int(stem.removeprefix(f"{key}+step+").split("+", 1)[0])
        out[step] = item.path  # several at one step (a restarted epoch): the last listed wins
    return out


__all__ = [
    "client_for", "default_artifact_root", "default_tracking_uri", "ensure_experiment", "experiment_url",
    "sample_steps", "start_sweep_run",
]


def finished_trials(client: MlflowClient, parent_run_id: str) -> int:
    """Child runs of a sweep that ended (completed, stopped or failed): what `--resume` skips."""
    run = client.get_run(parent_run_id)
    children = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{names.PARENT}` = '{parent_run_id}' "
                      f"and tags.`{names.TAG_KIND}` = '{names.KIND_TRIAL}'",
        max_results=10_000,
    )
    return sum(1 for c in children if c.data.tags.get(names.TAG_STATUS, "running") != "running")


def best_params(client: MlflowClient, parent_run_id: str, keys: list[str]) -> dict[str, str]:
    """The params `keys` of the sweep's best child run (tagged on the parent), as MLflow stored them."""
    best = client.get_run(parent_run_id).data.tags.get(names.TAG_BEST_RUN)
    if not best:
        return {}
    params = client.get_run(best).data.params
    return {k: params[k] for k in keys if k in params}
