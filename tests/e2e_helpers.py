"""Shared bits of the end-to-end tests: a tiny spec and reading the MLflow store back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

GANSWEEP = [sys.executable, "-m", "orchestrator.cli"]


def tiny_spec(tmp_path: Path, name: str = "tiny", **overrides: Any) -> Path:
    """A sweep small enough for 2 CPU cores: 32x32 synthetic faces, conv_dim 8/16, 6 trials."""
    spec: dict[str, Any] = {
        "name": name,
        "seed": 0,
        "storage": str(tmp_path / "runs"),
        "data": {"source": "synthetic", "image_size": 32, "count": 256},
        "model": {"family": "dcgan", "conv_dim": 8, "z_dim": 32},
        "train": {"epochs": 4, "batch_size": 64, "lr": 2.0e-4},
        "search": {
            "algorithm": "random",
            "num_samples": 3,
            "params": {"conv_dim": {"grid": [8, 16]}, "lr": {"loguniform": [1.0e-5, 1.0e-3]}},
        },
        "scheduler": {"type": "asha", "metric": "fid", "grace_period": 1, "reduction_factor": 2},
        "metrics": {"backbone": "rand", "samples": 128, "batch_size": 128},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0, "max_concurrent": 2},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"},
    }
    for key, value in overrides.items():
        section, _, field = key.partition(".")
        if field:
            spec[section][field] = value
        else:
            spec[section] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_cli(
    args: list[str], cwd: Path, timeout: float = 900, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    return subprocess.run(
        [*GANSWEEP, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )


def store(tmp_path: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")


def sweep_runs(client: MlflowClient, name: str) -> tuple[Any, list[Any]]:
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, f"no MLflow experiment {name}"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("gansweep.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("gansweep.kind") == "trial"]
    assert len(parents) == 1, f"expected one sweep run, got {len(parents)}"
    return parents[0], children


@dataclass(frozen=True)
class LoggedSweep:
    """A `gansweep run` whose stdout went to a file (not a terminal), as in a batch job."""

    root: Path  # its cwd: runs/ and mlruns/ are in here
    log: str  # the whole stdout file
    err: str  # the whole stderr file
    read_while_running: str  # the stdout file as last read before the process ended
    returncode: int


def run_logged(spec: Path, cwd: Path, timeout: float = 900) -> LoggedSweep:
    """Run a sweep with stdout and stderr going to files in `cwd`, reading stdout while it runs."""
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    log, err = cwd / "stdout.log", cwd / "stderr.log"
    seen = ""
    with log.open("w") as out, err.open("w") as errors:
        proc = subprocess.Popen([*GANSWEEP, "run", str(spec)], cwd=cwd, env=env, stdout=out, stderr=errors,
                                start_new_session=True)
        try:
            deadline = time.time() + timeout
            while proc.poll() is None and time.time() < deadline:
                text = log.read_text()
                if proc.poll() is None:  # read while the sweep is still running
                    seen = text
                time.sleep(0.5)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    return LoggedSweep(cwd, log.read_text(), err.read_text(), seen, proc.returncode)


def wait_for(proc: subprocess.Popen[str], done: Any, what: str, timeout: float = 600) -> None:
    """Poll `done()` every 0.3 s until it holds; fail if `proc` (a sweep driver) ends first or time is up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the driver ended before {what}: " + ((out or "") + (err or ""))[-3000:])
        try:
            if done():
                return
        except Exception:  # noqa: BLE001 - the store may be half created at first
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def kill_when(proc: subprocess.Popen[str], done: Any, what: str, timeout: float = 600) -> None:
    """SIGKILL the sweep driver `proc` (started in its own session) once `done()` holds; if waiting
    fails, its whole process group goes, so no driver outlives the test."""
    try:
        wait_for(proc, done, what, timeout)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
