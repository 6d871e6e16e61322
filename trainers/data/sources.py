"""Where images come from: the ``data:`` config, and listing a folder, a zip or a CelebA layout.

Listing is cheap (no decoding), so ``orchestrator.sweep_spec`` uses it at load time to refuse an empty or
wrong source, and ``trainers.data.store`` hashes the listing's manifest (names, sizes, mtimes or CRCs,
never the absolute path) into the dataset fingerprint.

Sources:
- ``synthetic``: procedural face-like images (see :mod:`trainers.data.synthetic`).
- ``folder``: images (jpg/jpeg/png/webp) anywhere below a folder.
- ``zip``: images inside a zip file (e.g. ``celeba64_30k.zip``).
- ``celeba``: the official CelebA layout: a folder holding ``img_align_celeba/`` or
  ``img_align_celeba.zip``, or a path that is that folder or a zip containing it.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Source = str  # one of SOURCES: "synthetic" (rendered, no files) or a key of OPENERS (below)
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")


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
class ImageSource:
    """A resolved container of images: a folder (names relative to it) or a zip (member names)."""

    kind: Literal["folder", "zip"]
    root: Path
    names: list[str]
    manifest: Any  # what the fingerprint hashes about the container


def is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)


def list_images(cfg: DataConfig) -> list[str]:
    """The image names ``prepare`` would read from a folder/zip/CelebA source, nothing decoded.

    ``orchestrator.sweep_spec`` calls it at load time so that an empty or wrong source, or a batch larger
    than the dataset, is refused before any trial starts; raises ``DataError`` (one line) like ``prepare``.
    """
    return list(open_source(cfg).names)


def open_source(cfg: DataConfig) -> ImageSource:
    assert cfg.path is not None  # DataConfig checks this
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise DataError(f"data path does not exist: {path}")
    return OPENERS[cfg.source](path.resolve())


def _open_folder(path: Path) -> ImageSource:
    if not path.is_dir():
        hint = " (use source 'zip' for a zip file)" if zipfile.is_zipfile(path) else ""
        raise DataError(f"{path}: not a folder{hint}")
    return _folder_source(path)


def _open_zip(path: Path) -> ImageSource:
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a zip file (use source 'folder')")
    return _zip_source(path)


def _folder_source(path: Path) -> ImageSource:
    entries: list[tuple[str, int, int]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            if is_image(filename):
                full = os.path.join(dirpath, filename)
                st = os.stat(full)
                entries.append((Path(full).relative_to(path).as_posix(), st.st_size, st.st_mtime_ns))
    if not entries:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) found in this folder")
    entries.sort()
    return ImageSource("folder", path, [e[0] for e in entries], entries)


def _zip_source(path: Path, inside: str | None = None) -> ImageSource:
    """Images in the zip; with ``inside``, only those below a directory of that name (if any are)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and is_image(i.filename)]
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
    return ImageSource("zip", path, [i.filename for i in infos], manifest)


def _celeba_source(path: Path) -> ImageSource:
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


# The registry of file sources: a new source is one opener (path -> ImageSource), in its own module
# if it is large, plus one entry here; the spec's `data.source` accepts exactly SOURCES.
OPENERS: dict[str, Callable[[Path], ImageSource]] = {
    "folder": _open_folder,
    "zip": _open_zip,
    "celeba": _celeba_source,
}
SOURCES: tuple[str, ...] = ("synthetic", *OPENERS)
