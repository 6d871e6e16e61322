"""Honest comparisons (issue 10): protocol keys, effects at a common budget, importance, final ranking.

Stores are built by hand (tests/report_helpers.py) so every expected number is known.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from PIL import Image
from report_helpers import DEMO_TRIALS, Trials, make_sweep

from orchestrator import report as report_mod
from orchestrator.cli import main
from orchestrator.report import effect_plots, effects
from orchestrator.report.terminal import print_tables

PROTOCOL = {"dataset": "celeba-3f2a", "image_size": 32, "real_samples": 10000, "backbone": "inception",
            "weights_id": "pt_inception-2015-12-05", "samples": 10000}
SMALL: Trials = {
    "aaa_00000": ({"conv_dim": 16}, "completed", "completed 2 epochs", [9.0, 7.0]),
    "aaa_00001": ({"conv_dim": 32}, "completed", "completed 2 epochs", [8.0, 6.0]),
}


def lr_driven(n: int = 12) -> Trials:
    """n trials whose FID is set by lr (best near 1e-3) plus a little by optimizer; the 4 worst stop at 1."""
    trials: Trials = {}
    for i in range(n):
        lr = 10 ** (-4 + 2 * i / (n - 1))
        opt = "adam" if i % 2 else "rmsprop"
        base = 10 + 40 * abs(math.log10(lr) + 3) + (0.5 if opt == "rmsprop" else 0.0)
        fids = [base, base * 0.8, base * 0.7]
        trials[f"lrx_{i:05d}"] = ({"lr": lr, "optimizer": opt}, "completed", "completed 3 epochs", fids)
    worst = sorted(trials, key=lambda t: trials[t][3][0])[-4:]
    for trial in worst:
        params, _, _, fids = trials[trial]
        trials[trial] = (params, "stopped", "stopped early by ASHA at epoch 1", fids[:1])
    return trials


@pytest.fixture(scope="module")
def decisions(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, MlflowClient, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("decisions")
    (tmp / "mlruns").mkdir()
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    many_search = {"lr.loguniform": "[0.0001, 0.01]", "optimizer.choice": "['adam', 'rmsprop']"}
    ids = {
        "demo": make_sweep(client, tmp, "demo", "fid1k_rand", DEMO_TRIALS),
        "p32": make_sweep(client, tmp, "p32", "fid10k", SMALL, protocol=PROTOCOL),
        "p32b": make_sweep(client, tmp, "p32b", "fid10k", SMALL, protocol=PROTOCOL),
        "p64": make_sweep(client, tmp, "p64", "fid10k", SMALL, protocol={**PROTOCOL, "image_size": 64}),
        "many": make_sweep(client, tmp, "many", "fid1k_rand", lr_driven(), search=many_search),
        # best values rank 00000 < 00001 < 00002; re-measured finals reverse the top two, 00002 has none
        "final": make_sweep(client, tmp, "final", "fid1k_rand", {
            "fin_00000": ({"conv_dim": 16}, "completed", "completed 2 epochs", [6.0, 5.0]),
            "fin_00001": ({"conv_dim": 32}, "completed", "completed 2 epochs", [7.0, 6.0]),
            "fin_00002": ({"conv_dim": 32}, "completed", "completed 2 epochs", [8.0, 7.0]),
        }, finals={"fin_00000": 9.0, "fin_00001": 8.0}),
    }
    return uri, client, ids


def _report(client: MlflowClient, name: str) -> report_mod.SweepReport:
    return report_mod.build_report(client, report_mod.find_sweep(client, name))


def test_different_protocol_keys_exit_2_naming_the_difference(decisions: Any) -> None:
    uri, _, _ = decisions
    result = CliRunner().invoke(main, ["report", "p32", "p64", "--store", uri, "--format", "json"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gansweep: error: ")
    assert "image_size 32 vs 64" in lines[0] and "'p32'" in lines[0] and "'p64'" in lines[0]
    assert "backbone" not in lines[0], "only the fields that differ are named"


def test_same_protocol_key_is_ranked_together(decisions: Any) -> None:
    uri, _, _ = decisions
    result = CliRunner().invoke(main, ["report", "p32", "p32b", "--store", uri, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["comparable"] is True and len(data["ranking"]) == 4
    keys = {s["protocol_key"] for s in data["sweeps"]}
    assert len(keys) == 1 and None not in keys
    assert all(s["protocol"] == PROTOCOL for s in data["sweeps"])


def test_effects_at_the_common_budget_and_at_best(decisions: Any) -> None:
    _, client, _ = decisions
    rep = _report(client, "demo")
    # trials with a value ran 3, 3, 2 and 3 epochs: epoch 2 is the last all of them reached
    assert rep.budget_epoch == 2
    table = rep.table.set_index("trial")
    assert table.loc["00000", "budget_fid1k_rand"] == 20.0  # best of epochs 1-2, not its epoch-3 25
    assert table.loc["00001", "budget_fid1k_rand"] == 18.0 and table.loc["00001", "best_fid1k_rand"] == 12.0
    assert math.isnan(table.loc["00003", "budget_fid1k_rand"])
    conv = rep.effects["conv_dim"].set_index("conv_dim")
    assert conv.loc[16, "best_fid1k_rand_at_budget"] == 20.0
    assert conv.loc[16, "median_fid1k_rand_at_budget"] == pytest.approx(26.5)
    assert conv.loc[32, "best_fid1k_rand_at_budget"] == 18.0
    assert conv.loc[32, "median_fid1k_rand_at_budget"] == pytest.approx(18.5)
    assert conv.loc[16, "stopped"] == 1 and conv.loc[32, "stopped"] == 0 and conv.loc[32, "failed"] == 1
    assert conv.loc[16, "note"] == "n<3" and conv.loc[32, "note"] == "", "a value with < 3 trials is flagged"


def test_loguniform_params_get_a_log_axis(decisions: Any) -> None:
    _, client, _ = decisions
    rep = _report(client, "many")
    fig = effect_plots.param_effects_figure(rep.table, rep.sweep, rep.budget_epoch)
    assert fig is not None
    scales = {ax.get_xlabel().split(" ")[0]: ax.get_xscale() for ax in fig.axes}
    assert scales == {"lr": "log", "optimizer": "linear"}
    assert effects.is_log(rep.sweep, "lr", rep.table["lr"])
    demo = _report(client, "demo")
    assert not effects.is_log(demo.sweep, "conv_dim", demo.table["conv_dim"])


def test_importance_from_optuna_when_there_are_enough_trials(decisions: Any, tmp_path: Path) -> None:
    _, client, _ = decisions
    rep = _report(client, "many")
    imp = rep.importance
    assert imp is not None and list(imp.index) == ["lr", "optimizer"], imp
    assert imp["lr"] > 0.8 and imp.attrs["trials"] == 12 and imp.attrs["epoch"] == 1
    assert imp.attrs["evaluator"] in ("fANOVA", "PED-ANOVA")
    png = effect_plots.importance_bars(imp, rep.sweep.metric, tmp_path / "importance.png")
    with Image.open(png) as image:
        assert np.asarray(image.convert("L")).std() > 5
    assert _report(client, "demo").importance is None, "5 trials: too few for an importance"


def test_stopped_trials_are_marked_in_the_parallel_coordinates(decisions: Any, tmp_path: Path) -> None:
    _, client, _ = decisions
    rep = _report(client, "many")
    png = effect_plots.parallel_coordinates(rep.table, rep.sweep, tmp_path / "pc.png")
    assert png is not None and png.stat().st_size > 10_000


def test_ranking_uses_the_remeasured_final_value(decisions: Any) -> None:
    uri, client, _ = decisions
    rep = _report(client, "final")
    assert rep.table.attrs["final_metric"] == "final_fid1k_rand"
    assert list(rep.table["trial"]) == ["00001", "00000", "00002"]
    assert list(rep.table["final_fid1k_rand"].iloc[:2]) == [8.0, 9.0]
    assert math.isnan(rep.table["final_fid1k_rand"].iloc[2])
    shown = CliRunner().invoke(main, ["report", "final", "--store", uri])
    assert shown.exit_code == 0 and "final" in shown.output and "re-measured" in shown.output


def test_narrow_view_of_effects_and_importance(decisions: Any) -> None:
    _, client, _ = decisions
    from rich.console import Console

    console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_tables([_report(client, "many")], console=console)
    text = console.export_text()
    assert "parameter importance (" in text and "lr 0." in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 100
