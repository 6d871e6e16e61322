"""Wall time of `gansweep run search_spaces/demo.yaml` and how much of it is orchestration.

Runs the real command (Ray start-up, data + real statistics preparation, Tune, MLflow writes,
the end-of-sweep report) in a fresh temp dir, then reads back from MLflow how long trials spent
training and in the metric. Printed side by side from the same run:

    compute     = sum over trials of (training seconds + FID/KID seconds)
    ideal wall  = compute / concurrent slots  (perfect packing, zero overhead)
    overhead    = 1 - ideal wall / wall       (Ray/Tune/MLflow/start-up, and idle slots)
    critical    = 1 - busiest slot's compute / wall  (Ray/Tune/MLflow/start-up only)

Usage:  python benchmarks/bench_demo.py [--spec search_spaces/demo.yaml] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=REPO / "search_spaces" / "demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from orchestrator.spec import load

    with tempfile.TemporaryDirectory(prefix="gansweep-bench-") as tmp:
        overrides = [f"storage={tmp}/runs", *args.overrides]
        spec = load(args.spec.resolve(), overrides=dict(o.split("=", 1) for o in overrides))
        cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(args.spec.resolve())]
        for item in overrides:
            cmd += ["--set", item]
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"gansweep run failed ({done.returncode}):\n{done.stderr[-3000:]}")

        client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlruns/mlflow.db")
        experiment = client.get_experiment_by_name(spec.experiment)
        assert experiment is not None
        trials = client.search_runs([experiment.experiment_id], "tags.`gansweep.kind` = 'trial'")
        train_s = eval_s = 0.0
        first_last: list[tuple[float, float, float]] = []
        for run in trials:
            train_s += sum(m.value for m in client.get_metric_history(run.info.run_id, "epoch_s"))
            eval_s += sum(m.value for m in client.get_metric_history(run.info.run_id, "eval_s"))
            fids = sorted(
                (m.step, m.value) for m in client.get_metric_history(run.info.run_id, spec.asha_metric)
            )
            if fids:
                first_last.append((min(v for _, v in fids), fids[0][1], fids[-1][1]))
        busiest = busiest_slot_compute(Path(tmp) / "runs")
        slots = min(spec.resources.max_concurrent, len(trials))
        ideal = (train_s + eval_s) / slots
        print(f"spec {args.spec.name}: {len(trials)} trials, {slots} concurrent slots")
        print(f"wall (whole command)        {wall:8.1f} s")
        print(f"trial training              {train_s:8.1f} s")
        print(f"trial {spec.asha_metric:<22}{eval_s:8.1f} s")
        print(f"ideal wall (compute/slots)  {ideal:8.1f} s")
        print(f"busiest trial process       {busiest:8.1f} s  (train+metric of the trials it ran)")
        print(f"overhead vs ideal packing   {1 - ideal / wall:8.1%}  (1 - ideal/wall; idle slots count)")
        print(f"overhead on critical path   {1 - busiest / wall:8.1%}  (1 - busiest/wall)")
        best, first, last = min(first_last)
        print(f"best trial {spec.asha_metric}: epoch 1 {first:.3f} -> last {last:.3f} (best {best:.3f})")


if __name__ == "__main__":
    main()
