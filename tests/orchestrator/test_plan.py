"""The plan `gansweep validate` prints counts the reseeds of `metrics.final_seeds` (orchestrator.plan)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import main
from tests.e2e_helpers import tiny_spec


def test_reseeds_add_n_minus_one_full_trainings_of_the_top_k(tmp_path: Path) -> None:
    halving = {"type": "sha", "metric": "fid", "grace_period": 1, "reduction_factor": 2}
    metrics = {"backbone": "rand", "samples": 128, "batch_size": 128, "final_top_k": 2, "final_seeds": 3}
    spec = tiny_spec(tmp_path, scheduler=halving, metrics=metrics)  # 6 trials, 4 epochs, 2 slots
    result = CliRunner().invoke(main, ["validate", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    # the sweep: 13 trial-epochs (test_cli); then (3 - 1) x 2 reseeds x 4 epochs = 16, on 2 slots 8 more
    assert (plan["trial_epochs"], plan["reseed_trainings"], plan["reseed_trial_epochs"]) == (13, 4, 16)
    assert plan["epoch_lengths_of_wall_time"] == 7 + 8
    text = CliRunner().invoke(main, ["validate", str(spec)]).stdout
    assert "then: 4 reseed trainings ((final_seeds 3 - 1) x the top 2), 16 more trial-epochs" in text

    off = tiny_spec(tmp_path, name="off", scheduler=halving, metrics={**metrics, "final_seeds": 1})
    plan = json.loads(CliRunner().invoke(main, ["validate", str(off), "--json"]).stdout)["plan"]
    wall = plan["epoch_lengths_of_wall_time"]
    assert (plan["reseed_trainings"], plan["reseed_trial_epochs"], wall) == (0, 0, 7)
