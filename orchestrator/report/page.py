"""The sweep's HTML report: one self-contained file, readable anywhere, MLflow's artifact viewer included.

Why self-contained: MLflow shows an HTML artifact inside its own page, where relative `<img>`
paths point nowhere, and a file mailed or copied out of the store loses its folder. So every PNG is
embedded as a data URI and plotly.js is inlined once. The interactive plots are Optuna's own
(`optuna.visualization`: optimisation history, parallel coordinates, slice, importance) on a study
rebuilt from the record (`effects.study_of`), the way optuna-dashboard shows a study; where one is
left out the page says why.
"""

from __future__ import annotations

import base64
import html
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from orchestrator.record.names import best_key
from orchestrator.report.build import SweepReport
from orchestrator.report.effects import importance_skipped, study_of
from orchestrator.report.render import budget_note, cell, display_columns, importance_line

STYLE = (
    "body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;margin-bottom:1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#eee}"
    "img{max-width:100%;margin:0.5em 0} .note{color:#666;font-style:italic}"
)


def data_uri(path: Path) -> str:
    """A PNG as a `data:` URI: the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def optuna_plots(report: SweepReport) -> list[tuple[str, Any, str]]:
    """(title, plotly figure or None, note) for each Optuna plot; the note says why one is missing.

    History, parallel coordinates and slice plot each trial's best value (stopped trials after fewer
    epochs: the caveat is in the note); importance uses the value at the common budget epoch, as the
    report's importance line does, and needs enough trials.
    """
    try:
        import optuna.visualization as vis
    except ImportError as err:  # pragma: no cover - optuna is a dependency
        return [("interactive plots", None, f"optuna.visualization is unavailable: {err}")]
    if not vis.is_available():
        return [("interactive plots", None, "Optuna's plots need plotly (pip install plotly)")]
    metric = report.sweep.metric
    study = study_of(report.table.sort_values("trial"), report.sweep, best_key(metric))
    if study is None:
        return [("interactive plots", None, f"no trial with a {metric} value and a varying parameter")]
    note = (f"value = best {metric} each trial reached (trials stopped early had fewer epochs); "
            "trial numbers in start order")
    plots: list[tuple[str, Any, str]] = []
    for title, make in (
        ("optimisation history (best so far)",
         lambda: vis.plot_optimization_history(study, target_name=metric)),
        ("parallel coordinates", lambda: vis.plot_parallel_coordinate(study, target_name=metric)),
        ("slice", lambda: vis.plot_slice(study, target_name=metric)),
    ):
        plots.append((title, _figure(make), note))
    why = importance_skipped(report.table, report.sweep)
    budget = study_of(report.table, report.sweep, f"budget_{metric}") if not why else None
    title = f"parameter importance ({metric} at epoch {report.budget_epoch})"
    if budget is None:
        plots.append((title, None, f"skipped: {why}"))
    else:
        evaluator = _evaluator()
        plots.append((title, _figure(lambda: vis.plot_param_importances(
            budget, evaluator=evaluator, target_name=metric)), f"{type(evaluator).__name__}, seed 0"))
    return plots


def _evaluator() -> Any:
    import optuna

    try:
        import sklearn  # noqa: F401 - fANOVA's forest

        return optuna.importance.FanovaImportanceEvaluator(seed=0)
    except ImportError:
        return optuna.importance.PedAnovaImportanceEvaluator()


def _figure(make: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():  # Optuna's ExperimentalWarning on some plots
        warnings.simplefilter("ignore")
        return make()


def to_html(report: SweepReport, images: list[Path] = (), interactive: bool = True) -> str:
    """The page: table, notes, parameter effects, the PNG plots (embedded) and Optuna's plots."""
    sweep = report.sweep

    def table(frame: pd.DataFrame) -> str:
        return frame.map(cell).to_html(index=False, escape=True)

    body = [
        f"<h1>Sweep {html.escape(sweep.name)}</h1>",
        f"<p>parent run {html.escape(sweep.run_id)}; ranked by the re-measured final value where there is "
        f"one, else best {html.escape(sweep.metric)} (values of other metric protocols are never ranked "
        "together)</p>",
        table(report.table[display_columns(report) + ["run_id"]]),
    ]
    body += [f"<p>{html.escape(text)}</p>" for text in (budget_note(report), importance_line(report)) if text]
    why = importance_skipped(report.table, report.sweep) if report.importance is None else ""
    body += [f"<p class='note'>parameter importance skipped: {html.escape(why)}</p>"] if why else []
    for param, frame in report.effects.items():
        body.append(f"<h2>Effect of {html.escape(param)}</h2>")
        body.append(table(frame))
    for path in images:
        heading = html.escape(path.stem.replace("_", " "))
        body.append(f'<h2>{heading}</h2><img alt="{heading}" src="{data_uri(path)}">')
    if interactive:
        script = True  # plotly.js inlined with the first figure only
        body.append("<h1>Interactive plots (Optuna)</h1>")
        for title, figure, note in optuna_plots(report):
            body.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>")
            if figure is not None:
                body.append(figure.to_html(full_html=False, include_plotlyjs=script))
                script = False
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>gansweep {html.escape(sweep.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def plots_line(client: Any, report: SweepReport) -> str:
    """Where the sweep's plots are: what `gansweep report` prints under its tables."""
    from urllib.parse import unquote, urlparse

    run_id = report.sweep.run_id
    logged = [a.path for a in client.list_artifacts(run_id, "report")]
    make = f"`gansweep report {report.sweep.name} --html FILE` writes them into one page"
    if not logged:
        return f"plots: none logged on the parent run {run_id} (the sweep ended early?); {make}"
    pngs = sum(1 for p in logged if p.endswith(".png"))
    where = f"the parent run's artifacts, report/ (`gansweep ui --sweep {run_id}`)"
    uri = client.get_run(run_id).info.artifact_uri
    if uri.startswith("file:"):
        where = f"{unquote(urlparse(uri).path)}/report/"
    elif "://" not in uri:
        where = f"{uri}/report/"
    return f"plots: {pngs} PNGs and comparison.html in {where}; {make}"
