"""Shared fixtures. Paths to real data come from the environment (CI passes them in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def celeba_dir() -> Path:
    """Folder holding celeba64_30k.zip and img_align_celeba_1k.zip ($GANSWEEP_CELEBA_DIR)."""
    default = REPO.parent / "shared" / "data" / "celeba"
    path = Path(os.environ.get("GANSWEEP_CELEBA_DIR", default))
    if not (path / "celeba64_30k.zip").exists():
        pytest.skip(f"CelebA test data not found at {path} (set GANSWEEP_CELEBA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets a session-wide cache dir outside the user's home."""
    if "GANSWEEP_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("GANSWEEP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
