"""The MLflow writer against a real SQLite store, driven the way Tune drives it.

Real `ray.tune.experiment.Trial` objects (stub trials: no actor) and real Tune checkpoints; the
callback hooks are called in Tune's order. The whole-sweep version is test_sweep_record.py.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import tiny_spec
from mlflow.tracking import MlflowClient
from PIL import Image
from ray import tune
from ray.tune.experiment import Trial

from orchestrator import trial as trial_mod
from orchestrator.record import names
from orchestrator.record.store import (
    EXPERIMENT_KIND_TAG,
    best_params,
    finished_trials,
    sample_steps,
    start_sweep_run,
    sweep_view_key,
)
from orchestrator.record.writer import MLflowTrialLogger
from orchestrator.sweep_spec import load
from trainers.config import TrainConfig
from trainers.metrics import protocol, protocol_key

METRIC = "fid128_rand"


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (34, 34, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[MlflowClient, MLflowTrialLogger, str, str]:
    spec = load(tiny_spec(tmp_path))
    data = tmp_path / "faces.npy"
    np.save(data, np.random.default_rng(0).integers(0, 255, (12, 32, 32, 3), dtype=np.uint8))
    info = {"dataset": str(data), "dataset_fingerprint": "0123456789abcdef", "images": 12,
            "protocol": protocol(dataset="0123456789abcdef", image_size=32, real_samples=12, backbone="rand",
                                 weights_id="rand", samples=128)}
    experiment_id, parent = start_sweep_run(spec, tmp_path / "runs" / "state.json", info, resume=False)
    logger = MLflowTrialLogger.for_sweep(spec, experiment_id, parent, info)
    return MlflowClient(spec.tracking_uri), logger, experiment_id, parent


def _report(logger: MLflowTrialLogger, trial: Trial, epoch: int, fid: float, **extra: float) -> dict:
    result = {"training_iteration": epoch, "epoch": float(epoch), "images_seen": 256.0 * epoch,
              "time_this_iter_s": 0.5, "d_loss": 1.0 / epoch, "g_loss": 2.0, METRIC: fid,
              "img_per_s": 300.0, "epoch_s": 0.8, "node_id": "n1", trial_mod.GRID_KEY: _png(epoch), **extra}
    trial.update_last_result(dict(result))
    logger.on_trial_result(0, [], trial, result)
    return result


def _checkpoint(tmp: Path, name: str) -> tune.Checkpoint:
    folder = tmp / name
    folder.mkdir()
    (folder / trial_mod.BEST_GENERATOR_FILE).write_bytes(b"weights")
    (folder / trial_mod.CONFIG_FILE).write_text(json.dumps({"last_is_best": True}))
    return tune.Checkpoint.from_directory(str(folder))


def test_child_and_parent_record(sweep: tuple, tmp_path: Path) -> None:
    client, logger, experiment_id, parent = sweep
    good = Trial("run_trial", config={"conv_dim": 16, "lr": 3e-4}, trial_id="b86cc_00000", stub=True)
    cut = Trial("run_trial", config={"conv_dim": 8, "lr": 1e-5}, trial_id="b86cc_00001", stub=True)
    for trial in (good, cut):
        logger.on_trial_start(0, [], trial)
    result = _report(logger, good, 1, 9.0, **{trial_mod.INITIAL_GRID_KEY: _png(0)})
    assert trial_mod.GRID_KEY not in result, "the grid bytes must not reach Tune's own loggers"
    assert trial_mod.INITIAL_GRID_KEY not in result
    _report(logger, cut, 1, 8.5)
    _report(logger, good, 2, 7.0, **{f"{METRIC}_best": 7.0, f"{METRIC}_smooth": 7.5, "signal_step": 2.0})
    _report(logger, good, 3, 8.0, final=1.0)
    logger.on_checkpoint(0, [], good, _checkpoint(tmp_path, "ckpt"))
    logger.on_trial_complete(0, [], cut)
    logger.on_trial_complete(0, [], good)

    runs = {r.data.tags[names.TAG_TRIAL]: r for r in client.search_runs(
        [experiment_id], f"tags.`{names.TAG_KIND}` = 'trial'")}
    run = runs["b86cc_00000"]
    run_id = run.info.run_id
    # the whole resolved TrainConfig as params, sampled values over the spec's
    assert set(TrainConfig().to_dict()) <= set(run.data.params)  # every field, the family's knobs too
    assert "label_smoothing" in run.data.params and "n_critic" not in run.data.params  # dcgan's only
    assert run.data.params["lr"] == "0.0003" and run.data.params["conv_dim"] == "16"
    assert run.data.params["z_dim"] == "32" and run.data.params["epochs"] == "4"
    # charts: losses, metric, speed; no bookkeeping
    assert set(run.data.metrics) == {"d_loss", "g_loss", METRIC, "img_per_s", "epoch_s", f"{METRIC}_smooth",
                                     f"best_{METRIC}", "best_epoch"}, "one best series, no signal_step"
    best = [(m.step, m.value) for m in client.get_metric_history(run_id, f"best_{METRIC}")]
    assert sorted(best) == [(1, 9.0), (2, 7.0)]
    assert run.data.metrics["best_epoch"] == 2
    assert sorted(sample_steps(client, run_id)) == [0, 1, 2, 3], "the slider starts at the untrained G"
    assert run.data.tags[names.TAG_STATUS] == "completed" and run.info.status == "FINISHED"
    assert runs["b86cc_00001"].data.tags[names.TAG_DETAIL] == "stopped early by ASHA at epoch 1"
    models = {a.path for a in client.list_artifacts(run_id, names.MODEL_DIR)}
    assert names.BEST_GENERATOR in models
    assert names.GIT_COMMIT in run.data.tags and run.data.tags[names.PARENT] == parent
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] == ["0123456789abcdef"]

    top = client.get_run(parent)
    assert top.data.metrics[f"best_{METRIC}"] == 7.0
    assert top.data.tags[names.TAG_BEST_RUN] == run_id and top.data.tags[names.TAG_BEST_EPOCH] == "2"
    recorded = json.loads(top.data.tags[names.TAG_PROTOCOL])
    assert recorded["backbone"] == "rand" and top.data.tags[names.TAG_PROTOCOL_KEY] == protocol_key(recorded)
    assert [d.dataset.digest for d in top.inputs.dataset_inputs] == ["0123456789abcdef"]
    assert sorted(sample_steps(client, parent, names.REAL_KEY)) == [0]
    assert best_params(client, parent, ["conv_dim", "lr"]) == {"conv_dim": "16", "lr": "0.0003"}
    assert finished_trials(client, parent) == 2
    tags = client.get_experiment(experiment_id).tags
    view = json.loads(tags[names.VIEW_TAG])
    assert view["orderByKey"] == f"metrics.`best_{METRIC}`" and "params.`lr`" in view["selectedColumns"]
    assert json.loads(tags[f"mlflow.sharedViewState.{sweep_view_key(parent)}"]) == view
    assert view["searchFilter"] == f"tags.`{names.PARENT}` = '{parent}'", "only this sweep's trials"
    assert tags[EXPERIMENT_KIND_TAG] == "custom_model_development", "opens on model training, not GenAI"
    assert top.info.run_name.startswith(f"{top.data.tags[names.TAG_SWEEP]} 20"), "name + start time"


def test_a_restored_writer_logs_no_step_twice(sweep: tuple) -> None:
    client, logger, experiment_id, _ = sweep
    trial = Trial("run_trial", config={"conv_dim": 16, "lr": 3e-4}, trial_id="b86cc_00002", stub=True)
    logger.on_trial_start(0, [], trial)
    _report(logger, trial, 1, 9.0)
    _report(logger, trial, 2, 7.0)
    restored = pickle.loads(pickle.dumps(logger))  # what Tuner.restore gives the new driver
    restored.on_trial_start(0, [], trial)
    _report(restored, trial, 2, 7.0)  # Tune replays the last result from the checkpoint
    _report(restored, trial, 3, 6.5)
    (run,) = client.search_runs([experiment_id], f"tags.`{names.TAG_KIND}` = 'trial'")
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")]
    assert steps == [1, 2, 3]
    best = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, f"best_{METRIC}"))
    assert best == [(1, 9.0), (2, 7.0), (3, 6.5)]
