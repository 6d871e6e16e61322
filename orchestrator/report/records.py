"""Reading a sweep back from MLflow into typed records (the record, not Tune's local files).

Everything downstream (tables, effects, plots) works on `Sweep` and `TrialRecord`, so this is the
only module that knows tag names and how MLflow stores params (strings) and metric histories.
Readers are defensive on purpose: the record format grows (protocol tags, re-measured `final_*`
metrics, whole trial configs), and a report of an older sweep must still work with what is there.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from orchestrator.record import names
from orchestrator.record.names import (
    PARENT,
    TAG_BACKBONE,
    TAG_DETAIL,
    TAG_KIND,
    TAG_METRIC,
    TAG_PROTOCOL,
    TAG_PROTOCOL_KEY,
    TAG_STATUS,
    TAG_SWEEP,
    TAG_SWEPT,
    TAG_TRIAL,
    TAG_VERDICT,
    short_trial_id,
)
from orchestrator.record.sqlite import DB_FILE, STORE_DIR, sqlite_path, sqlite_uri
from trainers.metric_names import parse_metric_name

# Per-epoch values a report reads; everything else a trial logs is left in MLflow.
CURVES = ("d_loss", "g_loss", "epoch_s", "eval_s", "img_per_s", "time_total_s")
SEARCH_PARAMS = f"{names.SPEC_PARAM_PREFIX}search.params."  # the parent's params: the search space
BASE_CONFIG = tuple(f"{names.SPEC_PARAM_PREFIX}{section}." for section in ("model", "train"))  # fixed values
SAMPLED_KINDS = ("uniform", "loguniform", "randint", "lograndint", "quniform", "qloguniform")


class ReportError(ValueError):
    """Unknown sweep, empty sweep, missing or unreadable store: the CLI turns it into exit 2."""


@dataclass(frozen=True)
class Sweep:
    """The parent run of a sweep: what it measured and what it searched."""

    run_id: str
    experiment_id: str
    name: str
    metric: str
    swept: list[str]
    kinds: dict[str, str] = field(default_factory=dict)  # param -> grid | choice | loguniform | ...
    bounds: dict[str, Any] = field(default_factory=dict)  # param -> the spec's values or [low, high]
    protocol: dict[str, Any] | None = None
    protocol_key: str | None = None
    backbone: str | None = None
    verdict: str | None = None  # the re-measured winner vs runner-up (orchestrator.uncertainty)
    seed_verdict: str | None = None  # the same across training seeds (metrics.final_seeds > 1)
    picked: str = ""  # found by a name several sweeps share: which one this is and how to pick another

    @property
    def verdicts(self) -> list[str]:
        """The uncertainty lines to show: over sample draws, then across training seeds."""
        return [line for line in (self.verdict, self.seed_verdict) if line]

    @property
    def kid_metric(self) -> str | None:
        """The KID of the same protocol (`fid1k_rand` -> `kid1k_rand`), if the metric is a FID."""
        return kid_of(self.metric)


def kid_of(metric: str) -> str | None:
    """The KID measured the same way as `metric` (`fid1k_rand` -> `kid1k_rand`); None if not a FID."""
    parsed = parse_metric_name(metric)
    return parsed.with_kind("kid") if parsed is not None and parsed.kind == "fid" else None


@dataclass
class TrialRecord:
    """One child run with the metric histories a report needs, fetched once."""

    run_id: str
    trial: str  # the short trial id (`00003`): the one form shown everywhere
    tune_id: str  # Tune's full id (`b86cc_00003`), for joining with Tune's own files
    status: str  # completed | stopped | failed | running
    detail: str
    metric: str  # the metric protocol this trial was recorded with
    params: dict[str, Any]  # the swept values, typed back from MLflow's strings
    config: dict[str, Any]  # spec base values overlaid with the trial's params
    start_ms: int | None
    end_ms: int | None
    latest: dict[str, float] = field(default_factory=dict)  # last value of every metric of the run
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def curve(self, key: str) -> list[tuple[int, float]]:
        return self.curves.get(key, [])

    @property
    def epochs(self) -> int:
        steps = [s for key in ("epoch_s", "d_loss", self.metric) for s, _ in self.curve(key)]
        return max(steps, default=0)

    def final(self, metric: str) -> tuple[str, float] | None:
        """The re-measured end-of-sweep value (`final_<metric>`, or the `final_` of the same kind at
        another sample size: re-measurement uses a larger one)."""
        exact = names.final_key(metric)
        if _finite(self.latest.get(exact)):
            return exact, float(self.latest[exact])
        kind = _kind(metric)
        for key in sorted(self.latest):
            if kind and _kind(names.final_metric(key)) == kind and _finite(self.latest[key]):
                return key, float(self.latest[key])
        return None


def _kind(metric: str | None) -> str | None:
    parsed = parse_metric_name(metric) if metric else None
    return parsed.kind if parsed is not None else None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def typed(value: str | None) -> Any:
    """An MLflow param string back to int / float / bool / None / str."""
    if value is None:
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return {"True": True, "False": False, "None": None}.get(value, value)


# ---------------------------------------------------------------------------------------------
# The store


def store_uri(store: str | None) -> str:
    """`--store` as a tracking URI: a folder holding `mlflow.db` or a `.db` file means SQLite."""
    from orchestrator.record.store import default_tracking_uri as local_store_uri

    if not store:
        return local_store_uri()
    if "://" in store or store.startswith("file:"):
        return store
    path = Path(store).expanduser()
    if path.is_dir() and (path / DB_FILE).is_file():
        path = path / DB_FILE
    elif path.is_dir() and (path / STORE_DIR / DB_FILE).is_file():
        path = path / STORE_DIR / DB_FILE
    if path.is_dir():
        raise ReportError(f"--store {store}: a folder without mlflow.db is not an MLflow store "
                          "(pass the sqlite:///.../mlflow.db URI or the folder that holds it)")
    if not path.exists():
        raise ReportError(f"--store {store}: no such file (run a sweep first, or pass --store URI)")
    return sqlite_uri(path.resolve())


def open_store(store: str | None = None) -> MlflowClient:
    """A client on an existing store; every bad `--store` becomes a one-line ReportError.

    MLflow would silently create an empty SQLite db at a mistyped path, and an unreachable
    server retries for minutes: both are checked before the first real query.
    """
    uri = store_uri(store)
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme.startswith("sqlite"):
        local = sqlite_path(uri)
        if local is None or not local.exists():
            raise ReportError(f"no MLflow store at {local or uri} (run a sweep first, or pass --store URI)")
        with open(local, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise ReportError(f"--store {uri}: {local} is not an SQLite database")
    elif scheme not in ("http", "https", "databricks", "postgresql", "mysql", "mssql") and not (
        scheme.startswith(("postgresql+", "mysql+", "mssql+"))
    ):
        raise ReportError(f"--store {uri}: not a tracking URI gansweep reads "
                          "(sqlite:///path/mlflow.db, http(s)://server, or a folder holding mlflow.db)")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast, not after minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        from orchestrator.record.store import quiet_migrations

        quiet_migrations()
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - any backend failure is "cannot read this store"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ReportError(f"cannot read the MLflow store {uri}: {first[:200]}") from None
    return client


def sweep_names(client: MlflowClient) -> list[str]:
    """Names of every sweep in the store (for 'did you mean')."""
    experiments = client.search_experiments()
    if not experiments:
        return []
    runs = client.search_runs([e.experiment_id for e in experiments],
                              filter_string=f"tags.`{TAG_KIND}` = '{names.KIND_SWEEP}'", max_results=5000)
    return sorted({r.data.tags.get(TAG_SWEEP, r.info.run_name) for r in runs})


def find_sweep(client: MlflowClient, name_or_id: str) -> Sweep:
    """A sweep by parent run id, by parent run name (`demo 2026-12-07 16:09`), or by sweep name
    (the most recent sweep of that name; `Sweep.picked` says so when there are several)."""
    run = None
    try:
        run = client.get_run(name_or_id)
    except Exception:  # noqa: BLE001 - not a run id; try it as a sweep name below
        run = None
    if run is not None and run.data.tags.get(TAG_KIND) == names.KIND_SWEEP:
        return _sweep_of(run)
    if run is not None and run.data.tags.get(TAG_KIND) == names.KIND_TRIAL:
        raise ReportError(f"'{name_or_id}' is a trial run, not a sweep (its sweep is its parent run)")
    experiments = client.search_experiments()
    quoted = name_or_id.replace("'", "\\'")
    runs: list[Any] = []
    for by in (f"tags.`{TAG_SWEEP}` = '{quoted}'", f"attributes.run_name = '{quoted}'"):
        runs = client.search_runs(
            [e.experiment_id for e in experiments],
            filter_string=f"tags.`{TAG_KIND}` = '{names.KIND_SWEEP}' and {by}",
            order_by=["attributes.start_time DESC"],
            max_results=100,
        ) if experiments else []
        if runs:
            break
    if not runs:
        raise ReportError(_unknown_sweep(client, name_or_id))
    sweep = _sweep_of(runs[0])
    if len(runs) > 1:  # Sweep is frozen: a copy with the note
        earlier = ", ".join(f"'{r.info.run_name}'" for r in runs[1:4]) + (", ..." if len(runs) > 4 else "")
        sweep = replace(sweep, picked=f"{len(runs)} sweeps are named '{name_or_id}'; showing the latest, "
                        f"'{runs[0].info.run_name}' (run {runs[0].info.run_id}); name another by its run "
                        f"name or id (earlier: {earlier})")
    return sweep


def _unknown_sweep(client: MlflowClient, name: str) -> str:
    known = sweep_names(client)
    message = f"no sweep named or with run id '{name}' in the MLflow store"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if close:
        return f"{message}; did you mean '{close[0]}'?"
    if known:
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        return f"{message} (sweeps: {shown})"
    return f"{message} (it has no sweeps yet)"


def _sweep_of(run: Any) -> Sweep:
    tags, params = run.data.tags, run.data.params
    swept = [s for s in tags.get(TAG_SWEPT, "").split(",") if s]
    kinds: dict[str, str] = {}
    bounds: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith(SEARCH_PARAMS):
            param, _, kind = key.removeprefix(SEARCH_PARAMS).rpartition(".")
            kinds[param] = kind
            bounds[param] = _literal(value)
    protocol = None
    try:
        loaded = json.loads(tags[TAG_PROTOCOL]) if TAG_PROTOCOL in tags else None
        protocol = loaded if isinstance(loaded, dict) else None
    except ValueError:
        protocol = None
    return Sweep(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        name=tags.get(TAG_SWEEP, run.info.run_name),
        metric=tags.get(TAG_METRIC, "fid"),
        swept=swept,
        kinds=kinds,
        bounds=bounds,
        protocol=protocol,
        protocol_key=tags.get(TAG_PROTOCOL_KEY),
        backbone=tags.get(TAG_BACKBONE),
        verdict=tags.get(TAG_VERDICT),
        seed_verdict=tags.get(names.TAG_SEED_VERDICT),
    )


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def trial_runs(client: MlflowClient, sweep: Sweep) -> list[Any]:
    return client.search_runs(
        [sweep.experiment_id],
        filter_string=f"tags.`{PARENT}` = '{sweep.run_id}' and tags.`{TAG_KIND}` = '{names.KIND_TRIAL}'",
        max_results=10_000,
    )


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def base_config(client: MlflowClient, sweep: Sweep) -> dict[str, Any]:
    """The spec's model/train values (logged as `spec.model.*`, `spec.train.*` on the parent)."""
    params = client.get_run(sweep.run_id).data.params
    base: dict[str, Any] = {}
    for key, value in params.items():
        for prefix in BASE_CONFIG:
            if key.startswith(prefix):
                base[key.removeprefix(prefix)] = typed(value)
    return base


