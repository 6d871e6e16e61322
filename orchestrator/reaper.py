"""No process of a sweep's local Ray outlives its driver by more than a few seconds.

`ray.init()` starts a local Ray (GCS, raylet, agents, trial workers) under the driver. When the driver
is SIGKILLed, GCS and raylet go with it, but Ray's two per-node agents (`ray::DashboardAgent`,
`ray::RuntimeEnvAgent`) notice their raylet is gone and then block in `publish_error_to_driver`,
a call to the dead GCS with a hard-coded 60 s timeout (ray/_private/process_watcher.py,
measured: both still alive 60 s after the kill, ~200 MB). No Ray setting shortens it.

So the driver starts this watchdog (`watch`), a stdlib-only process in its own session (a Ctrl-C
or a kill of the driver's process group does not reach it). While the driver lives it records the
driver's descendants (pid and start time) every `POLL_S`; once the driver is gone it sends SIGTERM
to each recorded process that still runs (same pid, same start time: never a reused pid), SIGKILL
after `GRACE_S`, and exits. Only a local Ray started by this driver is watched, never a cluster the
driver attached to (`--address`).

Run as `python -m orchestrator.reaper DRIVER_PID`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5
GRACE_S = 5.0


def start_ticks(pid: int) -> str | None:
    """Start time of `pid` in clock ticks since boot (None: no such process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def descendants(root: int) -> dict[int, str]:
    """{pid: start ticks} of every process below `root` right now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            ticks = start_ticks(child)
            if ticks is not None:
                out[child] = ticks
                todo.append(child)
    return out


def _still(pids: dict[int, str]) -> dict[int, str]:
    return {pid: ticks for pid, ticks in pids.items() if start_ticks(pid) == ticks}


def _signal(pids: dict[int, str], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def reap(driver: int, poll_s: float = POLL_S, grace_s: float = GRACE_S) -> dict[int, str]:
    """Watch `driver` until it is gone, then end what ran below it; returns what had to be ended."""
    me = os.getpid()
    driver_ticks = start_ticks(driver)
    seen: dict[int, str] = {}
    while driver_ticks is not None and start_ticks(driver) == driver_ticks:
        seen.update(descendants(driver))
        seen.pop(me, None)
        time.sleep(poll_s)
    left = _still(seen)
    _signal(left, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _still(left) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal(_still(left), signal.SIGKILL)
    return left


def watch(driver: int | None = None) -> subprocess.Popen[bytes]:
    """Start the watchdog of `driver` (default: this process) in its own session."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.reaper", str(driver or os.getpid())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )


if __name__ == "__main__":
    reap(int(sys.argv[1]))
