"""Faults the Ray way, end to end (real Ray Tune, MLflow on SQLite, torch on CPU): a trial whose
worker process is SIGKILLed continues from its checkpoint in the same MLflow run (under
`scheduler.type: none` with only the time cadence of checkpoints, `every_s`); a second sweep
on the same SQLite store is refused before it starts; storage given as a file:// URI; a spec
without tracking.uri records where $MLFLOW_TRACKING_URI says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_helpers import GANSWEEP, run_cli, store, sweep_runs, tiny_spec

from orchestrator import reaper

pytestmark = pytest.mark.slow

EPOCHS = 6


def _training_workers(driver: int) -> list[int]:
    """Ray worker processes of this sweep that are inside a trial's training call right now."""
    found = []
    for pid in reaper.descendants(driver):  # the driver starts the local Ray: its workers are below it
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ImplicitFunc.train" in cmdline:
            found.append(pid)
    return found


def _steps(client, run_id: str) -> list[int]:  # noqa: ANN001 - MlflowClient
    return sorted(m.step for m in client.get_metric_history(run_id, "d_loss"))


def _two_trial_spec(tmp_path: Path, name: str, **overrides: object) -> Path:
    """Two trials (conv_dim 8 and 16) that both run all epochs, resume state every 2 epochs. No
    end-of-sweep re-measurement (3 draws of 1024 samples per trial): nothing here reads it, and
    test_driver_faults_e2e.py checks it after a driver kill."""
    values: dict[str, object] = {
        "data": {"source": "synthetic", "image_size": 32, "count": 1024},
        "metrics": {"backbone": "rand", "samples": 128, "batch_size": 128, "final_top_k": 0},
        "search": {"algorithm": "grid", "num_samples": 1, "params": {"conv_dim": {"grid": [8, 16]}}},
        "scheduler": {"type": "none", "metric": "fid"},
        "checkpoint": {"every": 2},
        "train.epochs": EPOCHS,
    }
    values.update(overrides)
    return tiny_spec(tmp_path, name=name, **values)


