"""The one metric-name rule and the protocol identity (issue 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainers import metrics


@pytest.mark.parametrize(
    ("backbone", "samples", "names"),
    [
        ("rand", 2000, ("fid2k_rand", "kid2k_rand")),
        ("inception", 10000, ("fid10k", "kid10k")),
        ("rand", 500, ("fid500_rand", "kid500_rand")),
        ("rand", 1500, ("fid1500_rand", "kid1500_rand")),
        ("inception", 1000, ("fid1k", "kid1k")),
    ],
)
def test_metric_names(backbone: str, samples: int, names: tuple[str, str]) -> None:
    assert metrics.metric_names(backbone, samples) == names


def test_metric_names_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown FID backbone"):
        metrics.metric_names("vgg", 1000)
    with pytest.raises(ValueError, match="positive"):
        metrics.metric_names("rand", 0)


@pytest.mark.parametrize("backbone", ["rand", "inception"])
@pytest.mark.parametrize("samples", [1, 128, 500, 1000, 1500, 2000, 10000, 30000])
@pytest.mark.parametrize("kind", ["fid", "kid"])
def test_parse_metric_name_inverts_the_rule(kind: str, backbone: str, samples: int) -> None:
    name = metrics.metric_name(kind, backbone, samples)
    parsed = metrics.parse_metric_name(name)
    assert parsed == (kind, samples, backbone) and parsed.name == name
    other = "kid" if kind == "fid" else "fid"
    assert parsed.with_kind(other) == metrics.metric_name(other, backbone, samples)


def test_parse_metric_name_refuses_what_the_rule_never_writes() -> None:
    for name in ("fid1000", "fid2k_inception", "fid0", "fid0k", "fid2k_", "Fid2k", "fid_rand", "2k", ""):
        assert metrics.parse_metric_name(name) is None, name
    assert metrics.parse_metric_name("fid") == ("fid", None, "inception")  # a bare kind (scheduler.metric)
    assert metrics.parse_metric_name("fid").with_kind("kid") == "kid"


def test_metric_names_module_stays_light() -> None:
    """Reports parse names without torch: trainers.metric_names imports nothing heavy."""
    import subprocess
    import sys

    code = "import sys, trainers.metric_names; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


BASE = {"dataset": "fp-a", "image_size": 32, "real_samples": 10000, "backbone": "rand", "weights_id": "w1",
        "samples": 2000}


def test_protocol_key_names_every_part_of_the_protocol() -> None:
    """Issue 10: fid10k at 32 px, at 64 px and against a 5k real subset are three protocols, not one."""
    base = metrics.protocol(**BASE)
    assert tuple(base) == metrics.PROTOCOL_FIELDS
    key = metrics.protocol_key(base)
    assert len(key) == 12 and metrics.protocol_key(metrics.protocol(**BASE)) == key
    changes = {"dataset": "fp-b", "image_size": 64, "real_samples": 5000, "backbone": "inception",
               "weights_id": "w2", "samples": 10000}
    keys = {key}
    for field, value in changes.items():
        other = metrics.protocol(**{**BASE, field: value})
        keys.add(metrics.protocol_key(other))
        assert metrics.protocol_difference(base, other) == f"{field} {BASE[field]!r} vs {value!r}"
    assert len(keys) == 1 + len(changes)
    assert metrics.protocol_difference(base, metrics.protocol(**BASE)) is None


def test_protocol_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown FID backbone"):
        metrics.protocol(**{**BASE, "backbone": "vgg"})
    with pytest.raises(ValueError, match="real_samples must be positive"):
        metrics.protocol(**{**BASE, "real_samples": 0})
    with pytest.raises(ValueError, match="lacks weights_id"):
        metrics.protocol_key({k: v for k, v in BASE.items() if k != "weights_id"})


def test_real_stats_carry_their_protocol(tmp_path: Path) -> None:
    """The stats file knows its dataset, size, real count and weights: prepare() reads the protocol off it,
    with the real count actually used (the dataset may be smaller than asked)."""
    imgs = np.random.default_rng(0).integers(0, 256, (60, 16, 16, 3), dtype=np.uint8)
    stats, path = metrics.real_stats(imgs, "fp-x", "rand", 5000, cache_dir=tmp_path, progress=False)
    got = metrics.load_real_stats(path).protocol(samples=500)
    assert got == metrics.protocol("fp-x", 16, 60, "rand", metrics.load_backbone("rand").weights_id, 500)
    assert got == stats.protocol(500)
