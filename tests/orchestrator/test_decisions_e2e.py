"""End to end: `gansweep run` honours the concurrency limit, seeds replicates apart, reports the
decision signal and re-measures its top trials (issue 10), and retrains them with more seeds
(`metrics.final_seeds`, issue 20)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.record import names
from tests.e2e_helpers import GANSWEEP, kill_when, run_cli, store, sweep_runs, tiny_spec

pytestmark = pytest.mark.slow


def test_one_at_a_time_distinct_seeds_signal_final_metric_and_reseeds(tmp_path: Path) -> None:
    spec = tiny_spec(
        tmp_path,
        name="limit1",
        data={"source": "synthetic", "image_size": 32, "count": 128},
        train={"epochs": 2, "batch_size": 64, "lr": 2.0e-4},
        search={"algorithm": "random", "num_samples": 3, "params": {"conv_dim": {"grid": [8]}}},
        scheduler={"type": "asha", "metric": "fid", "grace_period": 1, "reduction_factor": 2,
                   "signal": "best"},
        metrics={"backbone": "rand", "samples": 128, "batch_size": 128, "kid": False, "final_samples": 256,
                 "final_top_k": 2, "final_seeds": 2},
        resources={"cpus_per_trial": 1, "gpus_per_trial": 0, "max_concurrent": 1},
    )
    done = run_cli(["run", str(spec)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    parent, children = sweep_runs(store(tmp_path), "limit1")
    assert len(children) == 3
    reseeds = store(tmp_path).search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`{names.TAG_KIND}` = '{names.KIND_RESEED}'")

    # max_concurrent 1: each trial starts after the previous one ended (2 CPUs would allow 2 at once),
    # and so does each reseed (the second Tune experiment has the same limit)
    spans = sorted((c.info.start_time, c.info.end_time) for c in children + reseeds)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, f"trials overlapped: {spans}"

    # three replicates of one grid point, three different training seeds, each recorded as a param
    seeds = [c.data.params["seed"] for c in children]
    assert len(set(seeds)) == 3, seeds

    # the decision signal travels with the raw metric and both with their noise estimate (every epoch);
    # the best two were re-measured on 256 samples
    client = store(tmp_path)
    for c in children:
        assert {"fid128_rand", "fid128_rand_noise", "best_fid128_rand", "fid128_rand_best_noise"} <= set(
            c.data.metrics)
        assert "fid128_rand_best" not in c.data.metrics  # one "best" series per child (best_<metric>)
        steps = [[m.step for m in client.get_metric_history(c.info.run_id, k)]
                 for k in ("fid128_rand", "fid128_rand_noise")]
        assert steps[0] == steps[1] and all(
            m.value > 0 for m in client.get_metric_history(c.info.run_id, "fid128_rand_noise"))
    finals = [c for c in children if "final_fid256_rand" in c.data.metrics]
    assert len(finals) == 2

    # final_seeds 2: each of the 2 re-measured trials trained once more, to the end, with another seed,
    # as a child run of the same parent naming the trial it reseeds, measured the same way
    key = "final_fid256_rand"
    by_trial = {c.data.tags[names.TAG_TRIAL]: c for c in finals}
    assert sorted(r.data.tags[names.TAG_RESEED_OF] for r in reseeds) == sorted(by_trial)
    for r in reseeds:
        original = by_trial[r.data.tags[names.TAG_RESEED_OF]]
        assert r.data.tags[names.PARENT] == parent.info.run_id and r.data.tags[names.TAG_RESEED_INDEX] == "1"
        assert r.data.tags[names.TAG_STATUS] == "completed" and r.info.status == "FINISHED"
        assert r.data.params["seed"] != original.data.params["seed"]
        assert r.data.params["lr"] == original.data.params["lr"]  # the same config otherwise
        assert [m.step for m in client.get_metric_history(r.info.run_id, "d_loss")] == [1, 2]  # full epochs
        assert [m.step for m in client.get_metric_history(r.info.run_id, f"{key}_draws")] == [0, 1, 2]
        # each trial: mean ± std over its 2 seeds (the original's re-measured value and the reseed's)
        values = [original.data.metrics[key], r.data.metrics[key]]
        history = client.get_metric_history(original.info.run_id, f"{key}_per_seed")
        per_seed = sorted(history, key=lambda m: m.step)
        assert [(m.step, m.value) for m in per_seed] == [(0, values[0]), (1, values[1])]
        assert original.data.metrics[f"{key}_seeds"] == pytest.approx(sum(values) / 2)
        assert original.data.metrics[f"{key}_seeds_std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    # the verdict across seeds: printed by run, on the parent, printed by report
    line = client.get_run(parent.info.run_id).data.tags[names.TAG_SEED_VERDICT]
    assert line.startswith("across training seeds: winner 0000") and " over 2 seeds; runner-up 0000" in line
    assert "seed spread" in line
    assert line in done.stdout.splitlines(), done.stdout[-3000:]
    assert "over 3 draws; runner-up" in done.stdout  # the draws' verdict stays
    report = run_cli(["report", "limit1", "--store", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"],
                     cwd=tmp_path)
    assert report.returncode == 0 and f"limit1: {line}" in report.stdout, report.stderr[-2000:]


def _epoch_spans(storage: Path) -> list[tuple[float, float, str, int]]:
    """(start, end, trial, process id) of every reported epoch, from Tune's own result.json files."""
    import json

    spans = []
    for result_file in storage.glob("*/*/result.json"):
        for line in result_file.read_text().splitlines():
            r = json.loads(line)
            spans.append((r["timestamp"] - r["time_this_iter_s"], r["timestamp"], r["trial_id"], r["pid"]))
    return sorted(spans)


