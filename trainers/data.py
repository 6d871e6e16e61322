"""Datasets for GAN training, decoded once into a cached uint8 array.

Why this shape: the seed experiments decoded and resized every JPEG with PIL in a DataLoader on
every epoch of every trial, which dominated small-model training time. Here a dataset is decoded,
center-cropped to a square and resized exactly once into ``(N, S, S, 3)`` uint8 ``.npy`` under the
user cache (``cache_root()/datasets/<fingerprint>.npy``); trials memory-map it (or upload it to
their GPU whole) and convert batches to float on the device.

The fingerprint hashes everything that affects the pixels: the source kind, the resolved path, the
file list with sizes and modification times (or the zip's size, mtime and member names, sizes and
CRCs), the output size, the subset (limit + seed) and a transform version string. Change any of
them and a new entry is built; otherwise ``prepare`` returns the cached one without decoding.

Sources:
- ``synthetic``: procedural face-like images (offline default for the demo and tests), rendered in
  vectorised numpy, deterministic from the seed, simple enough that a tiny GAN learns them on CPU.
- ``folder``: images (jpg/jpeg/png/webp) anywhere below a folder.
- ``zip``: images inside a zip file (e.g. ``celeba64_30k.zip``).
- ``celeba``: the official CelebA layout: a folder holding ``img_align_celeba/`` or
  ``img_align_celeba.zip``, or a path that is that folder or a zip containing it. The aligned
  178x218 images are center-cropped to 178x178 (the usual DCGAN preprocessing) and resized.
"""

from __future__ import annotations

import io
import json
import logging
import math
import multiprocessing
import os
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from PIL import Image, ImageOps

from trainers.cache import atomic_write, cache_root, locked, stable_hash

log = logging.getLogger(__name__)

Source = Literal["synthetic", "folder", "zip", "celeba"]
SOURCES: tuple[str, ...] = get_args(Source)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")

# Bump these when the pixels a given input produces change, so old cache entries are not reused.
TRANSFORM_VERSION = "center-square-crop+bicubic+jpeg-draft>=4x/v1"
SYNTHETIC_VERSION = "synthetic-faces/v1"

_CHUNK = 256  # images per unit of work (progress granularity, worker batch)
_POOL_MIN_IMAGES = 4096  # below this a worker pool costs more to start than it saves


class DataError(ValueError):
    """A problem with the user's data the user can fix; the message is one line naming the path."""


@dataclass(frozen=True)
class DataConfig:
    """Which images to train on and at what size (the spec's ``data:`` section)."""

    source: Source
    path: str | None = None
    image_size: int = 32
    limit: int | None = None  # fixed-seed random subset of this many images
    count: int = 2000  # synthetic only: how many images to render
    seed: int = 0  # picks the subset (limit) and the synthetic images

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise DataError(f"unknown data source {self.source!r} (expected one of {', '.join(SOURCES)})")
        if self.source != "synthetic" and not self.path:
            raise DataError(f"data source {self.source!r} needs a path")
        if self.image_size < 8:
            raise DataError(f"image_size must be >= 8, got {self.image_size}")
        if self.limit is not None and self.limit < 1:
            raise DataError(f"limit must be a positive number of images, got {self.limit}")
        if self.count < 1:
            raise DataError(f"count must be a positive number of images, got {self.count}")


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


