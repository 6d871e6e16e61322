"""Worked example of README 'Extending: a metric': a higher-is-better metric (improved precision,
``trainers.registry.METRICS["prec"]``, mode max) computed in trials, scheduled by successive halving,
re-measured and ranked the right way round, through real Ray, MLflow and torch."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from e2e_helpers import run_cli, store, sweep_runs, tiny_spec

from orchestrator.sweep_spec import load

pytestmark = pytest.mark.slow


def test_a_higher_is_better_metric_is_scheduled_and_ranked_by_its_mode(tmp_path: Path) -> None:
    spec_path = tiny_spec(
        tmp_path, name="prec",
        search={"algorithm": "grid", "num_samples": 1, "params": {"conv_dim": {"grid": [8, 16]},
                                                                 "lr": {"grid": [1.0e-5, 3.0e-4]}}},
        scheduler={"type": "sha", "metric": "prec", "grace_period": 1, "reduction_factor": 2,
                   "noise_bound": 1},
        metrics={"backbone": "rand", "samples": 128, "batch_size": 128, "kinds": ["fid", "prec"],
                 "final_samples": 200, "final_top_k": 2, "final_draws": 2},
        train={"epochs": 2, "batch_size": 64, "lr": 2.0e-4},
    )
    spec = load(spec_path)
    assert (spec.asha_metric, spec.scheduler.mode, spec.metric_names) == (
        "prec128_rand", "max", ("fid128_rand", "prec128_rand"))
    done = run_cli(["run", str(spec_path)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    client = store(tmp_path)
    parent, children = sweep_runs(client, "prec")
    assert len(children) == 4
    bests = {}
    for child in children:
        history = [m.value for m in client.get_metric_history(child.info.run_id, "prec128_rand")]
        assert history and all(0.0 <= v <= 1.0 for v in history)
        assert child.data.metrics["best_prec128_rand"] == max(history)  # best = highest, not lowest
        bests[child.info.run_id] = max(history)
        assert "fid128_rand" in child.data.metrics  # both registered kinds on one feature pass
    # halving on prec, mode max: the 2 trials with the highest prec at epoch 1 went on to epoch 2
    epochs = {c.info.run_id: len(client.get_metric_history(c.info.run_id, "prec128_rand")) for c in children}
    assert sorted(epochs.values()) == [1, 1, 2, 2]
    first = {c.info.run_id: client.get_metric_history(c.info.run_id, "prec128_rand")[0].value
             for c in children}
    kept = {r for r, n in epochs.items() if n == 2}
    assert min(first[r] for r in kept) >= max(first[r] for r in first if r not in kept)
    assert parent.data.metrics["best_prec128_rand"] == max(bests.values())
    finals = {c.info.run_id: client.get_run(c.info.run_id).data.metrics.get("final_prec200_rand")
              for c in children}
    measured = {r: v for r, v in finals.items() if v is not None and math.isfinite(v)}
    assert len(measured) == 2

    shown = run_cli(["report", "prec", "--store", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
                     "--format", "csv"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(shown.stdout))
    ranked = table.dropna(subset=["final_prec200_rand"])["final_prec200_rand"].tolist()
    assert ranked == sorted(ranked, reverse=True)  # rank 1 has the highest precision
