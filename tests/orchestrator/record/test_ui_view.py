"""The page `gansweep ui` opens (issue 21): one sweep's trials, final and best FID columns, sorted
by final, on MLflow's model-training workspace; `--sweep` picks an older sweep of the same name."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from mlflow.tracking import MlflowClient
from report_helpers import DEMO_TRIALS, make_sweep

from orchestrator.record import names
from orchestrator.record.names import TAG_FINAL_METRIC as FINAL_METRIC_TAG
from orchestrator.record.server import sweep_page
from orchestrator.record.store import EXPERIMENT_KIND_TAG, MODEL_TRAINING, sweep_view_key
from orchestrator.report import ReportError

METRIC = "fid1k_rand"


def _view(client: MlflowClient, url: str) -> tuple[str, dict]:
    fragment = urlparse(url).fragment  # /experiments/<id>/runs?viewStateShareKey=...&workflowType=...
    path, _, query = fragment.partition("?")
    args = parse_qs(query)
    assert args["workflowType"] == ["machine_learning"], url
    experiment_id = path.split("/")[2]
    tags = client.get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    key = args["viewStateShareKey"][0]
    return key, json.loads(tags[f"mlflow.sharedViewState.{key}"])


def test_ui_opens_the_latest_sweeps_trials_sorted_by_final(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    first = make_sweep(client, tmp_path, "demo", METRIC, DEMO_TRIALS)
    time.sleep(0.05)  # distinct start times: "latest" is by start time
    second = make_sweep(client, tmp_path, "demo", METRIC, DEMO_TRIALS, finals={"abc_00001": 11.0})
    client.set_tag(second, FINAL_METRIC_TAG, f"final_{METRIC}")

    url, label = sweep_page(uri, "http://127.0.0.1:5000", None)
    key, view = _view(client, url)
    assert key == sweep_view_key(second) and label == client.get_run(second).info.run_name
    assert view["searchFilter"] == f"tags.`{names.PARENT}` = '{second}'"
    assert view["orderByKey"] == f"metrics.`final_{METRIC}`" and view["orderByAsc"] is True
    assert view["selectedColumns"][:2] == [f"metrics.`final_{METRIC}`", f"metrics.`best_{METRIC}`"]

    url, _ = sweep_page(uri, "http://127.0.0.1:5000", first)  # `--sweep <run id>`: the older one
    key, view = _view(client, url)
    assert key == sweep_view_key(first) and view["searchFilter"].endswith(f"'{first}'")
    assert view["orderByKey"] == f"metrics.`best_{METRIC}`", "no re-measurement: sorted by best"
    shown = {r.info.run_id for r in client.search_runs([r.info.experiment_id for r in
             [client.get_run(first)]], view["searchFilter"])}
    assert len(shown) == len(DEMO_TRIALS) and first not in shown, "its trials only, no parent"

    with pytest.raises(ReportError, match="no sweep named"):
        sweep_page(uri, "http://127.0.0.1:5000", "nosuch")
