"""Can this machine write where the sweep will write? Checked by `validate` and before `run` creates anything.

Without it a read-only `storage` (or a read-only working directory holding the default `./runs`
and `./mlruns`) passed `validate` and `run` died with a traceback after it had created the MLflow
parent run. `os.access` is not enough: it answers for the permission bits, and root passes those
on filesystems that still refuse the write (sysfs, a read-only bind mount seen through some
runtimes). So the nearest existing folder of each location gets a real write probe: an unnamed
temporary file (`O_TMPFILE` on Linux), which leaves nothing behind even when the probe succeeds.

Remote locations (s3://, gs://, an MLflow server) are not probed here: their credentials and
permissions are checked by Ray's and MLflow's own clients when the sweep starts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from orchestrator.sweep_spec import SweepSpec
from orchestrator.sweep_spec.sweep import URI_RE


class NotWritableError(RuntimeError):
    """A sweep location on this machine cannot be written: one line naming the field and the path."""


def local_path(location: str) -> Path | None:
    """The local folder or file a storage/tracking location names, or None when it is remote."""
    if location.startswith("sqlite:///"):
        return Path(location.removeprefix("sqlite:///"))
    if location.startswith("file:"):
        return Path(urlparse(location).path)
    if URI_RE.match(location):
        return None  # s3://, gs://, http://, postgresql://, ...
    return Path(location)


def _nearest_existing(path: Path) -> Path:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_writable(field: str, target: Path, *, is_file: bool = False) -> None:
    """Raise `NotWritableError` unless `target` (a folder, or a file with `is_file`) can be created
    or written here. Creates nothing that outlives the call."""
    if is_file and target.is_file() and not os.access(target, os.W_OK):
        raise NotWritableError(f"{field}: {target} is not writable")
    existing = _nearest_existing(target.parent if is_file else target)
    if not existing.is_dir():
        raise NotWritableError(f"{field}: {target} cannot be created: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise NotWritableError(f"{field}: {target} is not writable ({existing}: {why})") from None


def check_sweep_locations(spec: SweepSpec) -> None:
    """The sweep's storage folder and its local MLflow store (SQLite file or file store) are writable."""
    storage = local_path(spec.storage_uri)
    if storage is not None:
        check_writable("storage", storage)
    tracking = local_path(spec.tracking_uri)
    if tracking is not None:
        field = "tracking.uri" if spec.tracking.uri else "tracking.uri ($MLFLOW_TRACKING_URI or ./mlruns)"
        check_writable(field, tracking, is_file=spec.tracking_uri.startswith("sqlite:///"))
