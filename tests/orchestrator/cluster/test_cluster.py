"""`gansweep submit` / `run --address` against real clusters: a two-node Ray cluster and an MLflow
server on loopback, started with the same scripts the compose services run (docker/*.sh).

Fast tests (no Ray) cover the user errors that must be exit 2 before anything starts: an address
that does not answer, an MLflow server that does not answer, a cluster without GPUs (a fake
dashboard serves the node table). The slow tests submit a tiny sweep through the Jobs API and check
that trials ran on both nodes and that every child run, metric and artifact is in the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator import cluster
from orchestrator.cluster import ClusterError, NodeResources


@pytest.fixture(autouse=True)
def _forget_ray_tokens() -> Iterator[None]:
    """Tests here give Ray tokens of their own, and Ray caches the token per process (its loader
    singleton): forget it after each test, or a later in-process ``ray.init`` (another test module)
    sends the stale token to its new local cluster and fails with InvalidAuthToken."""
    yield
    try:
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:  # a Ray without token authentication
        return
    AuthenticationTokenLoader.instance().reset_cache()


REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / "docker"
BIN = Path(sys.executable).parent

TINY_SPEC = """\
name: tiny-cluster
seed: 0
data: {source: synthetic, image_size: 32, count: 256}
model: {family: dcgan, conv_dim: 8, z_dim: 16}
train: {epochs: 2, batch_size: 64}
search:
  algorithm: grid
  params:
    lr: {grid: [2.0e-4, 5.0e-4]}
