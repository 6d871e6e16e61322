"""The end-of-sweep report logged to MLflow: table and plots on the parent run, a plot per child.

`log_sweep_report` is what `gansweep run` calls at the end of every sweep: the table as CSV,
HTML and Markdown plus the plots go to the parent run (`report/`), with a Markdown description and
`best.<param>` params (`describe`), a loss plot to every child run (`plots/losses.png`). It never
raises: a sweep that trained for hours must not be lost to a plot.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from orchestrator.record.names import BEST_EPOCH, best_key
from orchestrator.record.store import install_sweep_view
from orchestrator.report import effect_plots, plots
from orchestrator.report.build import SweepReport, build_report
from orchestrator.report.describe import describe_parent
from orchestrator.report.page import to_html
from orchestrator.report.records import Sweep, TrialRecord, find_sweep
from orchestrator.report.render import cell, to_markdown

log = logging.getLogger(__name__)

REPORT_DIR = "report"  # artifact folder of the parent run
CHILD_PLOT = "plots/losses.png"  # artifact of every child run
TOP_GRIDS = 4  # trials in the sample-grid mosaic


def _warn(what: str, err: BaseException) -> None:
    message = (str(err).strip().splitlines() or [type(err).__name__])[0]
    log.warning("report: %s failed: %s", what, message)
    print(f"gansweep: warning: {what} failed: {type(err).__name__}: {message}", file=sys.stderr)


def last_grid(client: MlflowClient, run_id: str, directory: Path) -> np.ndarray | None:
    """The last epoch's fixed-noise sample grid of a trial (MLflow image "samples"), as uint8 HxWx3.

    Sweeps recorded before grids were MLflow images have them as `grids/epoch_NNN.png` artifacts.
    """
    from PIL import Image

    from orchestrator.record.store import sample_steps

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bars in our output
    grids = sample_steps(client, run_id)  # {epoch: artifact path}
    if not grids:  # sweeps recorded before log_image: grids/epoch_NNN.png artifacts
        old = [a.path for a in client.list_artifacts(run_id, "grids") if a.path.endswith(".png")]
        grids = {i: path for i, path in enumerate(sorted(old))}
    if not grids:
        return None
    local = client.download_artifacts(run_id, grids[max(grids)], str(directory))
    with Image.open(local) as image:
        return np.asarray(image.convert("RGB"))


def log_sweep_report(client: MlflowClient, sweep: Sweep | str) -> list[str]:
    """Log table (CSV, HTML, Markdown) and plots to the parent run, a loss plot to every child.

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
        images = parent_plots(client, report, out, Path(tmp))
        for name, text in (
            ("comparison.csv", lambda: report.table.to_csv(index=False)),
            ("comparison.html", lambda: to_html(report, [out / name for name in images])),
            ("report.md", lambda: to_markdown([report])),
        ):
            try:
                (out / name).write_text(text(), encoding="utf-8")
            except Exception as err:  # noqa: BLE001
                _warn(f"writing {name}", err)
        try:
            client.log_artifacts(sweep.run_id, str(out), REPORT_DIR)
            written += [f"{REPORT_DIR}/{p.name}" for p in sorted(out.iterdir())]
        except Exception as err:  # noqa: BLE001
            _warn("logging the report artifacts", err)
        try:
            describe_parent(client, report, images)
            install_sweep_view(client, sweep.run_id, latest=True)  # now with the final metric, if any
        except Exception as err:  # noqa: BLE001
            _warn("the parent run's description", err)
        for record in report.trials:
            try:
                written += _child_plot(client, report, record, Path(tmp))
            except Exception as err:  # noqa: BLE001
                _warn(f"the loss plot of trial {record.trial}", err)
    return written


def parent_plots(client: MlflowClient, report: SweepReport, out: Path, tmp: Path) -> list[str]:
    """Every plot of the parent run, each tried on its own; returns the file names made."""
    made: list[str] = []

    def attempt(name: str, make: Callable[[Path], Path | None]) -> None:
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
    attempt("param_effects.png",
            lambda p: effect_plots.param_effects(report.table, report.sweep, report.budget_epoch, p))
    attempt("parallel_coordinates.png",
            lambda p: effect_plots.parallel_coordinates(report.table, report.sweep, p))
    attempt("param_importance.png", lambda p: effect_plots.importance_bars(report.importance, metric, p))
    attempt("top_samples.png", lambda p: _mosaic(client, report, p, tmp))
    return made


def _mosaic(client: MlflowClient, report: SweepReport, path: Path, tmp: Path) -> Path | None:
    """The last sample grids of the best completed trials; stopped ones only to fill, marked so.

    A trial stopped at epoch 2 shows epoch-2 samples: next to epoch-15 samples they would
    mislead, so they come after every completed trial and their title says STOPPED.
    """
    metric = report.sweep.metric
    ranked = report.table.dropna(subset=[best_key(metric)])
    done = ranked["status"].astype(str) == "completed"
    ranked = pd.concat([ranked[done], ranked[~done]]).head(TOP_GRIDS)
    tiles: list[tuple[str, Any]] = []
    marked: list[bool] = []
    grid_dir = tmp / "grids"
    grid_dir.mkdir(exist_ok=True)
    for _, row in ranked.iterrows():
        image = last_grid(client, row["run_id"], grid_dir / row["run_id"])
        if image is None:
            continue
        params = ", ".join(f"{p}={cell(row[p])}" for p in report.sweep.swept if p in row)
        best, last = cell(row[best_key(metric)]), cell(row[f"last_{metric}"])
        title = f"#{row['rank']} trial {row['trial']}: best {metric}={best} @ epoch {row[BEST_EPOCH]}"
        status = "completed" if row["status"] == "completed" else f"{str(row['status']).upper()}"
        tiles.append((f"{title}\n{status}: last {last}, samples of epoch {row['epochs']}\n{params}", image))
        marked.append(row["status"] != "completed")
    return plots.grid_mosaic(tiles, path, marked) if tiles else None


def _child_plot(client: MlflowClient, report: SweepReport, record: TrialRecord, tmp: Path) -> list[str]:
    folder = tmp / "children" / record.run_id / Path(CHILD_PLOT).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = plots.trial_losses(record, report.sweep.metric, folder / Path(CHILD_PLOT).name)
    if path is None:
        return []
    client.log_artifact(record.run_id, str(path), str(Path(CHILD_PLOT).parent))
    return [f"{record.run_id}/{CHILD_PLOT}"]


def write_html(client: Any, report: SweepReport, path: Path) -> Path:
    """`gansweep report NAME --html FILE`: the same page as the parent run's, plots made afresh."""
    with tempfile.TemporaryDirectory(prefix="gansweep-html-") as tmp:
        out = Path(tmp) / "plots"
        out.mkdir()
        made = parent_plots(client, report, out, Path(tmp))
        path.write_text(to_html(report, [out / name for name in made]), encoding="utf-8")
    return path