# --------------------------------------------------------------------------------------------- prepare


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

    src = _open_source(cfg)
    names = src.names
    limit = cfg.limit if cfg.limit is not None and cfg.limit < len(names) else None
    if limit is not None:
        chosen = np.sort(np.random.default_rng(cfg.seed).choice(len(names), size=limit, replace=False))
        names = [names[i] for i in chosen]
    payload = {
        "source": cfg.source,
        "kind": src.kind,
        "path": str(src.root),
        "manifest": src.manifest,
        "image_size": cfg.image_size,
        "limit": limit,
        "seed": cfg.seed if limit is not None else None,  # without a subset the seed changes nothing
        "transform": TRANSFORM_VERSION,
    }

    def write_real(tmp: Path) -> tuple[int, int]:
        return _build(src, names, cfg.image_size, tmp, progress, workers)

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
        "path": payload.get("path"),
        "limit": payload.get("limit"),
        "seed": payload.get("seed"),
        "created": time.time(),
    }
    atomic_write(_meta_path(npy), lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    return PreparedData(npy, fingerprint, count, cfg.image_size, skipped)


# --------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    """A resolved container of images: a folder (names relative to it) or a zip (member names)."""

    kind: Literal["folder", "zip"]
    root: Path
    names: list[str]
    manifest: Any  # what the fingerprint hashes about the container


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def list_images(cfg: DataConfig) -> list[str]:
    """The image names ``prepare`` would read from a folder/zip/CelebA source, nothing decoded.

    ``orchestrator.spec`` calls it at load time so that an empty or wrong source, or a batch larger
    than the dataset, is refused before any trial starts; raises ``DataError`` (one line) like ``prepare``.
    """
    return list(_open_source(cfg).names)


def _open_source(cfg: DataConfig) -> _Source:
    assert cfg.path is not None  # DataConfig checks this
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise DataError(f"data path does not exist: {path}")
    path = path.resolve()
    if cfg.source == "folder":
        if not path.is_dir():
            hint = " (use source 'zip' for a zip file)" if zipfile.is_zipfile(path) else ""
            raise DataError(f"{path}: not a folder{hint}")
        return _folder_source(path)
    if cfg.source == "zip":
        if path.is_dir():
            raise DataError(f"{path}: is a folder, not a zip file (use source 'folder')")
        return _zip_source(path)
    return _celeba_source(path)


def _folder_source(path: Path) -> _Source:
    entries: list[tuple[str, int, int]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            if _is_image(filename):
                full = os.path.join(dirpath, filename)
                st = os.stat(full)
                entries.append((Path(full).relative_to(path).as_posix(), st.st_size, st.st_mtime_ns))
    if not entries:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found in this folder")
    entries.sort()
    return _Source("folder", path, [e[0] for e in entries], entries)


def _zip_source(path: Path, inside: str | None = None) -> _Source:
    """Images in the zip; with ``inside``, only those below a directory of that name (if any are)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and _is_image(i.filename)]
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not a readable zip file ({err})") from err
    infos = [i for i in infos if not i.filename.startswith("__MACOSX/")]
    if inside is not None:
        below = [i for i in infos if f"{inside}/" in f"/{i.filename}"]
        infos = below or infos
    if not infos:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found in this zip file")
    infos.sort(key=lambda i: i.filename)
    st = path.stat()
    manifest = {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "members": [(i.filename, i.file_size, i.CRC) for i in infos],
    }
    return _Source("zip", path, [i.filename for i in infos], manifest)


def _celeba_source(path: Path) -> _Source:
    if path.is_file():
        return _zip_source(path, inside="img_align_celeba")
    if (path / "img_align_celeba").is_dir():
        return _folder_source(path / "img_align_celeba")
    if (path / "img_align_celeba.zip").is_file():
        return _zip_source(path / "img_align_celeba.zip", inside="img_align_celeba")
    try:
        return _folder_source(path)  # the path is the img_align_celeba folder itself
    except DataError:
        raise DataError(
            f"{path}: no CelebA images found (expected img_align_celeba/ or img_align_celeba.zip here, "
            "or this path to be that folder or zip)"
        ) from None


# --------------------------------------------------------------------------------------------- decoding


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
    src: _Source, names: list[str], size: int, workers: int | None
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


def _build(
    src: _Source, names: list[str], size: int, tmp: Path, progress: bool, workers: int | None
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


# --------------------------------------------------------------------------------------------- synthetic

_SKIN = np.array(
    [
        [0.97, 0.82, 0.72],
        [0.93, 0.74, 0.61],
        [0.87, 0.66, 0.52],
        [0.78, 0.57, 0.42],
        [0.62, 0.44, 0.31],
        [0.46, 0.31, 0.22],
    ]
)
_HAIR = np.array(
    [
        [0.07, 0.06, 0.05],  # black
        [0.24, 0.15, 0.09],  # dark brown
        [0.43, 0.29, 0.17],  # brown
        [0.86, 0.72, 0.46],  # blond
        [0.56, 0.26, 0.13],  # auburn
        [0.66, 0.64, 0.61],  # grey
    ]
)
_IRIS = np.array([[0.22, 0.13, 0.07], [0.35, 0.22, 0.12], [0.25, 0.38, 0.52], [0.28, 0.40, 0.25]])


def _soft_ellipse(
    u: np.ndarray, v: np.ndarray, cu: np.ndarray, cv: np.ndarray, au: np.ndarray, av: np.ndarray, px: float
) -> np.ndarray:
    """Coverage in [0, 1] of an axis-aligned ellipse, with a one-pixel linear edge (cheap antialiasing)."""
    q = np.sqrt(((u - cu) / au) ** 2 + ((v - cv) / av) ** 2)
    return np.clip(0.5 - (q - 1.0) * np.minimum(au, av) / px, 0.0, 1.0)


def _over(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Composite ``colour`` (B,3) or (B,H,W,3) over ``img`` (B,H,W,3) with coverage ``alpha`` (B,H,W)."""
    if colour.ndim == 2:
        colour = colour[:, None, None, :]
    img += alpha[..., None] * (colour.astype(np.float32) - img)
    return img


def synthetic_faces(count: int, image_size: int = 32, seed: int = 0) -> np.ndarray:
    """Render ``count`` procedural face-like images as a ``(count, S, S, 3)`` uint8 array.

    Each image is a tilted skin-toned face ellipse with shading, hair (short or long, with a
    hairline), eyebrows, eyes with irises, a nose shadow and a mouth that may smile or show teeth,
    over shoulders and a two-colour gradient background. Colours come from small palettes with
    jitter, so the set has the kind of variety (skin, hair, background, pose) a GAN must model,
    while staying simple enough for a tiny one to learn on CPU in minutes. Everything is drawn
    from ``np.random.default_rng(seed)`` up front, so the output depends only on the arguments.
    """
    rng = np.random.default_rng(seed)
    n = count

    def u(lo: float, hi: float, shape: tuple[int, ...] = ()) -> np.ndarray:
        return rng.uniform(lo, hi, size=(n, *shape))

    def pick(palette: np.ndarray, jitter: float) -> np.ndarray:
        base = palette[rng.integers(0, len(palette), size=n)]
        return np.clip(base + rng.normal(0.0, jitter, size=(n, 3)), 0.0, 1.0)

    p: dict[str, np.ndarray] = {
        "bg_top": np.clip(0.5 * u(0.1, 0.95, (3,)) + 0.5 * u(0.2, 0.9)[:, None], 0, 1),
        "bg_mix": u(0.6, 1.1),
        "cloth": u(0.05, 0.9, (3,)),
        "skin": pick(_SKIN, 0.03),
        "hair": pick(_HAIR, 0.04),
        "iris": pick(_IRIS, 0.03),
        "fx": rng.normal(0.0, 0.05, n),
        "fy": 0.02 + rng.normal(0.0, 0.04, n),
        "fa": u(0.36, 0.45),
        "fb": u(0.47, 0.57),
        "tilt": rng.normal(0.0, 0.09, n),
        "hair_w": u(1.08, 1.3),
        "hair_h": u(1.0, 1.18),
        "long": (rng.random(n) < 0.55).astype(float) * u(0.45, 0.95),
        "hairline": u(0.3, 0.62),
        "hair_curve": u(0.6, 2.0),
        "part": rng.normal(0.0, 0.08, n),
        "eye_dx": u(0.4, 0.52),
        "eye_y": u(-0.2, -0.06),
        "eye_a": u(0.075, 0.105),
        "eye_open": u(0.45, 0.75),
        "brow": u(0.09, 0.14),
        "mouth_y": u(0.46, 0.6),
        "mouth_w": u(0.12, 0.2),
        "mouth_h": u(0.025, 0.055),
        "smile": u(-0.3, 1.2),
        "teeth": (rng.random(n) < 0.4).astype(float),
        "light": u(0.85, 1.12),
        "light_dir": u(-0.25, 0.25),
    }
    p["bg_bottom"] = np.clip(p["bg_top"] * p["bg_mix"][:, None] + rng.normal(0, 0.08, (n, 3)), 0, 1)
    out = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        chunk = {k: v[start:stop] for k, v in p.items()}
        out[start:stop] = _render_faces(chunk, image_size)
    return out


def _render_faces(p: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Draw one chunk of faces from per-image parameters; coordinates span [-1, 1], y pointing down."""
    p = {k: v.astype(np.float32) for k, v in p.items()}  # float32 halves the work of float64
    px = 2.0 / size
    axis = ((np.arange(size) + 0.5) * px - 1.0).astype(np.float32)
    x = axis[None, None, :]
    y = axis[None, :, None]

    def col(name: str) -> np.ndarray:
        return p[name][:, None, None]

    # face frame: rotate about the face centre so the whole head tilts together
    c, s = np.cos(col("tilt")), np.sin(col("tilt"))
    dx, dy = x - col("fx"), y - col("fy")
    fu = c * dx + s * dy
    fv = -s * dx + c * dy
    fa, fb = col("fa"), col("fb")
    zero = np.zeros_like(fa)

    t = (y + 1.0) / 2.0
    img = p["bg_top"][:, None, None, :] * (1 - t[..., None]) + p["bg_bottom"][:, None, None, :] * t[..., None]
    img = np.broadcast_to(img, (len(fa), size, size, 3)).astype(np.float32)

    # shoulders and neck
    shoulders = _soft_ellipse(x, y, col("fx") * 0.5, zero + 1.2, zero + 0.85, zero + 0.42, px)
    img = _over(img, shoulders, p["cloth"])

    # hair behind the head: a cap plus, for long hair, a lower mass down to the shoulders
    cap = _soft_ellipse(fu, fv, zero, -fb * 0.12, fa * col("hair_w"), fb * col("hair_h"), px)
    long_len = col("long")
    lower = _soft_ellipse(
        fu, fv, zero, zero + 0.25 * long_len, fa * col("hair_w") * 1.02, fb * long_len + 1e-3, px
    )
    hair_back = np.maximum(cap, lower * (long_len > 0))
    img = _over(img, hair_back, p["hair"] * 0.85)
    neck = np.clip(0.5 - (np.abs(fu) - fa * 0.42) / px, 0, 1) * (fv > 0) * (fv < fb + 0.45)
    img = _over(img, neck, p["skin"] * 0.8)

    # face with simple shading (darker towards the rim, lit from one side)
    face = _soft_ellipse(fu, fv, zero, zero, fa, fb, px)
    r2 = (fu / fa) ** 2 + (fv / fb) ** 2
    shade = np.clip(1.05 - 0.25 * r2 + col("light_dir") * fu, 0.6, 1.15)
    img = _over(img, face, p["skin"][:, None, None, :] * shade[..., None])

    # fringe: hair over the top of the face above a curved, possibly off-centre hairline
    hairline = -fb * col("hairline") + col("hair_curve") * (fu - col("part")) ** 2 * 0.5
    fringe = face * np.clip(0.5 + (hairline - fv) / px, 0, 1)
    img = _over(img, fringe, p["hair"])

    # eyebrows, eyes (white + iris), nose shadow
    ex, ey, ea = fa * col("eye_dx"), col("eye_y"), col("eye_a")
    eb = ea * col("eye_open")
    for side in (-1.0, 1.0):
        brow = _soft_ellipse(fu, fv, side * ex, ey - col("brow"), ea * 1.2, zero + 0.022, px)
        img = _over(img, brow, p["hair"] * 0.7)
        white = _soft_ellipse(fu, fv, side * ex, ey, ea, eb, px)
        img = _over(img, white, np.full_like(p["skin"], 0.93))
        iris = _soft_ellipse(fu, fv, side * ex, ey, eb * 0.95, eb * 0.95, px) * white
        img = _over(img, iris, p["iris"])
    nose = _soft_ellipse(fu, fv, zero + 0.03, zero + 0.12, zero + 0.06, zero + 0.13, px) * 0.35
    img = _over(img, nose, p["skin"] * 0.7)

    # mouth: a curved ellipse (smile bends its ends up), lips darker and redder than the skin
    mv = fv - col("mouth_y") * fb + col("smile") * fu**2
    mw, mh = col("mouth_w"), col("mouth_h") * (1 + col("teeth"))
    mouth = _soft_ellipse(fu, mv, zero, zero, mw, mh, px)
    img = _over(img, mouth, p["skin"] * np.array([0.8, 0.42, 0.42]))
    teeth = _soft_ellipse(fu, mv, zero, zero, mw * 0.8, mh * 0.5, px) * col("teeth")
    img = _over(img, teeth, np.full_like(p["skin"], 0.92))

    img *= p["light"][:, None, None, None] * 255.0
    img += 0.5
    return np.clip(img, 0, 255).astype(np.uint8)
