"""One driver per sweep on any MLflow store: a lease held as tags on the sweep's parent run.

The SQLite file lock (`tune.exclusive_store`) covers one local database only; against an MLflow
server two `--resume` drivers of one sweep both ran and doubled every metric of every trial. MLflow
has no compare-and-swap, so the lease is the classic write-wait-verify on two parent-run tags:

- `gansweep.lease.owner`: JSON {host, pid, since, token, ...} of the driver holding the sweep;
- `gansweep.lease.heartbeat`: unix seconds, refreshed every `interval_s` by a daemon thread.

A driver reads the owner (refused, one line naming host, pid and since when, if it is live), writes
its own, waits `settle_s` and reads it back: of two drivers that start at the same instant only the
last writer sees its own token and goes on. An owner is stale (taken over) when its heartbeat is
older than `timeout_s`, or at once when it ran on this machine (same host and pid namespace) and
its process is gone, so `--resume` right after a killed driver does not have to wait.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.record.names import TAG_LEASE_HEARTBEAT, TAG_LEASE_OWNER

INTERVAL_S = float(os.environ.get("GANSWEEP_LEASE_INTERVAL_S", "30"))
TIMEOUT_S = float(os.environ.get("GANSWEEP_LEASE_TIMEOUT_S", "180"))  # 6 missed heartbeats
SETTLE_S = 2.0  # between writing the owner and reading it back (>> one tag write)


class LeaseError(RuntimeError):
    """Another live driver holds the sweep: one line naming it (host, pid, since when)."""


def _pid_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid from the owner)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _retrying(step: Any, attempts: int = 4, pause_s: float = 0.5) -> Any:
    """``step()``, again after a store error (MlflowException) up to ``attempts`` times in all."""
    for attempt in range(attempts):
        try:
            return step()
        except MlflowException:
            if attempt == attempts - 1:
                raise
            time.sleep(pause_s * (attempt + 1))
    return None


def this_driver() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": _pid_start(pid), "pidns": _pid_namespace(),
            "since": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"), "token": uuid.uuid4().hex}


def _gone_here(owner: dict[str, Any]) -> bool:
    """True when `owner` ran on this machine (same host and pid namespace) and its process is gone."""
    if owner.get("host") != socket.gethostname() or owner.get("pidns") != _pid_namespace():
        return False
    start = _pid_start(int(owner.get("pid", -1)))
    return start is None or (owner.get("pid_start") is not None and start != owner["pid_start"])


@dataclass
class SweepLease:
    """The lease of this driver on the parent run `run_id` (see the module docstring)."""

    client: MlflowClient
    run_id: str
    sweep: str = ""
    interval_s: float = INTERVAL_S
    timeout_s: float = TIMEOUT_S
    settle_s: float = SETTLE_S
    owner: dict[str, Any] = field(default_factory=this_driver)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _holder(self) -> tuple[dict[str, Any] | None, float | None]:
        tags = self.client.get_run(self.run_id).data.tags
        try:
            owner = json.loads(tags[TAG_LEASE_OWNER]) if tags.get(TAG_LEASE_OWNER) else None
        except ValueError:
            owner = None
        beat = tags.get(TAG_LEASE_HEARTBEAT)
        return owner, (float(beat) if beat else None)

    def _refuse_if_held(self) -> None:
        owner, beat = self._holder()
        if owner is None or owner.get("token") == self.owner["token"] or _gone_here(owner):
            return
        age = time.time() - beat if beat is not None else None
        if age is not None and age > self.timeout_s:
            return  # stale: its driver stopped refreshing (killed on another machine)
        ago = f"{age:.0f} s ago" if age is not None else "never"
        raise LeaseError(
            f"sweep {self.sweep or self.run_id} is being run by another driver: host {owner.get('host')} "
            f"pid {owner.get('pid')} since {owner.get('since')} (last heartbeat {ago}; a driver that "
            f"stops refreshing is taken over after {self.timeout_s:.0f} s)"
        )

    def acquire(self) -> SweepLease:
        """Take the lease or raise `LeaseError`; then keep it fresh from a daemon thread.

        A store busy with the other driver's writes (SQLite: "database is locked") is retried a few
        times rather than ending the driver with a traceback."""
        _retrying(self._refuse_if_held)
        _retrying(self._write)
        time.sleep(self.settle_s)
        _retrying(self._refuse_if_held)  # a driver that wrote after us holds it
        self._thread = threading.Thread(target=self._beat, name="gansweep-lease", daemon=True)
        self._thread.start()
        return self

    def _write(self) -> None:
        self.client.set_tag(self.run_id, TAG_LEASE_OWNER, json.dumps(self.owner, sort_keys=True))
        self.client.set_tag(self.run_id, TAG_LEASE_HEARTBEAT, f"{time.time():.0f}")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.client.set_tag(self.run_id, TAG_LEASE_HEARTBEAT, f"{time.time():.0f}")
            except MlflowException:  # a store hiccup: the next beat tries again, well within timeout_s
                continue

    def release(self) -> None:
        """Stop refreshing and remove the owner (only when it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            owner, _ = self._holder()
            if owner is not None and owner.get("token") == self.owner["token"]:
                self.client.delete_tag(self.run_id, TAG_LEASE_OWNER)
                self.client.delete_tag(self.run_id, TAG_LEASE_HEARTBEAT)
        except MlflowException:
            pass  # left behind, it goes stale (or, on this machine, is seen as gone) by itself
