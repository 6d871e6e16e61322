"""Plots of which hyper-parameter mattered: effects per param, parallel coordinates, importance.

Built like plots.py (a `Figure` per PNG, no pyplot). Each trial's best value is drawn next to its
value at the common budget (the last epoch every trial reached), so a trial stopped at epoch 1 is
visibly measured at a different training length than one trained to the end; stopped trials are
marked, loguniform params get a log axis, and a value with fewer than 3 trials is flagged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from orchestrator.record.names import best_key, sign_of
from orchestrator.report.effects import MIN_TRIALS, is_log, is_sampled
from orchestrator.report.plots import _save, _sort_key, plain_log_axis
from orchestrator.report.records import Sweep
from orchestrator.report.render import cell

LABELLED = 5  # trials named at the end of their line in the parallel coordinates
STATUS_MARK = {"completed": ("o", "tab:blue"), "stopped": ("x", "tab:orange"), "running": (".", "0.4")}


def _status(text: str) -> str:
    return text.split(" ", 1)[0].rstrip(":")


def _positions(sweep: Sweep, param: str, values: pd.Series) -> tuple[pd.Series, list | None, bool]:
    """x of each trial: the value itself (numeric range) or a category index; categories; log axis."""
    if is_sampled(sweep, param, values):
        return pd.to_numeric(values), None, is_log(sweep, param, values)
    cats = sorted(values.dropna().unique(), key=_sort_key)
    index = {c: i for i, c in enumerate(cats)}
    return values.map(index), cats, False


def param_effects(table: pd.DataFrame, sweep: Sweep, budget: int | None, path: Path) -> Path | None:
    """Per swept param: each trial's best (marker by status) and its value at the common budget."""
    fig = param_effects_figure(table, sweep, budget)
    return None if fig is None else _save(fig, path)


def param_effects_figure(table: pd.DataFrame, sweep: Sweep, budget: int | None) -> Figure | None:
    """The figure of `param_effects` (one panel per swept param), for saving or inspecting."""
    metric = sweep.metric
    best_col, budget_col = best_key(metric), f"budget_{metric}"
    params = [p for p in sweep.swept if p in table.columns]
    if not params or table[best_col].dropna().empty:
        return None
    fig = Figure(figsize=(4.2 * len(params), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(params), squeeze=False)).ravel()
    for ax, param in zip(axes, params, strict=True):
        part = table[table[best_col].notna() & table[param].notna()]
        xs, cats, log = _positions(sweep, param, part[param])
        jitter = 0.0 if cats is None else 0.08
        for status, (marker, color) in STATUS_MARK.items():
            mask = part["status"].astype(str).map(_status) == status
            if mask.any():
                ax.scatter(xs[mask] - jitter, part.loc[mask, best_col], marker=marker, color=color,
                           label=f"best ({status})", zorder=3)
        if budget is not None and budget_col in part:
            ax.scatter(xs + jitter, part[budget_col], facecolors="none", edgecolors="black",
                       label=f"at epoch {budget} (all trials)", zorder=2)
        if cats is None:
            if log:
                ax.set_xscale("log")
                plain_log_axis(ax.xaxis)
            bounds = sweep.bounds.get(param)
            if isinstance(bounds, list | tuple) and len(bounds) == 2:  # the searched range, not just the hits
                low, high = float(bounds[0]), float(bounds[1])
                pad = (high / low) ** 0.04 if log and low > 0 else None
                ax.set_xlim(*((low / pad, high * pad) if pad else (low - 0.04 * (high - low),
                                                                   high + 0.04 * (high - low))))
        else:
            counts = table[param].value_counts()
            labels = [f"{cell(c)}\nn={counts.get(c, 0)}" + (" (few)" if counts.get(c, 0) < MIN_TRIALS else "")
                      for c in cats]
            ax.set_xticks(range(len(cats)), labels)
            ax.set_xlim(-0.5, len(cats) - 0.5)
            for tick, cat in zip(ax.get_xticklabels(), cats, strict=True):
                if counts.get(cat, 0) < MIN_TRIALS:
                    tick.set_color("tab:red")
        if (part[[best_col]].to_numpy() > 0).all():
            ax.set_yscale("log")
            plain_log_axis(ax.yaxis)
        ax.set_xlabel(param + (" (log scale)" if log else ""))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    missing = int(table[best_col].isna().sum())
    note = f"; {missing} trial(s) without a value not shown" if missing else ""
    fig.suptitle(f"parameter effects on {metric}: each trial's best, and at epoch {budget} which every "
                 f"trial reached{note}", fontsize=10)
    return fig


