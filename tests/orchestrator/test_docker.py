"""The Docker artefacts are checked without a Docker engine: hadolint on the Dockerfiles, the
compose-spec JSON schema (and `docker compose config` / `docker-compose config` where either exists)
on compose.yaml, `bash -n` on the scripts, and the properties the cluster docs promise (ports bound
to 127.0.0.1, Ray token authentication on, memory limits, GPU reservations, shared volumes,
healthchecks, pinned versions, no secret on a command line). `docker/e2e.sh` runs the real thing."""

from __future__ import annotations

import json
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
SCRIPTS = ("ray-head.sh", "ray-worker.sh", "ray-node-args.sh", "mlflow-server.sh", "healthcheck.sh",
           "build-base.sh", "e2e.sh", "postgres/entrypoint.sh")
DOCKERFILES = ("Dockerfile", "mlflow.Dockerfile", "postgres/Dockerfile", "s3.Dockerfile")
IN_IMAGE = "/opt/gansweep/docker/"
LOOPBACK = "${GANSWEEP_BIND_ADDRESS:-127.0.0.1}:"


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} not installed (pip install -e '.[test]')")
    return found


def is_gansweep_image(image: str) -> bool:
    return re.search(r"(^|/)gansweep(-mlflow)?:", image) is not None


def final_stage(dockerfile: str) -> str:
    """The text of the last stage (what the image is): from its FROM to the end."""
    return re.split(r"^FROM ", dockerfile, flags=re.M)[-1]


