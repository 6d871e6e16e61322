"""The MLflow side of docker/e2e.sh, run inside the gansweep image on the compose network.

    python e2e_audit.py wait SWEEP MIN_STEPS   # until a trial is running with >= MIN_STEPS epochs logged
    python e2e_audit.py audit SWEEP TRIALS [LOST_HOST STORAGE]
                                               # the record after a lost node: exit 1 on any defect

Why from MLflow: it is the record a user reads; if it is right after a node died mid-sweep, every
trial finished in one run each, with each epoch logged once, and the restarts are counted there.
MLflow's writer skips epochs it already has, so whether a restarted trial resumed from its
checkpoint (rather than from scratch) is read from Tune's own per-trial result.json in the sweep's
storage (a path or any URI pyarrow knows, e.g. s3://): each epoch reported once.
"""

from __future__ import annotations

import json
import sys
import time

from mlflow.tracking import MlflowClient

KIND, TRIAL, STATUS, RESTARTS = "gansweep.kind", "gansweep.trial_id", "gansweep.status", "gansweep.restarts"
METRIC = "d_loss"  # logged every epoch by every trial, with step = epoch


def runs(client: MlflowClient, sweep: str) -> list:
    experiment = client.get_experiment_by_name(sweep)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], max_results=1000)


def steps(client: MlflowClient, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, METRIC))


def wait(client: MlflowClient, sweep: str, min_steps: int, timeout_s: float = 600.0) -> int:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for run in runs(client, sweep):
            if run.data.tags.get(KIND) != "trial" or run.data.tags.get(STATUS) != "running":
                continue
            logged = steps(client, run.info.run_id)
            if len(logged) >= min_steps:
                print(f"trial {run.data.tags.get(TRIAL)} running with epochs {logged} logged", flush=True)
                return 0
        time.sleep(1.0)
    print(f"no trial of {sweep} reached {min_steps} logged epochs in {timeout_s:.0f} s", flush=True)
    return 1


def audit(client: MlflowClient, sweep: str, trials: int) -> int:
    found = runs(client, sweep)
    parents = [r for r in found if r.data.tags.get(KIND) == "sweep"]
    children = [r for r in found if r.data.tags.get(KIND) == "trial"]
    problems: list[str] = []
    if len(parents) != 1:
        problems.append(f"{len(parents)} sweep runs, expected 1")
    elif parents[0].info.status != "FINISHED":
        problems.append(f"sweep run {parents[0].info.status}")
    ids = [c.data.tags.get(TRIAL) for c in children]
    if len(children) != trials or len(set(ids)) != len(ids):
        problems.append(f"{len(children)} trial runs for {len(set(ids))} trial ids, expected {trials} "
                        "(no duplicates)")
    restarted = 0
    print(f"{'trial':<14} {'status':<9} {'tag':<10} {'restarts':<8} epochs logged")
    for child in sorted(children, key=lambda c: c.data.tags.get(TRIAL, "")):
        tags = child.data.tags
        logged = steps(client, child.info.run_id)
        restarts = int(tags.get(RESTARTS, "0"))
        restarted += restarts > 0
        trial, status = tags.get(TRIAL, "?"), tags.get(STATUS, "?")
        print(f"{trial:<14} {child.info.status:<9} {status:<10} {restarts:<8} {logged}")
        if child.info.status != "FINISHED":
            problems.append(f"trial {tags.get(TRIAL)} is {child.info.status}")
        if logged != list(range(1, len(logged) + 1)) or not logged:
            problems.append(f"trial {tags.get(TRIAL)}: epoch steps {logged} are not 1..n, each once")
    if restarted == 0:
        problems.append(f"no trial carries {RESTARTS}: the lost node's trial was not restarted")
    return _verdict(problems, f"1 sweep run FINISHED, {len(children)} trial runs FINISHED (no duplicates), "
                    f"epoch steps contiguous, {restarted} trial(s) restarted after the lost node "
                    f"({RESTARTS})")


def results(storage: str, sweep: str, trial_id: str) -> list[dict]:
    """Tune's result.json lines of one trial, from the sweep's storage (path or URI)."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(storage.rstrip("/") + "/" + sweep)
    files = [f.path for f in fs.get_file_info(pafs.FileSelector(root, recursive=True))
             if f.path.endswith("/result.json") and trial_id in f.path]
    lines: list[dict] = []
    for path in files:
        with fs.open_input_stream(path) as stream:
            lines += [json.loads(line) for line in stream.read().decode().splitlines() if line.strip()]
    return sorted(lines, key=lambda r: r.get("timestamp", 0))


def resumed(client: MlflowClient, sweep: str, lost_host: str, storage: str) -> int:
    """Every restarted trial resumed from its checkpoint: Tune's result.json reports each epoch once.

    A trial restarted from scratch would report epoch 1 again; one resumed from the checkpoint of
    epoch k goes on at k + 1 (wherever it runs), so its epochs strictly increase.
    """
    problems, seen = [], 0
    for run in runs(client, sweep):
        trial_id, restarts = run.data.tags.get(TRIAL), int(run.data.tags.get(RESTARTS, "0"))
        if run.data.tags.get(KIND) != "trial" or not trial_id or restarts == 0:
            continue
        seen += 1
        lines = results(storage, sweep, trial_id)
        epochs = [int(r["training_iteration"]) for r in lines]
        hosts = list(dict.fromkeys(str(r.get("hostname")) for r in lines))
        print(f"trial {trial_id} (restarted {restarts}x): Tune result.json epochs {epochs} from hosts "
              f"{', '.join(h + (' (lost)' if h == lost_host else '') for h in hosts)}")
        if not epochs or epochs != sorted(set(epochs)):
            problems.append(f"trial {trial_id} trained an epoch twice {epochs}: "
                            "not resumed from a checkpoint")
    if seen == 0:
        problems.append(f"no restarted trial to check in {storage}")
    return _verdict(problems, f"{seen} restarted trial(s) resumed from their checkpoints in {storage} "
                    "(each epoch reported once)")


def _verdict(problems: list[str], ok: str) -> int:
    """Print each problem (AUDIT FAIL) or the one OK line; the exit code the script returns."""
    for problem in problems:
        print(f"AUDIT FAIL: {problem}")
    if not problems:
        print(f"AUDIT OK: {ok}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    mode, sweep, number = argv[1], argv[2], int(argv[3])
    client = MlflowClient()  # MLFLOW_TRACKING_URI from the environment (compose: http://mlflow:5000)
    if mode == "wait":
        return wait(client, sweep, number)
    failed = audit(client, sweep, number)
    if len(argv) > 5:
        failed |= resumed(client, sweep, lost_host=argv[4], storage=argv[5])
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
