"""Seed variance of the answer (orchestrator.reseed, metrics.final_seeds): reseed points, and the
aggregation over seeds and its verdict on a real MLflow store with real generators."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.record import names
from orchestrator.remeasure import remeasure_top, top_trials
from orchestrator.reseed import record_seed_spread
from orchestrator.sampling import SEED_KEY, reseed_points, reseed_seed, unwrap_reseed
from tests.orchestrator.test_remeasure import _child, _spec, _sweep_store


def test_reseed_points_retrain_each_config_with_other_reproducible_seeds() -> None:
    configs = {"abc_00001": {"lr": 1e-4, SEED_KEY: 11}, "abc_00000": {"lr": 2e-4}}  # 00000: spec's seed
    points = reseed_points(configs, seeds=3, base_seed=5)
    assert [(p["of"], p["index"]) for p in points] == [("abc_00000", 1), ("abc_00000", 2),
                                                       ("abc_00001", 1), ("abc_00001", 2)]
    seeds = [p["config"][SEED_KEY] for p in points]
    assert len(set(seeds) | {5, 11}) == 6  # distinct from each other and from the originals'
    assert seeds[2] == reseed_seed(11, 1) and seeds[0] == reseed_seed(5, 1)  # reproducible
    assert all(p["config"]["lr"] == configs[p["of"]]["lr"] for p in points)  # the same config otherwise
    plain, point = unwrap_reseed({"reseed": points[2]})
    assert plain == {"lr": 1e-4, SEED_KEY: seeds[2]} and point is not None and point["of"] == "abc_00001"
    assert unwrap_reseed({"lr": 1e-4}) == ({"lr": 1e-4}, None)
    assert reseed_points(configs, seeds=1, base_seed=5) == []


def _reseed_run(client: Any, experiment_id: str, parent: str, metric: str, of: str, index: int, seed: int,
                tmp_path: Path, status: str = "completed") -> str:
    """A finished reseed run as the writer leaves it (kind reseed, the trial it retrains, its generator)."""
    run_id = _child(client, experiment_id, parent, metric, 0.01, seed, tmp_path)  # best: would top a ranking
    for key, value in {names.TAG_KIND: names.KIND_RESEED, names.TAG_RESEED_OF: of,
                       names.TAG_RESEED_INDEX: str(index), names.TAG_STATUS: status}.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id)
    return run_id


def test_top_trials_get_mean_and_std_over_seeds_and_the_parent_a_verdict(tmp_path: Path) -> None:
    spec = _spec(tmp_path, final_samples=200, final_top_k=2, final_draws=2, final_seeds=3)
    data, client, experiment_id, parent = _sweep_store(spec, tmp_path)
    metric = spec.asha_metric
    trials = {}
    for seed, best in enumerate([0.3, 0.5, 0.9]):
        run_id = _child(client, experiment_id, parent, metric, best, seed, tmp_path)
        client.set_tag(run_id, names.TAG_TRIAL, f"abc_0000{seed}")
        trials[f"abc_0000{seed}"] = run_id
    info = {"images": 300, "dataset": str(data), "dataset_fingerprint": "faces-300"}
    remeasured = remeasure_top(spec, client, experiment_id, parent, info)
    assert set(remeasured) == {trials["abc_00000"], trials["abc_00001"]}
    reseeds = {(of, i): _reseed_run(client, experiment_id, parent, metric, of, i, 10 + 2 * k + i, tmp_path)
               for k, of in enumerate(["abc_00000", "abc_00001"]) for i in (1, 2)}
    failed = _reseed_run(client, experiment_id, parent, metric, "abc_00002", 1, 30, tmp_path, "failed")
    # reseeds are no candidates for the top K, however good their best value
    top = top_trials(client, experiment_id, parent, metric, 5)
    assert {r.info.run_id for r in top} == set(trials.values())

    found = record_seed_spread(spec, client, experiment_id, parent, info, remeasured)
    assert found is not None and found.unit == "seeds"
    key = "final_fid200_rand"
    for run_id in reseeds.values():  # each reseed measured like the re-measurement
        logged = client.get_run(run_id).data.metrics
        assert math.isfinite(logged[key]) and logged[f"{key}_std"] > 0
        assert [m.step for m in client.get_metric_history(run_id, f"{key}_draws")] == [0, 1]
    assert key not in client.get_run(failed).data.metrics
    for of in ("abc_00000", "abc_00001"):
        run_id = trials[of]
        per_seed = sorted(client.get_metric_history(run_id, f"{key}_per_seed"), key=lambda m: m.step)
        expected = [remeasured[run_id]] + [client.get_run(reseeds[(of, i)]).data.metrics[key] for i in (1, 2)]
        assert [m.step for m in per_seed] == [0, 1, 2]
        assert [m.value for m in per_seed] == pytest.approx(expected)
        logged = client.get_run(run_id).data.metrics
        assert logged[f"{key}_seeds"] == pytest.approx(sum(expected) / 3)
        assert logged[f"{key}_seeds_std"] == pytest.approx(float(np.std(expected, ddof=1)))
        assert logged[key] == pytest.approx(remeasured[run_id])  # the draws' mean stays as it was
    assert f"{key}_seeds" not in client.get_run(trials["abc_00002"]).data.metrics
    tags = client.get_run(parent).data.tags
    line = tags[names.TAG_SEED_VERDICT]
    assert line == found.line() and line.startswith("across training seeds: winner 0000")
    assert "over 3 seeds; runner-up 0000" in line and ("seed spread" in line)
    assert tags[names.TAG_VERDICT].startswith("winner ")  # the draws' verdict stays beside it
    parent_metrics = client.get_run(parent).data.metrics
    assert parent_metrics[names.SEED_MARGIN] == pytest.approx(found.margin)
    assert parent_metrics[names.SEED_MARGIN_NOISE] == pytest.approx(found.noise)

    # a resumed driver measures and logs nothing twice
    again = record_seed_spread(spec, client, experiment_id, parent, info, remeasured)
    assert again is not None and again.line() == line
    for run_id in (*reseeds.values(), trials["abc_00000"]):
        for k in (key, f"{key}_seeds", f"{key}_per_seed"):
            steps = [m.step for m in client.get_metric_history(run_id, k)]
            assert len(steps) == len(set(steps)), (run_id, k, steps)

    # `gansweep report` shows both lines; the reseeds are not rows of the table
    client.set_tag(parent, names.TAG_SWEEP, "rm")
    result = CliRunner().invoke(main, ["report", "rm", "--store", spec.tracking_uri, "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["sweeps"][0]
    assert len(shown["trials"]) == 3 and shown["verdicts"] == [tags[names.TAG_VERDICT], line]
    seeds = {t["run_id"]: t.get(f"{key}_seeds") for t in shown["trials"]}  # a column of the table
    mean = client.get_run(trials["abc_00000"]).data.metrics[f"{key}_seeds"]
    assert seeds[trials["abc_00000"]] == pytest.approx(mean)
    assert seeds[trials["abc_00002"]] is None or math.isnan(seeds[trials["abc_00002"]])
    result = CliRunner().invoke(main, ["report", "rm", "--store", spec.tracking_uri])
    assert result.exit_code == 0, result.output
    assert f"rm: {line}" in result.output and "rm: winner " in result.output
