"""The cache helpers: stable keys, atomic writes, and the cache dir override."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.cache import atomic_write, cache_root, stable_hash
from trainers.config import TrainConfig


def test_stable_hash_ignores_key_order_and_changes_with_values() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_cache_root_prefers_override_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANSWEEP_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_atomic_write_leaves_no_partial_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"


def test_train_config_defaults_follow_family() -> None:
    assert TrainConfig().betas == (0.5, 0.999)
    assert TrainConfig(family="wgan_gp").betas == (0.0, 0.9)
    assert TrainConfig(lr=1e-3).d_lr == 1e-3
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"conv_dimm": 3})
