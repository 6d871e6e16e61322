"""Shared fixtures. Paths to real data come from the environment (CI passes them in)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from e2e_helpers import LoggedSweep

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


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> LoggedSweep:
    """One real `gansweep run` of the default `tiny_spec` (sweep "tiny": 6 trials, ASHA), shared
    read-only by the end-to-end tests that check what such a sweep leaves behind (its stdout and
    its MLflow store), so the suite runs it once instead of once per test module."""
    from e2e_helpers import run_logged, tiny_spec  # MLflow only for the tests that use it

    root = tmp_path_factory.mktemp("tiny_sweep")
    cache = os.environ.get("GANSWEEP_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    with pytest.MonkeyPatch.context() as patch:  # the cache dir _isolated_cache gives every test
        patch.setenv("GANSWEEP_CACHE_DIR", cache)
        return run_logged(tiny_spec(root), cwd=root)