scheduler: {type: none, metric: fid}
metrics: {backbone: rand, samples: 128, kid: false, batch_size: 128}
resources: {cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent: 2}
"""


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture()
def tiny_spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


def invoke(command: Any, args: list[str]) -> Any:
    return CliRunner().invoke(command, args, catch_exceptions=False)


# --------------------------------------------------------------------------------------------------
# fast: nothing listens / a fake dashboard


class FakeDashboard(BaseHTTPRequestHandler):
    """Answers /api/version and the state API's node table like a Ray 2.x dashboard."""

    nodes: list[dict[str, Any]] = []
    token: str | None = None  # when set, answer 401 without "Authorization: Bearer <token>"

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if self.token is not None and self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_error(401)
            return
        if self.path.startswith("/api/version"):
            body: Any = {"version": "4", "ray_version": "2.60.0"}
        elif self.path.startswith("/api/v0/nodes"):  # ray.util.state.list_nodes' envelope and NodeState rows
            extra = {"node_ip": "127.0.0.1", "state_message": None, "labels": {}}
            rows = [{**extra, "node_name": n["node_id"], **n} for n in self.nodes]
            body = {"result": True, "msg": "", "data": {"result": {
                "result": rows, "total": len(rows), "num_after_truncation": len(rows),
                "num_filtered": len(rows), "partial_failure_warning": "", "warnings": None}}}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def fake_dashboard() -> Iterator[str]:
    FakeDashboard.nodes = [
        {"node_id": "a", "state": "ALIVE", "is_head_node": True, "resources_total": {"CPU": 4.0}},
        {"node_id": "b", "state": "ALIVE", "is_head_node": False, "resources_total": {"CPU": 8.0}},
        {"node_id": "c", "state": "DEAD", "is_head_node": False, "resources_total": {"CPU": 8.0, "GPU": 1.0}},
    ]
    FakeDashboard.token = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDashboard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_submit_to_unreachable_address_is_exit_2(tiny_spec: Path) -> None:
    (port,) = free_ports(1)
    result = invoke(cluster.submit, [str(tiny_spec), "--address", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert f"cannot reach the Ray cluster at http://127.0.0.1:{port} (connection refused)" in result.output


def test_run_with_unreachable_address_is_exit_2(tiny_spec: Path) -> None:
    from orchestrator.cli import main

    (port,) = free_ports(1)
    result = invoke(main, ["run", str(tiny_spec), "--address", f"127.0.0.1:{port}"])
    assert result.exit_code == 2
    assert "gansweep: error: cannot reach the Ray cluster at 127.0.0.1:" in result.output


def test_mlflow_that_does_not_answer_is_exit_2_before_contacting_the_cluster(tiny_spec: Path) -> None:
    dead_mlflow, dead_ray = free_ports(2)
    result = invoke(
        cluster.submit,
        [str(tiny_spec), "--address", f"http://127.0.0.1:{dead_ray}",
         "--set", f"tracking.uri=http://127.0.0.1:{dead_mlflow}"],
    )
    assert result.exit_code == 2
    assert f"MLflow tracking server http://127.0.0.1:{dead_mlflow} does not answer" in result.output


def test_bad_spec_is_exit_2_before_contacting_the_cluster(tiny_spec: Path) -> None:
    (port,) = free_ports(1)
    result = invoke(cluster.submit, [str(tiny_spec), "--address", f"http://127.0.0.1:{port}",
                                     "--set", "model.conv_dim=12"])
    assert result.exit_code == 2
    assert "model.conv_dim: conv_dim must be a power of two" in result.output
    assert "Ray cluster" not in result.output


def test_cluster_without_gpus_is_exit_2(tiny_spec: Path, fake_dashboard: str) -> None:
    result = invoke(cluster.submit, [str(tiny_spec), "--address", fake_dashboard,
                                     "--set", "resources.gpus_per_trial=0.5"])
    assert result.exit_code == 2
    assert "cluster has no GPUs" in result.output
    assert "2 node(s), 12 CPUs, 0 GPUs" in result.output  # the dead GPU node does not count


def test_cluster_with_ray_token_auth_needs_the_token(
    tiny_spec: Path, fake_dashboard: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeDashboard.token = "s3cret"
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    result = invoke(cluster.submit, [str(tiny_spec), "--address", fake_dashboard])
    assert result.exit_code == 2 and "requires a token (Ray token authentication)" in result.output
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "s3cret")
    assert len(cluster.dashboard_nodes(fake_dashboard)) == 2


def test_check_resources_needs_one_node_that_fits_a_trial(tiny_spec: Path) -> None:
    from orchestrator.sweep_spec import load

    def spec(**values: Any) -> Any:
        return load(tiny_spec, overrides={f"resources.{k}": str(v) for k, v in values.items()})

    nodes = [NodeResources("a", cpus=4, gpus=0, is_head=True), NodeResources("b", cpus=8, gpus=2)]
    cluster.check_resources(nodes, spec(gpus_per_trial=2, cpus_per_trial=8), "x")
    with pytest.raises(ClusterError, match="no node of the cluster at x has 4 GPUs"):
        cluster.check_resources(nodes, spec(gpus_per_trial=4), "x")
    with pytest.raises(ClusterError, match="has 16 CPUs for one trial"):
        cluster.check_resources(nodes, spec(cpus_per_trial=16), "x")
    with pytest.raises(ClusterError, match="no alive nodes"):
        cluster.check_resources([], spec(), "x")


def test_a_pausing_scheduler_on_a_cluster_with_room_for_more_than_max_concurrent_is_refused(
    tiny_spec: Path,
) -> None:
    """Issue 19: under sha the cluster's CPUs are the only cap; 3 slots for max_concurrent 2 ran 3 at once."""
    from orchestrator.sweep_spec import load

    def spec(**values: Any) -> Any:
        return load(tiny_spec, overrides={k: str(v) for k, v in values.items()})

    head_and_worker = [NodeResources("h", cpus=2, gpus=0, is_head=True), NodeResources("w", cpus=1, gpus=0)]
    with pytest.raises(ClusterError) as err:
        cluster.check_concurrency(head_and_worker, spec(**{"scheduler.type": "sha"}), "http://h:8265")
    assert str(err.value).splitlines() == [str(err.value)]
    assert "max_concurrent is 2" in str(err.value) and "runs 3 such trials" in str(err.value)
    assert "--set resources.max_concurrent=3" in str(err.value)
    assert "--set scheduler.type=asha" in str(err.value)
    sha3 = spec(**{"scheduler.type": "sha", "resources.max_concurrent": 3})
    cluster.check_concurrency(head_and_worker, sha3, "x")
    cluster.check_concurrency(head_and_worker, spec(**{"scheduler.type": "asha"}), "x")  # Tune's limiter
    # Slots count whole trials per node: 2 CPUs per trial fit once on the head, never on the worker.
    cluster.check_concurrency(head_and_worker, spec(**{"scheduler.type": "sha", "resources.cpus_per_trial": 2,
                                                       "resources.max_concurrent": 1}), "x")
    gpus = [NodeResources("g", cpus=16, gpus=2)]
    assert cluster.probe.trial_slots(gpus, 1, 0.5) == 4 and cluster.probe.trial_slots(gpus, 8, 0.5) == 2


def test_cluster_paths_need_not_exist_on_the_submitting_machine(tiny_spec: Path) -> None:
    spec, notes = cluster.validate_for_cluster(
        tiny_spec, {"data.source": "folder", "data.path": "/cluster/only/celeba"}
    )
    assert spec.data.source == "folder"
    assert notes == ["data.path: /cluster/only/celeba is not on this machine; it must exist on the cluster"]


def test_driver_entrypoint_forwards_overrides_and_takes_shared_paths_from_the_cluster() -> None:
    command = cluster.driver_entrypoint("my spec.yaml", {"data.path": "/data/my faces"}, raw={}, resume=True)
    env = {"PATH": os.environ["PATH"], "GANSWEEP_STORAGE": "/shared/my runs",
           "MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    out = subprocess.run(["sh", "-c", "printf '%s\\n' " + command], env=env, capture_output=True, text=True)
    assert out.stdout.splitlines() == [
        "gansweep", "run", "my spec.yaml", "--address", "auto", "--set", "data.path=/data/my faces",
        "--resume", "--set", "storage=/shared/my runs", "--set", "tracking.uri=http://mlflow:5000",
    ]
    # Without those variables, or with the spec naming them itself, nothing is added.
    bare = subprocess.run(["sh", "-c", "printf '%s\\n' " + command], env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True)
    assert bare.stdout.splitlines()[-1] == "--resume"
    explicit = cluster.driver_entrypoint(
        "s.yaml", {"storage": "/nfs/runs"}, raw={"tracking": {"uri": "http://m:5000"}}
    )
    assert "GANSWEEP_STORAGE" not in explicit and "MLFLOW_TRACKING_URI" not in explicit


def test_ray_client_address_is_refused_with_what_to_do_instead(tiny_spec: Path) -> None:
    """Issue 11: under Ray Client the controller and the MLflow writer would run on the cluster while the
    caches and the SQLite store are this machine's paths; refused before anything starts."""
    from orchestrator.cli import main

    result = invoke(main, ["run", str(tiny_spec), "--address", "ray://127.0.0.1:10001"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gansweep: error: --address ray://127.0.0.1:10001: ")
    assert "gansweep submit SPEC --address http://HEAD:8265" in lines[0] and "--address auto" in lines[0]
    with pytest.raises(ClusterError, match="Ray Client"):
        cluster.check_ray_address("ray://head:10001", None)  # type: ignore[arg-type]


def test_dashboard_url() -> None:
    assert cluster.dashboard_url("head:8265") == "http://head:8265"
    assert cluster.dashboard_url("https://ray.example.org/") == "https://ray.example.org"
    with pytest.raises(ClusterError, match="give http://HEAD:8265"):
        cluster.dashboard_url("ray://head:10001")


# --------------------------------------------------------------------------------------------------
# slow: a real two-node Ray cluster and MLflow server on loopback


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def start(name: str, script: str, env: dict[str, str], log_dir: Path, *args: str) -> Service:
    """Run a docker/*.sh script in its own session, so teardown can end exactly what it started."""
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    process = subprocess.Popen(
        ["bash", str(DOCKER / script), *args],
        env=full_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=log_dir,
    )
    return Service(name, process, log)


def stop_services(services: list[Service], marker: str | None = None) -> None:
    """SIGTERM each service's process group (ray start --block shuts its node down), then SIGKILL."""
    for service in reversed(services):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for service in reversed(services):
        try:
            service.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait(timeout=10)
    if marker:  # Ray processes that left the group (e.g. workers): ours carry our unique temp dir
        for pid in _pids_with(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids_with(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
    return pids


def wait_for(
    what: str, check: Any, services: list[Service], timeout: float = 120.0, ray_dirs: tuple[Path, ...] = ()
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            if service.process.poll() is not None:
                raise AssertionError(f"{service.name} exited:\n{service.log.read_text()[-3000:]}")
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(1.0)
    logs = [f"--- {s.name}\n{s.log.read_text()[-2000:]}" for s in services]
    for directory in ray_dirs:  # Ray's own logs say why a dashboard/raylet did not come up
        for name in ("dashboard.log", "dashboard.err", "raylet.err", "gcs_server.err"):
            for log in directory.glob(f"session_latest/logs/{name}"):
                logs.append(f"--- {log}\n{log.read_text(errors='replace')[-1500:]}")
    raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(logs))


@dataclass
class LoopbackCluster:
    dashboard: str  # http://127.0.0.1:PORT (Jobs API)
    gcs: str  # 127.0.0.1:PORT (ray start --address / gansweep run --address)
    mlflow: str  # http://127.0.0.1:PORT
    storage: Path
    cache: Path
    agent_ports: tuple[int, int]  # the dashboard agents of head and worker


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    base = tmp_path_factory.mktemp("cluster")
    # Ray's socket paths must stay short: its temp dirs live directly under /tmp. One per node, as
    # on separate machines (nodes sharing one would unpack the job's working_dir over each other).
    head_tmp = Path(tempfile.mkdtemp(prefix="gsr-h-", dir="/tmp"))
    worker_tmp = Path(tempfile.mkdtemp(prefix="gsr-w-", dir="/tmp"))
    gcs, dash, client, head_agent, worker_agent, mlflow_port = free_ports(6)
    cache = base / "cache"  # shared by both nodes (one machine): the compose named volume's role
    storage = base / "runs"
    # Ray token authentication on, with a token of its own: what a careful deployment does, and
    # independent of whatever ~/.ray/auth_token this machine holds. Clients here send it too.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved = {key: os.environ.get(key) for key in auth}
    os.environ.update(auth)
    node_env = {"GANSWEEP_CACHE_DIR": str(cache), "GANSWEEP_RAY_NODE_IP": "127.0.0.1",
                "GANSWEEP_RAY_NUM_CPUS": "1", "GANSWEEP_RAY_NUM_GPUS": "0", "RAY_DEDUP_LOGS": "0", **auth}
    services: list[Service] = []
    try:
        services.append(start(
            "mlflow", "mlflow-server.sh",
            {"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{base / 'mlflow.db'}",
             "MLFLOW_ARTIFACTS_DESTINATION": str(base / "mlartifacts"),
             "GANSWEEP_MLFLOW_PORT": str(mlflow_port), "GANSWEEP_MLFLOW_WORKERS": "1"},
            base,
        ))
        services.append(start(
            "ray-head", "ray-head.sh",
            {**node_env, "GANSWEEP_RAY_PORT": str(gcs), "GANSWEEP_DASHBOARD_HOST": "127.0.0.1",
             "GANSWEEP_DASHBOARD_PORT": str(dash), "GANSWEEP_RAY_CLIENT_PORT": str(client),
             "GANSWEEP_RAY_TEMP_DIR": str(head_tmp)},
            base, "--dashboard-agent-listen-port", str(head_agent),
        ))
        dashboard = f"http://127.0.0.1:{dash}"
        wait_for("the Ray head", lambda: cluster.job_client(dashboard, timeout=2), services,
                 ray_dirs=(head_tmp,))
        services.append(start(
            "ray-worker", "ray-worker.sh",
            {**node_env, "GANSWEEP_RAY_HEAD": f"127.0.0.1:{gcs}", "GANSWEEP_RAY_TEMP_DIR": str(worker_tmp)},
            base, "--dashboard-agent-listen-port", str(worker_agent),
        ))
        wait_for("two alive nodes", lambda: len(cluster.dashboard_nodes(dashboard)) == 2, services,
                 ray_dirs=(head_tmp, worker_tmp))
        mlflow = f"http://127.0.0.1:{mlflow_port}"
        wait_for("the MLflow server", lambda: urllib.request.urlopen(f"{mlflow}/health", timeout=2), services)
        agents = (head_agent, worker_agent)
        yield LoopbackCluster(dashboard, f"127.0.0.1:{gcs}", mlflow, storage, cache, agents)
    finally:
        stop_services(services[1:], marker=str(head_tmp))
        stop_services(services[1:], marker=str(worker_tmp))
        stop_services(services[:1])
        shutil.rmtree(head_tmp, ignore_errors=True)
        shutil.rmtree(worker_tmp, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def gansweep(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real `gansweep` command, as a user runs it (a subprocess, so Ray state stays out of pytest)."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )


@pytest.mark.slow
def test_submit_runs_trials_on_both_nodes_and_records_everything_in_the_server(
    loopback_cluster: LoopbackCluster, tiny_spec: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from orchestrator.record.store import sample_steps

    c = loopback_cluster
    out = gansweep("submit", str(tiny_spec), "--address", c.dashboard, "--job-id", "tiny-e2e",
                   "--set", f"tracking.uri={c.mlflow}", "--set", f"storage={c.storage}")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "submitted sweep 'tiny-cluster' as Ray job tiny-e2e" in out.stdout
    assert "completed" in out.stdout  # the followed driver logs: the live trial table

    client = MlflowClient(c.mlflow)
    experiment = client.get_experiment_by_name("tiny-cluster")
    assert experiment is not None
    parents = client.search_runs([experiment.experiment_id], "tags.`gansweep.kind` = 'sweep'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'"
    )
    assert len(children) == 2
    cluster_nodes = {n.node_id for n in cluster.dashboard_nodes(c.dashboard)}
    trial_nodes = {run.data.tags.get("gansweep.node_id") for run in children}
    assert trial_nodes == cluster_nodes, "each node ran one trial (1 CPU per node, 1 CPU per trial)"
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["gansweep.status"] == "completed"
        for key in ("d_loss", "g_loss", "fid128_rand", "img_per_s"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 2], key
        grids = sample_steps(client, run.info.run_id)  # MLflow images, one per epoch
        assert sorted(grids) == [0, 1, 2]  # step 0: the untrained generator
        model = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
        assert "model/generator.pt" in model
        # served by the tracking server (--serve-artifacts), downloadable from here
        local = client.download_artifacts(run.info.run_id, grids[2], str(c.storage.parent))
        assert Path(local).read_bytes()[:4] == b"\x89PNG"
    # prepared once by the driver into the shared cache: one dataset array, and one statistics file
    # per protocol the driver measures with: training (metrics.samples real images) and the end-of-
    # sweep re-measurement (final_samples = the whole 256-image dataset); no trial computes its own
    assert len(list((c.cache / "datasets").glob("*.npy"))) == 1
    assert len(list((c.cache / "fid_stats").glob("*.npz"))) == 2

    listed = invoke(cluster.jobs, ["--address", c.dashboard])
    assert listed.exit_code == 0 and "tiny-e2e" in listed.output and "SUCCEEDED" in listed.output


@pytest.mark.slow
def test_real_cluster_without_gpus_refuses_a_gpu_sweep(
    loopback_cluster: LoopbackCluster, tiny_spec: Path
) -> None:
    c = loopback_cluster
    submitted = invoke(cluster.submit, [str(tiny_spec), "--address", c.dashboard,
                                        "--set", "resources.gpus_per_trial=1"])
    assert submitted.exit_code == 2
    assert "cluster has no GPUs" in submitted.output and "2 node(s), 2 CPUs, 0 GPUs" in submitted.output
    attached = gansweep("run", str(tiny_spec), "--address", c.gcs, "--set", "resources.gpus_per_trial=0.5")
    assert attached.returncode == 2, attached.stderr[-3000:]
    assert "gansweep: error: cluster has no GPUs" in attached.stderr


@pytest.mark.slow
def test_driver_errors_on_the_cluster_are_exit_2_here(
    loopback_cluster: LoopbackCluster, tiny_spec: Path
) -> None:
    c = loopback_cluster
    out = invoke(cluster.submit, [str(tiny_spec), "--address", c.dashboard,
                                  "--set", "data.source=folder", "--set", "data.path=/nonexistent/faces",
                                  "--set", f"tracking.uri={c.mlflow}"])
    assert out.exit_code == 2
    assert "data.path: /nonexistent/faces is not on this machine" in out.output  # the local note
    assert out.output.strip().endswith("data.path: path does not exist: /nonexistent/faces")  # the driver's
    stopped = invoke(cluster.stop, ["no-such-job", "--address", c.dashboard])
    assert stopped.exit_code == 2 and "does not exist" in stopped.output


@pytest.mark.slow
def test_compose_healthchecks_answer_on_a_real_cluster(loopback_cluster: LoopbackCluster) -> None:
    """The URLs docker/compose.yaml's healthchecks poll, on the nodes the same scripts started."""
    c = loopback_cluster
    urls = [f"{c.dashboard}/api/gcs_healthz", f"{c.mlflow}/health"]
    urls += [f"http://127.0.0.1:{port}/api/local_raylet_healthz" for port in c.agent_ports]
    for url in urls:
        out = subprocess.run(["bash", str(DOCKER / "healthcheck.sh"), url], capture_output=True, text=True,
                             env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
        assert out.returncode == 0, f"{url}: {out.stderr[-500:]}"
