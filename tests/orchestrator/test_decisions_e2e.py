"""End to end: `gansweep run` honours the concurrency limit, seeds replicates apart, reports the
decision signal and re-measures its top trials (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e_helpers import run_cli, store, sweep_runs, tiny_spec

pytestmark = pytest.mark.slow


def test_one_at_a_time_distinct_seeds_signal_and_final_metric(tmp_path: Path) -> None:
    spec = tiny_spec(
        tmp_path,
        name="limit1",
        data={"source": "synthetic", "image_size": 32, "count": 128},
        train={"epochs": 2, "batch_size": 64, "lr": 2.0e-4},
        search={"algorithm": "random", "num_samples": 3, "params": {"conv_dim": {"grid": [8]}}},
        scheduler={"type": "asha", "metric": "fid", "grace_period": 1, "reduction_factor": 2,
                   "signal": "best"},
        metrics={"backbone": "rand", "samples": 128, "batch_size": 128, "kid": False, "final_samples": 256,
                 "final_top_k": 2},
        resources={"cpus_per_trial": 1, "gpus_per_trial": 0, "max_concurrent": 1},
    )
    done = run_cli(["run", str(spec)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _, children = sweep_runs(store(tmp_path), "limit1")
    assert len(children) == 3

    # max_concurrent 1: each trial starts after the previous one ended (2 CPUs would allow 2 at once)
    spans = sorted((c.info.start_time, c.info.end_time) for c in children)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"trials overlapped: {spans}"

    # three replicates of one grid point, three different training seeds, each recorded as a param
    seeds = [c.data.params["seed"] for c in children]
    assert len(set(seeds)) == 3, seeds

    # the decision signal travels with the raw metric; the best two were re-measured on 256 samples
    assert all("fid128_rand_best" in c.data.metrics and "fid128_rand" in c.data.metrics for c in children)
    finals = [c for c in children if "final_fid256_rand" in c.data.metrics]
    assert len(finals) == 2
