"""`gansweep report` as a user meets it (issue 12): 100 columns, one trial id, one-line errors.

Every bad `--store` and every unknown sweep name is one line on stderr and exit code 2, never an
MLflow traceback; a mistyped name gets a suggestion.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from e2e_helpers import run_cli
from mlflow.tracking import MlflowClient
from report_helpers import DEMO_TRIALS, make_sweep

from orchestrator.cli import main
from orchestrator.report import cell


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("cli_store")
    (tmp / "mlruns").mkdir()
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    make_sweep(MlflowClient(tracking_uri=uri), tmp, "demo", "fid1k_rand", DEMO_TRIALS)
    return tmp, uri


def test_table_fits_100_columns_without_cutting_a_cell(demo_store: Any) -> None:
    _, uri = demo_store
    result = CliRunner().invoke(main, ["report", "demo", "--store", uri])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # stderr: where the plots are (a path, as long as it is)
    assert max(len(line.rstrip()) for line in lines) <= 100
    assert "…" not in result.output and "..." not in result.output.replace("..", "")
    for params, *_ in DEMO_TRIALS.values():  # every lr cell whole
        assert cell(params["lr"]) in result.output
    assert "stopped@2" in result.output and "failed*" in result.output
    assert "00003: failed: diverged: d_loss became nan at epoch 1" in result.output, "reasons below the table"
    wide = CliRunner().invoke(main, ["report", "demo", "--store", uri, "--wide"])
    assert "best_kid1k_rand" in wide.output and "img_per_s" in wide.output
    assert "best_kid1k_rand" not in result.output


def test_one_trial_id_form_in_every_format(demo_store: Any) -> None:
    """People read `00003` everywhere; only the machine formats add Tune's id, in its own column."""
    _, uri = demo_store

    def show(fmt: str) -> str:
        return CliRunner().invoke(main, ["report", "demo", "--store", uri, "--format", fmt]).output

    for fmt in ("table", "markdown"):
        out = show(fmt)
        assert "00003" in out and "abc_" not in out, fmt
    csv = pd.read_csv(io.StringIO(show("csv")), dtype=str)
    assert set(csv["trial"]) == {"00000", "00001", "00002", "00003", "00004"}
    assert set(csv["tune_trial_id"]) == set(DEMO_TRIALS)
    data = json.loads(show("json"))
    assert [t["trial"] for t in data["sweeps"][0]["trials"]] == list(csv["trial"])
    for effect in data["sweeps"][0]["param_effects"].values():
        assert all(row["best_trial"] in set(csv["trial"]) | {None} for row in effect)


def test_a_mistyped_sweep_name_gets_a_suggestion(demo_store: Any) -> None:
    _, uri = demo_store
    result = CliRunner().invoke(main, ["report", "dmeo", "--store", uri])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "gansweep: error: no sweep named or with run id 'dmeo' in the MLflow store; did you mean 'demo'?"]
    far = CliRunner().invoke(main, ["report", "zzzzzz", "--store", uri])
    assert far.exit_code == 2 and "(sweeps: demo)" in far.output


def _bad_stores(tmp: Path) -> dict[str, tuple[str, str]]:
    """--store value -> the text its error line must contain."""
    empty = tmp / "empty_folder"
    empty.mkdir(exist_ok=True)
    text = tmp / "notes.txt"
    text.write_text("not a database\n")
    return {
        "folder": (str(empty), "a folder without mlflow.db is not an MLflow store"),
        "missing file": (str(tmp / "nowhere.db"), "no such file"),
        "text file": (str(text), "is not an SQLite database"),
        "sqlite uri to text": (f"sqlite:///{text}", "is not an SQLite database"),
        "missing sqlite": (f"sqlite:///{tmp / 'gone' / 'mlflow.db'}", "no MLflow store at"),
        "bad scheme": ("foo://bar/baz", "not a tracking URI gansweep reads"),
        "unreachable server": ("http://127.0.0.1:9", "cannot read the MLflow store http://127.0.0.1:9"),
    }


BAD_STORES = ["folder", "missing file", "text file", "sqlite uri to text", "missing sqlite", "bad scheme",
              "unreachable server"]


@pytest.mark.parametrize("case", BAD_STORES)
def test_every_bad_store_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    store, expected = _bad_stores(tmp_path)[case]
    result = CliRunner().invoke(main, ["report", "demo", "--store", store])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gansweep: error: ") and expected in lines[0], lines
    assert not (tmp_path / "gone").exists(), "a missing store is never created"


def test_a_folder_holding_the_store_is_accepted(demo_store: Any) -> None:
    tmp, _ = demo_store
    for store in (tmp / "mlruns", tmp):
        result = CliRunner().invoke(main, ["report", "demo", "--store", str(store), "--format", "csv"])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("rank,trial,")


def test_bad_store_in_a_fresh_process_prints_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    done = run_cli(["report", "demo", "--store", str(tmp_path / "runs")], cwd=tmp_path, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"gansweep: error: --store {tmp_path / 'runs'}: a folder without mlflow.db is not an MLflow store "
        "(pass the sqlite:///.../mlflow.db URI or the folder that holds it)"]
    assert "Traceback" not in done.stdout + done.stderr


