"""The one metric-name rule."""

from __future__ import annotations

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
