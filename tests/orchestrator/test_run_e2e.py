"""`gansweep run` end to end: real Ray Tune, real MLflow (SQLite), real torch, on CPU."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_helpers import GANSWEEP, LoggedSweep, run_cli, store, sweep_runs, tiny_spec

from orchestrator.record.store import sample_steps

pytestmark = pytest.mark.slow


def test_sweep_records_every_trial_and_asha_stops_some(tiny_sweep: LoggedSweep) -> None:
    """The default tiny sweep (conftest.py's `tiny_sweep`, shared with record/test_sweep_record.py)."""
    assert tiny_sweep.returncode == 0, tiny_sweep.log[-3000:] + tiny_sweep.err[-3000:]

    client = store(tiny_sweep.root)
    parent, children = sweep_runs(client, "tiny")
    assert len(children) == 6
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert parent.info.status == "FINISHED"
    parent_artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "spec")}
    assert "spec/resolved_spec.json" in parent_artifacts
    assert (tiny_sweep.root / "runs" / "tiny" / "resolved_spec.json").exists()

    statuses = {c.data.tags["gansweep.status"] for c in children}
    assert "completed" in statuses
    assert "stopped" in statuses, "ASHA stopped no trial"
    for child in children:
        run_id = child.info.run_id
        history = client.get_metric_history(run_id, "fid128_rand")
        steps = sorted(m.step for m in history)
        assert steps == list(range(1, len(steps) + 1)), "one FID per epoch, step = epoch"
        status = child.data.tags["gansweep.status"]
        if status == "completed":
            assert len(steps) == 4
            assert child.data.tags["gansweep.status_detail"] == "completed 4 epochs"
            models = {a.path for a in client.list_artifacts(run_id, "model")}
            assert {"model/generator.pt", "model/best_generator.pt"} <= models
        else:
            assert status == "stopped"
            assert child.data.tags["gansweep.status_detail"] == f"stopped early by ASHA at epoch {len(steps)}"
            assert len(steps) < 4
        assert sorted(sample_steps(client, run_id)) == [0, *steps], "the untrained G, then one grid per epoch"
        assert {"conv_dim", "lr"} <= set(child.data.params)
    # The summary table printed at the end names the best trial.
    assert "best trial" in tiny_sweep.log


def test_resume_after_killing_the_driver_has_no_duplicate_runs(tmp_path: Path) -> None:
    # 4 trials, 2 at a time, under the default scheduler (sha: halving 4 -> 2 -> 1 at epochs 1 and 2):
    # killed once a trial has ended, i.e. while the others are paused at a rung or still training.
    # The resumed sweep must not wait for the ended trials at a rung (they never report again).
    spec = tiny_spec(tmp_path, name="killed", **{
        "train.epochs": 3, "search.num_samples": 2,
        "scheduler": {"type": "sha", "metric": "fid", "grace_period": 1, "reduction_factor": 2},
    })
    env = {**os.environ}
    proc = subprocess.Popen(
        [*GANSWEEP, "run", str(spec)], cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = store(tmp_path)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            time.sleep(0.5)
            experiment = client.get_experiment_by_name("killed") if (tmp_path / "mlruns").exists() else None
            if experiment is None:
                continue
            runs = client.search_runs([experiment.experiment_id], "tags.`gansweep.kind` = 'trial'")
            if any(r.data.tags.get("gansweep.status") != "running" for r in runs):
                break  # at least one trial finished: kill mid-sweep
        else:
            pytest.fail("the sweep never got going")
        assert proc.poll() is None, "the sweep finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    _, before = sweep_runs(client, "killed")
    completed_before = {
        r.data.tags["gansweep.trial_id"]: len(client.get_metric_history(r.info.run_id, "d_loss"))
        for r in before
        if r.data.tags["gansweep.status"] == "completed"
    }
    done = run_cli(["run", str(spec), "--resume"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    _, after = sweep_runs(client, "killed")
    trial_ids = [r.data.tags["gansweep.trial_id"] for r in after]
    assert len(trial_ids) == len(set(trial_ids)) == 4, "duplicate or missing child runs"
    for run in after:
        assert run.data.tags["gansweep.status"] in {"completed", "stopped"}
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "d_loss")
        steps = sorted(m.step for m in history)
        assert steps == list(range(1, len(steps) + 1)), "an epoch was logged twice or is missing"
        trial_id = run.data.tags["gansweep.trial_id"]
        if trial_id in completed_before:  # a trial that had trained all its epochs trained no more
            assert len(steps) == completed_before[trial_id]
    # MLflow follows Tune's restored state: a trial Tune's last snapshot had as running is run again
    # from its checkpoint (one ASHA had stopped after that snapshot may train on), and none of
    # Tune's results is a NaN stand-in (the old "already finished" marker reported NaN).
    for result_file in (tmp_path / "runs" / "killed").glob("*/result.json"):
        for line in result_file.read_text().splitlines():
            if line.strip():
                value = json.loads(line).get("fid128_rand")
                assert value is not None and math.isfinite(value), f"{result_file.parent.name}: {line[:200]}"


def test_ctrl_c_ends_with_a_resume_hint_and_resume_finishes(tmp_path: Path) -> None:
    # 4 trials of 2 epochs, 2 at a time: Ctrl-C comes while two run and two have not started.
    spec = tiny_spec(tmp_path, name="interrupted", **{"train.epochs": 2, "search.num_samples": 2})
    proc = subprocess.Popen(
        [*GANSWEEP, "run", str(spec)], cwd=tmp_path, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    client = store(tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        experiment = client.get_experiment_by_name("interrupted") if (tmp_path / "mlruns").exists() else None
        if experiment is not None and client.search_runs(
            [experiment.experiment_id], "tags.`gansweep.kind` = 'trial'"
        ):
            break
    assert proc.poll() is None, "the sweep finished before Ctrl-C"
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends to the foreground group
    try:
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert "--resume" in err

    parent, _ = sweep_runs(client, "interrupted")
    assert parent.info.status == "KILLED"
    done = run_cli(["run", str(spec), "--resume"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    parent, children = sweep_runs(client, "interrupted")
    assert parent.info.status == "FINISHED"
    assert len({c.data.tags["gansweep.trial_id"] for c in children}) == len(children) == 4
    assert all(c.data.tags["gansweep.status"] in {"completed", "stopped"} for c in children)
