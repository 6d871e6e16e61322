"""The comparison table of one sweep: one row per trial, ranked.

Columns: the swept params, best metric value and the epoch it was reached, last value, KID,
the value at the common budget (the last epoch every trial with a value reached, so a trial
stopped at epoch 1 is compared with the others at epoch 1, not with their epoch 15), the
re-measured final value where the sweep has one, epochs run, status, wall seconds and images/s.

Ranking: trials re-measured at the end of the sweep (`final_<metric>`, a larger sample) come
first, ordered by that value, because a minimum over epochs of a small-sample FID is biased
low (winner's curse); the rest follow by their best value; trials without a value come last.
A table only ever ranks values of one metric protocol.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from orchestrator.record.names import BEST_EPOCH, best_key, best_of, seeds_key, sign_of, std_key
from orchestrator.report.records import Sweep, TrialRecord


def status_text(record: TrialRecord) -> str:
    """completed / stopped early at epoch N / failed: reason / running."""
    if record.status == "completed":
        return "completed"
    if record.status == "stopped":
        return f"stopped early at epoch {record.epochs}"
    if record.status == "failed":
        if record.detail.startswith("failed"):
            return record.detail
        return f"failed: {record.detail or 'unknown'}"
    return record.status


def finite_curve(record: TrialRecord, key: str, metric: str | None = None) -> list[tuple[int, float]]:
    """A history of a trial recorded under the sweep's `metric` (default: `key`), without inf/nan."""
    if record.metric != (metric or key):
        return []
    return [(s, v) for s, v in record.curve(key) if math.isfinite(v)]


def common_budget(trials: list[TrialRecord], metric: str) -> int | None:
    """The last epoch every trial with a value reached: where all of them can be compared fairly."""
    last = [curve[-1][0] for curve in (finite_curve(t, metric) for t in trials) if curve]
    return min(last) if last else None


def value_at(curve: list[tuple[int, float]], epoch: int | None, metric: str) -> float:
    """Best value up to `epoch` (best-so-far: what a rung decision on `best` sees there)."""
    return best_of([v for s, v in curve if epoch is not None and s <= epoch], metric)


def final_name(trials: list[TrialRecord], metric: str) -> str | None:
    """The `final_*` metric of the re-measured trials, if the sweep has one."""
    names = {found[0] for t in trials if (found := t.final(metric))}
    return sorted(names)[0] if names else None


def sweep_table(sweep: Sweep, trials: list[TrialRecord]) -> pd.DataFrame:
    """The comparison table of one sweep, ranked (see the module docstring).

    A trial recorded under another protocol (a resumed sweep whose spec changed its metric) gets
    NaN values and says so in `status`.
    """
    metric, kid_metric = sweep.metric, sweep.kid_metric
    budget = common_budget(trials, metric)
    final = final_name(trials, metric)
    # metrics.final_seeds > 1: the re-measured trials' mean and std over their training seeds
    spread = (seeds_key(final), std_key(seeds_key(final))) if final else ()
    seeds = [k for k in spread if any(k in t.latest for t in trials)]
    rows = []
    for record in trials:
        history = finite_curve(record, metric)
        sign = sign_of(metric)
        best_epoch, best = min(history, key=lambda sv: sign * sv[1]) if history else (None, math.nan)
        epoch_s = record.curve("epoch_s")
        img_s = record.curve("img_per_s")
        row: dict[str, Any] = {"trial": record.trial}
        row.update(record.params)
        if final:
            found = record.final(metric)
            row[final] = found[1] if found and found[0] == final else math.nan
            row.update({k: record.latest.get(k, math.nan) for k in seeds})
        row[best_key(metric)] = best
        row[BEST_EPOCH] = best_epoch
        row[f"last_{metric}"] = history[-1][1] if history else math.nan
        row[f"budget_{metric}"] = value_at(history, budget, metric)
        if kid_metric:
            kid = finite_curve(record, kid_metric, metric)
            row[best_key(kid_metric)] = best_of((v for _, v in kid), kid_metric)
            row[f"{kid_metric}_at_best"] = dict(kid).get(best_epoch, math.nan)
        row["epochs"] = record.epochs
        status = status_text(record)
        if record.metric != metric:
            status += f" (recorded {record.metric}: not ranked with {metric})"
        row["status"] = status
        row["train_s"] = sum(v for _, v in epoch_s)
        row["eval_s"] = sum(v for _, v in record.curve("eval_s"))
        row["wall_s"] = wall_s(record)
        row["img_per_s"] = sum(v for _, v in img_s) / len(img_s) if img_s else math.nan
        row["tune_trial_id"] = record.tune_id
        row["run_id"] = record.run_id
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame[BEST_EPOCH] = frame[BEST_EPOCH].astype("Int64")  # an epoch, not 2.0 (NA without a value)
    frame = rank(frame, metric, final)
    frame.attrs.update(budget_epoch=budget, final_metric=final, metric=metric)
    return frame


def rank(frame: pd.DataFrame, metric: str, final: str | None) -> pd.DataFrame:
    """Sort by (re-measured final, then best), each the way its metric is better, and number the rows
    1..n in a `rank` column."""
    keys = [best_key(metric)]
    if final and final in frame.columns:
        keys = [final, *keys]
    frame = frame.drop(columns=["rank"], errors="ignore")
    ascending = [sign_of(k) > 0 for k in keys]  # each key the way its metric is better
    frame = frame.sort_values(keys, ascending=ascending, na_position="last", kind="stable")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def wall_s(record: TrialRecord) -> float:
    """Trial wall time: Tune's time_total_s (survives resumes), else the run's start..end."""
    total = record.curve("time_total_s")
    if total:
        return float(total[-1][1])
    if record.start_ms and record.end_ms:
        return (record.end_ms - record.start_ms) / 1000.0
    return math.nan
