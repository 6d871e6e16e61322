"""Comparison tables of a sweep, read back from MLflow (the record, not Tune's local files).

One row per trial: the swept params, best metric value and the epoch it was reached, last value,
KID, epochs run, status (completed / stopped early at epoch N / failed: reason), wall seconds and
images/s, ranked by the best value. A table only ever ranks values of one metric protocol (one
backbone and sample count, e.g. `fid1k_rand`): two sweeps recorded with different metrics are
shown side by side but never ranked together, because a random-feature FID and an Inception FID
(or FIDs at 1k and 10k samples) are different numbers.

`log_sweep_report` is what `gansweep run` calls at the end of every sweep: the same table as
CSV/HTML plus the plots go to the parent run (`report/`), a loss plot to every child run
(`plots/losses.png`). It never raises: a sweep that trained for hours must not be lost to a plot.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from orchestrator.tracking import (
    PARENT,
    TAG_DETAIL,
    TAG_KIND,
    TAG_METRIC,
    TAG_STATUS,
    TAG_SWEEP,
    TAG_SWEPT,
    TAG_TRIAL,
)

log = logging.getLogger(__name__)

REPORT_DIR = "report"  # artifact folder of the parent run
CHILD_PLOT = "plots/losses.png"  # artifact of every child run
TOP_GRIDS = 4  # trials in the sample-grid mosaic
# Per-epoch values a report reads; everything else a trial logs is left in MLflow.
CURVES = ("d_loss", "g_loss", "epoch_s", "eval_s", "img_per_s", "time_total_s")


class ReportError(ValueError):
    """Unknown sweep, empty sweep, missing store: the CLI turns it into exit 2."""


@dataclass(frozen=True)
class Sweep:
    run_id: str
    experiment_id: str
    name: str
    metric: str
    swept: list[str]

    @property
    def kid_metric(self) -> str | None:
        """The KID of the same protocol (`fid1k_rand` -> `kid1k_rand`), if the metric is a FID."""
        return self.metric.replace("fid", "kid", 1) if self.metric.startswith("fid") else None


@dataclass
class TrialRecord:
    """One child run with the metric histories a report needs, fetched once."""

    run_id: str
    trial: str
    status: str  # completed | stopped | failed | running
    detail: str
    metric: str  # the metric protocol this trial was recorded with
    params: dict[str, Any]  # the swept values, typed back from MLflow's strings
    config: dict[str, Any]  # spec base values overlaid with the trial's params
    start_ms: int | None
    end_ms: int | None
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def curve(self, key: str) -> list[tuple[int, float]]:
        return self.curves.get(key, [])

    @property
    def epochs(self) -> int:
        steps = [s for key in ("epoch_s", "d_loss", self.metric) for s, _ in self.curve(key)]
        return max(steps, default=0)


@dataclass
class SweepReport:
    """Everything `gansweep report` shows about one sweep."""

    sweep: Sweep
    table: pd.DataFrame
    effects: dict[str, pd.DataFrame]
    trials: list[TrialRecord]


# ---------------------------------------------------------------------------------------------
# Reading the store


def open_store(uri: str | None = None) -> MlflowClient:
    """A client on an existing store. MLflow would silently create an empty SQLite db: check first."""
    from orchestrator.tracking import local_store_uri

    uri = uri or local_store_uri()
    local = None
    if uri.startswith("sqlite:///"):
        local = Path(uri.removeprefix("sqlite:///"))
    elif uri.startswith("file:"):
        local = Path(uri.removeprefix("file://").removeprefix("file:"))
    elif "://" not in uri:
        local = Path(uri)
    if local is not None and not local.exists():
        raise ReportError(f"no MLflow store at {local} (run a sweep first, or pass --store URI)")
    client = MlflowClient(tracking_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - any backend failure is "cannot read this store"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ReportError(f"cannot read the MLflow store {uri}: {first}") from None
    return client


def find_sweep(client: MlflowClient, name_or_id: str) -> Sweep:
    """A sweep by parent run id, or by name (the most recent sweep run of that name)."""
    run = None
    try:
        run = client.get_run(name_or_id)
    except Exception:  # noqa: BLE001 - not a run id; try it as a sweep name below
        run = None
    if run is None or run.data.tags.get(TAG_KIND) != "sweep":
        if run is not None and run.data.tags.get(TAG_KIND) == "trial":
            raise ReportError(f"'{name_or_id}' is a trial run, not a sweep (its sweep is its parent run)")
        experiments = client.search_experiments()
        quoted = name_or_id.replace("'", "\\'")
        runs = client.search_runs(
            [e.experiment_id for e in experiments],
            filter_string=f"tags.`{TAG_KIND}` = 'sweep' and tags.`{TAG_SWEEP}` = '{quoted}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        ) if experiments else []
        if not runs:
            raise ReportError(f"no sweep named or with run id '{name_or_id}' in the MLflow store")
        run = runs[0]
    tags = run.data.tags
    swept = [s for s in tags.get(TAG_SWEPT, "").split(",") if s]
    name = tags.get(TAG_SWEEP, run.info.run_name)
    return Sweep(run.info.run_id, run.info.experiment_id, name, tags.get(TAG_METRIC, "fid"), swept)


def trial_runs(client: MlflowClient, sweep: Sweep) -> list[Any]:
    return client.search_runs(
        [sweep.experiment_id],
        filter_string=f"tags.`{PARENT}` = '{sweep.run_id}' and tags.`{TAG_KIND}` = 'trial'",
        max_results=10_000,
    )


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _base_config(client: MlflowClient, sweep: Sweep) -> dict[str, Any]:
    """The spec's model/train values (logged as `spec.model.*`, `spec.train.*` on the parent)."""
    params = client.get_run(sweep.run_id).data.params
    base: dict[str, Any] = {}
    for key, value in params.items():
        for prefix in ("spec.model.", "spec.train."):
            if key.startswith(prefix):
                base[key.removeprefix(prefix)] = _typed(value)
    return base