def test_successive_halving_pauses_halves_and_resumes_within_the_limit(tmp_path: Path) -> None:
    """The default scheduler (sha): 4 trials to epoch 1, the best 2 to epoch 2, the best 1 to 3.
    Paused trials resume from their rung checkpoint in the same MLflow run; with max_concurrent 1
    no two epochs of different trials ever run at once (Ray's resources hold the limit)."""
    spec = tiny_spec(
        tmp_path,
        name="halving",
        data={"source": "synthetic", "image_size": 32, "count": 128},
        train={"epochs": 3, "batch_size": 64, "lr": 2.0e-4},
        search={"algorithm": "random", "num_samples": 4, "params": {"lr": {"loguniform": [1.0e-5, 1.0e-3]}}},
        # noise_bound 1: cut at the quota alone (at 128 samples most trials are within noise of each other)
        scheduler={"type": "sha", "metric": "fid", "grace_period": 1, "reduction_factor": 2,
                   "noise_bound": 1},
        metrics={"backbone": "rand", "samples": 128, "batch_size": 128, "kid": False},
        resources={"cpus_per_trial": 1, "gpus_per_trial": 0, "max_concurrent": 1},
    )
    done = run_cli(["run", str(spec)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    client = store(tmp_path)
    _, children = sweep_runs(client, "halving")
    assert len(children) == 4
    steps = {c.info.run_id: sorted(m.step for m in client.get_metric_history(c.info.run_id, "fid128_rand"))
             for c in children}
    assert sorted(len(s) for s in steps.values()) == [1, 1, 2, 3], steps
    assert all(s == list(range(1, len(s) + 1)) for s in steps.values()), steps  # resumed, not restarted
    assert all(c.info.status == "FINISHED" for c in children)

    # Tune's timestamps are whole seconds, too coarse for these epochs; the process is exact: with
    # room for one trial Ray keeps one (reused) actor, while two trials at once need two processes
    # (MLflow above holds every epoch; Tune's files can miss a line of a trial it paused and resumed)
    spans = _epoch_spans(tmp_path / "runs")
    assert len({trial for _, _, trial, _ in spans}) == 4, spans
    assert len({pid for *_, pid in spans}) == 1, f"epochs ran in more than one process at a time: {spans}"


def test_a_driver_killed_during_the_reseeds_resumes_them(tmp_path: Path) -> None:
    """SIGKILL while a reseed trains, then `--resume`: the reseed experiment is restored (or, killed
    before Tune's first snapshot, its unfinished points start again), every reseed ends completed once,
    no epoch is logged twice, and the seed verdict is recorded and printed."""
    spec = tiny_spec(
        tmp_path,
        name="reseedkill",
        data={"source": "synthetic", "image_size": 32, "count": 512},
        search={"algorithm": "grid", "num_samples": 2, "params": {"conv_dim": {"grid": [8]}}},
        scheduler={"type": "none", "metric": "fid"},
        checkpoint={"every": 1},
        metrics={"backbone": "rand", "samples": 128, "batch_size": 128, "kid": False, "final_samples": 256,
                 "final_top_k": 1, "final_seeds": 2},
        resources={"cpus_per_trial": 1, "gpus_per_trial": 0, "max_concurrent": 1},
    )  # 2 trials x 4 epochs, then the best one's reseed x 4 epochs (the first test checks 2 and a verdict)
    client = store(tmp_path)

    def reseeds() -> list:
        experiment = client.get_experiment_by_name("reseedkill")
        if experiment is None:
            return []
        kind = f"tags.`{names.TAG_KIND}` = '{names.KIND_RESEED}'"
        return client.search_runs([experiment.experiment_id], kind)

    def steps(run_id: str, key: str = "d_loss") -> list[int]:
        return sorted(m.step for m in client.get_metric_history(run_id, key))

    def mid_reseed() -> bool:  # a reseed has trained some epochs, not all
        return any(1 <= len(steps(r.info.run_id)) < 4 for r in reseeds())

    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    proc = subprocess.Popen([*GANSWEEP, "run", str(spec)], cwd=tmp_path, start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    kill_when(proc, mid_reseed, "a reseed trained some epochs, not all")
    killed_in = {r.info.run_id for r in reseeds() if 1 <= len(steps(r.info.run_id)) < 4}
    assert killed_in, "killed while a reseed was training"

    done = run_cli(["run", str(spec), "--resume"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    parent, children = sweep_runs(client, "reseedkill")
    assert parent.info.status == "FINISHED" and len(children) == 2
    key = "final_fid256_rand"
    completed = [r for r in reseeds() if r.data.tags[names.TAG_STATUS] == "completed"]
    top = [c for c in children if f"{key}_seeds" in c.data.metrics]
    assert len(top) == 1, "the re-measured trial got its mean over seeds"
    points = [(r.data.tags[names.TAG_RESEED_OF], r.data.tags[names.TAG_RESEED_INDEX]) for r in completed]
    assert points == [(top[0].data.tags[names.TAG_TRIAL], "1")], "the reseed done once"
    ids = {r.info.run_id for r in completed}
    others = [r for r in reseeds() if r.info.run_id not in ids]  # only where Tune had no snapshot
    assert all(r.data.tags[names.TAG_STATUS] == "abandoned" and r.info.status == "KILLED" for r in others)
    for r in completed:
        assert steps(r.info.run_id) == [1, 2, 3, 4], "no epoch logged twice, none missing"
        assert steps(r.info.run_id, key) == [0]
    assert steps(top[0].info.run_id, f"{key}_per_seed") == [0, 1]
    assert steps(top[0].info.run_id, f"{key}_seeds") == [0]
    line = client.get_run(parent.info.run_id).data.tags[names.TAG_SEED_VERDICT]
    assert line in done.stdout.splitlines() and line.endswith(" over 2 seeds; no runner-up was re-measured")
    how = "in the same run (restored)" if ids & killed_in else "in a new run"
    print(f"\n[kill during reseeds] resumed {how}: {line}")
