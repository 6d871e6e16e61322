"""orchestrator.reaper with real processes: what ran below a SIGKILLed driver is ended within seconds
(also a process that ignores SIGTERM, as Ray's agents blocked on a dead GCS do), nothing else is.
The sweep-level check (a real `gansweep run` and its Ray) is in test_driver_faults_e2e.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from orchestrator import reaper

DRIVER = """
import subprocess, sys, time
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
kids = [subprocess.Popen([sys.executable, "-c", stubborn]), subprocess.Popen(["sleep", "600"])]
print(" ".join(str(k.pid) for k in kids), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    ticks = reaper.start_ticks(pid)
    if ticks is None:
        return False
    state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_what_ran_below_a_killed_driver_ends_within_seconds_and_nothing_else() -> None:
    bystander = subprocess.Popen(["sleep", "600"])  # not below the driver: left alone
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True)
    watchdog = None
    try:
        assert driver.stdout is not None
        kids = [int(p) for p in driver.stdout.readline().split()]
        watchdog = reaper.watch(driver.pid)
        time.sleep(1.5)  # a few polls: the watchdog has seen the driver's children
        assert all(_alive(k) for k in kids)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        killed_at = time.monotonic()
        while any(_alive(k) for k in kids) and time.monotonic() - killed_at < 30:
            time.sleep(0.2)
        took = time.monotonic() - killed_at
        assert not any(_alive(k) for k in kids), "the driver's processes outlived it by 30 s"
        assert took < reaper.GRACE_S + 3, f"{took:.1f} s"  # SIGTERM at once, SIGKILL after the grace
        assert watchdog.wait(timeout=10) == 0, "the watchdog exits once it has reaped"
        assert bystander.poll() is None
    finally:
        for proc in (driver, bystander, watchdog):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in locals().get("kids", []):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
