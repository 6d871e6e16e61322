"""The `gansweep` command's contract: user mistakes are one line on stderr and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from e2e_helpers import tiny_spec

from orchestrator.cli import main


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_prints_the_plan(tmp_path: Path) -> None:
    code, out, _ = _invoke("validate", str(tiny_spec(tmp_path)))
    assert code == 0
    assert "trials: 6" in out and "fid128_rand" in out


def test_dry_run_starts_nothing(tmp_path: Path) -> None:
    code, out, _ = _invoke("run", str(tiny_spec(tmp_path)), "--dry-run")
    assert code == 0 and "trials: 6" in out
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
