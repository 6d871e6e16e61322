"""`gansweep ui`: the MLflow UI server on a sweep store, as a well-behaved child process.

MLflow's server takes many seconds to answer, logs its own errors, and outlives a parent that
is sent SIGTERM. So: a taken port is refused before anything starts; the URL (the latest sweep's,
or `--sweep`'s, trials in a saved runs view, re-installed from the parent's tags so older sweeps
get one too) is printed only once `/health` answers; SIGTERM/SIGINT are forwarded to the server's
process group and its exit code returned.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from orchestrator.record import names
from orchestrator.record.sqlite import sqlite_path
from orchestrator.record.store import (
    client_for,
    default_artifact_root,
    default_tracking_uri,
    experiment_url,
    install_sweep_view,
)


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on (host, port) or the port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn does: connections of an earlier server in TIME_WAIT do not make a port taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def healthy(base: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=timeout) as response:  # noqa: S310 - local URL
            return response.status == 200
    except OSError:
        return False


def latest_sweep(uri: str) -> str | None:
    """The parent run id of the most recently started sweep in the store (None: no sweep yet)."""
    client = client_for(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    if not ids:
        return None
    runs = client.search_runs(ids, filter_string=f"tags.`{names.TAG_KIND}` = '{names.KIND_SWEEP}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def sweep_page(uri: str, base: str, sweep: str | None) -> tuple[str, str | None]:
    """(URL, sweep label) of the view `gansweep ui` opens: `sweep` (name or run id) or the latest."""
    client = client_for(uri)
    if sweep is not None:
        from orchestrator.report.records import find_sweep  # ReportError (exit 2) for an unknown name

        parent: str | None = find_sweep(client, sweep).run_id
    else:
        parent = latest_sweep(uri)
    if parent is None:
        return experiment_url(base, None), None
    experiment_id, key = install_sweep_view(client, parent, latest=sweep is None)
    return experiment_url(base, experiment_id, key), client.get_run(parent).info.run_name


def server_command(uri: str, host: str, port: int) -> list[str]:
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    cmd += ["--host", host, "--port", str(port)]
    # One user on a laptop: one worker (healthy in 8 s here, against 24 s for two and more for
    # MLflow's four), and no access log lines bury the URL we print.
    cmd += ["--workers", "1", "--uvicorn-opts=--no-access-log"]
    root = default_artifact_root(uri)
    if root:
        cmd += ["--default-artifact-root", root]
    return cmd


def serve_ui(
    store: str | None, host: str, port: int, wait_s: float,
    echo: Callable[..., Any], fail: Callable[[str], Any], sweep: str | None = None,
) -> int:
    """Run the UI until it exits or we are signalled; returns the exit code for the CLI."""
    uri = store or default_tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        fail(f"--store: no MLflow store at {db} (run a sweep first)")
    if port_taken(host, port):
        fail(f"--port: {host}:{port} is already in use (another `gansweep ui`?); choose another with --port")
    url, label = sweep_page(uri, f"http://{host}:{port}", sweep)
    # Its own session: a terminal's Ctrl-C reaches us once, and we pass it on to the whole server.
    # Its log goes to stderr, so stdout carries only the URL line (scripts read it from there).
    server = subprocess.Popen(server_command(uri, host, port), start_new_session=True, stdout=sys.stderr)

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.killpg(server.pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        base = f"http://{host}:{port}"
        deadline = time.monotonic() + wait_s
        while not healthy(base):
            if server.poll() is not None:
                fail(f"the MLflow server exited ({server.returncode}) before answering; its log is above")
            if time.monotonic() > deadline:
                forward(signal.SIGTERM, None)
                fail(f"the MLflow server did not answer {base}/health within {wait_s:.0f} s (--wait)")
            time.sleep(0.5)
        shown = f" (trials of sweep {label})" if label else ""
        echo(f"MLflow UI for {uri}{shown}: {url}  (Ctrl-C to stop)")
        code = server.wait()
        for child in (signal.SIGTERM, signal.SIGKILL):  # its workers may linger after the main process
            try:
                os.killpg(server.pid, child)
            except ProcessLookupError:
                break
            time.sleep(1.0)
    finally:
        if server.poll() is None:  # we are leaving early (an error above): leave no server behind
            forward(signal.SIGTERM, None)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                forward(signal.SIGKILL, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A server ended by our forwarded signal is a clean stop, not an error.
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT, 130, 143) else code
