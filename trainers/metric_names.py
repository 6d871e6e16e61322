"""The metric-name rule, spelled and parsed in one place, without torch.

``fid2k_rand`` states a metric's kind, generated sample count and backbone. The training loop and the
spec write names through :func:`trainers.metrics.metric_name` (which also checks the backbone against
the registry); reports and re-measurement read them back with :func:`parse_metric_name` instead of
string surgery. This module imports nothing heavy, so a report reads names without loading the
feature networks (``trainers.metrics`` imports torch: about 2-5 s).
"""

from __future__ import annotations

import re
from typing import NamedTuple

DEFAULT_BACKBONE = "inception"  # the backbone a name leaves unsaid (``fid10k``)

_NAME = re.compile(r"(?P<kind>[a-z]+)(?:(?P<count>[0-9]+)(?P<k>k?)(?:_(?P<backbone>[a-z0-9]+))?)?")


def format_metric_name(kind: str, backbone: str, samples: int) -> str:
    """The name: multiples of 1000 in thousands (2000 -> ``fid2k``), anything else in full (500 ->
    ``fid500``); a backbone other than ``inception`` as a suffix (``fid2k_rand``)."""
    if samples < 1:
        raise ValueError(f"samples must be positive, got {samples}")
    count = f"{samples // 1000}k" if samples % 1000 == 0 else str(samples)
    suffix = "" if backbone == DEFAULT_BACKBONE else f"_{backbone}"
    return f"{kind}{count}{suffix}"


class MetricName(NamedTuple):
    """A metric name taken apart: what :func:`parse_metric_name` returns."""

    kind: str  # "fid", "kid", ...
    samples: int | None  # None: a bare kind ("fid"), as a spec's scheduler.metric or an old record says
    backbone: str

    @property
    def name(self) -> str:
        """The name again: ``MetricName("kid", 2000, "rand").name == "kid2k_rand"``."""
        if self.samples is None:
            return self.kind
        return format_metric_name(self.kind, self.backbone, self.samples)

    def with_kind(self, kind: str) -> str:
        """The name of another kind measured the same way: ``fid2k_rand`` -> ``kid2k_rand``."""
        return self._replace(kind=kind).name


def parse_metric_name(name: str) -> MetricName | None:
    """The inverse of the rule: ``fid2k_rand`` -> ``MetricName("fid", 2000, "rand")``.

    A bare kind (``fid``) parses with ``samples=None``. None for a name the rule never writes
    (``fid1000`` for ``fid1k``, ``fid2k_inception``, ``fid0``): readers do not guess from a near miss.
    """
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    if match["count"] is None:
        return MetricName(match["kind"], None, DEFAULT_BACKBONE)
    samples = int(match["count"]) * (1000 if match["k"] else 1)
    if samples < 1:
        return None
    parsed = MetricName(match["kind"], samples, match["backbone"] or DEFAULT_BACKBONE)
    return parsed if parsed.name == name else None