def constraints() -> dict[str, str]:
    pins = {}
    for line in (DOCKER / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfiles_pass_hadolint(dockerfile: str) -> None:
    out = subprocess.run([tool("hadolint"), str(DOCKER / dockerfile)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_run_as_non_root_without_anonymous_volumes_or_secrets(dockerfile: str) -> None:
    text = (DOCKER / dockerfile).read_text()
    users = re.findall(r"^USER\s+(\S+)", final_stage(text), re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0", "postgres")
    assert not re.search(r"^VOLUME", text, re.M), "an image VOLUME leaves an anonymous volume on every run"
    assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\s*=", text), "no secrets in the image"
    if dockerfile != "postgres/Dockerfile":
        assert re.search(r"^ARG BASE_IMAGE=", text, re.M), "the base is a build arg (docker/build-base.sh)"


def test_the_node_image_keeps_build_leftovers_and_ca_certificates_in_its_build_stage() -> None:
    """Only the virtualenv and gansweep's wheel leave the build stages: no sources, build/, egg-info or
    extra CA in the image; the dependencies' layer does not depend on the sources (cheap rebuilds)."""
    text = (DOCKER / "Dockerfile").read_text()
    final = final_stage(text)
    assert 'ENTRYPOINT ["gansweep"]' in final
    assert "GANSWEEP_CACHE_DIR=/cache/gansweep" in final and "TORCH_HOME=/cache/torch" in final
    assert "GIT_PYTHON_REFRESH=quiet" in final, "no git in the image: MLflow must not warn on every run"
    assert "EXTRA_CA_CERTS" not in final
    installs = re.findall(r"pip install [^\n]*", final)
    assert installs == ["pip install --no-deps --no-index /tmp/dist/*.whl \\"], "the wheel, offline"
    assert "COPY --from=deps /opt/venv /opt/venv" in final
    assert not re.search(r"^COPY (pyproject|orchestrator|trainers)", final, re.M)
    deps = text[text.index("AS deps"):text.index("AS wheel")]
    assert not re.search(r"^COPY (README|orchestrator|trainers)", deps, re.M)
    for name in ("Dockerfile", "mlflow.Dockerfile"):
        assert "-c docker/constraints.txt" in text or "-c /tmp/constraints.txt" in (DOCKER / name).read_text()


def test_the_mlflow_image_has_no_torch_and_the_postgres_driver() -> None:
    text = (DOCKER / "mlflow.Dockerfile").read_text()
    assert "torch" not in text.lower().replace("no torch", "") and "ray" not in re.findall(r"\w+", text)
    assert re.search(r'"psycopg2-binary==\$\{PSYCOPG_VERSION\}"', text)
    assert 'ENTRYPOINT ["/opt/gansweep/docker/mlflow-server.sh"]' in text


@pytest.mark.parametrize(
    ("arg", "package"),
    [("TORCH_VERSION", "torch"), ("TORCHVISION_VERSION", "torchvision"), ("RAY_VERSION", "ray"),
     ("MLFLOW_VERSION", "mlflow")],
)
def test_image_pins_agree_with_the_constraints_and_the_project(arg: str, package: str) -> None:
    """The Dockerfile's version ARGs, docker/constraints.txt and pyproject's requirements agree.

    Not "equal to what the test venv resolved": a clean `pip install` takes the newest release
    (mlflow 3.18.0 appeared while 3.17.2 was pinned), and the image is reproducible precisely because
    it does not follow that. Regenerate the pins with docker/README.md's `pip freeze` command.
    """
    import tomllib
    from packaging.requirements import Requirement

    pinned = re.search(rf"^ARG {arg}=(\S+)$", (DOCKER / "Dockerfile").read_text(), re.M)
    assert pinned is not None, f"docker/Dockerfile has no ARG {arg}"
    pin = constraints()[package]
    assert pin == pinned.group(1), f"constraints.txt pins {package} {pin}, the Dockerfile {pinned.group(1)}"
    project = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = [Requirement(r) for r in project if Requirement(r).name == package]
    assert wanted, f"pyproject.toml does not require {package}"
    assert wanted[0].specifier.contains(pin), f"{package} {pin} does not satisfy pyproject's {wanted[0]}"


def test_constraints_pin_every_package_exactly() -> None:
    pins = constraints()
    assert len(pins) > 50 and all(re.fullmatch(r"[\w.!+-]+", v) for v in pins.values())
    psycopg = re.search(r"^ARG PSYCOPG_VERSION=(\S+)$", (DOCKER / "mlflow.Dockerfile").read_text(), re.M)
    assert psycopg is not None and pins["psycopg2-binary"] == psycopg.group(1)


def test_compose_matches_the_compose_spec_schema() -> None:
    env = {**os.environ, "POSTGRES_PASSWORD": "test", "RAY_AUTH_TOKEN": "test"}
    out = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DOCKER / "compose.yaml")],
        capture_output=True, text=True, env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("command", [("docker", "compose"), ("docker-compose",)], ids=["v2", "v1"])
def test_docker_compose_config_when_compose_exists(command: tuple[str, ...]) -> None:
    """Both Compose v2 (the plugin) and v1 (Debian's docker-compose) accept the file."""
    exe = shutil.which(command[0])
    if exe is None or subprocess.run([exe, *command[1:], "version"], capture_output=True).returncode != 0:
        pytest.skip(f"{' '.join(command)} not installed (the JSON-schema test covers the file)")
    env = {**os.environ, "POSTGRES_PASSWORD": "test", "RAY_AUTH_TOKEN": "test"}
    out = subprocess.run([exe, *command[1:], "-p", "gansweep", "-f", str(DOCKER / "compose.yaml"),
                          "--profile", "cpu", "--profile", "gpu", "--profile", "cli", "config", "-q"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr


def test_compose_publishes_ports_on_loopback_only(compose: dict[str, Any]) -> None:
    published = [(name, port) for name, svc in compose["services"].items() for port in svc.get("ports", [])]
    assert {name for name, _ in published} == {"mlflow", "ray-head"}
    for name, port in published:  # the bind address is a variable whose default is loopback
        assert isinstance(port, str) and port.startswith(LOOPBACK), name
    assert "ports" not in compose["services"]["postgres"]
    assert not any(":10001" in port or ":6379" in port for _, port in published), "no Ray Client / GCS port"


def test_compose_turns_ray_token_authentication_on_and_limits_memory(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("ray-head", "ray-worker", "ray-cpu-worker", "gansweep"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "${RAY_AUTH_MODE:-token}", name
        assert env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), f"{name}: the token is required"
    for name, svc in services.items():
        assert "mem_limit" in svc, f"{name}: without a limit Ray sizes itself from the host's memory"


def test_compose_builds_every_image_from_the_given_base(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if "build" in svc:
            assert svc["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim-bookworm}", name
            assert svc["build"]["args"]["EXTRA_CA_CERTS"] == "${EXTRA_CA_CERTS:-}", name


def test_docker_env_with_its_secrets_is_never_committed() -> None:
    out = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=REPO, capture_output=True)
    assert out.returncode == 0, "docker/.env (POSTGRES_PASSWORD, RAY_AUTH_TOKEN) must be git-ignored"


def test_the_compose_backend_uri_names_a_driver_the_mlflow_image_installs(compose: dict[str, Any]) -> None:
    """Issue 19: `postgresql://` made SQLAlchemy 2.1 load psycopg 3, not in the image: MLflow crash-looped.

    The URI's dialect is resolved by SQLAlchemy itself (the version pinned for the image); its DBAPI
    module must come from a package the MLflow image installs, and where that driver is installed here
    too, `create_engine` (which imports it, without connecting) must work."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    written = compose["services"]["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    uri = re.sub(r"\$\{[^}]*\}", "secret", written)
    assert sqlalchemy.__version__ == constraints()["sqlalchemy"], "the tests resolve what the image resolves"
    dialect = make_url(uri).get_dialect()
    assert (dialect.name, dialect.driver) == ("postgresql", "psycopg2")
    module = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg"}[dialect.driver]
    assert module in (DOCKER / "mlflow.Dockerfile").read_text() and module in constraints()
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return  # not in the test environment; docker/e2e.sh runs create_engine inside the image
    assert sqlalchemy.create_engine(uri).dialect.driver == "psycopg2"


def test_mlflow_server_gets_the_database_password_through_its_environment_only(tmp_path: Path) -> None:
    """The backend URI (with the PostgreSQL password) never on `mlflow server`'s argv: `ps` shows argv."""
    stub = tmp_path / "mlflow"
    stub.write_text('#!/usr/bin/env bash\nprintf "ARG %s\\n" "$@"\n'
                    'printf "ENV %s\\n" "$MLFLOW_BACKEND_STORE_URI"\n')
    stub.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_BACKEND_STORE_URI": "postgresql+psycopg2://mlflow:hunter2@postgres:5432/mlflow"}
    out = subprocess.run(["bash", str(DOCKER / "mlflow-server.sh")], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    argv = [line for line in out if line.startswith("ARG ")]
    assert "ARG server" in argv and "ARG --serve-artifacts" in argv
    assert not any("hunter2" in line for line in argv)
    assert "ENV postgresql+psycopg2://mlflow:hunter2@postgres:5432/mlflow" in out


def test_compose_services_use_the_image_of_their_role_and_the_scripts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {name: svc["image"] for name, svc in services.items()}
    assert images["mlflow"] == "${MLFLOW_IMAGE:-gansweep-mlflow:latest}"
    assert services["mlflow"]["build"]["dockerfile"] == "docker/mlflow.Dockerfile"
    cpu = "${GANSWEEP_IMAGE:-gansweep:cpu}"
    assert images["ray-head"] == images["ray-cpu-worker"] == images["gansweep"] == cpu
    assert images["ray-worker"] == "${GANSWEEP_GPU_IMAGE:-gansweep:gpu}"
    for name in ("ray-head", "ray-cpu-worker", "ray-worker", "gansweep"):
        build = services[name]["build"]
        assert build["dockerfile"] == "docker/Dockerfile"
        assert build["args"]["TORCH_VARIANT"] == ("gpu" if name == "ray-worker" else "cpu")
    assert (DOCKER / services["ray-head"]["build"]["context"] / "pyproject.toml").exists()
    assert services["ray-worker"]["profiles"] == ["gpu"] and services["ray-cpu-worker"]["profiles"] == ["cpu"]
    expected = {"mlflow": "mlflow-server.sh", "ray-head": "ray-head.sh", "ray-worker": "ray-worker.sh",
                "ray-cpu-worker": "ray-worker.sh"}
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
    for name in ("ray-worker", "ray-cpu-worker"):
        assert "container_name" not in services[name], "--scale ray-worker=N needs generated names"
    for name in ("postgres", "mlflow", "ray-head", "ray-worker", "ray-cpu-worker"):
        assert "test" in services[name]["healthcheck"], name
    declared = set(compose["volumes"])
    for name in ("ray-head", "ray-worker", "ray-cpu-worker"):
        mounts = {v.split(":")[0]: v.split(":")[1] for v in services[name]["volumes"]}
        assert mounts["gansweep-cache"] == "/shared/cache" and mounts["gansweep-runs"] == "/shared/runs"
        env = services[name]["environment"]
        assert env["GANSWEEP_CACHE_DIR"] == "/shared/cache" and env["GANSWEEP_STORAGE"] == "/shared/runs"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    mounts = [v for svc in services.values() for v in svc.get("volumes", [])]
    named = {v.split(":")[0] for v in mounts if not v.startswith(("$", ".", "/"))}
    assert named <= declared
    mlflow_env = services["mlflow"]["environment"]
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
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
    assert "-e RAY_AUTH_MODE=token" in launcher["docker"]["run_options"], "Ray token authentication on"
    options = launcher["docker"]["run_options"]
    token_path = next(o for o in options if "RAY_AUTH_TOKEN_PATH=" in o).split("=")[1]
    assert token_path in launcher["file_mounts"], "the token reaches every node"
    assert "GANSWEEP_DASHBOARD_HOST=127.0.0.1" in " ".join(launcher["head_start_ray_commands"])
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


def _audit_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("e2e_audit", DOCKER / "e2e_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_e2e_audit_passes_a_clean_record_and_fails_each_defect(tmp_path: Path, capsys: Any) -> None:
    """docker/e2e.sh's verdict comes from this audit: it must catch what a lost node can break."""
    from mlflow.tracking import MlflowClient

    audit = _audit_module().audit
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")

    def sweep(name: str, epochs: list[list[int]], restarts: list[int], status: str = "FINISHED") -> None:
        experiment = client.create_experiment(name, artifact_location=str(tmp_path / name))
        parent = client.create_run(experiment, tags={"gansweep.kind": "sweep"})
        client.set_terminated(parent.info.run_id)
        for i, (steps, restarted) in enumerate(zip(epochs, restarts, strict=True)):
            tags = {"gansweep.kind": "trial", "gansweep.trial_id": f"t{i}", "gansweep.status": "completed"}
            if restarted:
                tags["gansweep.restarts"] = str(restarted)
            run = client.create_run(experiment, tags=tags)
            for step in steps:
                client.log_metric(run.info.run_id, "d_loss", 1.0, step=step)
            client.set_terminated(run.info.run_id, status=status if i == 0 else "FINISHED")

    sweep("clean", [[1, 2, 3], [1]], [1, 0])
    assert audit(client, "clean", 2) == 0 and "AUDIT OK" in capsys.readouterr().out
    sweep("duplicate-epoch", [[1, 2, 2, 3], [1]], [1, 0])
    assert audit(client, "duplicate-epoch", 2) == 1 and "not 1..n, each once" in capsys.readouterr().out
    sweep("gap", [[1, 3], [1]], [1, 0])
    assert audit(client, "gap", 2) == 1
    sweep("no-restart", [[1, 2], [1]], [0, 0])
    assert audit(client, "no-restart", 2) == 1 and "was not restarted" in capsys.readouterr().out
    sweep("failed", [[1, 2], [1]], [1, 0], status="FAILED")
    assert audit(client, "failed", 2) == 1 and "is FAILED" in capsys.readouterr().out
    sweep("missing-trial", [[1, 2]], [1])
    assert audit(client, "missing-trial", 2) == 1 and "expected 2" in capsys.readouterr().out


def test_the_e2e_audit_tells_a_resume_from_checkpoint_from_a_restart_from_scratch(
    tmp_path: Path, capsys: Any,
) -> None:
    """MLflow's writer skips epochs it has, so the resume is judged on Tune's result.json in the storage."""
    from mlflow.tracking import MlflowClient

    resumed = _audit_module().resumed
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")

    def sweep(name: str, hosts_and_epochs: list[tuple[str, int]], restarts: int = 1) -> None:
        experiment = client.create_experiment(name, artifact_location=str(tmp_path / name))
        client.create_run(experiment, tags={"gansweep.kind": "trial", "gansweep.trial_id": "abc_00001",
                                            "gansweep.restarts": str(restarts)})
        folder = tmp_path / "runs" / name / "trainable_abc_00001_1_conv_dim=16"
        folder.mkdir(parents=True)
        lines = [{"hostname": h, "training_iteration": e, "timestamp": i} for i, (h, e) in
                 enumerate(hosts_and_epochs)]
        (folder / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))

    storage = str(tmp_path / "runs")
    sweep("from-checkpoint", [("other", 1), ("lost", 2), ("other", 3), ("other", 4)])
    assert resumed(client, "from-checkpoint", "lost", storage) == 0
    assert "epochs [1, 2, 3, 4] from hosts other, lost (lost)" in capsys.readouterr().out
    sweep("from-scratch", [("lost", 1), ("lost", 2), ("other", 1), ("other", 2)])
    assert resumed(client, "from-scratch", "lost", storage) == 1
    assert "trained an epoch twice" in capsys.readouterr().out
    sweep("never-restarted", [("other", 1), ("other", 2)], restarts=0)
    assert resumed(client, "never-restarted", "lost", storage) == 1
