"""The metric and backbone registries (trainers.registry): torch-free, one entry drives everything."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from trainers.registry import BACKBONES, METRICS, check_kind, metric_mode


def test_the_registry_imports_without_torch() -> None:
    code = "import sys, trainers.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_entry_resolves_to_its_implementation() -> None:
    from trainers.metrics.real_stats import RealStats

    feats = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    stats = RealStats(mu=feats.mean(0).astype(np.float64), sigma=np.cov(feats, rowvar=False), kid_feats=feats,
                      n=64, backbone="rand", key="k")
    for kind, entry in METRICS.items():
        score = entry.load()(stats)
        assert np.isfinite(score(feats)), kind
    assert callable(BACKBONES["rand"].load()) and BACKBONES["inception"].weights
    assert BACKBONES["rand"].resolve_weights(None) is None  # needs no file


def test_mode_of_a_name_comes_from_its_kind() -> None:
    assert [metric_mode(n) for n in ("fid2k_rand", "kid10k", "prec2k_rand", "prec", "nonsense_")] == [
        "min", "min", "max", "max", "min"]
    with pytest.raises(ValueError, match="unknown metric 'recall' \\(choose from fid, kid, prec\\)"):
        check_kind("recall")


def test_precision_is_high_on_the_real_manifold_and_low_off_it() -> None:
    from trainers.metrics.precision import PrecisionScore
    from trainers.metrics.real_stats import RealStats

    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 16)).astype(np.float32)
    stats = RealStats(mu=real.mean(0).astype(np.float64), sigma=np.cov(real, rowvar=False), kid_feats=real,
                      n=400, backbone="rand", key="k")
    score = PrecisionScore(stats)
    same = score(rng.normal(size=(300, 16)).astype(np.float32))  # fresh draws of the same distribution
    far = score(rng.normal(loc=6.0, size=(300, 16)).astype(np.float32))
    collapsed = score(np.repeat(real[:1], 300, axis=0))  # mode collapse onto a real point: precise
    assert same > 0.5 and far == 0.0 and collapsed == 1.0
