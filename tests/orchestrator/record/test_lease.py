"""The one-driver lease on a sweep's parent run, on a real MLflow store (SQLite) with real driver
processes: a live holder refuses a second driver with one line naming it; two drivers that start
at the same instant end with exactly one holder; a killed holder on this machine is taken over at
once, a silent one elsewhere after the timeout; the heartbeat moves while the lease is held."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.record.lease import LeaseError, SweepLease
from orchestrator.record.names import TAG_LEASE_HEARTBEAT, TAG_LEASE_OWNER

HOLD = """
import sys, time
from mlflow.tracking import MlflowClient
from orchestrator.record.lease import SweepLease
lease = SweepLease(MlflowClient(tracking_uri=sys.argv[1]), sys.argv[2], "lease", interval_s=0.5, settle_s=0.5)
lease.acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture()
def parent(tmp_path: Path) -> tuple[MlflowClient, str, str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("lease", artifact_location=(tmp_path / "artifacts").as_uri())
    return client, uri, client.create_run(experiment).info.run_id


def _holder(uri: str, run_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, uri, run_id], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_driver_refuses_a_second_one_naming_host_pid_and_since(parent: tuple) -> None:
    client, uri, run_id = parent
    first = _holder(uri, run_id)
    try:
        owner = json.loads(client.get_run(run_id).data.tags[TAG_LEASE_OWNER])
        assert owner["pid"] == first.pid
        beat = float(client.get_run(run_id).data.tags[TAG_LEASE_HEARTBEAT])
        time.sleep(1.6)
        beat_now = float(client.get_run(run_id).data.tags[TAG_LEASE_HEARTBEAT])
        assert beat_now > beat, "the heartbeat is refreshed"
        with pytest.raises(LeaseError) as err:
            SweepLease(client, run_id, "lease", settle_s=0.1).acquire()
        message = str(err.value)
        assert "\n" not in message
        assert f"sweep lease is being run by another driver: host {owner['host']} pid {first.pid} " \
               f"since {owner['since']}" in message
        # Killed (SIGKILL: no release) on this machine: taken over at once, no timeout to wait.
        first.send_signal(signal.SIGKILL)
        first.wait()
        lease = SweepLease(client, run_id, "lease", settle_s=0.1).acquire()
        assert json.loads(client.get_run(run_id).data.tags[TAG_LEASE_OWNER])["token"] == lease.owner["token"]
        lease.release()
        assert TAG_LEASE_OWNER not in client.get_run(run_id).data.tags
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_a_silent_driver_on_another_machine_is_taken_over_only_after_the_timeout(parent: tuple) -> None:
    client, _, run_id = parent
    elsewhere = {"host": "node-7", "pid": 4242, "since": "2026-01-01 00:00:00 UTC", "token": "other"}
    client.set_tag(run_id, TAG_LEASE_OWNER, json.dumps(elsewhere))
    client.set_tag(run_id, TAG_LEASE_HEARTBEAT, f"{time.time() - 60:.0f}")
    with pytest.raises(LeaseError, match="host node-7 pid 4242 since 2026-01-01 00:00:00 UTC"):
        SweepLease(client, run_id, "lease", timeout_s=180, settle_s=0.1).acquire()
    lease = SweepLease(client, run_id, "lease", timeout_s=30, settle_s=0.1).acquire()  # 60 s > 30 s: stale
    lease.release()


def test_two_drivers_at_the_same_instant_end_with_one_holder(parent: tuple) -> None:
    client, _, run_id = parent
    leases = [SweepLease(client, run_id, "lease", settle_s=1.0) for _ in range(2)]
    outcome: dict[int, str] = {}
    start = threading.Barrier(2)

    def take(i: int) -> None:
        start.wait()
        try:
            leases[i].acquire()
            outcome[i] = "held"
        except LeaseError:
            outcome[i] = "refused"
        except Exception as err:  # noqa: BLE001 - shown in the assertion, not lost in the thread
            outcome[i] = repr(err)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome.values()) == ["held", "refused"], outcome
    for lease in leases:
        lease.release()
