"""Ray clusters: check an address before a sweep starts, submit a sweep as a Ray Job, list/stop jobs.

On a cluster the sweep driver itself runs there, as the entrypoint of a Ray Job
(``gansweep run SPEC --address auto``): `gansweep submit` ships only the spec file (the image or
environment of every node already has gansweep installed), and the driver then prepares the dataset
cache and real FID statistics once on shared storage, runs Tune and is the only MLflow writer. So
the submitting machine needs nothing but HTTP access to the Jobs API (the dashboard port).

Every problem the user can fix is a `ClusterError` (one line, exit code 2) raised before any trial
starts: an address that does not answer, a cluster without the GPUs (or CPUs) one trial asks for,
an MLflow tracking server that does not answer. A driver on the cluster that stops on such an error
makes `gansweep submit` exit 2 with the same line.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

    from orchestrator.spec import SweepSpec

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DASHBOARD = "http://127.0.0.1:8265"
HTTP_TIMEOUT_S = 5.0
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
ERROR_PREFIX = "gansweep: error: "
# Escape hatch for autoscaling clusters whose GPU workers only start once trials are pending.
SKIP_RESOURCE_CHECK_ENV = "GANSWEEP_SKIP_RESOURCE_CHECK"
# Cluster-side defaults for a spec that leaves them open (see `driver_entrypoint`).
STORAGE_ENV = "GANSWEEP_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"


class ClusterError(RuntimeError):
    """A cluster problem the user can fix (address, resources, tracking server): one line, exit 2."""


@dataclass(frozen=True)
class NodeResources:
    """What one alive node offers to trials."""

    node_id: str
    cpus: float
    gpus: float
    is_head: bool = False


# --------------------------------------------------------------------------------------------------
# HTTP helpers (urllib: a probe must time out quickly and never hang on a black-holed host)


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _reason(err: BaseException) -> str:
    """A few words for why a connection failed (urllib wraps the socket error in URLError)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return _reason(err.reason) if isinstance(err.reason, BaseException) else str(err.reason)
    if isinstance(err, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return "unknown host"
    return str(getattr(err, "strerror", None) or err) or type(err).__name__


def ray_auth_token() -> str | None:
    """The Ray token (token authentication) this machine holds, found where Ray itself looks.

    Ray >= 2.5x turns token authentication on for `ray start` whenever a token exists, and then
    the dashboard answers 401 to requests without ``Authorization: Bearer <token>``.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _job_headers() -> dict[str, str]:
    """HTTP headers for the Jobs API: $RAY_JOB_HEADERS (e.g. a proxy's auth), as `ray job` reads
    them, plus the Ray token when this machine has one."""
    headers: dict[str, str] = {}
    raw = os.environ.get("RAY_JOB_HEADERS")
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ClusterError("RAY_JOB_HEADERS must be a JSON object of HTTP headers")
        headers = {str(k): str(v) for k, v in parsed.items()}
    token = ray_auth_token()
    if token and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _auth_hint(err: urllib.error.HTTPError, url: str) -> ClusterError | None:
    if err.code == 401:
        return ClusterError(
            f"the Ray cluster at {url} requires a token (Ray token authentication): "
            "put it in $RAY_AUTH_TOKEN or ~/.ray/auth_token"
        )
    if err.code == 403:
        return ClusterError(f"the Ray cluster at {url} rejected this machine's Ray token ($RAY_AUTH_TOKEN)")
    return None


def _get(url: str, timeout: float = HTTP_TIMEOUT_S, headers: Mapping[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only
        return response.read()


# --------------------------------------------------------------------------------------------------
# checks


def check_tracking_uri(uri: str, timeout: float = HTTP_TIMEOUT_S) -> None:
    """An http(s) MLflow tracking URI must answer ``GET <uri>/health``; other stores are local files."""
    if not _is_http(uri):
        return
    url = uri.rstrip("/") + "/health"
    try:
        _get(url, timeout)
    except urllib.error.HTTPError as err:
        raise ClusterError(
            f"MLflow tracking server {uri} answered {_reason(err)} on /health: is it an MLflow server? "
            "(tracking.uri)"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ClusterError(
            f"MLflow tracking server {uri} does not answer ({_reason(err)}): start it or fix tracking.uri "
            "(--set tracking.uri=http://HOST:5000)"
        ) from None


def dashboard_url(address: str) -> str:
    """The Jobs API base URL: ``http://HEAD:8265`` as given, or ``HEAD:8265`` with http:// added."""
    address = address.strip().rstrip("/")
    if address.startswith("ray://"):
        raise ClusterError(
            f"--address {address}: jobs go through the dashboard's Jobs API, give http://HEAD:8265 "
            "(ray:// is the Ray Client port, for `gansweep run --address`)"
        )
    if not _is_http(address):
        address = "http://" + address
    parsed = urllib.parse.urlparse(address)
    if not parsed.hostname:
        raise ClusterError(f"--address {address}: expected http://HOST:PORT of the Ray dashboard")
    return address


def probe_dashboard(url: str, timeout: float = HTTP_TIMEOUT_S) -> dict[str, Any]:
    """GET /api/version: proves the address is a live Ray dashboard with the Jobs API."""
    try:
        body = _get(f"{url}/api/version", timeout, _job_headers())
        version = json.loads(body)
    except urllib.error.HTTPError as err:
        raise _auth_hint(err, url) or ClusterError(
            f"{url} answered {_reason(err)} on /api/version: not a Ray dashboard (Jobs API)? "
            "(give the head's dashboard address, port 8265 by default)"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ClusterError(
            f"cannot reach the Ray cluster at {url} ({_reason(err)}): is the head running and its "
            "dashboard port forwarded? (docker compose -f docker/compose.yaml up; ray dashboard CLUSTER.yaml)"
        ) from None
    if not isinstance(version, dict) or "ray_version" not in version:
        raise ClusterError(f"{url} is not a Ray dashboard (no ray_version in /api/version)")
    return version


def dashboard_nodes(url: str, timeout: float = 10.0) -> list[NodeResources]:
    """Alive nodes and their resources from the dashboard's state API (no Ray connection needed)."""
    probe_dashboard(url)
    try:
        body = json.loads(_get(f"{url}/api/v0/nodes?limit=10000&detail=true", timeout, _job_headers()))
        rows = body["data"]["result"]["result"]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as err:
        raise ClusterError(f"cannot list the nodes of the Ray cluster at {url} ({_reason(err)})") from None
    return [
        NodeResources(
            node_id=str(row.get("node_id")),
            cpus=float((row.get("resources_total") or {}).get("CPU", 0)),
            gpus=float((row.get("resources_total") or {}).get("GPU", 0)),
            is_head=bool(row.get("is_head_node")),
        )
        for row in rows
        if row.get("state") == "ALIVE"
    ]


def _host_port(address: str) -> tuple[str, int] | None:
    """HOST:PORT of a GCS (``host:6379``) or Ray Client (``ray://host:10001``) address, else None."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def _tcp_probe(address: str, timeout: float = HTTP_TIMEOUT_S) -> None:
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as err:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({_reason(err)}): is the head running, the port open?"
        ) from None


def ray_nodes(address: str) -> list[NodeResources]:
    """Alive nodes of the cluster at a Ray address (``auto``, ``HOST:6379``, ``ray://HOST:10001``).

    Connects, reads the node table and disconnects again, so the sweep's own `ray.init` later gets
    the settings it wants. When this process is already connected, that connection is used.
    """
    import ray

    if address != "auto":
        _tcp_probe(address)
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ClusterError(f"cannot connect to the Ray cluster at {address}: {line}") from None
    try:
        nodes = [
            NodeResources(
                node_id=str(node.get("NodeID")),
                cpus=float(node.get("Resources", {}).get("CPU", 0)),
                gpus=float(node.get("Resources", {}).get("GPU", 0)),
                is_head="node:__internal_head__" in node.get("Resources", {}),
            )
            for node in ray.nodes()
            if node.get("Alive")
        ]
    finally:
        if connected_here:
            ray.shutdown()
    return nodes


def cluster_nodes(address: str) -> list[NodeResources]:
    """Alive nodes of the cluster at ``address`` (a dashboard URL or any Ray address)."""
    if _is_http(address):
        return dashboard_nodes(dashboard_url(address))
    return ray_nodes(address)


def check_resources(nodes: list[NodeResources], spec: SweepSpec, address: str) -> None:
    """Refuse a sweep whose trials could never be scheduled (they would stay PENDING forever)."""
    if os.environ.get(SKIP_RESOURCE_CHECK_ENV) == "1":
        return
    if not nodes:
        raise ClusterError(f"the Ray cluster at {address} has no alive nodes")
    gpus = float(spec.resources.gpus_per_trial)
    cpus = float(spec.resources.cpus_per_trial)
    total_gpus = sum(n.gpus for n in nodes)
    total_cpus = sum(n.cpus for n in nodes)
    shape = f"{len(nodes)} node(s), {total_cpus:g} CPUs, {total_gpus:g} GPUs"
    if gpus > 0 and total_gpus == 0:
        raise ClusterError(
            f"cluster has no GPUs ({address}: {shape}) but resources.gpus_per_trial is {gpus:g}: "
            "start GPU workers or --set resources.gpus_per_trial=0"
        )
    if gpus > 0 and max(n.gpus for n in nodes) < gpus:
        raise ClusterError(
            f"no node of the cluster at {address} has {gpus:g} GPUs for one trial "
            f"(largest: {max(n.gpus for n in nodes):g}): lower resources.gpus_per_trial"
        )
    if not any(n.cpus >= cpus and n.gpus >= gpus for n in nodes):
        need = f"{cpus:g} CPUs" + (f" and {gpus:g} GPUs" if gpus else "")
        raise ClusterError(
            f"no node of the cluster at {address} has {need} for one trial ({shape}): "
            "lower resources.cpus_per_trial"
        )


def check_ray_address(address: str, spec: SweepSpec) -> None:
    """Before a sweep attaches to a cluster: it answers, it can run one trial, MLflow answers.

    Called by `gansweep run --address` (and so by every driver `gansweep submit` starts); raises
    `ClusterError` with one line the user can act on.
    """
    check_resources(cluster_nodes(address), spec, address)
    check_tracking_uri(spec.tracking_uri)


# --------------------------------------------------------------------------------------------------
# submitting a sweep


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"{ERROR_PREFIX}{message}", err=True)
    sys.exit(code)


def _user_errors(func: F) -> F:
    """ClusterError / SpecError -> one line on stderr and exit 2 (as `orchestrator.cli` does)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from orchestrator.spec import SpecError

        try:
            return func(*args, **kwargs)
        except (ClusterError, SpecError) as err:
            text = str(err).strip()
            _fail(text.splitlines()[0] if text else type(err).__name__)

    return wrapper  # type: ignore[return-value]


def _parse_pairs(values: tuple[str, ...], option: str, example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ClusterError(f"{option} {item!r}: expected NAME=VALUE, e.g. {example}")
        out[key.strip()] = value
    return out


def validate_for_cluster(spec_path: Path, overrides: Mapping[str, str]) -> tuple[SweepSpec, list[str]]:
    """Validate the spec here, before contacting the cluster, except that files need not exist here.

    `data.path` and `metrics.weights` name files on the cluster (e.g. /data/celeba in the compose
    setup), which this machine usually lacks: the spec is validated without its files
    (`check_data=False`; the driver checks them again on the cluster), and a note names each one
    missing here. Every other mistake is a SpecError, exit 2, with nothing submitted.
    """
    from orchestrator.spec import load

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


def job_client(address: str) -> JobSubmissionClient:
    """A Jobs API client for a dashboard address that was just probed (clear error if it is not)."""
    url = dashboard_url(address)
    probe_dashboard(url)
    from ray.job_submission import JobSubmissionClient

    # The SDK logs "package already exists" / "websocket closed" at INFO: noise for this command.
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)

    try:
        return JobSubmissionClient(url, headers=_job_headers() or None)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ClusterError(f"cannot use the Ray Jobs API at {url}: {_first_line(err)}") from None


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
    if raw_uri and _is_http(raw_uri) and _resolves_here(raw_uri):
        # A name only the cluster resolves (http://mlflow:5000 in compose) is checked by the driver.
        check_tracking_uri(raw_uri)
    url = dashboard_url(address)
    client = job_client(url)
    check_resources(dashboard_nodes(url), spec, url)

    submission_id = job_id or f"gansweep-{spec.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    with _spec_working_dir(spec_path) as (directory, name):
        entrypoint = driver_entrypoint(name, overrides, raw, resume=resume, verbose=verbose)
        try:
            submitted = client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env={"working_dir": str(directory), "env_vars": {"PYTHONUNBUFFERED": "1", **env}},
                metadata={"gansweep.sweep": spec.name, "gansweep.spec_hash": spec.spec_hash},
            )
        except (RuntimeError, ConnectionError, ValueError) as err:
            raise ClusterError(f"the Ray Jobs API at {url} refused the job: {_first_line(err)}") from None
    click.echo(f"submitted sweep '{spec.name}' as Ray job {submitted} to {url}")
    click.echo(f"  follow: ray job logs -f {submitted} --address {url}")
    click.echo(f"  stop:   gansweep stop {submitted} --address {url}")
    if not follow_logs:
        return submitted, None
    return submitted, follow(client, submitted, echo)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
@_user_errors
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
    pairs = _parse_pairs(overrides, "--set", "data.path=/data/celeba")
    env_vars = _parse_pairs(env, "--env", "GANSWEEP_CACHE_DIR=/shared/cache")
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
            _fail(error)  # the driver refused the sweep (spec, data, cluster): same exit code as locally
        info = client.get_job_info(submitted)
        _fail(f"job {submitted} failed: {_first_line(Exception(info.message or 'no message'))}", code=1)
    _fail(f"job {submitted} was stopped", code=1)


@click.command("jobs")
@address_option
@_user_errors
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
        sweep = (job.metadata or {}).get("gansweep.sweep", "-")
        message = _first_line(Exception(job.message)) if job.message else ""
        status = str(job.status).split(".")[-1]
        name = job.submission_id or job.job_id or "?"
        click.echo(f"{name:<44} {status:<10} {sweep:<24} {started:<19} {message}")


@click.command("stop")
@click.argument("job_id")
@address_option
@_user_errors
def stop(job_id: str, address: str) -> None:
    """Stop the Ray job JOB_ID (its trials stop; a later `submit --resume` continues the sweep)."""
    client = job_client(address)
    try:
        stopped = client.stop_job(job_id)
    except RuntimeError as err:
        where = dashboard_url(address)
        raise ClusterError(f"cannot stop job {job_id} at {where}: {_first_line(err)}") from None
    if stopped:
        click.echo(f"stopping job {job_id}")
    else:
        click.echo(f"job {job_id} had already ended ({str(client.get_job_status(job_id)).split('.')[-1]})")


__all__ = [
    "ClusterError",
    "NodeResources",
    "check_ray_address",
    "check_resources",
    "check_tracking_uri",
    "cluster_nodes",
    "driver_entrypoint",
    "jobs",
    "stop",
    "submit",
    "submit_sweep",
    "validate_for_cluster",
]