# Four swept params, re-measured finals and FIDs like 0.09118: at 100 columns rich used to squeeze
# this table into `0000` ids, no rank column and cut numbers (issue 21).
WIDE_TRIALS = {
    f"f3a9c_{i:05d}": ({"conv_dim": [16, 32][i % 2], "lr": [1.23456e-4, 9.87654e-4, 3.3e-3][i % 3],
                        "optimizer": ["rmsprop", "adam"][i // 2 % 2], "batch_size": [64, 128][i // 3 % 2]},
                       "completed" if i < 3 else "stopped",
                       "completed 6 epochs" if i < 3 else "stopped early by SHA at epoch 2",
                       [0.3 + i, 0.09118 + i, 0.0812 + i] if i < 3 else [0.4 + i, 0.2 + i])
    for i in range(6)
}


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("wide_store")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    finals = {"f3a9c_00000": 0.1234567, "f3a9c_00001": 1.0987654}
    make_sweep(MlflowClient(tracking_uri=uri), tmp, "wide", "fid1k_rand", WIDE_TRIALS, finals=finals)
    return uri


@pytest.mark.parametrize("width", [80, 100, 120])
def test_ids_and_ranks_are_whole_at_every_width(wide_store: str, width: int) -> None:
    result = CliRunner().invoke(main, ["report", "wide", "--store", wide_store], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("effect of")[0].splitlines()
    assert max(len(line.rstrip()) for line in result.stdout.splitlines()) <= width, result.output
    rows = [line.split() for line in lines if any(f"{i:05d}" in line for i in range(6))]
    rows = [r for r in rows if r[0].isdigit() and len(r) > 2]  # table rows, not the failure notes
    assert sorted(r[1] for r in rows) == [f"{i:05d}" for i in range(6)], result.output
    assert [r[0] for r in rows] == [str(k) for k in range(1, 7)], "the rank column is there, in order"
    header = next(line for line in lines if "trial" in line.split())
    assert header.split()[0] == "#", header
    assert "…" not in result.output and "0.0911 " not in result.output + " "


def test_narrow_tables_round_numbers_and_name_what_they_drop(wide_store: str) -> None:
    wide = CliRunner().invoke(main, ["report", "wide", "--store", wide_store], env={"COLUMNS": "200"}).output
    narrow = CliRunner().invoke(main, ["report", "wide", "--store", wide_store], env={"COLUMNS": "80"}).output
    assert "wall s" in wide and "not shown at this width" not in wide
    assert "not shown at this width: wall s" in " ".join(narrow.split()), narrow
    for text in (wide, narrow):  # 1.0987654 rounds to 1.099 (4 digits) or 1.1 (3): never 1.098
        assert ("1.099" in text) or ("1.1 " in text), text
        assert "1.098" not in text and "0.0911 " not in text


def test_a_name_shared_by_sweeps_says_which_one_is_shown(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    old = make_sweep(client, tmp_path, "twice", "fid1k_rand", DEMO_TRIALS)
    new = make_sweep(client, tmp_path, "twice", "fid1k_rand", DEMO_TRIALS)
    result = CliRunner().invoke(main, ["report", "twice", "--store", uri, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sweeps"][0]["run_id"] == new
    note = f"gansweep: note: 2 sweeps are named 'twice'; showing the latest, 'twice' (run {new})"
    assert note in " ".join(result.stderr.split()), "wrapped to the width, whole"
    alone = CliRunner().invoke(main, ["report", old, "--store", uri, "--format", "json"])
    assert json.loads(alone.stdout)["sweeps"][0]["run_id"] == old and "note" not in alone.stderr


def test_html_report_is_one_self_contained_file_with_optunas_plots(demo_store: Any, tmp_path: Path) -> None:
    import importlib.util
    import re

    _, uri = demo_store
    page = tmp_path / "demo.html"
    result = CliRunner().invoke(main, ["report", "demo", "--store", uri, "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in result.stderr and "plots: " in result.stderr
    text = page.read_text()
    images = re.findall(r'<img alt="[^"]*" src="([^"]*)"', text)
    assert len(images) >= 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "parameter importance skipped: importance needs at least 8 trials" in text
    assert "this sweep has 4" in text and "importance needs at least 8" in result.stdout, "said, not silent"
    if importlib.util.find_spec("plotly") is not None:
        assert "<h2>parameter importance" in text
        assert text.count("Plotly.newPlot") == 3, "history, parallel coordinates, slice"
        assert "plotly.js v" in text, "plotly.js inlined: the page works offline and inside MLflow"
    else:
        assert "Optuna&#x27;s plots need plotly" in text
    again = CliRunner().invoke(main, ["report", "demo", "--store", uri, "--html", str(page)])
    assert again.exit_code == 2 and "a file of that name exists" in again.stderr, "never overwritten"
