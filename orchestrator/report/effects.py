"""Which hyper-parameter mattered: per-value effects and Optuna's parameter importance.

A trial ASHA stopped at epoch 1 and one trained for 15 epochs differ mostly in training length,
so every effect is shown twice: at the common budget (best value up to the last epoch every
trial reached) and at each trial's best. Stopped and failed trials are counted per value, and a
value with fewer than `MIN_TRIALS` trials carries a note: its numbers are anecdotes.

Importance comes from Optuna's own evaluators (fANOVA where its scikit-learn dependency is
present, PED-ANOVA otherwise) on a study rebuilt from the table with `create_trial`, using the
common-budget value so all trials are measured at the same training length.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from orchestrator.record.names import best_key, sign_of
from orchestrator.report.records import SAMPLED_KINDS, Sweep

MIN_TRIALS = 3  # fewer trials per value: a note in the effects table
MIN_IMPORTANCE_TRIALS = 8  # fewer trials with a value: no importance (it would be noise)
BINS = 3  # sampled ranges are cut into this many (log-)equal bins


def is_log(sweep: Sweep, param: str, values: pd.Series) -> bool:
    """Log scale for loguniform params (or, without the spec, values spanning over a decade)."""
    kind = sweep.kinds.get(param)
    if kind:
        return kind.startswith(("log", "qlog"))
    numeric = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numeric) and (numeric > 0).all() and numeric.max() / numeric.min() > 10)


def is_sampled(sweep: Sweep, param: str, values: pd.Series) -> bool:
    """A param drawn from a range (binned for effects), as opposed to a grid or choice."""
    numeric = pd.to_numeric(values, errors="coerce")
    if not numeric.notna().all():
        return False
    kind = sweep.kinds.get(param)
    return kind in SAMPLED_KINDS if kind else values.nunique() > 6


def groups(values: pd.Series, sampled: bool, log: bool) -> pd.Series:
    """Group labels for a param: its values, or `BINS` ordered (log-)bins `lo..hi` via pd.cut."""
    if not sampled or values.nunique() <= BINS:
        return values.map(lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
    numeric = pd.to_numeric(values)
    scaled = np.log10(numeric) if log else numeric
    codes, edges = pd.cut(scaled, BINS, labels=False, retbins=True)
    edges = 10**edges if log else edges
    edges[0], edges[-1] = numeric.min(), numeric.max()  # pd.cut widens the outer edges by 0.1%
    labels = [f"{lo:.3g}..{hi:.3g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return pd.Series(pd.Categorical.from_codes(codes, labels, ordered=True), index=values.index)


def param_effects(table: pd.DataFrame, sweep: Sweep) -> dict[str, pd.DataFrame]:
    """For each swept param, per value (or bin): trials, stopped, failed, best / median at best,
    best / median at the common budget, the best trial, and a note when there are too few trials."""
    metric = sweep.metric
    best_col, budget_col = best_key(metric), f"budget_{metric}"
    effects: dict[str, pd.DataFrame] = {}
    for param in sweep.swept:
        if param not in table.columns:
            continue
        frame = table.copy()
        if budget_col not in frame.columns:
            frame[budget_col] = math.nan
        frame["group"] = groups(frame[param], is_sampled(sweep, param, frame[param]),
                                is_log(sweep, param, frame[param]))
        binned = isinstance(frame["group"].dtype, pd.CategoricalDtype)
        status = frame["status"].astype(str)
        frame["stopped"] = status.str.startswith("stopped")
        frame["failed"] = status.str.startswith("failed")
        grouped = frame.groupby("group", sort=binned, observed=True)
        out = grouped.agg(
            trials=("trial", "size"),
            stopped=("stopped", "sum"),
            failed=("failed", "sum"),
            best=(best_col, "min" if sign_of(metric) > 0 else "max"),
            median=(best_col, "median"),
            budget_best=(budget_col, "min" if sign_of(metric) > 0 else "max"),
            budget_median=(budget_col, "median"),
        )
        frame["_score"] = sign_of(metric) * frame[best_col]  # lower is better for either mode
        best_idx = frame.dropna(subset=["_score"]).groupby("group", observed=True)["_score"].idxmin()
        out["best_trial"] = best_idx.map(frame["trial"]).reindex(out.index)
        out = out.rename(columns={"best": best_col, "median": f"median_{metric}",
                                  "budget_best": f"{best_key(metric)}_at_budget",
                                  "budget_median": f"median_{metric}_at_budget"})
        out["note"] = [f"n<{MIN_TRIALS}" if n < MIN_TRIALS else "" for n in out["trials"]]
        out = out.rename_axis(param).reset_index()
        if not binned:  # bins come out in range order already
            try:
                out = out.sort_values(param, kind="stable")
            except TypeError:  # mixed types: keep first-seen order
                pass
        out[["stopped", "failed"]] = out[["stopped", "failed"]].astype(int)
        effects[param] = out.reset_index(drop=True)
    return effects


def _distribution(sweep: Sweep, param: str, values: pd.Series) -> Any:
    """The Optuna distribution a param was searched over (from the spec where it is recorded)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    kind = sweep.kinds.get(param, "")
    numeric = pd.to_numeric(values, errors="coerce")
    if kind in SAMPLED_KINDS and numeric.notna().all():
        bounds = sweep.bounds.get(param)
        low, high = float(numeric.min()), float(numeric.max())
        if isinstance(bounds, list | tuple) and len(bounds) >= 2:
            low, high = min(low, float(bounds[0])), max(high, float(bounds[1]))
        if "randint" in kind:
            return IntDistribution(int(low), int(high), log=kind.startswith("log"))
        return FloatDistribution(low, high, log=is_log(sweep, param, values))
    return CategoricalDistribution(sorted({_choice(v) for v in values}, key=str))


