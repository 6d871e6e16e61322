"""PNG plots of a sweep (matplotlib, no display needed).

Figures are built with `matplotlib.figure.Figure` directly instead of pyplot: no global figure
state, no GUI backend (Agg renders the PNG), safe to call from the driver at the end of a sweep
while other threads run. Every function writes one PNG and returns its path, or None when there is
nothing to draw (e.g. no trial reported an epoch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; we never do, but a caller might

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from orchestrator.report.render import cell  # noqa: E402

if TYPE_CHECKING:
    from orchestrator.report.records import TrialRecord

DPI = 100
STATUS_STYLE = {  # how a trial ended, visible at a glance
    "completed": {"linestyle": "-", "marker": "o"},
    "stopped": {"linestyle": "--", "marker": "x"},
    "failed": {"linestyle": ":", "marker": "v"},
    "running": {"linestyle": "-.", "marker": "."},
}


def _label(record: TrialRecord) -> str:
    params = " ".join(f"{k}={cell(v)}" for k, v in record.params.items())
    return f"{record.trial} {params}".strip()


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


def plain_log_axis(axis: Axis) -> None:
    """Log-axis labels as plain numbers (`0.0002`, `20`), not `2x10^-4`; 2s and 5s when the range is short."""

    def minor(value: float, _: Any) -> str:
        low, high = sorted(axis.get_view_interval())
        if value <= 0 or low <= 0 or high / low > 30:
            return ""
        lead = round(value / 10 ** math.floor(math.log10(value)))
        return cell(float(value)) if lead in (2, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: cell(float(value))))
    axis.set_minor_formatter(FuncFormatter(minor))


def _colors(n: int) -> list[Any]:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def metric_curves(trials: Sequence[TrialRecord], metric: str, path: Path, title: str = "") -> Path | None:
    """FID (the sweep's metric) vs epoch for every trial; stopped trials end early with an x."""
    curves = [(t, t.curve(metric)) for t in trials]
    if not any(c for _, c in curves):
        return None
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    max_epoch = max(s for _, c in curves for s, _ in c)
    for (record, curve), color in zip(curves, _colors(len(curves)), strict=True):
        style = STATUS_STYLE.get(record.status, STATUS_STYLE["running"])
        if not curve:
            continue
        steps, values = zip(*curve, strict=True)
        ax.plot(steps, values, color=color, linestyle=style["linestyle"], linewidth=1.5,
                label=f"{_label(record)} [{record.status}]")
        ax.plot(steps[-1], values[-1], color=color, marker=style["marker"], markersize=9, mew=2)
    for record in trials:  # failed trials without a value: say so in the legend
        if record.status == "failed" and not record.curve(metric):
            ax.plot([], [], color="red", linestyle=":", label=f"{_label(record)} [failed, no {metric}]")
    ax.axvline(max_epoch, color="0.7", linewidth=0.8)
    ax.set_xlabel("epoch")
    values = [v for _, c in curves for _, v in c if math.isfinite(v)]
    if values and min(values) > 0:  # FID spans decades early in training: a log axis shows all of it
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
        ax.set_ylabel(f"{metric} (log scale)")
    else:
        ax.set_ylabel(metric)
    ax.set_title(f"{title}: {metric} per epoch (x = stopped early)" if title else metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def loss_grid(trials: Sequence[TrialRecord], table: pd.DataFrame, path: Path) -> Path | None:
    """D and G loss per epoch, one small panel per trial, in rank order."""
    order = {run_id: i for i, run_id in enumerate(table["run_id"])} if "run_id" in table else {}
    ranked = sorted(trials, key=lambda t: order.get(t.run_id, len(order)))
    ranked = [t for t in ranked if t.curve("d_loss") or t.curve("g_loss")]
    if not ranked:
        return None
    cols = min(4, len(ranked))
    rows = math.ceil(len(ranked) / cols)
    fig = Figure(figsize=(3.4 * cols, 2.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, record in zip(axes, ranked, strict=False):
        for key, color in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
            curve = record.curve(key)
            if curve:
                steps, values = zip(*curve, strict=True)
                ax.plot(steps, values, color=color, marker=".", label=key.replace("_loss", ""))
        ax.set_title(f"{_label(record)}\n{record.status} ({record.epochs} ep)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(ranked):]:
        ax.set_axis_off()
    fig.suptitle("discriminator / generator loss per epoch")
    return _save(fig, path)


def epoch_time(trials: Sequence[TrialRecord], path: Path) -> Path | None:
    """Median seconds per training epoch by conv_dim (x) and batch size (bars), trials as dots."""
    rows = []
    for record in trials:
        times = [v for _, v in record.curve("epoch_s")]
        if times:
            rows.append({
                "conv_dim": record.config.get("conv_dim", "?"),
                "batch_size": record.config.get("batch_size", "?"),
                "epoch_s": float(np.median(times)),
            })
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    dims = sorted(frame["conv_dim"].unique(), key=_sort_key)
    batches = sorted(frame["batch_size"].unique(), key=_sort_key)
    width = 0.8 / len(batches)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for j, (batch, color) in enumerate(zip(batches, _colors(len(batches)), strict=True)):
        for i, dim in enumerate(dims):
            part = frame[(frame["conv_dim"] == dim) & (frame["batch_size"] == batch)]["epoch_s"]
            if part.empty:
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.bar(x, float(part.median()), width=width * 0.9, color=color, alpha=0.6, label=f"batch {batch}")
            ax.scatter([x] * len(part), part, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(dims)), [str(d) for d in dims])
    ax.set_xlabel("conv_dim")
    ax.set_ylabel("seconds per epoch (median over epochs)")
    ax.set_title("training time per epoch by conv_dim and batch size (dots = trials)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def grid_mosaic(tiles: Sequence[tuple[str, np.ndarray]], path: Path,
                marked: Sequence[bool] = ()) -> Path | None:
    """The last sample grids of the top trials side by side; `marked` tiles get a red title."""
    if not tiles:
        return None
    cols = min(len(tiles), 4)
    rows = math.ceil(len(tiles) / cols)
    fig = Figure(figsize=(4 * cols, 4.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    flags = list(marked) + [False] * (len(tiles) - len(marked))
    for ax, (title, image), flag in zip(axes, tiles, flags, strict=False):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=8, color="tab:red" if flag else "black")
        ax.set_axis_off()
    for ax in axes[len(tiles):]:
        ax.set_axis_off()
    note = "; red: stopped early, samples of an earlier epoch" if any(flags) else ""
    # above the tile titles: constrained layout does not reserve room for it beside fixed-aspect images
    fig.suptitle(f"last fixed-noise samples of the best trials, completed first{note}", y=1.0, va="bottom")
    return _save(fig, path)


def trial_losses(record: TrialRecord, metric: str, path: Path) -> Path | None:
    """One trial: D and G loss per epoch, its metric on a second axis."""
    if not (record.curve("d_loss") or record.curve("g_loss") or record.curve(metric)):
        return None
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    for key, color in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
        curve = record.curve(key)
        if curve:
            steps, values = zip(*curve, strict=True)
            ax.plot(steps, values, color=color, marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    curve = record.curve(metric)
    if curve:
        twin = ax.twinx()
        steps, values = zip(*curve, strict=True)
        twin.plot(steps, values, color="tab:green", marker="s", linestyle="--", label=metric)
        twin.set_ylabel(metric)
        more_h, more_l = twin.get_legend_handles_labels()
        handles, labels = handles + more_h, labels + more_l
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="best")
    ax.set_title(f"trial {record.trial} {' '.join(f'{k}={cell(v)}' for k, v in record.params.items())}\n"
                 f"{record.detail or record.status}", fontsize=9)
    return _save(fig, path)
