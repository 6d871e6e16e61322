"""Where gansweep keeps expensive derived inputs (dataset arrays, real FID statistics).

Caches live under a user cache dir (``$GANSWEEP_CACHE_DIR`` or ``~/.cache/gansweep``), never
inside the installed package (read-only in Docker images). Files are keyed by a hash of
everything that affects them and written to a temp file then renamed, so a reader never sees a
half-written file and two processes building the same entry at once do not corrupt it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

CACHE_ENV = "GANSWEEP_CACHE_DIR"


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: explicit override, then $GANSWEEP_CACHE_DIR, then ~/.cache/gansweep."""
    root = Path(override or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gansweep")
    root.mkdir(parents=True, exist_ok=True)
    return root


def stable_hash(payload: Any, length: int = 16) -> str:
    """A short hex digest of a JSON-serialisable payload, identical across processes and machines."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@contextmanager
def locked(path: Path, timeout: float = 3600.0) -> Iterator[None]:
    """Hold an inter-process lock named after ``path`` (one builder per cache entry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=timeout):
        yield


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file in ``path``'s directory, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