def _choice(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _value(distribution: Any, value: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return _choice(value)
    return int(value) if isinstance(distribution, IntDistribution) else float(value)


def study_of(table: pd.DataFrame, sweep: Sweep, column: str) -> Any:
    """An Optuna study holding one finished trial per row with a finite `column` value, over the
    params that vary, with the distributions the spec searched (trial number = table order); its
    direction is the metric's mode (minimize FID, maximize precision).

    None when no row has a value or no param varies. Optuna's own tools (importance, its plots)
    then read the sweep as if Optuna had run it.
    """
    import optuna

    if column not in table.columns:
        return None
    rows = table[np.isfinite(pd.to_numeric(table[column], errors="coerce"))]
    params = [p for p in sweep.swept if p in rows.columns and rows[p].nunique(dropna=False) > 1]
    if rows.empty or not params:
        return None
    distributions = {p: _distribution(sweep, p, rows[p]) for p in params}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "minimize" if sign_of(column) > 0 else "maximize"
    study = optuna.create_study(direction=direction, study_name=sweep.name)
    for _, row in rows.iterrows():
        values = {p: _value(distributions[p], row[p]) for p in params}
        attrs = {k: str(row[k]) for k in ("trial", "status") if k in row}
        study.add_trial(optuna.trial.create_trial(params=values, distributions=distributions,
                                                  value=float(row[column]), user_attrs=attrs))
    return study


def importance_skipped(table: pd.DataFrame, sweep: Sweep) -> str:
    """Why there is no importance for this sweep ('' when there is one)."""
    column = f"budget_{sweep.metric}"
    study = study_of(table, sweep, column)
    if study is None:
        return "no swept parameter varies among the trials with a value" if column in table.columns \
            else f"no trial has a {sweep.metric} value"
    if len(study.trials) < MIN_IMPORTANCE_TRIALS:
        return (f"importance needs at least {MIN_IMPORTANCE_TRIALS} trials with a {sweep.metric} value at "
                f"the common budget epoch; this sweep has {len(study.trials)} (fewer would rank noise)")
    return ""


def importance(table: pd.DataFrame, sweep: Sweep) -> pd.Series | None:
    """Optuna's parameter importance for the common-budget value, or None with too few trials.

    The Series is sorted, most important first; `attrs` say which evaluator, how many trials
    and at which epoch.
    """
    import optuna

    study = study_of(table, sweep, f"budget_{sweep.metric}")
    if study is None or len(study.trials) < MIN_IMPORTANCE_TRIALS:
        return None
    try:
        evaluator: Any = optuna.importance.FanovaImportanceEvaluator(seed=0)
        name = "fANOVA"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except ImportError:  # fANOVA needs scikit-learn; PED-ANOVA needs nothing more
        name = "PED-ANOVA"
        scores = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    series = pd.Series({k: float(v) for k, v in scores.items()}, name="importance")
    series = series.sort_values(ascending=False)
    series.attrs.update(evaluator=name, trials=len(study.trials), epoch=table.attrs.get("budget_epoch"))
    return series
