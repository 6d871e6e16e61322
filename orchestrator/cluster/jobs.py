"""Submitting a sweep to a Ray cluster as a Ray Job, and listing/stopping jobs (`gansweep submit/jobs/stop`).

On a cluster the sweep driver itself runs there, as the entrypoint of a Ray Job
(``gansweep run SPEC --address auto``): `gansweep submit` ships only the spec file (the image or
environment of every node already has gansweep installed), and the driver then prepares the dataset
cache and real FID statistics once on shared storage, runs Tune and is the only MLflow writer. So
the submitting machine needs nothing but HTTP access to the Jobs API (the dashboard port). A driver
on the cluster that stops on a user error makes `gansweep submit` exit 2 with the same line.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator.cluster.probe import (
    DEFAULT_DASHBOARD,
    ClusterError,
    check_concurrency,
    check_resources,
    check_tracking_uri,
    dashboard_nodes,
    dashboard_url,
    first_line,
    is_http,
    job_client,
)
from orchestrator.errors import ERROR_PREFIX, fail, handles_user_errors
from orchestrator.record import names

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

    from orchestrator.sweep_spec import SweepSpec

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# Cluster-side defaults for a spec that leaves them open (see `driver_entrypoint`).
STORAGE_ENV = "GANSWEEP_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"


def validate_for_cluster(spec_path: Path, overrides: Mapping[str, str]) -> tuple[SweepSpec, list[str]]:
    """Validate the spec here, before contacting the cluster, except that files need not exist here.

    `data.path` and `metrics.weights` name files on the cluster (e.g. /data/celeba in the compose
    setup), which this machine usually lacks: the spec is validated without its files
    (`check_data=False`; the driver checks them again on the cluster), and a note names each one
    missing here. Every other mistake is a SpecError, exit 2, with nothing submitted.
    """
    from orchestrator.sweep_spec import load

    spec = load(spec_path, overrides=dict(overrides) or None, check_data=False)
    files = {"data.path": spec.data.path, "metrics.weights": spec.metrics.weights}
    notes = [
        f"{field}: {path} is not on this machine; it must exist on the cluster"
        for field, path in files.items()
        if path is not None and not os.path.exists(path)
    ]
    return spec, notes


def _raw_spec(spec_path: Path) -> dict[str, Any]:
    """The spec file as written (before resolution), to see what the user left open."""
    import yaml

    try:
        data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def driver_entrypoint(
    spec_name: str,
    overrides: Mapping[str, str],
    raw: Mapping[str, Any],
    resume: bool = False,
    verbose: bool = False,
) -> str:
    """The shell command the Ray Job runs: the sweep driver, attached to the cluster it runs on.

    `--set` overrides are forwarded verbatim. Where the spec leaves the results directory relative
    (default `runs`) or the tracking URI unset, the cluster's own environment fills them in:
    ``$GANSWEEP_STORAGE`` (shared storage, e.g. the compose volume /shared/runs) and
    ``$MLFLOW_TRACKING_URI`` (e.g. http://mlflow:5000). Without them, results would land in the
    job's temporary working directory on the head node.
    """
    parts = ["gansweep", "run", spec_name, "--address", "auto"]
    for key, value in overrides.items():
        parts += ["--set", f"{key}={value}"]
    if resume:
        parts.append("--resume")
    if verbose:
        parts.append("--verbose")
    command = " ".join(shlex.quote(p) for p in parts)
    storage = raw.get("storage")
    if "storage" not in overrides and not (isinstance(storage, str) and os.path.isabs(storage)):
        command += f' ${{{STORAGE_ENV}:+--set "storage=${STORAGE_ENV}"}}'
    tracking = raw.get("tracking") if isinstance(raw.get("tracking"), dict) else {}
    if "tracking.uri" not in overrides and not (tracking or {}).get("uri"):
        command += f' ${{{TRACKING_ENV}:+--set "tracking.uri=${TRACKING_ENV}"}}'
    return command


def _resolves_here(uri: str) -> bool:
    host = urllib.parse.urlparse(uri).hostname
    if not host:
        return False
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        return False
    return True


@contextmanager
def _spec_working_dir(spec_path: Path) -> Iterator[tuple[Path, str]]:
    """A temp dir holding only the spec file: the job's runtime_env working_dir (nothing else ships)."""
    with tempfile.TemporaryDirectory(prefix="gansweep-job-") as directory:
        name = spec_path.name
        shutil.copyfile(spec_path, Path(directory) / name)
        yield Path(directory), name


def _last_error_line(logs: str) -> str | None:
    lines = [line.strip() for line in logs.splitlines() if line.strip().startswith(ERROR_PREFIX)]
    return lines[-1].removeprefix(ERROR_PREFIX) if lines else None


def follow(client: JobSubmissionClient, job_id: str, echo: Callable[[str], None]) -> str:
    """Stream the job's logs until it ends; returns its final status."""

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            echo(chunk)

    try:
        asyncio.run(tail())
    except RuntimeError:
        pass  # the log socket closed early (e.g. head restarted): fall back to polling the status
    status = str(client.get_job_status(job_id))
    while status.split(".")[-1] not in TERMINAL:
        time.sleep(1.0)
        status = str(client.get_job_status(job_id))
    return status.split(".")[-1]


def submit_sweep(
    spec_path: Path,
    address: str,
    overrides: Mapping[str, str],
    env: Mapping[str, str],
    *,
    resume: bool = False,
    verbose: bool = False,
    job_id: str | None = None,
    follow_logs: bool = True,
    echo: Callable[[str], None] = lambda s: click.echo(s, nl=False),
) -> tuple[str, str | None]:
    """Validate, check, submit; returns (job id, final status or None when not followed)."""
    spec, notes = validate_for_cluster(spec_path, overrides)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    raw = _raw_spec(spec_path)
    raw_uri = overrides.get("tracking.uri") or ((raw.get("tracking") or {}).get("uri") if raw else None)
    if raw_uri and is_http(raw_uri) and _resolves_here(raw_uri):
        # A name only the cluster resolves (http://mlflow:5000 in compose) is checked by the driver.
        check_tracking_uri(raw_uri)
    url = dashboard_url(address)
    client = job_client(url)
    nodes = dashboard_nodes(url)
    check_resources(nodes, spec, url)
    check_concurrency(nodes, spec, url)

    submission_id = job_id or f"gansweep-{spec.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    with _spec_working_dir(spec_path) as (directory, name):
        entrypoint = driver_entrypoint(name, overrides, raw, resume=resume, verbose=verbose)
        try:
            submitted = client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env={"working_dir": str(directory), "env_vars": {"PYTHONUNBUFFERED": "1", **env}},
                metadata={names.TAG_SWEEP: spec.name, names.TAG_SPEC_HASH: spec.spec_hash},
            )
        except (RuntimeError, ConnectionError, ValueError) as err:
            raise ClusterError(f"the Ray Jobs API at {url} refused the job: {first_line(err)}") from None
    click.echo(f"submitted sweep '{spec.name}' as Ray job {submitted} to {url}")
    click.echo(f"  follow: ray job logs -f {submitted} --address {url}")
    click.echo(f"  stop:   gansweep stop {submitted} --address {url}")
    if not follow_logs:
        return submitted, None
    return submitted, follow(client, submitted, echo)


