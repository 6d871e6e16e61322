"""Small image fixtures shared by the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_pngs(folder: Path, n: int, size: tuple[int, int] = (40, 30), seed: int = 0) -> list[np.ndarray]:
    """``n`` random RGB PNGs of ``size`` (w, h) named img_000.png...; returns their pixel arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"img_{i:03d}.png")
        arrays.append(arr)
    return arrays
