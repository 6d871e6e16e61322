"""Storage and tracking locations that cannot be written are refused by `validate` and `run` before
anything is created (one line, exit 2); a start-up failure after the parent run exists marks it
FAILED. Tests run as root here, and root passes permission bits: the unwritable places used are
ones that refuse root too (a path below a file; sysfs, where `os.access` even says yes)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from e2e_helpers import store, sweep_runs, tiny_spec

from orchestrator import tune as tune_mod
from orchestrator.cli import main
from orchestrator.record.names import TAG_LEASE_OWNER
from orchestrator.sweep_spec import load
from orchestrator.writable import NotWritableError, check_sweep_locations, check_writable, local_path


def _sysfs_refuses_root() -> bool:
    try:
        with tempfile.TemporaryFile(dir="/sys"):
            return False
    except OSError:
        return True


needs_sysfs = pytest.mark.skipif(not _sysfs_refuses_root(), reason="/sys is writable here")


def test_a_path_below_a_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotWritableError, match=r"^storage: .*afile/runs cannot be created: .*afile is a file"
                       ):
        check_writable("storage", tmp_path / "afile" / "runs")


@needs_sysfs
def test_a_folder_root_cannot_write_is_refused_although_os_access_says_yes() -> None:
    assert os.access("/sys", os.W_OK)  # permission bits pass root: a real write probe is needed
    with pytest.raises(NotWritableError, match=r"^storage: /sys/gansweep-runs is not writable \(/sys: "):
        check_writable("storage", Path("/sys/gansweep-runs"))


def test_a_writable_location_passes_and_the_probe_leaves_nothing(tmp_path: Path) -> None:
    check_writable("storage", tmp_path / "runs" / "deeper")
    check_writable("tracking.uri", tmp_path / "mlruns" / "mlflow.db", is_file=True)
    assert list(tmp_path.iterdir()) == []


def test_remote_locations_are_left_to_their_clients() -> None:
    assert local_path("s3://bucket/runs") is None and local_path("http://127.0.0.1:5000") is None
    assert local_path("sqlite:////x/mlflow.db") == Path("/x/mlflow.db")
    assert local_path("file:///x/runs") == Path("/x/runs")


def test_sqlite_tracking_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    spec = load(tiny_spec(tmp_path, tracking={"uri": f"sqlite:///{tmp_path / 'afile' / 'mlflow.db'}"}))
    with pytest.raises(NotWritableError, match=r"^tracking.uri: "):
        check_sweep_locations(spec)


@needs_sysfs
@pytest.mark.parametrize("command", ["validate", "run"])
def test_validate_and_run_refuse_read_only_storage_before_creating_anything(tmp_path: Path,
                                                                             command: str) -> None:
    spec = tiny_spec(tmp_path, storage="/sys/gansweep-runs")
    result = CliRunner().invoke(main, [command, str(spec)])
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("gansweep: error: storage: /sys/gansweep-runs is not")
    assert not (tmp_path / "mlruns").exists(), "no store, no parent run"


def test_a_start_up_failure_after_the_parent_exists_marks_it_failed(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray failing to start (here: init_ray raising, as a bad cluster would) ends the parent FAILED
    and releases the sweep's lease; before the fix it stayed RUNNING for ever."""
    spec = load(tiny_spec(tmp_path, name="startfail"))

    def broken_ray(*_: object, **__: object) -> None:
        raise ConnectionError("no Ray here")

    monkeypatch.setattr(tune_mod, "init_ray", broken_ray)
    with pytest.raises(ConnectionError):
        tune_mod.run(spec, progress=False, live=False)
    parent, children = sweep_runs(store(tmp_path), "startfail")
    assert parent.info.status == "FAILED" and children == []
    assert TAG_LEASE_OWNER not in parent.data.tags, "the lease went with the driver"