def collect_trials(client: MlflowClient, sweep: Sweep) -> list[TrialRecord]:
    """Every child run of the sweep with its curves; raises ReportError for a sweep with none."""
    runs = trial_runs(client, sweep)
    if not runs:
        raise ReportError(f"sweep '{sweep.name}' ({sweep.run_id}) has no trial runs yet")
    base = _base_config(client, sweep)
    records = []
    for run in runs:
        tags, info = run.data.tags, run.info
        metric = tags.get(TAG_METRIC, sweep.metric)
        params = {p: _typed(run.data.params.get(p)) for p in sweep.swept}
        config = {**base, **{k: _typed(v) for k, v in run.data.params.items()}}
        record = TrialRecord(
            run_id=info.run_id,
            trial=tags.get(TAG_TRIAL, info.run_id[:8]),
            status=tags.get(TAG_STATUS, "running"),
            detail=tags.get(TAG_DETAIL, ""),
            metric=metric,
            params=params,
            config=config,
            start_ms=info.start_time,
            end_ms=info.end_time,
        )
        keys = {metric, *CURVES}
        if metric.startswith("fid"):
            keys.add(metric.replace("fid", "kid", 1))
        record.curves = {key: _history(client, info.run_id, key) for key in sorted(keys)}
        records.append(record)
    return records


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


def sweep_table(
    client: MlflowClient, sweep: Sweep, trials: list[TrialRecord] | None = None
) -> pd.DataFrame:
    """The comparison table of one sweep, ranked by best metric value (trials without one last).

    Only values of the sweep's own metric are ranked: a trial recorded under another protocol
    (a resumed sweep whose spec changed its metric) gets NaN there and says so in `status`.
    """
    trials = trials if trials is not None else collect_trials(client, sweep)
    metric, kid_metric = sweep.metric, sweep.kid_metric
    rows = []
    for record in trials:
        history = record.curve(metric) if record.metric == metric else []
        best_epoch, best = min(history, key=lambda sv: sv[1]) if history else (None, math.nan)
        epoch_s = record.curve("epoch_s")
        img_s = record.curve("img_per_s")
        row: dict[str, Any] = {"trial": record.trial}
        row.update(record.params)
        row[f"best_{metric}"] = best
        row["best_epoch"] = best_epoch
        row[f"last_{metric}"] = history[-1][1] if history else math.nan
        if kid_metric:
            kid = record.curve(kid_metric) if record.metric == metric else []
            row[f"best_{kid_metric}"] = min((v for _, v in kid), default=math.nan)
            row[f"{kid_metric}_at_best"] = dict(kid).get(best_epoch, math.nan)
        row["epochs"] = record.epochs
        status = status_text(record)
        if record.metric != metric:
            status += f" (recorded {record.metric}: not ranked with {metric})"
        row["status"] = status
        row["train_s"] = sum(v for _, v in epoch_s)
        row["eval_s"] = sum(v for _, v in record.curve("eval_s"))
        row["wall_s"] = _wall_s(record)
        row["img_per_s"] = sum(v for _, v in img_s) / len(img_s) if img_s else math.nan
        row["run_id"] = record.run_id
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values(f"best_{metric}", na_position="last", kind="stable")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def _wall_s(record: TrialRecord) -> float:
    """Trial wall time: Tune's time_total_s (survives resumes), else the run's start..end."""
    total = record.curve("time_total_s")
    if total:
        return float(total[-1][1])
    if record.start_ms and record.end_ms:
        return (record.end_ms - record.start_ms) / 1000.0
    return math.nan