def _run_and_kill_one_worker(
    tmp_path: Path, spec: Path, name: str
) -> tuple[int, subprocess.Popen[str], str, dict[str, int]]:
    """Run the sweep; once both trials have a checkpoint and are still training, SIGKILL one
    trial's worker process (mid-epoch: it is inside its training call).
    Returns (pid, proc, output, {trial_id: epochs logged at the kill})."""
    proc = subprocess.Popen(
        [*GANSWEEP, "run", str(spec)], cwd=tmp_path, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
    )
    client = store(tmp_path)
    killed = None
    logged: dict[str, int] = {}
    try:
        deadline = time.time() + 400
        while killed is None and time.time() < deadline and proc.poll() is None:
            time.sleep(0.3)
            experiment = client.get_experiment_by_name(name) if (tmp_path / "mlruns").exists() else None
            if experiment is None:
                continue
            runs = client.search_runs([experiment.experiment_id], "tags.`gansweep.kind` = 'trial'")
            logged = {r.data.tags["gansweep.trial_id"]: len(_steps(client, r.info.run_id)) for r in runs}
            running = [logged[r.data.tags["gansweep.trial_id"]] for r in runs
                       if r.data.tags.get("gansweep.status") == "running"]
            # Every trial still training has a checkpoint (epoch 2 or later) and epochs left to train.
            if len(runs) == 2 and running and all(2 <= n < EPOCHS - 1 for n in running):
                workers = _training_workers(proc.pid)
                if workers:
                    killed = workers[0]
                    os.kill(killed, signal.SIGKILL)
        if killed is None:
            proc.kill()
        out, err = proc.communicate(timeout=600)
        assert killed is not None, "never caught a trial training with a checkpoint: " + (out + err)[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return killed, proc, out[-3000:] + err[-3000:], logged


def test_a_trial_whose_worker_is_killed_finishes_from_its_checkpoint_in_the_same_run(tmp_path: Path) -> None:
    """With only the time cadence of checkpoints (no `every`, no rungs: `scheduler.type: none`):
    before issue 24 a dead worker retrained from epoch 1. With `every_s` tiny every report is past
    the cadence, so the trial continues where it died."""
    spec = _two_trial_spec(tmp_path, "faults", checkpoint={"every_s": 0.001})
    killed, proc, output, logged = _run_and_kill_one_worker(tmp_path, spec, "faults")
    assert proc.returncode == 0, output
    client = store(tmp_path)

    parent, children = sweep_runs(client, "faults")
    assert parent.info.status == "FINISHED"
    assert len(children) == 2, "one child run per trial, also for the restarted one"
    restarted = [c for c in children if c.data.tags.get("gansweep.restarts")]
    assert len(restarted) == 1 and restarted[0].data.tags["gansweep.restarts"] == "1"
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["gansweep.status"] == "completed"
        assert _steps(client, child.info.run_id) == list(range(1, EPOCHS + 1)), "contiguous, no duplicate"

    # Tune's own record of the killed trial: a second worker took over from the checkpoint of its
    # last report (the time cadence), not from scratch, and the trial ran to its last epoch.
    trial_id = restarted[0].data.tags["gansweep.trial_id"]
    (result_file,) = (tmp_path / "runs" / "faults").glob(f"*{trial_id}*/result.json")
    results = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
    assert results[0]["pid"] == killed and results[-1]["pid"] != killed
    first = next(r for r in results if r["pid"] != killed)["training_iteration"]
    print(f"\n[worker SIGKILL, scheduler none, every_s] epochs logged at the kill {logged}; "
          f"the killed trial continued at epoch {first}")
    assert first >= 3, "continued from a checkpoint of epoch >= 2, not from epoch 1"
    assert first >= logged[trial_id], "lost at most the epoch in progress"
    assert results[-1]["training_iteration"] == EPOCHS and results[-1]["final"] == 1.0


def test_resume_continues_a_trial_that_ran_out_of_retries(tmp_path: Path) -> None:
    """With max_failures 0 a dead worker fails its trial; `--resume` continues it from its
    checkpoint (Tuner.restore resume_errored) in the same MLflow run, reopened."""
    spec = _two_trial_spec(tmp_path, "retry", resources={"cpus_per_trial": 1, "gpus_per_trial": 0,
                                                         "max_concurrent": 2, "max_failures": 0})
    _, proc, output, _ = _run_and_kill_one_worker(tmp_path, spec, "retry")
    assert proc.returncode == 0, output
    client = store(tmp_path)
    _, children = sweep_runs(client, "retry")
    failed = [c for c in children if c.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.tags["gansweep.status"] == "failed"
    steps_before = _steps(client, failed[0].info.run_id)
    assert 2 <= len(steps_before) < EPOCHS

    done = run_cli(["run", str(spec), "--resume"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    parent, children = sweep_runs(client, "retry")
    assert parent.info.status == "FINISHED" and len(children) == 2
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["gansweep.status"] == "completed"
        assert _steps(client, child.info.run_id) == list(range(1, EPOCHS + 1))


def test_file_uri_storage_and_a_second_sweep_on_the_same_sqlite_store_is_refused(tmp_path: Path) -> None:
    storage = tmp_path / "elsewhere"
    first = tiny_spec(tmp_path, name="first", storage=storage.as_uri(), **{"train.epochs": 2})
    # The second spec names no store: $MLFLOW_TRACKING_URI (the same SQLite file) is the one it uses.
    # Once the first has ended it runs to the end, so it is kept small: 1 trial of 1 epoch.
    one_trial = {"algorithm": "grid", "num_samples": 1, "params": {"conv_dim": {"grid": [8]}}}
    second = tiny_spec(tmp_path, name="second", tracking={}, search=one_trial, **{"train.epochs": 1})
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"}

    def run_second() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GANSWEEP, "run", str(second)], cwd=tmp_path / "elsewhere-cwd", env=env,
                              capture_output=True, text=True, timeout=900)

    (tmp_path / "elsewhere-cwd").mkdir()
    proc = subprocess.Popen(
        [*GANSWEEP, "run", str(first)], cwd=tmp_path, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
    )
    client = store(tmp_path)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if (tmp_path / "mlruns").exists() and client.get_experiment_by_name("first") is not None:
                break
        assert proc.poll() is None, "the first sweep ended before the second could start"
        refused = run_second()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "another sweep is writing to this SQLite store" in refused.stderr
    assert client.get_experiment_by_name("second") is None, "the refused sweep started nothing"
    assert proc.returncode == 0, out[-3000:] + err[-3000:]

    # file:// went to Ray as is: the experiment lives at that path, not under <cwd>/file:/...
    assert (storage / "first" / "gansweep.json").exists()
    assert not (tmp_path / "file:").exists()
    _, children = sweep_runs(client, "first")
    assert len(children) == 6 and all(c.info.status == "FINISHED" for c in children)
    # The store is free again once the first sweep ended; the record went where the variable says.
    done = run_second()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, children = sweep_runs(client, "second")
    assert len(children) == 1 and all(c.info.status == "FINISHED" for c in children)
    assert not (tmp_path / "elsewhere-cwd" / "mlruns").exists(), "not the ./mlruns default"
