"""One live sweep on the default scheduler and on ``scheduler.type: none``: what the default costs and finds.

Runs the real ``gansweep run SPEC`` (Ray Tune, MLflow, torch) once with the spec's scheduler and once
with ``--set scheduler.type=none`` (every trial trains every epoch: the full grid), same seed, so the
same trials (configs and per-trial seeds) train identically in both up to where the default stops
them. Both share one dataset/real-statistics cache. Then reads both MLflow stores and prints, side
by side:

    trial-epochs    epochs trained, summed over trials (default / full grid)
    wall            the whole command, and the span in which trials ran (first start to last end)
    slot use        trial seconds (train + metric) / (slots x trial span): idle slots lower it
    regret          the default's pick against the full grid's pick, both judged on the full grid's
                    record of that trial (best-so-far signal at full training; and the re-measured
                    ``final_`` value where the full grid re-measured both)
    verdict         the uncertainty line each run printed (winner vs runner-up, beyond noise or not)

Usage::

    python benchmarks/bench_live.py search_spaces/celeba32_batch_cpu.yaml \
        --set data.path=/path/to/celeba64_30k.zip [--out benchmarks/results/live_batch.json]
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlflow.tracking import MlflowClient  # noqa: E402

from orchestrator.record import names  # noqa: E402
from orchestrator.sweep_spec import SweepSpec, load  # noqa: E402


def _trial_index(trial_id: str) -> str:
    """Tune's trial ids are ``<experiment>_<index>``: the index names the same trial in both runs."""
    return trial_id.rsplit("_", 1)[-1]