def _typed(value: str | None) -> Any:
    if value is None:
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    if value in ("True", "False"):
        return value == "True"
    if value == "None":
        return None
    return value


# ---------------------------------------------------------------------------------------------
# Parameter effects


def search_kinds(client: MlflowClient, sweep: Sweep) -> dict[str, str]:
    """How each swept param was searched (grid, choice, loguniform, ...), from the parent's spec params."""
    kinds = {}
    for key in client.get_run(sweep.run_id).data.params:
        if key.startswith("spec.search.params."):
            param, _, kind = key.removeprefix("spec.search.params.").rpartition(".")
            kinds[param] = kind
    return kinds


def _groups(values: pd.Series, kind: str | None = None) -> pd.Series:
    """Group labels for a param: its values, or 3 (log-)bins when it was sampled from a range."""
    numeric = pd.to_numeric(values, errors="coerce")
    distinct = values.dropna().unique()
    sampled = kind in ("uniform", "loguniform", "randint") if kind else len(distinct) > 6
    continuous = numeric.notna().all() and sampled and len(distinct) > 3
    if not continuous:
        return values.map(lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
    log_scale = bool((numeric > 0).all() and numeric.max() / numeric.min() > 10)
    scaled = np.log10(numeric) if log_scale else numeric
    edges = np.linspace(float(scaled.min()), float(scaled.max()), 4)
    edges[-1] += 1e-12
    index = np.clip(np.searchsorted(edges, scaled.to_numpy(), side="right") - 1, 0, 2)
    labels = []
    for i in range(3):
        lo, hi = edges[i], edges[i + 1]
        lo, hi = (10**lo, 10**hi) if log_scale else (lo, hi)
        labels.append(f"{lo:.3g}..{hi:.3g}")
    ordered = pd.Categorical([labels[i] for i in index], categories=labels, ordered=True)
    return pd.Series(ordered, index=values.index)


def param_effects(
    table: pd.DataFrame, sweep: Sweep, kinds: dict[str, str] | None = None
) -> dict[str, pd.DataFrame]:
    """For each swept param: the best / median best metric and trial count per value (or bin).

    Answers "conv_dim 64 vs 128 vs 256": failed trials count as trials but not in the statistics.
    """
    best_col = f"best_{sweep.metric}"
    effects: dict[str, pd.DataFrame] = {}
    for param in sweep.swept:
        if param not in table.columns:
            continue
        frame = table[[param, best_col, "trial", "status"]].copy()
        frame["group"] = _groups(frame[param], (kinds or {}).get(param))
        rows = []
        binned = isinstance(frame["group"].dtype, pd.CategoricalDtype)
        for group, part in frame.groupby("group", sort=binned, observed=True):
            scores = part[best_col].dropna()
            best_row = part.loc[scores.idxmin()] if len(scores) else None
            rows.append({
                param: group,
                "trials": len(part),
                "failed": int(part["status"].astype(str).str.startswith("failed").sum()),
                f"best_{sweep.metric}": float(scores.min()) if len(scores) else math.nan,
                f"median_{sweep.metric}": float(scores.median()) if len(scores) else math.nan,
                "best_trial": best_row["trial"] if best_row is not None else None,
            })
        out = pd.DataFrame(rows)
        if not binned:  # bins come out in range order already
            try:
                out = out.sort_values(param, kind="stable")
            except TypeError:  # mixed types: keep first-seen order
                pass
        effects[param] = out.reset_index(drop=True)
    return effects


def build_report(client: MlflowClient, sweep: Sweep) -> SweepReport:
    trials = collect_trials(client, sweep)
    table = sweep_table(client, sweep, trials)
    return SweepReport(sweep, table, param_effects(table, sweep, search_kinds(client, sweep)), trials)


# ---------------------------------------------------------------------------------------------
# Rendering (table / csv / json / markdown / html)


def display_columns(report: SweepReport) -> list[str]:
    """The columns a person reads; CSV/JSON keep all of them (run ids, train/eval split)."""
    metric, kid = report.sweep.metric, report.sweep.kid_metric
    cols = ["rank", "trial", *[p for p in report.sweep.swept if p in report.table.columns]]
    cols += [f"best_{metric}", "best_epoch", f"last_{metric}"]
    if kid:
        cols.append(f"best_{kid}")
    cols += ["epochs", "status", "wall_s", "img_per_s"]
    return [c for c in cols if c in report.table.columns]


def comparable(reports: list[SweepReport]) -> bool:
    return len({r.sweep.metric for r in reports}) == 1


def not_comparable_note(reports: list[SweepReport]) -> str:
    metrics = ", ".join(f"{r.sweep.name}: {r.sweep.metric}" for r in reports)
    return (
        f"not comparable: the sweeps measured different metric protocols ({metrics}); "
        "shown side by side, not ranked together"
    )


def combined_table(reports: list[SweepReport]) -> pd.DataFrame:
    """All trials of sweeps with the same metric, ranked together, with a `sweep` column."""
    if not comparable(reports):
        raise ReportError(not_comparable_note(reports))
    metric = reports[0].sweep.metric
    frames = []
    for rep in reports:
        frame = rep.table.drop(columns=["rank"]).copy()
        frame.insert(0, "sweep", rep.sweep.name if _unique_names(reports) else rep.sweep.run_id[:8])
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    combined = combined.sort_values(f"best_{metric}", na_position="last", kind="stable")
    combined.insert(0, "rank", range(1, len(combined) + 1))
    return combined.reset_index(drop=True)


def _unique_names(reports: list[SweepReport]) -> bool:
    return len({r.sweep.name for r in reports}) == len(reports)


def sweep_summary(reports: list[SweepReport]) -> pd.DataFrame:
    """One line per sweep: best and median best value, and how its trials ended."""
    rows = []
    for rep in reports:
        best_col = f"best_{rep.sweep.metric}"
        scores = rep.table[best_col].dropna()
        status = rep.table["status"].astype(str)
        rows.append({
            "sweep": rep.sweep.name,
            "run_id": rep.sweep.run_id,
            "metric": rep.sweep.metric,
            "trials": len(rep.table),
            "completed": int((status == "completed").sum()),
            "stopped": int(status.str.startswith("stopped").sum()),
            "failed": int(status.str.startswith("failed").sum()),
            "best": float(scores.min()) if len(scores) else math.nan,
            "median_best": float(scores.median()) if len(scores) else math.nan,
            "best_trial": rep.table.loc[scores.idxmin(), "trial"] if len(scores) else None,
        })
    return pd.DataFrame(rows)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def to_json(reports: list[SweepReport]) -> str:
    same = comparable(reports)
    payload: dict[str, Any] = {
        "comparable": same,
        "metric": reports[0].sweep.metric if same else None,
        "note": None if same else not_comparable_note(reports),
        "sweeps": [
            {
                "name": rep.sweep.name,
                "run_id": rep.sweep.run_id,
                "metric": rep.sweep.metric,
                "swept": rep.sweep.swept,
                "trials": _records(rep.table),
                "param_effects": {p: _records(f) for p, f in rep.effects.items()},
            }
            for rep in reports
        ],
    }
    if len(reports) > 1:
        payload["summary"] = _records(sweep_summary(reports))
        if same:
            payload["ranking"] = _records(combined_table(reports))
    return json.dumps(payload, indent=2)


def to_csv(reports: list[SweepReport]) -> str:
    """One table: the sweep's, or (two sweeps) all trials with a `sweep` column.

    Sweeps of different metrics keep their own ranks and their own `best_<metric>` columns, so
    nothing in the file suggests one ordering across them.
    """
    if len(reports) == 1:
        return reports[0].table.to_csv(index=False)
    if comparable(reports):
        return combined_table(reports).to_csv(index=False)
    frames = []
    for rep in reports:
        frame = rep.table.copy()
        frame.insert(0, "metric", rep.sweep.metric)
        frame.insert(0, "sweep", rep.sweep.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).to_csv(index=False)


def cell(value: Any) -> str:
    """A table cell: 4 significant digits, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    if value is pd.NA:
        return "-"
    return str(value)


def _md_table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    columns = columns or list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(cell(row[c]).replace("|", "\\|") for c in columns) + " |")
    return "\n".join(lines)


def to_markdown(reports: list[SweepReport]) -> str:
    parts = []
    if len(reports) > 1:
        parts.append("## Sweeps\n\n" + _md_table(sweep_summary(reports)))
        if comparable(reports):
            combined = combined_table(reports)
            cols = ["rank", "sweep", *[c for c in display_columns(reports[0]) if c != "rank"]]
            cols += [c for r in reports[1:] for c in display_columns(r) if c not in cols]
            parts.append(f"## All trials ranked by best {reports[0].sweep.metric}\n\n"
                         + _md_table(combined, [c for c in cols if c in combined.columns]))
        else:
            parts.append(f"> {not_comparable_note(reports)}")
    for rep in reports:
        title = f"## Sweep {rep.sweep.name} ({rep.sweep.run_id}): ranked by best {rep.sweep.metric}"
        parts.append(title + "\n\n" + _md_table(rep.table, display_columns(rep)))
        for param, frame in rep.effects.items():
            parts.append(f"### Effect of {param}\n\n" + _md_table(frame))
    return "\n\n".join(parts) + "\n"


def to_html(report: SweepReport, images: list[str] = ()) -> str:
    """A standalone page: the table, the parameter effects and the plots beside it."""
    sweep = report.sweep
    style = (
        "body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#eee}"
        "img{max-width:100%;margin:0.5em 0}"
    )
    table = report.table[display_columns(report) + ["run_id"]]
    body = [
        f"<h1>Sweep {html.escape(sweep.name)}</h1>",
        f"<p>parent run {html.escape(sweep.run_id)}; ranked by best {html.escape(sweep.metric)} "
        f"(values of other metric protocols are never ranked together)</p>",
        table.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}", escape=True),
    ]
    for param, frame in report.effects.items():
        body.append(f"<h2>Effect of {html.escape(param)}</h2>")
        body.append(frame.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}", escape=True))
    for name in images:
        heading = html.escape(Path(name).stem.replace("_", " "))
        body.append(f'<h2>{heading}</h2><img src="{html.escape(name)}">')
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>gansweep {html.escape(sweep.name)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def print_tables(reports: list[SweepReport]) -> None:
    """The `--format table` view: rich tables in the terminal."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.console import short_trial_id

    console = Console(width=None if sys.stdout.isatty() else 160)

    def render(frame: pd.DataFrame, columns: list[str], title: str) -> Table:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, justify="left" if column in ("trial", "status", "sweep") else "right")
        for _, row in frame.iterrows():
            values = []
            for column in columns:
                value = row[column]
                values.append(short_trial_id(str(value)) if column == "trial" else cell(value))
            table.add_row(*values)
        return table

    if len(reports) > 1:
        summary = sweep_summary(reports)
        console.print(render(summary, [c for c in summary.columns if c != "run_id"], "sweeps"))
        if comparable(reports):
            combined = combined_table(reports)
            cols = ["rank", "sweep", *[c for c in display_columns(reports[0]) if c != "rank"]]
            cols += [c for r in reports[1:] for c in display_columns(r) if c not in cols]
            cols = [c for c in cols if c in combined.columns]
            console.print(render(combined, cols, f"all trials ranked by best {reports[0].sweep.metric}"))
        else:
            console.print(f"[bold yellow]{not_comparable_note(reports)}[/]")
    for rep in reports:
        title = f"sweep {rep.sweep.name} ({rep.sweep.run_id[:8]}): ranked by best {rep.sweep.metric}"
        console.print(render(rep.table, display_columns(rep), title))
        for param, frame in rep.effects.items():
            console.print(render(frame, list(frame.columns), f"{rep.sweep.name}: effect of {param}"))


