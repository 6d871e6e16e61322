"""Datasets for GAN training, decoded once into a cached uint8 array.

Why this shape: the seed experiments decoded and resized every JPEG with PIL in a DataLoader on every
epoch of every trial, which dominated small-model training time. Here ``prepare(DataConfig(...))``
decodes a source once into ``(N, S, S, 3)`` uint8 under the user cache and every trial reuses it.

One job per module: ``sources`` (the config and listing folder/zip/CelebA sources), ``decode`` (crop +
resize with PIL, worker pool), ``store`` (the fingerprint-keyed cache entry: lookup, build once under a
lock), ``synthetic`` (the procedural faces renderer). Adding a data source = a listing function in
``sources`` and its entry in ``sources.OPENERS`` (the spec accepts exactly ``SOURCES``).
"""

from trainers.data.decode import TRANSFORM_VERSION, list_and_sample
from trainers.data.sources import (
    IMAGE_EXTENSIONS,
    SOURCES,
    DataConfig,
    DataError,
    Source,
    list_images,
)
from trainers.data.store import PreparedData, prepare
from trainers.data.synthetic import SYNTHETIC_VERSION, synthetic_faces

__all__ = [
    "IMAGE_EXTENSIONS", "SOURCES", "SYNTHETIC_VERSION", "TRANSFORM_VERSION", "DataConfig", "DataError",
    "PreparedData", "Source", "list_and_sample", "list_images", "prepare", "synthetic_faces",
]