address_option = click.option(
    "--address",
    envvar="RAY_API_SERVER_ADDRESS",
    default=DEFAULT_DASHBOARD,
    show_default=True,
    help="The cluster's Ray dashboard / Jobs API (env RAY_API_SERVER_ADDRESS).",
)


@click.command("submit")
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@address_option
@click.option(
    "--set", "overrides", multiple=True, metavar="FIELD=VALUE",
    help="Override a spec field, forwarded to the driver, e.g. data.path=/data/celeba.",
)
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Environment variable for the driver")
@click.option("--resume", is_flag=True, help="Continue the latest sweep of this name on the cluster.")
@click.option("--verbose", is_flag=True, help="Ask the driver for Ray's own logs and the trials' output.")
@click.option("--job-id", default=None, help="Submission id (default: gansweep-NAME-TIMESTAMP).")
@click.option("--no-follow", is_flag=True, help="Print the job id and return; do not stream the logs.")
@handles_user_errors
def submit(
    spec: Path,
    address: str,
    overrides: tuple[str, ...],
    env: tuple[str, ...],
    resume: bool,
    verbose: bool,
    job_id: str | None,
    no_follow: bool,
) -> None:
    """Run the sweep SPEC on a Ray cluster, as a Ray Job whose driver is `gansweep run --address auto`."""
    from orchestrator.sweep_spec.loading import parse_overrides, parse_pairs  # here: the spec loads pydantic

    pairs = parse_overrides(overrides)
    env_vars = parse_pairs(env, "--env", "NAME=VALUE", "GANSWEEP_CACHE_DIR=/shared/cache")
    try:
        submitted, status = submit_sweep(
            spec, address, pairs, env_vars,
            resume=resume, verbose=verbose, job_id=job_id, follow_logs=not no_follow,
        )
    except KeyboardInterrupt:
        click.echo("\nstopped following; the job keeps running (gansweep jobs / gansweep stop JOB)", err=True)
        sys.exit(130)
    if status is None or status == "SUCCEEDED":
        return
    client = job_client(address)
    if status == "FAILED":
        error = _last_error_line(client.get_job_logs(submitted))
        if error is not None:
            fail(error)  # the driver refused the sweep (spec, data, cluster): same exit code as locally
        info = client.get_job_info(submitted)
        fail(f"job {submitted} failed: {first_line(Exception(info.message or 'no message'))}", code=1)
    fail(f"job {submitted} was stopped", code=1)


@click.command("jobs")
@address_option
@handles_user_errors
def jobs(address: str) -> None:
    """List the cluster's Ray jobs (newest last) with their sweep and status."""
    client = job_client(address)
    rows = sorted(client.list_jobs(), key=lambda j: j.start_time or 0)
    if not rows:
        click.echo(f"no jobs on the cluster at {dashboard_url(address)}")
        return
    click.echo(f"{'JOB':<44} {'STATUS':<10} {'SWEEP':<24} {'STARTED':<19} MESSAGE")
    for job in rows:
        started = ""
        if job.start_time:
            started = datetime.fromtimestamp(job.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
        sweep = (job.metadata or {}).get(names.TAG_SWEEP, "-")
        message = first_line(Exception(job.message)) if job.message else ""
        status = str(job.status).split(".")[-1]
        name = job.submission_id or job.job_id or "?"
        click.echo(f"{name:<44} {status:<10} {sweep:<24} {started:<19} {message}")


@click.command("stop")
@click.argument("job_id")
@address_option
@handles_user_errors
def stop(job_id: str, address: str) -> None:
    """Stop the Ray job JOB_ID (its trials stop; a later `submit --resume` continues the sweep)."""
    client = job_client(address)
    try:
        stopped = client.stop_job(job_id)
    except RuntimeError as err:
        where = dashboard_url(address)
        raise ClusterError(f"cannot stop job {job_id} at {where}: {first_line(err)}") from None
    if stopped:
        click.echo(f"stopping job {job_id}")
    else:
        click.echo(f"job {job_id} had already ended ({str(client.get_job_status(job_id)).split('.')[-1]})")
