"""Where the FID Inception weights come from, and what identifies them (their sha256 prefix).

The file is ``pt_inception-2015-12-05-6726825d.pth``, the TF-ported weights pytorch-fid, torch-fidelity and
torchmetrics use. Resolution order: explicit path (the spec), ``$GANSWEEP_FID_WEIGHTS``, the torch hub
cache, then a hash-checked download; anything else ends in one user-fixable line (:class:`FIDWeightsError`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from pathlib import Path

import torch

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_HASH_PREFIX = "6726825d"
INCEPTION_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
WEIGHTS_ENV = "GANSWEEP_FID_WEIGHTS"


class FIDWeightsError(RuntimeError):
    """The Inception FID weights are missing, unreadable or not the FID network's (one-line message)."""


def _hub_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _download(url: str, dst: Path) -> None:
    """Download with torch.hub's hash-prefix check (a separate function so tests can simulate offline)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dst), hash_prefix=INCEPTION_HASH_PREFIX, progress=True)


def resolve_inception_weights(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Find the FID Inception weights: explicit path (the spec), then ``$GANSWEEP_FID_WEIGHTS``, then the
    torch hub cache (``torch.hub.get_dir()/checkpoints/<file>``, where pytorch-fid/torchvision keep it),
    then a download into that cache when online (sha256 prefix checked). Otherwise a one-line
    :class:`FIDWeightsError` that says which file, where to put it and where to get it.
    """
    for source, candidate in (("given path", explicit), (f"${WEIGHTS_ENV}", os.environ.get(WEIGHTS_ENV))):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise FIDWeightsError(f"FID Inception weights not found at {path} ({source}); get "
                                      f"{INCEPTION_FILE} from {INCEPTION_URL}")
            return path
    hub = _hub_weights_path()
    if hub.is_file():
        return hub
    try:
        _download(INCEPTION_URL, hub)
    except Exception as exc:  # offline, proxy, hash mismatch: all end in the same user-fixable message
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FIDWeightsError(
            f"FID Inception weights {INCEPTION_FILE} not found and could not be downloaded ({reason}); "
            f"download {INCEPTION_URL} and put it at {hub}, or pass its path (metrics.weights in the spec "
            f"or ${WEIGHTS_ENV}), or use backbone 'rand'") from exc
    return hub


def file_hash(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime): the weights are hashed once per process."""
    st = path.stat()
    return _file_hash_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_hash_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()



def load_inception_state(weights: str | os.PathLike[str] | None, net: torch.nn.Module) -> tuple[Path, str]:
    """Load the resolved weights file into ``net`` (strict); returns (path, weights id).

    Warns when the file loads but is not the published one: FIDs would not be comparable with papers.
    """
    path = resolve_inception_weights(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FIDWeightsError(f"FID Inception weights {path} are unreadable (truncated or not a torch file: "
                              f"{type(exc).__name__}); re-download {INCEPTION_URL}") from exc
    try:
        if not isinstance(state, dict):
            raise TypeError(f"holds a {type(state).__name__}, not a state dict")
        net.load_state_dict(state, strict=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise FIDWeightsError(f"{path} is not the FID Inception-v3 state dict ({first}); expected "
                              f"{INCEPTION_FILE} from {INCEPTION_URL}") from exc
    digest = file_hash(path)
    if not digest.startswith(INCEPTION_HASH_PREFIX):
        warnings.warn(f"{path} loads as FID Inception but its sha256 does not start with "
                      f"{INCEPTION_HASH_PREFIX}: FIDs will not be comparable with published values",
                      stacklevel=4)
    return path, digest[:16]
