"""The one place that reads and writes SQLite tracking URIs (``sqlite:///<absolute path>``).

A local MLflow store is an SQLite file: the spec's default, `--store` folders and files, the
sweep lock, the UI's "no store yet" check and the artifact folder beside it all need its path.
Imports only the standard library (the spec uses it for its default).
"""

from __future__ import annotations

import re
from pathlib import Path

STORE_DIR = "mlruns"  # the default local store: ./mlruns/mlflow.db
DB_FILE = "mlflow.db"
_SQLITE = re.compile(r"sqlite(\+\w+)?:///(?P<path>.+)")  # `sqlite+pysqlite:///` is SQLAlchemy's too


def sqlite_uri(db: Path) -> str:
    """The tracking URI of the SQLite file ``db``, an absolute path (Ray workers run elsewhere)."""
    if not db.is_absolute():
        raise ValueError(f"an SQLite store URI needs an absolute path, got {db}")
    return f"sqlite:///{db}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of an SQLite tracking URI; None for any other URI (a server, a database)."""
    match = _SQLITE.fullmatch(uri)
    return Path(match["path"]) if match else None
