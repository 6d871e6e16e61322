"""The dataset cache: ``prepare(cfg)`` returns the decoded uint8 array, building it once per fingerprint.

A dataset is decoded, center-cropped and resized exactly once into ``(N, S, S, 3)`` uint8 ``.npy`` under
the user cache (``cache_root()/datasets/<fingerprint>.npy``); trials memory-map it (or upload it to their
GPU whole) and convert batches to float on the device.

The fingerprint hashes everything that affects the pixels: the source kind, the listing's manifest
(relative file names with sizes and modification times, or the zip's size, mtime and member names,
sizes and CRCs), the output size, the subset (limit + seed) and a transform version string. It does not
hash the absolute path: the same data at another mount point (a cluster node, a Docker volume) reuses the
entry. Change anything else and a new entry is built; otherwise ``prepare`` returns the cached one
without decoding.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainers.cache import atomic_write, cache_root, locked, stable_hash
from trainers.data.decode import TRANSFORM_VERSION, build_array
from trainers.data.sources import DataConfig, open_source
from trainers.data.synthetic import SYNTHETIC_VERSION, synthetic_faces


@dataclass(frozen=True)
class PreparedData:
    """A built cache entry: where the array is and what it holds."""

    path: Path
    fingerprint: str
    count: int
    image_size: int
    skipped: int = 0  # corrupt or unreadable source images left out

    def load(self, mmap: bool = True) -> np.ndarray:
        """The ``(count, S, S, 3)`` uint8 array; memory-mapped read-only by default so trials share pages."""
        return np.load(self.path, mmap_mode="r" if mmap else None)



def prepare(
    cfg: DataConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    workers: int | None = None,
) -> PreparedData:
    """Return the cached array for ``cfg``, building it first if needed.

    Safe to call from several processes at once: one builds under a lock and renames the finished
    file into place; the others wait and then reuse it. ``workers``: decoding processes (None: one
    per CPU when there are >= 4 CPUs and >= 4096 images, else in-process; 1: always in-process).
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A decoding worker is re-importing an unguarded __main__ script; building here would wait
        # forever on the lock its parent holds. Failing lets the parent fall back to in-process decoding.
        raise RuntimeError(
            "trainers.data.prepare() called while a worker process was starting; "
            "guard the calling script with `if __name__ == '__main__':`"
        )
    root = cache_root(cache_dir) / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    if cfg.source == "synthetic":
        count = min(cfg.count, cfg.limit) if cfg.limit is not None else cfg.count
        payload: dict[str, Any] = {
            "source": "synthetic",
            "count": count,
            "image_size": cfg.image_size,
            "seed": cfg.seed,
            "version": SYNTHETIC_VERSION,
        }

        def write_synthetic(tmp: Path) -> tuple[int, int]:
            np.save(tmp, synthetic_faces(count, cfg.image_size, cfg.seed))
            return count, 0

        return _cached_or_built(root, payload, cfg, write_synthetic)

    src = open_source(cfg)
    names = src.names
    limit = cfg.limit if cfg.limit is not None and cfg.limit < len(names) else None
    if limit is not None:
        chosen = np.sort(np.random.default_rng(cfg.seed).choice(len(names), size=limit, replace=False))
        names = [names[i] for i in chosen]
    payload = {
        "source": cfg.source,
        "kind": src.kind,  # not the absolute path: the same files at another mount are the same data
        "manifest": src.manifest,
        "image_size": cfg.image_size,
        "limit": limit,
        "seed": cfg.seed if limit is not None else None,  # without a subset the seed changes nothing
        "transform": TRANSFORM_VERSION,
    }

    def write_real(tmp: Path) -> tuple[int, int]:
        return build_array(src, names, cfg.image_size, tmp, progress, workers)

    return _cached_or_built(root, payload, cfg, write_real)


def _cached_or_built(
    root: Path, payload: dict[str, Any], cfg: DataConfig, write: Callable[[Path], tuple[int, int]]
) -> PreparedData:
    """The cache entry keyed by ``payload``; built by exactly one process (lock, re-check, atomic
    rename), ``write(tmp)`` returning (images kept, images skipped)."""
    fingerprint = stable_hash(payload)
    npy = root / f"{fingerprint}.npy"
    hit = _cached(npy, fingerprint)
    if hit is not None:
        return hit
    with locked(npy):
        hit = _cached(npy, fingerprint)
        if hit is not None:
            return hit
        result: dict[str, int] = {}

        def write_counted(tmp: Path) -> None:
            result["count"], result["skipped"] = write(tmp)

        atomic_write(npy, write_counted)
        return _finish(npy, fingerprint, cfg, result["count"], result["skipped"], payload)


def _meta_path(npy: Path) -> Path:
    return npy.with_suffix(".json")


def _cached(npy: Path, fingerprint: str) -> PreparedData | None:
    """The entry if both files exist and agree (the JSON is written last, so it marks completion)."""
    meta_file = _meta_path(npy)
    if not (meta_file.is_file() and npy.is_file()):
        return None
    try:
        meta = json.loads(meta_file.read_text())
        shape = np.load(npy, mmap_mode="r").shape
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != fingerprint or shape[0] != meta.get("count"):
        return None
    return PreparedData(npy, fingerprint, int(meta["count"]), int(meta["image_size"]), int(meta["skipped"]))


def _finish(
    npy: Path, fingerprint: str, cfg: DataConfig, count: int, skipped: int, payload: dict[str, Any]
) -> PreparedData:
    meta = {
        "fingerprint": fingerprint,
        "count": count,
        "skipped": skipped,
        "image_size": cfg.image_size,
        "source": cfg.source,
        "path": str(cfg.path) if cfg.path else None,  # for people reading the cache; not in the key
        "limit": payload.get("limit"),
        "seed": payload.get("seed"),
        "created": time.time(),
    }
    atomic_write(_meta_path(npy), lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    return PreparedData(npy, fingerprint, count, cfg.image_size, skipped)