def parallel_coordinates(table: pd.DataFrame, sweep: Sweep, path: Path) -> Path | None:
    """One line per trial through its params to its best value, coloured by that value."""
    metric = sweep.metric
    best_col = best_key(metric)
    part = table[np.isfinite(pd.to_numeric(table[best_col], errors="coerce"))]
    params = [p for p in sweep.swept if p in part.columns and part[p].notna().all()]
    if len(part) < 2 or not params:
        return None
    axes_cols = [*params, best_col]
    scaled, ticks = {}, {}
    for col in axes_cols:
        values = part[col]
        if col == best_col:
            xs, cats, log = values.astype(float), None, True
        else:
            xs, cats, log = _positions(sweep, col, values)
        if cats is not None:
            scaled[col] = xs / max(len(cats) - 1, 1)
            ticks[col] = [(i / max(len(cats) - 1, 1), cell(c)) for i, c in enumerate(cats)]
            continue
        raw = np.log10(xs) if log and (xs > 0).all() else xs
        lo, hi = float(raw.min()), float(raw.max())
        scaled[col] = (raw - lo) / (hi - lo) if hi > lo else raw * 0 + 0.5
        ticks[col] = [(0.0, cell(float(xs.min()))), (1.0, cell(float(xs.max())))]
    scores = part[best_col].astype(float)
    norm = LogNorm(scores.min(), scores.max()) if (scores > 0).all() and scores.max() > scores.min() \
        else Normalize(scores.min(), scores.max())
    better = "lower" if sign_of(metric) > 0 else "higher"
    cmap = colormaps["coolwarm" if better == "lower" else "coolwarm_r"]  # blue = good; visible on white
    fig = Figure(figsize=(2.2 * len(axes_cols) + 1.5, 4.5), layout="constrained")
    ax = fig.subplots()
    bar = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=f"best {metric} ({better} is better)")
    if isinstance(norm, LogNorm):
        plain_log_axis(bar.ax.yaxis)
    labelled = set((sign_of(metric) * scores).nsmallest(LABELLED).index)  # the best few, not all: overlap
    for row_index, row in part.iterrows():
        ys = [scaled[c][row_index] for c in axes_cols]
        stopped = str(row["status"]).startswith("stopped")
        ax.plot(range(len(axes_cols)), ys, color=cmap(norm(row[best_col])), linewidth=1.6,
                linestyle="--" if stopped else "-", alpha=0.9)
        if row_index in labelled:
            ax.annotate(str(row["trial"]), (len(axes_cols) - 1, ys[-1]), xytext=(4, 0),
                        textcoords="offset points", fontsize=7, va="center")
    for i, col in enumerate(axes_cols):
        ax.axvline(i, color="0.3", linewidth=0.8)
        for y, label in ticks[col]:
            ax.annotate(label, (i, y), xytext=(-4, 0), textcoords="offset points", ha="right", va="center",
                        fontsize=7, color="0.1", zorder=5,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})
    ax.set_xticks(range(len(axes_cols)), [*params, f"best {metric}"])
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.4, len(axes_cols) - 0.6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"params -> best {metric}, one line per trial (dashed: stopped early; "
                 f"the {LABELLED} best labelled)", fontsize=10)
    return _save(fig, path)


def importance_bars(importance: pd.Series | None, metric: str, path: Path) -> Path | None:
    """Optuna's parameter importance as horizontal bars, most important on top."""
    if importance is None or importance.empty:
        return None
    ordered = importance.sort_values()
    fig = Figure(figsize=(6, 0.5 * len(ordered) + 1.5), layout="constrained")
    ax = fig.subplots()
    bars = ax.barh(ordered.index.astype(str), ordered.to_numpy(), color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in ordered], fontsize=8, padding=3)
    ax.set_xlim(0, max(1.0, float(ordered.max()) * 1.15))
    ax.set_xlabel("importance (share of variance explained)")
    attrs = importance.attrs
    ax.set_title(f"parameter importance for {metric} at epoch {attrs.get('epoch')}\n"
                 f"({attrs.get('evaluator')}, {attrs.get('trials')} trials)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)

