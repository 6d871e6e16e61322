"""Is this cluster usable for this sweep? Address forms, the Jobs API client, node resources, MLflow health.

Every problem the user can fix is a :class:`ClusterError` (one line, exit code 2) raised before any
trial starts: an address that does not answer, a Ray Client (``ray://``) address, a cluster without the
GPUs (or CPUs) one trial asks for, an MLflow tracking server that does not answer.

Ray's own clients do the talking: :class:`ray.job_submission.JobSubmissionClient` checks the dashboard
(and sends the Ray token, found where Ray looks for it), :func:`ray.util.state.list_nodes` reads the node
table. Only a TCP connect with a short timeout comes first, because the SDK's version check has no
timeout and would hang on a black-holed host.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import UserError
from orchestrator.schedulers import is_pausing

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

    from orchestrator.sweep_spec import SweepSpec

DEFAULT_DASHBOARD = "http://127.0.0.1:8265"
CONNECT_TIMEOUT_S = 5.0
# Escape hatch for autoscaling clusters whose GPU workers only start once trials are pending.
SKIP_RESOURCE_CHECK_ENV = "GANSWEEP_SKIP_RESOURCE_CHECK"


class ClusterError(UserError, RuntimeError):
    """A cluster problem the user can fix (address, resources, tracking server): one line, exit 2."""


@dataclass(frozen=True)
class NodeResources:
    """What one alive node offers to trials."""

    node_id: str
    cpus: float
    gpus: float
    is_head: bool = False


# --------------------------------------------------------------------------------------------- addresses


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def refuse_ray_client(address: str) -> None:
    """``ray://`` (Ray Client) runs Tune's controller and the MLflow writer on the cluster while the caches
    and the SQLite store would be this machine's paths (issue 11): refused with what to do instead."""
    if address.strip().startswith("ray://"):
        raise ClusterError(
            f"--address {address.strip()}: Ray Client (ray://) is not supported; submit the sweep as a Ray "
            "Job with `gansweep submit SPEC --address http://HEAD:8265`, or run the driver on the head "
            "with `--address auto`"
        )


def dashboard_url(address: str) -> str:
    """The Jobs API base URL: ``http://HEAD:8265`` as given, or ``HEAD:8265`` with http:// added."""
    address = address.strip().rstrip("/")
    if address.startswith("ray://"):
        raise ClusterError(
            f"--address {address}: jobs go through the dashboard's Jobs API, give http://HEAD:8265 "
            "(ray:// is the Ray Client port, which gansweep does not use)"
        )
    if not is_http(address):
        address = "http://" + address
    parsed = urllib.parse.urlparse(address)
    if not parsed.hostname:
        raise ClusterError(f"--address {address}: expected http://HOST:PORT of the Ray dashboard")
    return address


