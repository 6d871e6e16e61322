"""SQLite tracking URIs: built and read in one place (issue 22: five copies of the prefix surgery)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.record.sqlite import sqlite_path, sqlite_uri
from orchestrator.record.store import default_artifact_root
from orchestrator.sweep_spec import default_tracking_uri


def test_uri_and_path_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "mlruns" / "mlflow.db"
    assert sqlite_uri(db) == f"sqlite:///{db}"
    assert sqlite_path(sqlite_uri(db)) == db
    assert sqlite_path(f"sqlite+pysqlite:///{db}") == db


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "postgresql://u@h/db", "file:///tmp/mlruns",
                                 "sqlite://", "databricks"])
def test_other_uris_have_no_database_file(uri: str) -> None:
    assert sqlite_path(uri) is None


def test_relative_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        sqlite_uri(Path("mlruns/mlflow.db"))


def test_the_default_store_and_its_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = default_tracking_uri()
    assert sqlite_path(uri) == tmp_path.resolve() / "mlruns" / "mlflow.db"
    assert default_artifact_root(uri) == (tmp_path.resolve() / "mlruns" / "artifacts").as_uri()
    assert default_artifact_root("http://127.0.0.1:5000") is None
