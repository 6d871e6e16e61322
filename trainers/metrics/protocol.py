"""The measurement protocol: the ONE metric-name rule, and (later) the protocol record and its key."""

from __future__ import annotations

from trainers.metrics.backbones import check_backbone


def metric_names(backbone: str, samples: int) -> tuple[str, str]:
    """(fid name, kid name) stating the protocol: sample count and backbone.

    Multiples of 1000 are written in thousands (2000 -> ``fid2k``), anything else in full
    (500 -> ``fid500``); the ``rand`` backbone adds ``_rand``. Inception at 10000 -> ("fid10k", "kid10k"),
    rand at 2000 -> ("fid2k_rand", "kid2k_rand").
    """
    check_backbone(backbone)
    if samples < 1:
        raise ValueError(f"samples must be positive, got {samples}")
    count = f"{samples // 1000}k" if samples % 1000 == 0 else str(samples)
    suffix = "" if backbone == "inception" else f"_{backbone}"
    return f"fid{count}{suffix}", f"kid{count}{suffix}"
