"""`gansweep report` and the end-of-sweep report: tables, parameter effects, plots, comparisons.

Fast tests build a store by hand with the tags `orchestrator.record` writes (so every expected
number is known); the slow test runs one tiny real sweep with a diverging trial and checks the
table against the MLflow histories and the artifacts the `gansweep run` hook logged.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from e2e_helpers import run_cli, store, sweep_runs, tiny_spec
from mlflow.tracking import MlflowClient
from PIL import Image
from report_helpers import DEMO_TRIALS, make_sweep

from orchestrator import report as report_mod
from orchestrator.cli import main
from orchestrator.record.names import TAG_KIND, TAG_METRIC, TAG_STATUS, TAG_SWEEP, TAG_TRIAL
from orchestrator.report import plots


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, MlflowClient, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("fake_store")
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    (tmp / "mlruns").mkdir()
    client = MlflowClient(tracking_uri=uri)
    ids = {
        "demo": make_sweep(client, tmp, "demo", "fid1k_rand", DEMO_TRIALS),
        "again": make_sweep(client, tmp, "again", "fid1k_rand", {
            "def_00000": ({"conv_dim": 16}, "completed", "completed 2 epochs", [15.0, 11.0]),
            "def_00001": ({"conv_dim": 64}, "completed", "completed 2 epochs", [16.0, 13.0]),
        }),
        "incep": make_sweep(client, tmp, "incep", "fid10k", {
            "ghi_00000": ({"conv_dim": 64}, "completed", "completed 2 epochs", [5.0, 4.0]),
        }),
    }
    exp = client.create_experiment("empty")
    empty = client.create_run(exp, run_name="empty", tags={TAG_SWEEP: "empty", TAG_KIND: "sweep",
                                                           TAG_METRIC: "fid1k_rand"})
    ids["empty"] = empty.info.run_id
    return uri, client, ids


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_table_ranks_by_best_fid_and_says_how_each_trial_ended(fake_store: Any) -> None:
    uri, client, ids = fake_store
    rep = report_mod.build_report(client, report_mod.find_sweep(client, "demo"))
    table = rep.table.set_index("trial")
    assert list(rep.table["trial"]) == ["00001", "00004", "00000", "00002", "00003"]
    assert list(rep.table["rank"]) == [1, 2, 3, 4, 5]
    best = table.loc["00000"]
    assert best["best_fid1k_rand"] == 20.0 and best["best_epoch"] == 2 and best["last_fid1k_rand"] == 25.0
    assert best["best_kid1k_rand"] == pytest.approx(0.20) and best["epochs"] == 3
    assert best["wall_s"] == pytest.approx(2.1) and best["img_per_s"] == pytest.approx(200.0)
    assert best["train_s"] == pytest.approx(1.5) and best["conv_dim"] == 16
    assert table.loc["00000", "status"] == "completed"
    assert table.loc["00002", "status"] == "stopped early at epoch 2"
    assert table.loc["00002", "epochs"] == 2
    failed = table.loc["00003"]
    assert failed["status"] == "failed: diverged: d_loss became nan at epoch 1"
    assert math.isnan(failed["best_fid1k_rand"]) and failed["epochs"] == 0


def test_parameter_effects_group_grid_values_and_bin_sampled_ranges(fake_store: Any) -> None:
    _, client, _ = fake_store
    rep = report_mod.build_report(client, report_mod.find_sweep(client, "demo"))
    conv = rep.effects["conv_dim"].set_index("conv_dim")
    assert conv.loc[16, "trials"] == 2 and conv.loc[16, "best_fid1k_rand"] == 20.0
    assert conv.loc[16, "median_fid1k_rand"] == pytest.approx(26.5)
    assert conv.loc[32, "trials"] == 3 and conv.loc[32, "failed"] == 1
    assert conv.loc[32, "best_fid1k_rand"] == 12.0 and conv.loc[32, "best_trial"] == "00001"
    lr = rep.effects["lr"]
    assert lr["trials"].sum() == 5 and len(lr) <= 3, "a loguniform param is binned into ranges"
    assert all(".." in label for label in lr["lr"])


def test_cli_formats(fake_store: Any) -> None:
    uri, client, _ = fake_store
    csv = invoke("report", "demo", "--store", uri, "--format", "csv")
    assert csv.exit_code == 0
    frame = pd.read_csv(io.StringIO(csv.output), dtype={"trial": str})
    assert list(frame["trial"]) == ["00001", "00004", "00000", "00002", "00003"]
    assert frame["best_fid1k_rand"].iloc[0] == 12.0
    data = json.loads(invoke("report", "demo", "--store", uri, "--format", "json").output)
    assert data["comparable"] and data["sweeps"][0]["trials"][4]["best_fid1k_rand"] is None
    assert set(data["sweeps"][0]["param_effects"]) == {"conv_dim", "lr"}
    markdown = invoke("report", "demo", "--store", uri, "--format", "markdown").output
    assert re.search(r"^\| rank +\| trial +\|", markdown, re.M) and "### Effect of conv_dim" in markdown
    table = invoke("report", "demo", "--store", uri)
    assert table.exit_code == 0
    assert "stopped@2" in table.output and "effect of lr" in table.output
    wide = invoke("report", "demo", "--store", uri, "--wide")
    assert wide.exit_code == 0 and "stopped early at" in wide.output


def test_two_sweeps_with_the_same_metric_are_ranked_together(fake_store: Any) -> None:
    uri, _, ids = fake_store
    data = json.loads(invoke("report", "demo", ids["again"], "--store", uri, "--format", "json").output)
    assert data["comparable"] is True
    ranking = data["ranking"]
    assert [(r["sweep"], r["trial"]) for r in ranking[:3]] == [
        ("again", "00000"), ("demo", "00001"), ("again", "00001")]
    assert [s["sweep"] for s in data["summary"]] == ["demo", "again"]


def test_two_sweeps_with_different_metrics_are_not_ranked_together(fake_store: Any) -> None:
    uri, client, _ = fake_store
    result = invoke("report", "demo", "incep", "--store", uri, "--format", "json")
    data = json.loads(result.stdout)
    assert data["comparable"] is False and "ranking" not in data
    assert "not comparable" in data["note"] and "fid10k" in data["note"]
    assert [s["metric"] for s in data["sweeps"]] == ["fid1k_rand", "fid10k"]
    markdown = invoke("report", "demo", "incep", "--store", uri, "--format", "markdown").output
    assert "not comparable" in markdown and "All trials ranked" not in markdown
    csv_text = invoke("report", "demo", "incep", "--store", uri, "--format", "csv").stdout
    csv = pd.read_csv(io.StringIO(csv_text))
    assert set(csv["metric"]) == {"fid1k_rand", "fid10k"}
    assert list(csv[csv["sweep"] == "incep"]["rank"]) == [1], "each sweep keeps its own ranking"
    reports = report_mod.load_reports(uri, ["demo", "incep"])
    with pytest.raises(report_mod.ReportError, match="not comparable"):
        report_mod.combined_table(reports)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nosuch"], "no sweep named or with run id 'nosuch'"),
        (["report", "empty"], "has no trial runs yet"),
        (["report", "a", "b", "c"], "one sweep, or two"),
    ],
)
def test_user_errors_exit_2_with_one_line(fake_store: Any, args: list[str], message: str) -> None:
    uri, _, _ = fake_store
    result = CliRunner().invoke(main, [*args, "--store", uri])
    assert result.exit_code == 2
    assert message in result.output


def test_missing_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "mlflow.db"
    result = CliRunner().invoke(main, ["report", "demo", "--store", f"sqlite:///{db}"])
    assert result.exit_code == 2
    expected = f"gansweep: error: no MLflow store at {db} (run a sweep first, or pass --store URI)"
    assert result.output.strip() == expected
    assert not db.exists() and not db.parent.exists()


def _png_ok(path: Path, min_w: int = 300, min_h: int = 200) -> np.ndarray:
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"))
    assert array.shape[1] >= min_w and array.shape[0] >= min_h, f"{path.name} is {array.shape}"
    assert array.std() > 5 and len(np.unique(array.reshape(-1, 3), axis=0)) > 20, f"{path.name} looks blank"
    return array


def test_log_sweep_report_writes_table_html_and_plots(fake_store: Any, tmp_path: Path) -> None:
    _, client, ids = fake_store
    written = report_mod.log_sweep_report(client, ids["demo"])
    names = {a.path for a in client.list_artifacts(ids["demo"], "report")}
    expected = {"comparison.csv", "comparison.html", "report.md", "metric_vs_epoch.png", "losses.png",
                "time_per_epoch.png", "param_effects.png", "top_samples.png", "parallel_coordinates.png"}
    assert names == {f"report/{n}" for n in expected}
    assert set(written) >= names
    local = Path(client.download_artifacts(ids["demo"], "report", str(tmp_path)))
    page = (local / "comparison.html").read_text()
    assert all(trial.split("_")[1] in page for trial in DEMO_TRIALS)
    assert '<img alt="top samples" src="data:image/png;base64,' in page, "images embedded, not linked"
    assert 'src="top_samples.png"' not in page
    frame = pd.read_csv(local / "comparison.csv", dtype={"trial": str})
    assert frame["trial"].iloc[0] == "00001"
    parent = client.get_run(ids["demo"])  # its front page: the winner, linked, and best.<param>
    note = parent.data.tags["mlflow.note.content"]
    winner = frame["run_id"].iloc[0]
    assert "winner trial 00001" in note and f"/runs/{winner}?workflowType=machine_learning)" in note
    assert f"get-artifact?path=report/metric_vs_epoch.png&run_uuid={ids['demo']}" in note
    assert parent.data.params["best.conv_dim"] == "32" and parent.data.params["best.lr"] == "0.0004"
    for png in local.glob("*.png"):
        _png_ok(png)
    # Every child that reported an epoch has its own loss plot; the one that failed at once has none.
    for run in report_mod.trial_runs(client, report_mod.find_sweep(client, "demo")):
        has_plot = report_mod.CHILD_PLOT in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert has_plot == (run.data.tags[TAG_STATUS] != "failed")


def test_a_failing_plot_is_a_warning_not_a_lost_report(
    fake_store: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, client, ids = fake_store

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("matplotlib exploded")

    monkeypatch.setattr(plots, "metric_curves", boom)
    monkeypatch.setattr(plots, "trial_losses", boom)
    written = report_mod.log_sweep_report(client, ids["again"])
    assert "report/comparison.csv" in written and "report/top_samples.png" in written
    assert "report/metric_vs_epoch.png" not in written
    err = capsys.readouterr().err
    assert "warning: plot metric_vs_epoch.png failed: RuntimeError: matplotlib exploded" in err
    assert report_mod.log_sweep_report(client, "nosuch") == []  # never raises


# ---------------------------------------------------------------------------------------------
# One tiny real sweep: a diverging trial (lr 1e6 with SGD) and ASHA stopping at least one.


@pytest.fixture(scope="module")
def real_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp = tmp_path_factory.mktemp("real_sweep")
    spec = tiny_spec(tmp, name="rep", **{
        "train.epochs": 3, "train.optimizer": "sgd",
        "search": {"algorithm": "grid", "num_samples": 1,
                   "params": {"lr": {"grid": [0.005, 0.01, 0.02, 0.05, 1.0e6]}}},
    })
    done = run_cli(["run", str(spec)], cwd=tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp, done


@pytest.mark.slow
def test_real_sweep_table_matches_mlflow_histories(real_sweep: Any) -> None:
    tmp, _ = real_sweep
    client = store(tmp)
    parent, children = sweep_runs(client, "rep")
    metric = parent.data.tags[TAG_METRIC]
    assert metric == "fid128_rand"
    table = report_mod.build_report(client, report_mod.find_sweep(client, "rep")).table.set_index("run_id")
    assert len(table) == len(children) == 5
    for child in children:
        rid = child.info.run_id
        row = table.loc[rid]
        fids = {m.step: m.value for m in client.get_metric_history(rid, metric)}
        epoch_s = [m.value for m in client.get_metric_history(rid, "epoch_s")]
        status = child.data.tags[TAG_STATUS]
        if status == "failed":  # lr 1e6 diverges in its first epoch
            assert row["status"].startswith("failed: ") and "diverged" in row["status"], row["status"]
            assert math.isnan(row[f"best_{metric}"]) and row["epochs"] == 0
            assert child.data.params["lr"] == "1000000.0"
            continue
        best_epoch = min(fids, key=fids.get)
        assert row[f"best_{metric}"] == pytest.approx(fids[best_epoch])
        assert row["best_epoch"] == best_epoch
        assert row[f"last_{metric}"] == pytest.approx(fids[max(fids)])
        assert row["epochs"] == len(fids) == len(epoch_s)
        assert row["train_s"] == pytest.approx(sum(epoch_s))
        kids = [m.value for m in client.get_metric_history(rid, "kid128_rand")]
        assert row["best_kid128_rand"] == pytest.approx(min(kids))
        if status == "stopped":
            assert row["status"] == f"stopped early at epoch {len(fids)}" and len(fids) < 3
        else:
            assert row["status"] == "completed" and len(fids) == 3
    statuses = set(table["status"].str.split().str[0])
    assert {"completed", "stopped", "failed:"} <= statuses, f"need a stopped and a failed trial: {statuses}"
    assert table["rank"].is_monotonic_increasing
    assert table.iloc[-1]["status"].startswith("failed"), "the trial without a FID is ranked last"


@pytest.mark.slow
def test_real_sweep_logged_its_report_and_plots(real_sweep: Any, tmp_path: Path) -> None:
    tmp, done = real_sweep
    client = store(tmp)
    parent, children = sweep_runs(client, "rep")
    local = Path(client.download_artifacts(parent.info.run_id, "report", str(tmp_path)))
    for name in ("metric_vs_epoch.png", "losses.png", "time_per_epoch.png", "param_effects.png",
                 "top_samples.png"):
        _png_ok(local / name)
    page = (local / "comparison.html").read_text()
    assert all(report_mod.short_trial_id(c.data.tags[TAG_TRIAL]) in page for c in children)
    assert len(pd.read_csv(local / "comparison.csv")) == 5
    for child in children:
        plots_logged = {a.path for a in client.list_artifacts(child.info.run_id, "plots")}
        assert (report_mod.CHILD_PLOT in plots_logged) == (child.data.tags[TAG_STATUS] != "failed")
    # the CLI in a fresh process reads the same store from the default location (cwd/mlruns)
    shown = run_cli(["report", "rep", "--format", "json"], cwd=tmp)
    assert shown.returncode == 0, shown.stderr[-2000:]
    data = json.loads(shown.stdout)
    assert len(data["sweeps"][0]["trials"]) == 5 and data["metric"] == "fid128_rand"