def render_text(reports: list[SweepReport], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(reports)
    if fmt == "json":
        return to_json(reports) + "\n"
    if fmt == "markdown":
        return to_markdown(reports)
    raise ValueError(f"unknown format {fmt!r}")


def load_reports(store: str | None, sweeps: list[str]) -> list[SweepReport]:
    client = open_store(store)
    return [build_report(client, find_sweep(client, ref)) for ref in sweeps]


# ---------------------------------------------------------------------------------------------
# Logging the report to MLflow at the end of a sweep


def _warn(what: str, err: BaseException) -> None:
    message = (str(err).strip().splitlines() or [type(err).__name__])[0]
    log.warning("report: %s failed: %s", what, message)
    print(f"gansweep: warning: {what} failed: {type(err).__name__}: {message}", file=sys.stderr)


def last_grid(client: MlflowClient, run_id: str, directory: Path) -> np.ndarray | None:
    """The last epoch's fixed-noise sample grid of a trial (grids/epoch_NNN.png), as uint8 HxWx3."""
    from PIL import Image

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bars in our output
    grids = sorted(a.path for a in client.list_artifacts(run_id, "grids") if a.path.endswith(".png"))
    if not grids:
        return None
    local = client.download_artifacts(run_id, grids[-1], str(directory))
    with Image.open(local) as image:
        return np.asarray(image.convert("RGB"))


def log_sweep_report(client: MlflowClient, sweep: Sweep | str) -> list[str]:
    """Log table (CSV, HTML) and plots to the parent run, a loss plot to every child.

    Never raises: each part is tried on its own, failures become one warning line each.
    Returns the artifact paths written (for tests and the caller's message).
    """
    written: list[str] = []
    try:
        if isinstance(sweep, str):
            sweep = find_sweep(client, sweep)
        report = build_report(client, sweep)
    except Exception as err:  # noqa: BLE001 - see docstring
        _warn("reading the sweep back for the report", err)
        return written
    with tempfile.TemporaryDirectory(prefix="gansweep-report-") as tmp:
        out = Path(tmp) / REPORT_DIR
        out.mkdir()
        images = _parent_plots(client, report, out, Path(tmp))
        for name, text in (
            ("comparison.csv", report.table.to_csv(index=False)),
            ("comparison.html", to_html(report, images)),
            ("report.md", to_markdown([report])),
        ):
            try:
                (out / name).write_text(text, encoding="utf-8")
            except Exception as err:  # noqa: BLE001
                _warn(f"writing {name}", err)
        try:
            client.log_artifacts(sweep.run_id, str(out), REPORT_DIR)
            written += [f"{REPORT_DIR}/{p.name}" for p in sorted(out.iterdir())]
        except Exception as err:  # noqa: BLE001
            _warn("logging the report artifacts", err)
        for record in report.trials:
            try:
                written += _child_plot(client, report, record, Path(tmp))
            except Exception as err:  # noqa: BLE001
                _warn(f"the loss plot of trial {record.trial}", err)
    return written


def _parent_plots(client: MlflowClient, report: SweepReport, out: Path, tmp: Path) -> list[str]:
    from orchestrator import plots

    made: list[str] = []

    def attempt(name: str, make: Any) -> None:
        try:
            if make(out / name) is not None:
                made.append(name)
        except Exception as err:  # noqa: BLE001 - a failed plot must not lose the others
            _warn(f"plot {name}", err)

    metric = report.sweep.metric
    name = report.sweep.name
    attempt("metric_vs_epoch.png", lambda p: plots.metric_curves(report.trials, metric, p, title=name))
    attempt("losses.png", lambda p: plots.loss_grid(report.trials, report.table, p))
    attempt("time_per_epoch.png", lambda p: plots.epoch_time(report.trials, p))
    attempt("param_effects.png", lambda p: plots.param_effects(report.table, report.sweep.swept, metric, p))

    def mosaic(path: Path) -> Path | None:
        ranked = report.table.dropna(subset=[f"best_{metric}"]).head(TOP_GRIDS)
        tiles = []
        grid_dir = tmp / "grids"
        grid_dir.mkdir(exist_ok=True)
        for _, row in ranked.iterrows():
            image = last_grid(client, row["run_id"], grid_dir / row["run_id"])
            if image is None:
                continue
            params = ", ".join(f"{p}={cell(row[p])}" for p in report.sweep.swept if p in row)
            best, last = cell(row[f"best_{metric}"]), cell(row[f"last_{metric}"])
            title = f"#{row['rank']} trial {row['trial']}: best {metric}={best} @ epoch {row['best_epoch']}"
            tiles.append((f"{title}\nlast {last}, samples of epoch {row['epochs']}\n{params}", image))
        return plots.grid_mosaic(tiles, path) if tiles else None

    attempt("top_samples.png", mosaic)
    return made


def _child_plot(client: MlflowClient, report: SweepReport, record: TrialRecord, tmp: Path) -> list[str]:
    from orchestrator import plots

    folder = tmp / "children" / record.run_id / Path(CHILD_PLOT).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = plots.trial_losses(record, report.sweep.metric, folder / Path(CHILD_PLOT).name)
    if path is None:
        return []
    client.log_artifact(record.run_id, str(path), str(Path(CHILD_PLOT).parent))
    return [f"{record.run_id}/{CHILD_PLOT}"]
