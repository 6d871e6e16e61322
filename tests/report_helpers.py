"""A sweep recorded by hand the way `orchestrator.record` records one, so every expected number is known.

Shared by the report tests (tests/orchestrator/report/): the tags, params, per-epoch metrics and
sample images a real sweep leaves in MLflow, with the optional protocol record and re-measured
`final_<metric>` values of newer sweeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from PIL import Image

from orchestrator.record.names import (
    PARENT,
    SAMPLES_KEY,
    TAG_DETAIL,
    TAG_KIND,
    TAG_METRIC,
    TAG_PROTOCOL,
    TAG_PROTOCOL_KEY,
    TAG_STATUS,
    TAG_SWEEP,
    TAG_SWEPT,
    TAG_TRIAL,
)

Trials = dict[str, tuple[dict[str, Any], str, str, list[float]]]
SEARCH = {"conv_dim.grid": "[16, 32]", "lr.loguniform": "[0.0001, 0.003]"}

# trial id -> (params, status, detail, fid per epoch)
DEMO_TRIALS: Trials = {
    "abc_00000": ({"conv_dim": 16, "lr": 1.5e-4}, "completed", "completed 3 epochs", [30.0, 20.0, 25.0]),
    "abc_00001": ({"conv_dim": 32, "lr": 4.0e-4}, "completed", "completed 3 epochs", [28.0, 18.0, 12.0]),
    "abc_00002": ({"conv_dim": 16, "lr": 9.0e-4}, "stopped", "stopped early by ASHA at epoch 2",
                  [35.0, 33.0]),
    "abc_00003": ({"conv_dim": 32, "lr": 2.5e-3}, "failed", "failed: diverged: d_loss became nan at epoch 1",
                  []),
    "abc_00004": ({"conv_dim": 32, "lr": 6.0e-4}, "completed", "completed 3 epochs", [29.0, 19.0, 14.0]),
}


def _grid_png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (66, 66, 3), dtype=np.uint8)).save(path)
    return path


def make_sweep(
    client: MlflowClient,
    tmp: Path,
    name: str,
    metric: str,
    trials: Trials,
    experiment: str | None = None,
    protocol: dict[str, Any] | None = None,
    finals: dict[str, float] | None = None,
    search: dict[str, str] | None = None,
) -> str:
    """A sweep recorded the way orchestrator.record records one; returns the parent run id.

    `protocol`: tags `gansweep.protocol` (JSON) and `gansweep.protocol_key` on the parent (the key is
    a readable join of the values, enough for tests); `finals`: trial id -> re-measured
    `final_<metric>`; `search`: `param.kind` -> spec value, logged as `spec.search.params.*`.
    """
    experiment = experiment or name
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else client.create_experiment(experiment)
    swept = sorted({k for params, *_ in trials.values() for k in params})
    tags = {TAG_SWEEP: name, TAG_KIND: "sweep", TAG_METRIC: metric, TAG_SWEPT: ",".join(swept)}
    if protocol is not None:
        tags[TAG_PROTOCOL] = json.dumps(protocol, sort_keys=True)
        tags[TAG_PROTOCOL_KEY] = "-".join(str(protocol[k]) for k in sorted(protocol))
    parent = client.create_run(exp_id, run_name=name, tags=tags)
    pid = parent.info.run_id
    client.log_batch(pid, params=[
        Param("spec.model.conv_dim", "16"), Param("spec.train.batch_size", "64"),
        *(Param(f"spec.search.params.{k}", v) for k, v in (SEARCH if search is None else search).items()),
    ])
    kid = metric.replace("fid", "kid", 1)
    for i, (trial_id, (params, status, detail, fids)) in enumerate(trials.items()):
        run = client.create_run(exp_id, run_name=trial_id, tags={
            PARENT: pid, TAG_SWEEP: name, TAG_KIND: "trial", TAG_TRIAL: trial_id, TAG_STATUS: status,
            TAG_DETAIL: detail, TAG_METRIC: metric, TAG_SWEPT: ",".join(swept)})
        rid = run.info.run_id
        client.log_batch(rid, params=[Param(k, str(v)) for k, v in params.items()])
        metrics = []
        for epoch, fid in enumerate(fids, start=1):
            values = {metric: fid, kid: fid / 100, "d_loss": 1.0 / epoch, "g_loss": 2.0 + epoch,
                      "epoch_s": 0.5 * params.get("conv_dim", 16) / 16, "eval_s": 0.1,
                      "img_per_s": 100.0 * epoch, "time_total_s": 0.7 * epoch}
            metrics += [Metric(k, v, 0, epoch) for k, v in values.items()]
        if finals and trial_id in finals:
            metrics.append(Metric(f"final_{metric}", finals[trial_id], 0, len(fids)))
        if metrics:
            client.log_batch(rid, metrics=metrics)
        for epoch in range(1, len(fids) + 1):
            grid = _grid_png(tmp / f"epoch_{epoch:03d}.png", seed=i * 10 + epoch)
            client.log_image(rid, Image.open(grid), key=SAMPLES_KEY, step=epoch)  # as record.writer does
        client.set_terminated(rid, "FAILED" if status == "failed" else "FINISHED")
    client.set_terminated(pid, "FINISHED")
    return pid
