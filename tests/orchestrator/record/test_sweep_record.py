"""Issue 12's must-shows on one real tiny sweep (Ray Tune + MLflow SQLite + torch on CPU):

- with stdout going to a file, per-epoch progress lines are in that file while the sweep runs;
- the MLflow store then holds best_<metric> on every child and the parent, sample images with
  steps, the whole TrainConfig as params, and no bookkeeping values among the metrics.

The sweep is conftest.py's `tiny_sweep` (the default `tiny_spec`, run once per session and read by
test_run_e2e.py too).
"""

from __future__ import annotations

import re

import pytest
from e2e_helpers import LoggedSweep, store, sweep_runs

from orchestrator.record import names
from orchestrator.record.store import sample_steps
from trainers.config import TrainConfig

pytestmark = pytest.mark.slow
METRIC = "fid128_rand"
EPOCH_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] trial \d{5} epoch (\d+)/4 " + METRIC + "=")


def _epoch_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if EPOCH_LINE.match(line)]


def test_progress_lines_reach_a_file_while_the_sweep_runs(tiny_sweep: LoggedSweep) -> None:
    assert tiny_sweep.returncode == 0, tiny_sweep.log[-3000:] + tiny_sweep.err[-3000:]
    seen_while_running = _epoch_lines(tiny_sweep.read_while_running)
    assert seen_while_running, "no per-epoch line was in the log file before the sweep ended"
    lines = tiny_sweep.log.splitlines()
    final_table = next(i for i, line in enumerate(lines) if line.strip().startswith("sweep tiny: ranked by"))
    epoch_lines = [i for i, line in enumerate(lines) if EPOCH_LINE.match(line)]
    assert epoch_lines and max(epoch_lines) < final_table
    assert any(" started | " in line for line in lines)
    assert any("completed 4 epochs" in line for line in lines)
    assert any("stopped by ASHA at epoch" in line for line in lines)
    assert re.search(r"best config as flags: gansweep run \S+ --set model\.conv_dim=\d+ --set train\.lr=\S+",
                     tiny_sweep.log)


def test_the_store_holds_the_mlflow_native_record(tiny_sweep: LoggedSweep) -> None:
    assert tiny_sweep.returncode == 0, tiny_sweep.log[-3000:] + tiny_sweep.err[-3000:]
    client = store(tiny_sweep.root)
    parent, children = sweep_runs(client, "tiny")
    assert len(children) == 6
    config_fields = set(TrainConfig().to_dict())  # every field, and the knobs of the family (dcgan)
    best_child = min(children, key=lambda c: c.data.metrics[f"best_{METRIC}"])
    for child in children:
        run_id = child.info.run_id
        metrics = child.data.metrics
        history = client.get_metric_history(run_id, METRIC)
        assert metrics[f"best_{METRIC}"] == min(m.value for m in history)
        assert metrics["best_epoch"] in {m.step for m in history}
        steps = sorted(m.step for m in history)
        assert sorted(sample_steps(client, run_id)) == [0, *steps], "step 0 (untrained G), then one per epoch"
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
