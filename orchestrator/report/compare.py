"""Two sweeps side by side: ranked together only when they measured the same thing.

A sweep's parent run carries its measurement protocol (`gansweep.protocol`: dataset fingerprint,
image size, real and generated sample counts, backbone, weights id) and its key. Two sweeps with
different keys are refused outright: `fid10k` at 32 px and `fid10k` at 64 px share a name but
are different numbers. Sweeps recorded before the protocol tag fall back to what the record has:
the metric name (which carries backbone and sample count) and the backbone tag; those that differ
are shown side by side, never ranked together.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from orchestrator.record.names import best_key, best_of, sign_of
from orchestrator.report.records import ReportError, Sweep
from orchestrator.report.tables import rank

if TYPE_CHECKING:  # annotations only: build imports this module (check_protocols)
    from orchestrator.report.build import SweepReport


def _fallback_protocol(sweep: Sweep) -> dict[str, Any]:
    return {"metric": sweep.metric, "backbone": sweep.backbone}


def protocol_difference(a: Sweep, b: Sweep) -> list[str]:
    """What differs between the protocols of two sweeps (empty: comparable).

    With protocol records on both: `trainers.metrics.protocol_difference` (`image_size 32 vs 64;
    ...`); without: the metric name (backbone and sample count) and backbone tag of each.
    """
    if a.protocol_key and b.protocol_key:
        from trainers.metrics import protocol_difference as metric_rule  # the one rule; imports torch

        if a.protocol_key == b.protocol_key:
            return []
        named = metric_rule(a.protocol or {}, b.protocol or {}) if a.protocol and b.protocol else None
        return [named or f"protocol_key {a.protocol_key} vs {b.protocol_key}"]
    pa, pb = _fallback_protocol(a), _fallback_protocol(b)
    return [f"{k} {pa[k]} vs {pb[k]}" for k in pa if pa[k] and pb[k] and pa[k] != pb[k]]


def check_protocols(sweeps: list[Sweep]) -> None:
    """Refuse (ReportError, exit 2) two sweeps whose recorded protocol keys differ."""
    first = sweeps[0]
    for other in sweeps[1:]:
        if first.protocol_key and other.protocol_key and first.protocol_key != other.protocol_key:
            diff = "; ".join(protocol_difference(first, other))
            raise ReportError(f"sweeps '{first.name}' and '{other.name}' measured different protocols "
                              f"({diff}): their values cannot be compared")


def comparable(reports: list[SweepReport]) -> bool:
    first = reports[0].sweep
    return all(not protocol_difference(first, r.sweep) for r in reports[1:])


def not_comparable_note(reports: list[SweepReport]) -> str:
    metrics = ", ".join(f"{r.sweep.name}: {r.sweep.metric}" for r in reports)
    return (
        f"not comparable: the sweeps measured different metric protocols ({metrics}); "
        "shown side by side, not ranked together"
    )


def sweep_labels(reports: list[SweepReport]) -> list[str]:
    """Sweep names, or parent run id prefixes when two sweeps share a name."""
    names = [r.sweep.name for r in reports]
    return names if len(set(names)) == len(names) else [r.sweep.run_id[:8] for r in reports]


def combined_table(reports: list[SweepReport]) -> pd.DataFrame:
    """All trials of comparable sweeps ranked together, with a `sweep` column."""
    if not comparable(reports):
        raise ReportError(not_comparable_note(reports))
    frames = []
    for label, rep in zip(sweep_labels(reports), reports, strict=True):
        frame = rep.table.drop(columns=["rank"])
        frame.insert(0, "sweep", label)
        frames.append(frame)
    finals = {rep.table.attrs.get("final_metric") for rep in reports}
    final = finals.pop() if len(finals) == 1 else None
    return rank(pd.concat(frames, ignore_index=True), reports[0].sweep.metric, final)


def sweep_summary(reports: list[SweepReport]) -> pd.DataFrame:
    """One line per sweep: best and median best value, and how its trials ended."""
    rows = []
    for rep in reports:
        scores = rep.table[best_key(rep.sweep.metric)].dropna()
        status = rep.table["status"].astype(str)
        rows.append({
            "sweep": rep.sweep.name,
            "run_id": rep.sweep.run_id,
            "metric": rep.sweep.metric,
            "protocol_key": rep.sweep.protocol_key,
            "trials": len(rep.table),
            "completed": int((status == "completed").sum()),
            "stopped": int(status.str.startswith("stopped").sum()),
            "failed": int(status.str.startswith("failed").sum()),
            "best": best_of(scores, rep.sweep.metric),
            "median_best": float(scores.median()) if len(scores) else math.nan,
            "best_trial": rep.table.loc[(sign_of(rep.sweep.metric) * scores).idxmin(), "trial"]
            if len(scores) else None,
        })
    return pd.DataFrame(rows)