def reason(err: BaseException) -> str:
    """A few words for why a connection failed, from the exception's type (following its causes)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, urllib.error.HTTPError):
            return f"HTTP {cause.code} {cause.reason}"
        if isinstance(cause, urllib.error.URLError) and isinstance(cause.reason, BaseException):
            cause = cause.reason
            continue
        if isinstance(cause, socket.timeout | TimeoutError):
            return "timed out"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    return first_line(err)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _connect(host: str, port: int, shown: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connect with a timeout: fails fast where the SDK's untimed HTTP request would hang."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise ClusterError(
            f"cannot reach the Ray cluster at {shown} ({reason(err)}): is the head running and its "
            "dashboard port forwarded? (docker compose -f docker/compose.yaml up; ray dashboard CLUSTER.yaml)"
        ) from None


# --------------------------------------------------------------------------------------------- clients


def job_client(address: str, timeout: float = CONNECT_TIMEOUT_S) -> JobSubmissionClient:
    """Ray's Jobs API client for a dashboard address; constructing it checks the dashboard's version."""
    url = dashboard_url(address)
    parsed = urllib.parse.urlparse(url)
    _connect(parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80), url, timeout)
    from ray.job_submission import JobSubmissionClient

    try:
        from ray.exceptions import AuthenticationError
    except ImportError:  # older Ray: no token authentication, a 401 is a plain RuntimeError
        AuthenticationError = RuntimeError  # noqa: N806

    # The SDK logs "package already exists" / "websocket closed" at INFO: noise for this command.
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return JobSubmissionClient(url, headers=_user_headers())
    except AuthenticationError:
        raise ClusterError(
            f"the Ray cluster at {url} requires a token (Ray token authentication) and did not accept this "
            "machine's: put it in $RAY_AUTH_TOKEN or ~/.ray/auth_token"
        ) from None
    except (ConnectionError, RuntimeError, ValueError, KeyError) as err:
        raise ClusterError(
            f"{url} is not a Ray dashboard with the Jobs API ({reason(err)}): give the head's dashboard "
            "address, port 8265 by default"
        ) from None


def _user_headers() -> dict[str, str] | None:
    """$RAY_JOB_HEADERS (e.g. a proxy's auth) as `ray job` reads it, plus the Ray token from Ray's own loader
    (``$RAY_AUTH_TOKEN``, ``$RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``) unless ``RAY_AUTH_MODE=disabled``.

    Why not leave the token to the SDK alone: it decides from the auth mode this process read first (a
    C++ config cached for the process), so a token set later, or one for a remote cluster on a machine
    whose local Ray has no token mode, would not be sent. The loader's cache is reset so the current
    environment counts.
    """
    headers: dict[str, str] = {}
    raw = os.environ.get("RAY_JOB_HEADERS")
    if raw:
        from pydantic import TypeAdapter, ValidationError

        try:
            headers = TypeAdapter(dict[str, str]).validate_json(raw)
        except ValidationError:
            raise ClusterError("RAY_JOB_HEADERS must be a JSON object of HTTP headers") from None
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "disabled" and not any(
        k.lower() == "authorization" for k in headers
    ):
        try:
            from ray._raylet import AuthenticationTokenLoader
        except ImportError:  # a Ray without token authentication
            return headers or None
        loader = AuthenticationTokenLoader.instance()
        loader.reset_cache()
        headers.update(loader.get_token_for_http_header(ignore_auth_mode=True))
    return headers or None


def dashboard_nodes(url: str, timeout: float = 10.0) -> list[NodeResources]:
    """Alive nodes and their resources through Ray's state API client (no Ray connection needed)."""
    url = dashboard_url(url)
    job_client(url)  # reachable, a dashboard, token accepted: the clear errors come from here
    from ray.util.state.api import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    options = ListApiOptions(limit=10_000, timeout=int(timeout), detail=True,
                             filters=[("state", "=", "ALIVE")])
    try:
        client = StateApiClient(url, headers={"Content-Type": "application/json", **(_user_headers() or {})})
        rows = client.list(StateResource.NODES, options=options, raise_on_missing_output=False)
    except Exception as err:  # noqa: BLE001 - the state API raises requests/Ray/RuntimeError types alike
        raise ClusterError(f"cannot list the nodes of the Ray cluster at {url} ({reason(err)})") from None
    return [
        NodeResources(node_id=str(row.node_id), cpus=float((row.resources_total or {}).get("CPU", 0)),
                      gpus=float((row.resources_total or {}).get("GPU", 0)), is_head=bool(row.is_head_node))
        for row in rows
        if str(row.state) == "ALIVE"  # the server filters; a proxy or an old dashboard may not
    ]


def ray_nodes(address: str) -> list[NodeResources]:
    """Alive nodes of the cluster at a GCS address (``auto``, ``HOST:6379``) through ``ray.nodes()``.

    Connects, reads the node table and disconnects again, so the sweep's own `ray.init` later gets
    the settings it wants. When this process is already connected, that connection is used.
    """
    import ray

    host, sep, port = address.rpartition(":")
    if address != "auto" and sep and port.isdigit() and host:
        _connect(host.strip("[]"), int(port), address)
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first_line(err)}") from None
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
    """Alive nodes of the cluster at ``address`` (a dashboard URL or a GCS address)."""
    refuse_ray_client(address)
    if is_http(address):
        return dashboard_nodes(address)
    return ray_nodes(address)


# --------------------------------------------------------------------------------------------- checks


def check_tracking_uri(uri: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """An http(s) MLflow tracking URI must answer ``GET <uri>/health``; other stores are local files."""
    if not is_http(uri):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - http(s) only
            pass
    except urllib.error.HTTPError as err:
        raise ClusterError(
            f"MLflow tracking server {uri} answered {reason(err)} on /health: is it an MLflow server? "
            "(tracking.uri)"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ClusterError(
            f"MLflow tracking server {uri} does not answer ({reason(err)}): start it or fix tracking.uri "
            "(--set tracking.uri=http://HOST:5000)"
        ) from None


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


def trial_slots(nodes: list[NodeResources], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """How many trials of this shape the nodes can run at once (each trial fits on one node)."""
    slots = 0
    for node in nodes:
        fits = [node.cpus / cpus_per_trial] if cpus_per_trial > 0 else []
        if gpus_per_trial > 0:
            fits.append(node.gpus / gpus_per_trial)
        slots += int(min(fits)) if fits else 0
    return slots


def check_concurrency(nodes: list[NodeResources], spec: SweepSpec, address: str) -> None:
    """Refuse what would silently run more than ``resources.max_concurrent`` trials at once.

    Under a scheduler that pauses trials at rungs (``sha``, ``hyperband``) Tune's concurrency
    limiters cannot be used (they count paused trials as live and would halve among the first
    ``max_concurrent``), so gansweep caps concurrency with the CPUs of the Ray it starts. On a
    cluster those CPUs are the cluster's: where they fit more trials than ``max_concurrent``, the
    sweep is refused with the two ways to get what the user meant.
    """
    if not is_pausing(spec):
        return
    slots = trial_slots(nodes, float(spec.resources.cpus_per_trial), float(spec.resources.gpus_per_trial))
    limit = spec.resources.max_concurrent
    if slots > limit:
        raise ClusterError(
            f"resources.max_concurrent is {limit} but the cluster at {address} runs {slots} such trials at "
            f"once and scheduler.type {spec.scheduler.type} cannot cap that on a cluster: "
            f"--set resources.max_concurrent={slots}, or --set scheduler.type=asha to keep {limit}"
        )


def check_ray_address(address: str, spec: SweepSpec) -> None:
    """Before a sweep attaches to a cluster: not Ray Client, it answers, it can run one trial, MLflow answers.

    Called by `gansweep run --address` (and so by every driver `gansweep submit` starts); raises
    `ClusterError` with one line the user can act on.
    """
    refuse_ray_client(address)
    nodes = cluster_nodes(address)
    check_resources(nodes, spec, address)
    check_concurrency(nodes, spec, address)
    check_tracking_uri(spec.tracking_uri)
