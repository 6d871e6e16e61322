"""Wall time of `gansweep run search_spaces/demo.yaml` and how much of it is orchestration.

Runs the real command (Ray start-up, data + real statistics preparation, Tune, MLflow writes,
the end-of-sweep report) in a fresh temp dir, then reads back from MLflow how long trials spent
training and in the metric. Printed side by side from the same run:

    compute     = sum over trials of (training seconds + FID/KID seconds)
    ideal wall  = compute / concurrent slots  (perfect packing, zero overhead)
    overhead    = 1 - ideal wall / wall       (Ray/Tune/MLflow/start-up, and idle slots)
    critical    = 1 - busiest slot's compute / wall  (Ray/Tune/MLflow/start-up only)

Every run starts from a cold cache (its own empty ``GANSWEEP_CACHE_DIR``: the synthetic faces and
the real statistics are built inside the timed command, as for a new user); ``--runs`` repeats it
(trial arrival order and OS scheduling differ between runs) and prints how many trials ASHA stopped.

Usage:  python benchmarks/bench_demo.py [--spec search_spaces/demo.yaml] [--runs 2] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]


def busiest_slot_compute(storage: Path) -> float:
    """Train+metric seconds of the busiest trial process (Tune's result.json `pid`; actors are
    reused, so one pid is one concurrent slot running trials back to back)."""
    per_pid: dict[int, float] = {}
    for result_file in storage.glob("*/*/result.json"):
        for line in result_file.read_text().splitlines():
            row = json.loads(line)
            pid = int(row.get("pid", 0))
            per_pid[pid] = per_pid.get(pid, 0.0) + row.get("epoch_s", 0.0) + row.get("eval_s", 0.0)
    return max(per_pid.values(), default=0.0)


def one_run(spec_path: Path, extra: list[str]) -> float:
    """One cold-cache `gansweep run`; prints its breakdown and returns its wall time."""
    from orchestrator.sweep_spec import load

    with tempfile.TemporaryDirectory(prefix="gansweep-bench-") as tmp:
        overrides = [f"storage={tmp}/runs", *extra]
        spec = load(spec_path, overrides=dict(o.split("=", 1) for o in overrides))
        cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(spec_path)]
        for item in overrides:
            cmd += ["--set", item]
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the store under tmp
        env["GANSWEEP_CACHE_DIR"] = f"{tmp}/cache"
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"gansweep run failed ({done.returncode}):\n{done.stderr[-3000:]}")

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns/mlflow.db")
        experiment = client.get_experiment_by_name(spec.experiment)
        assert experiment is not None
        trials = client.search_runs([experiment.experiment_id], "tags.`gansweep.kind` = 'trial'")
        train_s = eval_s = 0.0
        first_last: list[tuple[float, float, float]] = []
        epochs = []
        for run in trials:
            train = client.get_metric_history(run.info.run_id, "epoch_s")
            train_s += sum(m.value for m in train)
            eval_s += sum(m.value for m in client.get_metric_history(run.info.run_id, "eval_s"))
            epochs.append(len(train))
            fids = sorted(
                (m.step, m.value) for m in client.get_metric_history(run.info.run_id, spec.asha_metric)
            )
            if fids:
                first_last.append((min(v for _, v in fids), fids[0][1], fids[-1][1]))
        busiest = busiest_slot_compute(Path(tmp) / "runs")
        slots = min(spec.resources.max_concurrent, len(trials))
        ideal = (train_s + eval_s) / slots
        max_epochs = spec.max_t() or max(epochs, default=0)
        stopped = sum(e < max_epochs for e in epochs)
        print(f"spec {spec_path.name}: {len(trials)} trials, {slots} concurrent slots, cold cache")
        print(f"wall (whole command)        {wall:8.1f} s")
        print(f"trial training              {train_s:8.1f} s")
        print(f"trial {spec.asha_metric:<22}{eval_s:8.1f} s")
        print(f"ideal wall (compute/slots)  {ideal:8.1f} s")
        print(f"busiest trial process       {busiest:8.1f} s  (train+metric of the trials it ran)")
        print(f"overhead vs ideal packing   {1 - ideal / wall:8.1%}  (1 - ideal/wall; idle slots count)")
        print(f"overhead on critical path   {1 - busiest / wall:8.1%}  (1 - busiest/wall)")
        print(f"epochs per trial            {sorted(epochs)}  ({stopped} stopped early by the scheduler)")
        best, first, last = min(first_last)
        print(f"best trial {spec.asha_metric}: epoch 1 {first:.3f} -> last {last:.3f} (best {best:.3f})")
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "search_spaces" / "demo.yaml")
    parser.add_argument("--runs", type=int, default=2, help="cold-cache runs, one after the other")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    walls = [one_run(args.spec.resolve(), args.overrides) for _ in range(args.runs)]
    print(f"wall per run: {', '.join(f'{w:.1f} s' for w in walls)} (max {max(walls):.1f} s)")


if __name__ == "__main__":
    main()
