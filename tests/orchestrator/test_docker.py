"""The Docker artefacts are checked without a Docker engine: hadolint on the Dockerfile, the
compose-spec JSON schema (and `docker compose config` where the compose plugin exists) on
compose.yaml, `bash -n` on the scripts, and the properties the cluster docs promise (ports bound to
127.0.0.1, GPU reservations, shared volumes, healthchecks, one image everywhere)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
BIN = Path(sys.executable).parent
SCRIPTS = ("ray-head.sh", "ray-worker.sh", "ray-node-args.sh", "mlflow-server.sh", "healthcheck.sh")
IN_IMAGE = "/opt/gansweep/docker/"


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} not installed (pip install -e '.[test]')")
    return found


def is_gansweep_image(image: str) -> bool:
    return re.search(r"(^|/)gansweep:", image) is not None


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_dockerfile_passes_hadolint() -> None:
    out = subprocess.run([tool("hadolint"), str(DOCKER / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_runs_as_non_root_with_gansweep_entrypoint_and_caches_on_a_volume() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["gansweep"]' in text
    assert re.search(r"^VOLUME \[\"/cache\"\]", text, re.M)
    assert "GANSWEEP_CACHE_DIR=/cache/gansweep" in text and "TORCH_HOME=/cache/torch" in text
    assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\s*=", text), "no secrets in the image"


@pytest.mark.parametrize(
    ("arg", "package"),
    [("TORCH_VERSION", "torch"), ("TORCHVISION_VERSION", "torchvision"), ("RAY_VERSION", "ray"),
     ("MLFLOW_VERSION", "mlflow")],
)
def test_image_pins_the_versions_the_tests_run_on(arg: str, package: str) -> None:
    """The image runs what the suite (and every measured figure) ran: same torch, Ray, MLflow."""
    from importlib.metadata import version

    pinned = re.search(rf"^ARG {arg}=(\S+)$", (DOCKER / "Dockerfile").read_text(), re.M)
    assert pinned is not None, f"docker/Dockerfile has no ARG {arg}"
    installed = version(package).split("+")[0]
    assert pinned.group(1) == installed, f"Dockerfile pins {package} {pinned.group(1)}, tests run {installed}"


def test_compose_matches_the_compose_spec_schema() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "test"}
    out = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DOCKER / "compose.yaml")],
        capture_output=True, text=True, env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_docker_compose_config_when_the_plugin_exists() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose plugin not installed (the JSON-schema test covers the file)")
    env = {**os.environ, "POSTGRES_PASSWORD": "test"}
    out = subprocess.run([docker, "compose", "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


def test_compose_publishes_ports_on_loopback_only(compose: dict[str, Any]) -> None:
    published = [(name, port) for name, svc in compose["services"].items() for port in svc.get("ports", [])]
    assert {name for name, _ in published} == {"mlflow", "ray-head"}
    for name, port in published:  # the bind address is a variable whose default is loopback
        assert isinstance(port, str) and port.startswith("${GANSWEEP_BIND_ADDRESS:-127.0.0.1}:"), name
    assert "ports" not in compose["services"]["postgres"]


def test_compose_services_share_one_image_and_the_scripts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ours = {name: svc for name, svc in services.items() if name != "postgres"}
    assert {svc["image"] for svc in ours.values()} == {"${GANSWEEP_IMAGE:-gansweep:latest}"}
    assert all(svc["build"]["dockerfile"] == "docker/Dockerfile" for svc in ours.values())
    assert (DOCKER / services["ray-head"]["build"]["context"] / "pyproject.toml").exists()
    expected = {"mlflow": "mlflow-server.sh", "ray-head": "ray-head.sh", "ray-worker": "ray-worker.sh"}
    for name, script in expected.items():
        assert services[name]["entrypoint"] == [IN_IMAGE + script]
    for svc in services.values():
        for word in svc.get("healthcheck", {}).get("test", []):
            if word.startswith(IN_IMAGE):
                assert (DOCKER / word.removeprefix(IN_IMAGE)).exists(), word


def test_compose_gpu_workers_volumes_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    devices = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert "container_name" not in services["ray-worker"], "--scale ray-worker=N needs generated names"
    for name in ("postgres", "mlflow", "ray-head", "ray-worker"):
        assert "test" in services[name]["healthcheck"], name
    declared = set(compose["volumes"])
    for name in ("ray-head", "ray-worker"):
        mounts = {v.split(":")[0]: v.split(":")[1] for v in services[name]["volumes"]}
        assert mounts["gansweep-cache"] == "/shared/cache" and mounts["gansweep-runs"] == "/shared/runs"
        env = services[name]["environment"]
        assert env["GANSWEEP_CACHE_DIR"] == "/shared/cache" and env["GANSWEEP_STORAGE"] == "/shared/runs"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    mounts = [v for svc in services.values() for v in svc.get("volumes", [])]
    named = {v.split(":")[0] for v in mounts if not v.startswith(("$", ".", "/"))}
    assert named <= declared
    mlflow_env = services["mlflow"]["environment"]
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://")
    assert "mlflow" in mlflow_env["GANSWEEP_MLFLOW_ALLOWED_HOSTS"].split(",")
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_and_are_executable(script: str) -> None:
    path = DOCKER / script
    assert os.access(path, os.X_OK), f"chmod +x docker/{script}"
    out = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_scripts_build_the_documented_commands(tmp_path: Path) -> None:
    """Run the node scripts with a stub `ray` that prints its arguments."""
    stub = tmp_path / "ray"
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "GANSWEEP_RAY_NUM_GPUS": "2",
           "GANSWEEP_RAY_BLOCK": "0"}
    head = subprocess.run(["bash", str(DOCKER / "ray-head.sh"), "--extra"], env=env, capture_output=True,
                          text=True, check=True).stdout.split()
    assert head[:3] == ["start", "--head", "--port"] and head[-1] == "--extra"
    assert "--block" not in head and head[head.index("--num-gpus") + 1] == "2"
    assert head[head.index("--dashboard-host") + 1] == "0.0.0.0"
    worker = subprocess.run(["bash", str(DOCKER / "ray-worker.sh")], env={**env, "GANSWEEP_RAY_BLOCK": "1"},
                            capture_output=True, text=True, check=True).stdout.split()
    assert worker[:3] == ["start", "--address", "ray-head:6379"] and "--block" in worker


def test_cluster_launcher_and_kuberay_manifests_use_the_image_and_scripts() -> None:
    launcher = yaml.safe_load((DOCKER / "cluster.yaml").read_text())
    assert is_gansweep_image(launcher["docker"]["image"])
    starts = " ".join(launcher["head_start_ray_commands"] + launcher["worker_start_ray_commands"])
    assert IN_IMAGE + "ray-head.sh" in starts and IN_IMAGE + "ray-worker.sh" in starts
    docs = list(yaml.safe_load_all((DOCKER / "rayjob.yaml").read_text()))
    job = next(d for d in docs if d and d.get("kind") == "RayJob")
    assert job["apiVersion"] == "ray.io/v1"
    assert "gansweep run" in job["spec"]["entrypoint"] and "--address auto" in job["spec"]["entrypoint"]
    cluster = job["spec"]["rayClusterSpec"]
    images = [c["image"] for c in cluster["headGroupSpec"]["template"]["spec"]["containers"]]
    for group in cluster["workerGroupSpecs"]:
        images += [c["image"] for c in group["template"]["spec"]["containers"]]
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert "nvidia.com/gpu" in limits
    assert all(is_gansweep_image(image) for image in images)
