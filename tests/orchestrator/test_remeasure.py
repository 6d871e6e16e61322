"""End-of-sweep re-measurement (orchestrator.remeasure) on a real MLflow store and real generators."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orchestrator.record import names
from orchestrator.record.store import client_for, ensure_experiment
from orchestrator.remeasure import final_samples, remeasure_top, top_trials
from orchestrator.sweep_spec import from_dict
from trainers.config import TrainConfig
from trainers.data import synthetic_faces
from trainers.models import build_generator


def _spec(tmp_path: Path, **metrics: Any) -> Any:
    return from_dict(
        {
            "name": "rm",
            "storage": str(tmp_path / "runs"),
            "data": {"source": "synthetic", "image_size": 32, "count": 300},
            "metrics": {"backbone": "rand", "samples": 100, "kid": False, **metrics},
            "tracking": {"uri": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"},
        },
        check_data=False,
    )


def _child(client: Any, experiment_id: str, parent: str, metric: str, best: float, seed: int,
           tmp_path: Path) -> str:
    """A trial run as the writer leaves it: best-so-far metric and model/best_generator.pt."""
    tags = {names.PARENT: parent, names.TAG_KIND: "trial"}
    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    client.log_metric(run_id, f"{metric}_best", best)
    cfg = TrainConfig(conv_dim=8, z_dim=16, image_size=32, seed=seed)
    torch.manual_seed(seed)
    folder = tmp_path / f"gen{seed}" / "model"
    folder.mkdir(parents=True)
    torch.save({"config": cfg.to_dict(), "generator": build_generator(cfg).state_dict(), "step": 1,
                "value": best}, folder / "best_generator.pt")
    client.log_artifacts(run_id, str(folder), "model")
    return run_id


def _sweep_store(spec: Any, tmp_path: Path) -> tuple[Path, Any, str, str]:
    """300 synthetic faces on disk and the spec's store with one sweep (parent) run."""
    data = tmp_path / "faces.npy"
    np.save(data, synthetic_faces(300, 32, seed=0))
    client = client_for(spec.tracking_uri)
    experiment_id = ensure_experiment(client, spec.experiment, spec.tracking_uri)
    parent = client.create_run(experiment_id, tags={names.TAG_KIND: "sweep"}).info.run_id
    return data, client, experiment_id, parent


def test_top_k_get_a_final_metric_from_their_best_generator(tmp_path: Path) -> None:
    spec = _spec(tmp_path, final_samples=200, final_top_k=2)
    assert final_samples(spec, 300) == 200
    assert final_samples(_spec(tmp_path), 300) == 300  # default: min(10000, dataset size)
    data, client, experiment_id, parent = _sweep_store(spec, tmp_path)
    metric = spec.asha_metric
    runs = {best: _child(client, experiment_id, parent, metric, best, seed, tmp_path)
            for seed, best in enumerate([0.9, 0.3, math.inf, 0.5])}
    top = top_trials(client, experiment_id, parent, metric, 2)
    assert [r.info.run_id for r in top] == [runs[0.3], runs[0.5]]

    info = {"images": 300, "dataset": str(data), "dataset_fingerprint": "faces-300"}
    values = remeasure_top(spec, client, experiment_id, parent, info)
    assert set(values) == {runs[0.3], runs[0.5]}
    assert all(math.isfinite(v) and v > 0 for v in values.values())
    assert values[runs[0.3]] != values[runs[0.5]]  # two different generators measured
    for best, run_id in runs.items():
        logged = client.get_run(run_id).data.metrics
        assert ("final_fid200_rand" in logged) == (run_id in values), best
        # the mean of final_draws (default 3) independent draws, and their spread
        assert ("final_fid200_rand_std" in logged) == (run_id in values), best
        if run_id in values:
            assert logged["final_fid200_rand"] == values[run_id] and logged["final_fid200_rand_std"] > 0
    tags = client.get_run(parent).data.tags
    assert tags[names.TAG_FINAL_METRIC] == "final_fid200_rand"
    winner = min(values, key=values.__getitem__)
    line = tags[names.TAG_VERDICT]
    assert line.startswith("winner ") and "over 3 draws; runner-up" in line
    assert f"{values[winner]:.4g} ± " in line


def test_a_second_pass_measures_only_the_trials_without_a_final_value(tmp_path: Path) -> None:
    """A driver killed during the re-measurement, then `--resume`: the trial measured before the
    kill keeps its one value, the others get theirs, no step is logged twice."""
    spec = _spec(tmp_path, final_samples=200, final_top_k=2)
    data, client, experiment_id, parent = _sweep_store(spec, tmp_path)
    metric = spec.asha_metric
    first, second = (_child(client, experiment_id, parent, metric, best, seed, tmp_path)
                     for seed, best in enumerate([0.3, 0.5]))
    info = {"images": 300, "dataset": str(data), "dataset_fingerprint": "faces-300"}
    # What the killed driver got done: the best trial only (top 1 of the same ranking).
    done = remeasure_top(spec.model_copy(update={"metrics": spec.metrics.model_copy(
        update={"final_top_k": 1})}), client, experiment_id, parent, info)
    assert set(done) == {first}
    again = remeasure_top(spec, client, experiment_id, parent, info)  # the resume
    assert set(again) == {first, second} and again[first] == done[first]
    for run_id in (first, second):
        history = client.get_metric_history(run_id, "final_fid200_rand")
        assert [m.step for m in history] == [0], f"{run_id}: one final value, no duplicate step"
    remeasure_top(spec, client, experiment_id, parent, info)  # a resume of the resume: nothing new
    assert all(len(client.get_metric_history(r, "final_fid200_rand")) == 1 for r in (first, second))


def test_zero_final_samples_skips(tmp_path: Path) -> None:
    spec = _spec(tmp_path, final_samples=0)
    client = client_for(spec.tracking_uri)
    experiment_id = ensure_experiment(client, spec.experiment, spec.tracking_uri)
    parent = client.create_run(experiment_id).info.run_id
    assert remeasure_top(spec, client, experiment_id, parent, {"images": 300}) == {}
