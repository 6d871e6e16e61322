"""The `gansweep` command's contract: user mistakes are one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from e2e_helpers import GANSWEEP, tiny_spec

from orchestrator.cli import main


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_prints_the_plan(tmp_path: Path) -> None:
    code, out, _ = _invoke("validate", str(tiny_spec(tmp_path)))
    assert code == 0
    assert out.splitlines() == [  # ASHA: 6 trials x 4 epochs at most, 2 at a time
        "tiny: 6 trials, ASHA on fid128_rand, up to 4 epochs each",
        "work: at most 24 trial-epochs (ASHA stops some trials early)",
        "time: about 12 epoch-lengths of wall time on 2 concurrent trials (1 CPU, no GPU each); "
        "one epoch = 256 images, its duration shows after the first epoch",
    ]
    halving = {"type": "sha", "metric": "fid", "grace_period": 1, "reduction_factor": 2}
    sha = tiny_spec(tmp_path, scheduler=halving)
    code, out, _ = _invoke("validate", str(sha), "--json")
    plan = json.loads(out)["plan"]  # 6 trials x 1 epoch, 3 to 2, 2 to 4: 6 + 3 + 2 x 2 = 13
    assert code == 0 and (plan["trials"], plan["trial_epochs"], plan["trial_epochs_at_most"]) == (6, 13, 24)
    assert json.loads(out)["spec"]["name"] == "tiny"


def test_validate_lists_every_problem_at_once(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, data={"source": "synthetic", "image_size": 48, "count": 256},
                     model={"family": "dcgan", "z_dim": -3}, resources={"colour": "red"})
    code, out, err = _invoke("validate", str(spec))
    assert code == 2 and out == ""
    lines = err.splitlines()
    fields = [line.split(": ")[3] for line in lines[:3]]  # gansweep: error: FILE: FIELD: ...
    assert fields == ["data.image_size", "model.z_dim", "resources.colour"], err
    assert lines[3] == f"gansweep: 3 problems in {spec}"
    code, _, err = _invoke("run", str(spec))
    assert code == 2 and len(err.splitlines()) == 1, "run stops at the first, in one line"


def test_help_lists_whole_summaries() -> None:
    code, out, _ = _invoke("--help")
    assert code == 0 and "..." not in out.split("Commands:")[1]
    assert "trial-epochs, time; run nothing." in " ".join(out.split())


def test_dry_run_starts_nothing(tmp_path: Path) -> None:
    code, out, _ = _invoke("run", str(tiny_spec(tmp_path)), "--dry-run")
    assert code == 0 and "6 trials" in out
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "missing.yaml"], "missing.yaml"),
        (["validate", "{spec}", "--set", "train.lr=-1"], "train.lr"),
        (["validate", "{spec}", "--set", "nonsense"], "--set"),
        (["run", "{spec}", "--set", "data.image_size=48"], "data.image_size"),
        (["run", "{spec}", "--resume"], "no earlier sweep"),
        (["ui", "--store", "sqlite:///{tmp}/nowhere/mlflow.db"], "no MLflow store"),
        (["report", "nothing", "--store", "sqlite:///{tmp}/nowhere/mlflow.db"], "store"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    spec = tiny_spec(tmp_path)
    filled = [a.format(spec=spec, tmp=tmp_path) for a in args]
    code, out, err = _invoke(*filled)
    assert code == 2, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gansweep: error:"), err
    assert expected in lines[0]


def test_missing_inception_weights_stop_the_run_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANSWEEP_FID_WEIGHTS", raising=False)
    import trainers.metrics.weights as fid

    def offline(url: str, dst: Path) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(fid, "_download", offline)
    spec = tiny_spec(tmp_path)
    raw = yaml.safe_load(spec.read_text())
    raw["metrics"] = {"backbone": "inception", "samples": 128}
    spec.write_text(yaml.safe_dump(raw))
    code, out, err = _invoke("run", str(spec))
    assert code == 2, out + err
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "metrics.weights" in err
    assert not list((tmp_path / "runs").glob("*/*/result.json")), "no trial may have started"


def test_resume_refuses_a_changed_spec(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path)
    sweep_dir = tmp_path / "runs" / "tiny"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "gansweep.json").write_text('{"parent_run_id": "x", "spec_hash": "0123456789abcdef"}')
    code, out, err = _invoke("run", str(spec), "--resume")
    assert code == 2, out + err
    assert "changed since sweep tiny started" in err


def test_version() -> None:
    code, out, _ = _invoke("--version")
    assert code == 0 and out.startswith("gansweep, version ")


def test_validate_no_data_previews_a_spec_whose_data_is_elsewhere(tmp_path: Path) -> None:
    elsewhere = {"source": "folder", "path": str(tmp_path / "not-here"), "image_size": 32}
    spec = tiny_spec(tmp_path, data=elsewhere)
    code, _, err = _invoke("validate", str(spec))
    assert code == 2 and "data.path" in err
    code, out, err = _invoke("validate", str(spec), "--no-data")
    assert code == 0, err
    assert "6 trials" in out and "data checks skipped" in err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _store(tmp_path: Path) -> str:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    MlflowClient(uri).search_experiments()  # creates the database
    return uri


def test_ui_refuses_a_taken_port(tmp_path: Path) -> None:
    uri = _store(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _invoke("ui", "--store", uri, "--port", str(port))
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--port" in lines[0] and str(port) in lines[0]


@pytest.mark.slow
def test_ui_answers_when_it_prints_the_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    uri, port = _store(tmp_path), _free_port()
    proc = subprocess.Popen([*GANSWEEP, "ui", "--store", uri, "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the URL is printed
        assert f"http://127.0.0.1:{port}/" in line, line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200, "the URL was printed before the server answered"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with socket.socket() as probe:  # the server went with it: nothing listens there any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0
