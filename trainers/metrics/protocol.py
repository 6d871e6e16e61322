"""The measurement protocol: the ONE metric-name rule, and the protocol record with its key.

A metric value is only comparable with another measured under the same protocol: same real data (dataset
fingerprint, image size, real sample count), same feature network (backbone and its weights id) and the
same generated sample count. The name (``fid2k_rand``) states only part of it; :func:`protocol` is the
whole record and :func:`protocol_key` its short hash, which sweeps record and reports compare.
"""

from __future__ import annotations

from typing import Any

from trainers.cache import stable_hash
from trainers.metric_names import MetricName, format_metric_name, parse_metric_name
from trainers.metrics.backbones import check_backbone

__all__ = ["PROTOCOL_FIELDS", "MetricName", "metric_name", "metric_names", "parse_metric_name", "protocol",
           "protocol_difference", "protocol_key"]

PROTOCOL_FIELDS = ("dataset", "image_size", "real_samples", "backbone", "weights_id", "samples")


def metric_name(kind: str, backbone: str, samples: int) -> str:
    """A metric's name stating its protocol: kind, sample count and backbone.

    Multiples of 1000 are written in thousands (2000 -> ``fid2k``), anything else in full
    (500 -> ``fid500``); a backbone other than ``inception`` is added as a suffix (``fid2k_rand``).
    The spelling (and :func:`parse_metric_name`, its inverse) is :mod:`trainers.metric_names`;
    this checks the backbone against the registry first.
    """
    check_backbone(backbone)
    return format_metric_name(kind, backbone, samples)


def metric_names(backbone: str, samples: int) -> tuple[str, str]:
    """(fid name, kid name): Inception at 10000 -> ("fid10k", "kid10k"), rand at 2000 ->
    ("fid2k_rand", "kid2k_rand"). The one name rule the spec, the loop and the reports share."""
    return metric_name("fid", backbone, samples), metric_name("kid", backbone, samples)


def protocol(dataset: str, image_size: int, real_samples: int, backbone: str, weights_id: str,
             samples: int) -> dict[str, Any]:
    """The whole measurement protocol as a JSON-ready dict (field order as :data:`PROTOCOL_FIELDS`).

    ``dataset`` is the prepared dataset's fingerprint (path-independent), ``real_samples`` the real
    images actually used (not the requested count), ``weights_id`` what identifies the backbone's weights
    (the Inception file's hash prefix, the rand net's version/seed/digest), ``samples`` the generated
    images per evaluation. :meth:`RealStats.protocol` fills the first five from a stats file.
    """
    check_backbone(backbone)
    for name, value in (("image_size", image_size), ("real_samples", real_samples), ("samples", samples)):
        if int(value) < 1:
            raise ValueError(f"protocol {name} must be positive, got {value}")
    return {"dataset": str(dataset), "image_size": int(image_size), "real_samples": int(real_samples),
            "backbone": backbone, "weights_id": str(weights_id), "samples": int(samples)}


def protocol_key(d: dict[str, Any]) -> str:
    """Short stable hash of a protocol dict (12 hex): equal keys <=> comparable metric values."""
    missing = [f for f in PROTOCOL_FIELDS if f not in d]
    if missing:
        raise ValueError(f"protocol lacks {', '.join(missing)}")
    return stable_hash({f: d[f] for f in PROTOCOL_FIELDS}, length=12)


def protocol_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """One line naming what differs between two protocols (``real_samples 5000 vs 10000; ...``), or None."""
    diffs = [f"{f} {a.get(f)!r} vs {b.get(f)!r}" for f in PROTOCOL_FIELDS if a.get(f) != b.get(f)]
    return "; ".join(diffs) or None