def _history(client: MlflowClient, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def read_sweep(store: Path, spec: SweepSpec) -> dict[str, Any]:
    """Per trial (by index): params, epochs, seconds, best and final metric; the parent's verdict."""
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name(spec.experiment)
    assert experiment is not None, f"no experiment {spec.experiment} in {store}"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parent = next(r for r in runs if r.data.tags.get(names.TAG_KIND) == names.KIND_SWEEP)
    metric = spec.asha_metric
    final = parent.data.tags.get(names.TAG_FINAL_METRIC)
    trials: dict[str, dict[str, Any]] = {}
    spans: list[tuple[int, int]] = []
    for run in runs:
        if run.data.tags.get(names.TAG_KIND) != names.KIND_TRIAL:
            continue
        rid = run.info.run_id
        train = _history(client, rid, "epoch_s")
        evals = _history(client, rid, "eval_s")
        trials[_trial_index(run.data.tags[names.TAG_TRIAL])] = {
            "params": {k: v for k, v in run.data.params.items() if not k.startswith(names.SPEC_PARAM_PREFIX)},
            "epochs": len(train), "train_s": sum(train), "eval_s": sum(evals),
            "best": run.data.metrics.get(names.best_key(metric)),
            "final": run.data.metrics.get(final) if final else None,
        }
        spans.append((run.info.start_time, run.info.end_time or run.info.start_time))
    span_s = (max(e for _, e in spans) - min(s for s, _ in spans)) / 1000.0
    return {"trials": trials, "span_s": span_s, "final_key": final,
            "verdict": parent.data.tags.get(names.TAG_VERDICT)}


def _no_local_path(arg: str) -> str:
    """A command-line word with any path cut to its file name (the record names no local folder)."""
    key, eq, value = arg.rpartition("=")
    return f"{key}{eq}{Path(value).name}" if "/" in value else arg


def _pick(sweep: dict[str, Any], sign: float) -> str:
    """The run's answer: the best re-measured trial, as the verdict names it (best-so-far if none was)."""
    trials = sweep["trials"]
    measured = {i: t["final"] for i, t in trials.items() if t["final"] is not None}
    pool = measured or {i: t["best"] for i, t in trials.items() if t["best"] is not None}
    return min(pool, key=lambda i: sign * pool[i])


def run_once(spec_path: Path, workdir: Path, cache: Path, overrides: list[str]) -> float:
    workdir.mkdir(parents=True)
    cmd = [sys.executable, "-m", "orchestrator.cli", "run", str(spec_path)]
    for item in [f"storage={workdir}/runs", *overrides]:
        cmd += ["--set", item]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the store under workdir
    env["GANSWEEP_CACHE_DIR"] = str(cache)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    (workdir / "stdout.txt").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.exit(f"gansweep run failed ({done.returncode}) in {workdir}:\n{done.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, help="write the figures as JSON (numbers only)")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temp dir)")
    args = parser.parse_args()
    spec_path = args.spec.resolve()
    spec = load(spec_path, overrides=dict(o.split("=", 1) for o in args.overrides))
    sign = names.sign_of(spec.asha_metric)
    slots = spec.resources.max_concurrent
    with tempfile.TemporaryDirectory(prefix="gansweep-live-") as tmp:
        root = args.keep or Path(tmp)
        results: dict[str, Any] = {}
        # the full grid first: it builds the shared cache, so the default's wall carries no preparation
        for label, extra in (("full grid", ["scheduler.type=none"]), ("default", [])):
            folder = root / label.replace(" ", "_")
            wall = run_once(spec_path, folder, root / "cache", [*args.overrides, *extra])
            sweep = read_sweep(folder / "mlruns" / "mlflow.db", spec)
            sweep["wall_s"] = wall
            results[label] = sweep
            print(f"{label}: {wall:.0f} s; {sweep['verdict']}", flush=True)

    full, default = results["full grid"], results["default"]
    truth = {i: t["best"] for i, t in full["trials"].items()}
    same = all(default["trials"][i]["params"] == full["trials"][i]["params"] for i in default["trials"])
    pick_d, pick_f = _pick(default, sign), _pick(full, sign)
    regret = sign * (truth[pick_d] - truth[pick_f]) / abs(truth[pick_f])
    rows = []
    for label, sweep in results.items():
        epochs = sum(t["epochs"] for t in sweep["trials"].values())
        busy = sum(t["train_s"] + t["eval_s"] for t in sweep["trials"].values())
        sweep["trial_epochs"] = epochs
        sweep["slot_use"] = busy / (slots * sweep["span_s"])
        rows.append((label, epochs, sweep["wall_s"], sweep["span_s"], sweep["slot_use"]))
    print(f"\n{spec.name}: {len(full['trials'])} trials on {slots} slots; same configs in both runs: {same}")
    print(f"{'':10} {'trial-epochs':>13} {'wall s':>8} {'trial span s':>13} {'slot use':>9}")
    for label, epochs, wall, span, use in rows:
        print(f"{label:10} {epochs:13d} {wall:8.0f} {span:13.0f} {use:9.0%}")
    ratio = {k: default[k] / full[k] for k in ("trial_epochs", "wall_s", "span_s")}
    print(f"default / full grid: trial-epochs {ratio['trial_epochs']:.0%}, wall {ratio['wall_s']:.0%}, "
          f"trial span {ratio['span_s']:.0%}")
    metric = names.best_key(spec.asha_metric)
    print(f"picks: default {pick_d}, full grid {pick_f}; judged on the full grid's {metric}: "
          f"{truth[pick_d]:.4g} vs {truth[pick_f]:.4g} -> regret {regret:.1%}")
    finals = {i: t["final"] for i, t in full["trials"].items() if t["final"] is not None}
    if pick_d in finals and pick_f in finals:
        f_regret = sign * (finals[pick_d] - finals[pick_f]) / abs(finals[pick_f])
        print(f"on the full grid's re-measured {full['final_key']}: regret {f_regret:.1%}")
    for label, sweep in results.items():
        print(f"verdict ({label}): {sweep['verdict']}")
    if args.out:
        command = " ".join(_no_local_path(a) for a in sys.argv[1:])
        record = {"spec": spec.name, "command": command, "slots": slots, "regret": regret,
                  "picks": {"default": pick_d, "full grid": pick_f}, "runs": results}
        args.out.write_text(json.dumps(record, indent=1, default=str))


if __name__ == "__main__":
    main()
