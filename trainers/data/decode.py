"""Decoding images once: center-square crop + bicubic resize with PIL, in a pool of processes for big sets.

Why: the seed experiments decoded and resized every JPEG in a DataLoader on every epoch of every trial;
here each image is decoded exactly once into a ``.npy`` (see :mod:`trainers.data.store`).
"""

from __future__ import annotations

import io
import logging
import math
import multiprocessing
import os
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from trainers.data.sources import DataConfig, DataError, ImageSource, open_source

log = logging.getLogger(__name__)

# Bump this when the pixels a given input produces change, so old cache entries are not reused.
TRANSFORM_VERSION = "center-square-crop+bicubic+jpeg-draft>=4x/v1"

_CHUNK = 256  # images per unit of work (progress granularity, worker batch)
_POOL_MIN_IMAGES = 4096  # below this a worker pool costs more to start than it saves


class _Reader:
    """Reads raw image bytes from a source; one per process (zip handles are not shared across forks)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self._zip = zipfile.ZipFile(root) if kind == "zip" else None

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.root / name).read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _decode_image(data: bytes, size: int) -> np.ndarray:
    """Decode, center-crop to a square and resize to ``size`` (bicubic, antialiased) as PIL does it."""
    with Image.open(io.BytesIO(data)) as im:
        if im.format == "JPEG":
            # Let libjpeg downscale by 1/2..1/8 while decoding (much faster for big photos), but keep
            # at least 4x the target so the final bicubic resize still does the antialiasing and the
            # result stays within rounding of a full decode (178x218 CelebA at 32/64 px: no draft).
            w, h = im.size
            factor = min(w, h) / (4 * size)
            if factor >= 2:
                im.draft("RGB", (math.ceil(w / factor), math.ceil(h / factor)))
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        w, h = im.size
        side = min(w, h)
        if w != h:
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
        if side != size:
            im = im.resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


def _decode_chunk(reader: _Reader, names: Sequence[str], size: int) -> tuple[np.ndarray, list[str]]:
    """Decode ``names``; returns the good images in order and the names that could not be read."""
    out = np.empty((len(names), size, size, 3), dtype=np.uint8)
    bad: list[str] = []
    k = 0
    for name in names:
        try:
            out[k] = _decode_image(reader.read(name), size)
        except Exception:  # noqa: BLE001 - PIL raises many types for corrupt files; all mean "skip it"
            bad.append(name)
            continue
        k += 1
    return out[:k], bad


_worker_reader: _Reader | None = None


def _worker_init(kind: str, root: str) -> None:
    global _worker_reader
    _worker_reader = _Reader(kind, Path(root))


def _worker_chunk(names: list[str], size: int) -> tuple[np.ndarray, list[str]]:
    assert _worker_reader is not None
    return _decode_chunk(_worker_reader, names, size)


def _decoded_chunks(
    src: ImageSource, names: list[str], size: int, workers: int | None
) -> Iterator[tuple[int, np.ndarray, list[str]]]:
    """Yield (names consumed, images, bad names) per chunk, in file order.

    Large builds use a pool of spawned processes (PIL holds the GIL for small images, so threads do
    not help). Spawn, not fork: the parent may hold torch/Ray threads that fork would copy mid-state.
    If the pool breaks (e.g. a worker could not start), the remaining chunks are decoded in-process.
    """
    chunks = [names[i : i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    if workers is None:
        cpus = os.cpu_count() or 1
        # On 2-3 cores the pool's start-up and result transfer eat the gain (measured: slower on 2).
        workers = cpus if cpus >= 4 and len(names) >= _POOL_MIN_IMAGES else 1
    workers = max(1, min(workers, len(chunks)))
    done = 0
    if workers > 1:
        try:
            with ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(src.kind, str(src.root)),
            ) as pool:
                for chunk, (images, bad) in zip(
                    chunks, pool.map(_worker_chunk, chunks, [size] * len(chunks)), strict=True
                ):
                    yield len(chunk), images, bad
                    done += 1
        except BrokenProcessPool as err:
            log.warning("decoding worker pool failed (%s); decoding the rest in this process", err)
    reader = _Reader(src.kind, src.root)
    try:
        for chunk in chunks[done:]:
            yield (len(chunk), *_decode_chunk(reader, chunk, size))
    finally:
        reader.close()


SAMPLE_IMAGES = 16  # decoded by `check_sample` (validate): milliseconds, and a wrong source shows at once


def check_sample(src: ImageSource, size: int, count: int = SAMPLE_IMAGES) -> int:
    """Decode ``count`` evenly spaced images of ``src``; returns how many decoded.

    Listing only reads names, so a zip of non-images named ``.jpg`` passed ``validate`` and only
    ``run`` refused it after its start-up; decoding a small sample refuses it at validation. Raises
    ``DataError`` (one line) when none of the sample decodes; a few unreadable files are left to the
    full decode, which skips and names them.
    """
    names = src.names
    spread = np.linspace(0, len(names) - 1, min(count, len(names))).round().astype(int)
    picks = [names[i] for i in sorted(set(spread.tolist()))]
    reader = _Reader(src.kind, src.root)
    try:
        images, bad = _decode_chunk(reader, picks, size)
    finally:
        reader.close()
    if len(images) == 0:
        raise DataError(f"{src.root}: none of {len(picks)} sampled images could be decoded as an image "
                        f"(e.g. {', '.join(bad[:3])})")
    return len(images)


def build_array(
    src: ImageSource, names: list[str], size: int, tmp: Path, progress: bool, workers: int | None
) -> tuple[int, int]:
    """Decode ``names`` into a .npy at ``tmp``; returns (images kept, images skipped)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    n = len(names)
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    kept = 0
    bad: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task(f"decoding {src.root.name} -> {size}x{size}", total=n)
        for consumed, images, chunk_bad in _decoded_chunks(src, names, size, workers):
            arr[kept : kept + len(images)] = images
            kept += len(images)
            bad.extend(chunk_bad)
            bar.advance(task, consumed)
    arr.flush()
    del arr
    if kept == 0:
        raise DataError(f"{src.root}: none of the {n} images could be decoded")
    if bad:
        log.warning("%s: skipped %d unreadable image(s), e.g. %s", src.root, len(bad), ", ".join(bad[:5]))
        _shrink(tmp, kept)
    return kept, len(bad)


def _shrink(npy: Path, rows: int) -> None:
    """Rewrite ``npy`` keeping its first ``rows`` rows (the .npy header fixes the shape)."""
    src = np.load(npy, mmap_mode="r")
    shrunk = npy.with_name(npy.name + ".shrink.npy")
    dst = np.lib.format.open_memmap(shrunk, mode="w+", dtype=src.dtype, shape=(rows, *src.shape[1:]))
    for i in range(0, rows, 4096):
        dst[i : i + 4096] = src[i : min(i + 4096, rows)]
    dst.flush()
    del dst, src
    os.replace(shrunk, npy)


def list_and_sample(cfg: DataConfig) -> list[str]:
    """``list_images``, and a small sample decoded (``decode.check_sample``): what ``validate`` runs."""
    src = open_source(cfg)
    check_sample(src, cfg.image_size)
    return list(src.names)