def collect_trials(client: MlflowClient, sweep: Sweep) -> list[TrialRecord]:
    """Every child run of the sweep with its curves; raises ReportError for a sweep with none."""
    runs = trial_runs(client, sweep)
    if not runs:
        raise ReportError(f"sweep '{sweep.name}' ({sweep.run_id}) has no trial runs yet")
    base = base_config(client, sweep)
    records = []
    for run in runs:
        tags, info = run.data.tags, run.info
        metric = tags.get(TAG_METRIC, sweep.metric)
        tune_id = tags.get(TAG_TRIAL, info.run_id[:8])
        config = {**base, **{k.rpartition(".")[2]: typed(v) for k, v in run.data.params.items()}}
        record = TrialRecord(
            run_id=info.run_id,
            trial=short_trial_id(tune_id),
            tune_id=tune_id,
            status=tags.get(TAG_STATUS, "running"),
            detail=tags.get(TAG_DETAIL, ""),
            metric=metric,
            params={p: _param(run.data.params, p) for p in sweep.swept},
            config=config,
            start_ms=info.start_time,
            end_ms=info.end_time,
            latest=dict(run.data.metrics),
        )
        keys = {metric, *CURVES}
        kid = kid_of(metric)
        if kid:
            keys.add(kid)
        record.curves = {key: _history(client, info.run_id, key) for key in sorted(keys)}
        records.append(record)
    return records


def _param(params: dict[str, str], name: str) -> Any:
    """A swept value, whether logged as `lr` or (whole trial config) as `train.lr`."""
    if name in params:
        return typed(params[name])
    for key, value in params.items():
        if key.endswith(f".{name}"):
            return typed(value)
    return None
