"""Issue 12's must-shows on one real tiny sweep (Ray Tune + MLflow SQLite + torch on CPU):

- with stdout going to a file, per-epoch progress lines are in that file while the sweep runs;
- the MLflow store then holds best_<metric> on every child and the parent, sample images with
  steps, the whole TrainConfig as params, and no bookkeeping values among the metrics.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from e2e_helpers import GANSWEEP, store, sweep_runs, tiny_spec

from orchestrator.record import names
from orchestrator.record.store import sample_steps
from trainers.config import TrainConfig

pytestmark = pytest.mark.slow
METRIC = "fid128_rand"
EPOCH_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] trial \d{5} epoch (\d+)/4 " + METRIC + "=")


@dataclass(frozen=True)
class Sweep:
    root: Path
    log: str  # the whole stdout file
    seen_while_running: list[str]  # epoch lines read from the file before the process ended
    returncode: int


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    root = tmp_path_factory.mktemp("record")
    spec = tiny_spec(root)
    log = root / "stdout.log"
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    seen: list[str] = []
    with log.open("w") as out:
        proc = subprocess.Popen([*GANSWEEP, "run", str(spec)], cwd=root, env=env, stdout=out,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.time() + 900
            while proc.poll() is None and time.time() < deadline:
                text = log.read_text()
                if proc.poll() is None:  # read while the sweep is still running
                    seen = [line for line in text.splitlines() if EPOCH_LINE.match(line)]
                time.sleep(0.5)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    return Sweep(root, log.read_text(), seen, proc.returncode)


def test_progress_lines_reach_a_file_while_the_sweep_runs(sweep: Sweep) -> None:
    assert sweep.returncode == 0, sweep.log[-3000:]
    assert sweep.seen_while_running, "no per-epoch line was in the log file before the sweep ended"
    lines = sweep.log.splitlines()
    final_table = next(i for i, line in enumerate(lines) if line.strip().startswith("sweep tiny: ranked by"))
    epoch_lines = [i for i, line in enumerate(lines) if EPOCH_LINE.match(line)]
    assert epoch_lines and max(epoch_lines) < final_table
    assert any(" started | " in line for line in lines)
    assert any("completed 4 epochs" in line for line in lines)
    assert any("stopped by ASHA at epoch" in line for line in lines)
    assert re.search(r"best config as flags: gansweep run \S+ --set model\.conv_dim=\d+ --set train\.lr=\S+",
                     sweep.log)


def test_the_store_holds_the_mlflow_native_record(sweep: Sweep) -> None:
    assert sweep.returncode == 0, sweep.log[-3000:]
    client = store(sweep.root)
    parent, children = sweep_runs(client, "tiny")
    assert len(children) == 6
    config_fields = {f.name for f in fields(TrainConfig)}
    best_child = min(children, key=lambda c: c.data.metrics[f"best_{METRIC}"])
    for child in children:
        run_id = child.info.run_id
        metrics = child.data.metrics
        history = client.get_metric_history(run_id, METRIC)
        assert metrics[f"best_{METRIC}"] == min(m.value for m in history)
        assert metrics["best_epoch"] in {m.step for m in history}
        assert sorted(sample_steps(client, run_id)) == sorted(m.step for m in history), "one image per epoch"
        assert config_fields <= set(child.data.params), "the whole resolved TrainConfig as params"
        assert not set(metrics) & names.BOOKKEEPING, sorted(set(metrics) & names.BOOKKEEPING)
        assert {"d_loss", "g_loss", METRIC, "img_per_s"} <= set(metrics)
        assert child.data.tags.get(names.GIT_COMMIT) and child.inputs.dataset_inputs
        models = {a.path for a in client.list_artifacts(run_id, names.MODEL_DIR)}
        assert names.BEST_GENERATOR in models
    assert parent.data.metrics[f"best_{METRIC}"] == best_child.data.metrics[f"best_{METRIC}"]
    assert parent.data.tags[names.TAG_BEST_RUN] == best_child.info.run_id
    assert parent.data.tags.get(names.GIT_COMMIT) and parent.inputs.dataset_inputs
    assert sorted(sample_steps(client, parent.info.run_id, names.REAL_KEY)) == [0]
