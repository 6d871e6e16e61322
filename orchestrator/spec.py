"""A sweep spec: YAML -> a typed, frozen ``SweepSpec``; every user mistake named by its field path.

This is the only place that parses a spec, so it is where all validation lives: nothing launched
by Ray should fail minutes later on a value that could have been rejected here. Every problem is a
one-line ``SpecError`` of the form ``"<file>: <field.path[idx]>: <what is wrong>"`` (the CLI prints
it and exits 2), and only the first problem is reported, so the message stays short.

Schema (every section optional except ``name``; unknown keys are errors everywhere)::

    name: demo                 # [A-Za-z0-9_.-]+
    seed: 0
    storage: runs              # Ray results dir: a path (made absolute) or a URI (s3://, gs://, file://)
    time_budget_s: null
    data: {source: synthetic|folder|zip|celeba, path: null, image_size: 32, limit: null, count: 2000}
    model: {family: dcgan|wgan_gp, fc: false, z_dim: 100, conv_dim: 32, d_dropout: 0.0}
    train: {epochs: 5, batch_size: 64, optimizer: adam|rmsprop|sgd, lr: 2.0e-4, ...}
    search: {algorithm: grid|random|optuna, num_samples: 1, startup_trials: null,
             params: {NAME: {KIND: VALUES}}}
    metrics: {backbone: rand|inception, samples: 1000, real_samples: null, every: 1, kid: true,
              weights: null, batch_size: 250, final_samples: null, final_top_k: 3}
    scheduler: {type: asha|hyperband|none, metric: fid, mode: min, grace_period: 1, reduction_factor: 2,
                max_t: null, signal: raw|best|smoothed, smoothing: 0.5}
    resources: {cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent: 2, max_failures: 2}
    checkpoint: {every: null, num_to_keep: 2}
    tracking: {uri: null, experiment: null}   # null uri: $MLFLOW_TRACKING_URI, else ./mlruns SQLite

Search params (``search.params``) are keyed by a flat model/train field name (or ``seed``, for
replicates that differ) and hold exactly one
of ``grid: [..]`` (every value is tried; Tune crosses grids with ``num_samples``), ``choice: [..]``
(sampled), ``uniform: [lo, hi]`` / ``loguniform: [lo, hi]`` (float fields) or ``randint: [lo, hi]``
(int fields, both bounds INCLUSIVE: convert with ``tune.randint(lo, hi + 1)``). Every listed value
and both bounds are validated with the same rules as the ``model``/``train`` sections.

Relative paths (``data.path``, ``storage``, ``metrics.weights``) are resolved against the process
cwd at load time and stored absolute, because Ray trials run in other working directories.

``load(..., check_data=False)`` previews a spec whose files are not on this machine (``validate
--no-data``): ``data.path`` and ``metrics.weights`` are then only resolved, not checked. With the
default ``check_data=True`` the data source is listed (names only, nothing decoded) so that an
empty folder or a batch larger than the dataset fails here rather than seconds into ``run``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trainers.cache import stable_hash
from trainers.config import TRAIN_FIELDS, TrainConfig
from trainers.families import FAMILY_NAMES

_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

__all__ = [
    "CheckpointSpec",
    "DataSpec",
    "MetricsSpec",
    "ModelSpec",
    "ParamEntry",
    "ParamSpec",
    "ResourcesSpec",
    "SchedulerSpec",
    "SearchSpec",
    "SpecError",
    "SweepSpec",
    "TrackingSpec",
    "TrainSpec",
    "default_tracking_uri",
    "from_dict",
    "load",
    "parse_overrides",
]

PARAM_KINDS: tuple[str, ...] = ("grid", "choice", "uniform", "loguniform", "randint")
DISTRIBUTIONS: frozenset[str] = frozenset({"uniform", "loguniform", "randint"})
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # two+ letters: not a Windows drive
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class SpecError(ValueError):
    """A problem with a spec the user can fix; ``str(err)`` is one line naming the file and field."""


class _FieldValueError(ValueError):
    """A validator error that belongs to a sub-path of the field being validated.

    Cross-section checks run in validators of a whole section (e.g. ``search`` needs ``model`` and
    ``train``); this carries the deeper path (``params.lr.loguniform[0]``) through pydantic, which
    keeps the original exception in the error's ``ctx``.
    """

    def __init__(self, message: str, sub: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.sub = sub


# --------------------------------------------------------------------------------------------------
# value rules shared by the sections and the search params (one message style everywhere)


def _num(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _finite(name: str, v: float) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v}")


def _gt(bound: float) -> Callable[[str, Any], None]:
    def rule(name: str, v: Any) -> None:
        _finite(name, v)
        if not v > bound:
            raise ValueError(f"{name} must be > {bound:g}, got {_num(v)}")

    return rule


def _ge(bound: float) -> Callable[[str, Any], None]:
    def rule(name: str, v: Any) -> None:
        _finite(name, v)
        if not v >= bound:
            raise ValueError(f"{name} must be >= {bound:g}, got {_num(v)}")

    return rule


def _unit(lo_inclusive: bool) -> Callable[[str, Any], None]:
    def rule(name: str, v: Any) -> None:
        ok = (0 <= v < 1) if lo_inclusive else (0 < v < 1)
        if not ok:
            interval = "[0, 1)" if lo_inclusive else "(0, 1)"
            raise ValueError(f"{name} must be in {interval}, got {_num(v)}")

    return rule


MAX_SYNTHETIC = 1_000_000  # rendered into memory at once: 1M faces at 64 px are 12 GB


def _count(name: str, v: int) -> None:
    _ge(1)(name, v)
    if v > MAX_SYNTHETIC:
        raise ValueError(
            f"{name} must be <= {MAX_SYNTHETIC} (synthetic images are rendered into memory), got {v}"
        )


def _count_images(data: DataSpec) -> int:
    """How many images ``trainers.data`` would read from the source: its own listing, no decoding."""
    from trainers import data as data_mod

    cfg = data_mod.DataConfig(source=data.source, path=data.path, image_size=data.image_size)
    lister = getattr(data_mod, "list_images", None)
    names = lister(cfg) if lister is not None else data_mod._open_source(cfg).names
    return len(names)


def _power_of_two(name: str, v: int) -> None:
    if v < 8 or v & (v - 1):
        raise ValueError(f"{name} must be a power of two >= 8, got {v}")


def _one_of(*allowed: Any) -> Callable[[str, Any], None]:
    def rule(name: str, v: Any) -> None:
        if v not in allowed:
            raise ValueError(f"{name} must be {' or '.join(map(str, allowed))}, got {_num(v)}")

    return rule


def _checks_data(info: ValidationInfo) -> bool:
    """Whether this validation may look at the data (``load(..., check_data=False)`` turns it off)."""
    return bool((info.context or {}).get("check_data", True))


def _resolve_path(raw: str) -> str:
    return str((Path.cwd() / Path(raw).expanduser()).resolve())


class _Section(BaseModel):
    """Base of every spec model: strict types, no unknown keys, immutable, rule table per field."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    _rules: typing.ClassVar[dict[str, Callable[[str, Any], None]]] = {}

    @field_validator("*")
    @classmethod
    def _apply_rules(cls, v: Any, info: ValidationInfo) -> Any:
        rule = cls._rules.get(info.field_name or "")
        if rule is not None and v is not None:
            rule(info.field_name or "", v)
        return v

    @model_validator(mode="before")
    @classmethod
    def _null_sections_are_empty(cls, data: Any) -> Any:
        """``model:`` with everything commented out means "all defaults", not an error."""
        if isinstance(data, Mapping):
            nested = {
                k
                for k, f in cls.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
            }
            return {k: ({} if (k in nested and v is None) else v) for k, v in data.items()}
        return data


# --------------------------------------------------------------------------------------------------
# sections


class DataSpec(_Section):
    """Which images to train on; mirrors ``trainers.data.DataConfig`` (seed comes from the spec)."""

    source: Literal["synthetic", "folder", "zip", "celeba"] = "synthetic"
    path: str | None = Field(default=None, validate_default=True)
    image_size: int = 32
    limit: int | None = None
    count: int = 2000
    _rules = {"image_size": _one_of(32, 64), "limit": _ge(1), "count": _count}
    _listed: int | None = PrivateAttr(default=None)  # images the source lists (when checked)

    @model_validator(mode="after")
    def _has_images(self, info: ValidationInfo) -> DataSpec:
        """List the source (names only, nothing decoded): an empty folder fails here, not in ``run``."""
        if self.path is not None and _checks_data(info):
            try:
                self._listed = _count_images(self)
            except ValueError as err:  # trainers.data.DataError: one line naming the path
                raise _FieldValueError(str(err), ("path",)) from None
        return self

    @property
    def known_size(self) -> tuple[int, str] | None:
        """(images a trial trains on, where that number comes from) as far as known without decoding."""
        if self.source == "synthetic":
            size, why = self.count, "data.count"
        elif self._listed is not None:
            size, why = self._listed, f"images listed in {self.path}"
        else:
            size, why = None, ""
        if self.limit is not None and (size is None or self.limit < size):
            size, why = self.limit, "data.limit"
        return None if size is None else (size, why)

    @field_validator("path")
    @classmethod
    def _path_exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source")
        if v is None:
            if source is not None and source != "synthetic":
                raise ValueError(f"path is required for source {source}")
            return None
        if source == "synthetic":
            raise ValueError("path is not used by source synthetic (remove it or pick folder/zip/celeba)")
        if not v.strip():
            raise ValueError("path must not be empty")
        resolved = _resolve_path(v)
        if _checks_data(info) and not os.path.exists(resolved):
            raise ValueError(f"path does not exist: {resolved}")
        return resolved


class ModelSpec(_Section):
    """Architecture knobs (``TrainConfig`` model fields)."""

    family: Literal[FAMILY_NAMES] = _DEFAULTS["family"]  # type: ignore[valid-type]
    fc: bool = False
    z_dim: int = 100
    conv_dim: int = 32
    d_dropout: float = 0.0
    _rules = {"z_dim": _ge(1), "conv_dim": _power_of_two, "d_dropout": _unit(True)}


class TrainSpec(_Section):
    """Optimisation knobs (``TrainConfig`` training fields)."""

    epochs: int = 5
    batch_size: int = 64
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    lr: float = 2e-4
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    ema: bool = _DEFAULTS["ema"]
    ema_kimg: float = _DEFAULTS["ema_kimg"]
    label_smoothing: float = 0.0
    gp_lambda: float = 10.0
    n_critic: int = 5
    report_every_images: int | None = None
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"
    _rules = {
        "epochs": _ge(1),
        "batch_size": _ge(1),
        "lr": _gt(0),
        "lr_d": _gt(0),
        "beta1": _unit(True),
        "beta2": _unit(True),
        "ema_kimg": _gt(0),
        "label_smoothing": _unit(True),
        "gp_lambda": _ge(0),
        "n_critic": _ge(1),
        "report_every_images": _ge(1),
    }

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_RE.match(v):
            raise ValueError(f"device must be auto, cpu, mps, cuda or cuda:N, got {v!r}")
        return v


class ParamEntry(_Section):
    """One ``search.params`` entry as written: exactly one of the five kinds."""

    grid: list[Any] | None = None
    choice: list[Any] | None = None
    uniform: list[Any] | None = None
    loguniform: list[Any] | None = None
    randint: list[Any] | None = None

    @field_validator("grid", "choice")
    @classmethod
    def _non_empty(cls, v: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if v is not None and not v:
            raise ValueError(f"{info.field_name} must not be empty")
        return v

    @field_validator("uniform", "loguniform", "randint")
    @classmethod
    def _bounds(cls, v: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if v is not None and len(v) != 2:
            raise ValueError(f"{info.field_name} takes [low, high], got {len(v)} values")
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> ParamEntry:
        given = [k for k in PARAM_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            got = "none" if not given else " and ".join(given)
            raise ValueError(f"needs exactly one of {', '.join(PARAM_KINDS)}, got {got}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in PARAM_KINDS if getattr(self, k) is not None)

    @property
    def values(self) -> list[Any]:
        return list(getattr(self, self.kind))


class ParamSpec(BaseModel):
    """A validated search parameter for ``orchestrator.space`` to turn into a Ray Tune object.

    ``values`` is the list of grid/choice values, or ``[low, high]`` for distributions (randint
    bounds are inclusive).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["grid", "choice", "uniform", "loguniform", "randint"]
    values: list[Any]


class SearchSpec(_Section):
    """How trials are drawn: the search algorithm, how many samples, and the searched fields."""

    algorithm: Literal["grid", "random", "optuna"] = "random"
    num_samples: int = 1
    startup_trials: int | None = None  # Optuna's random start-up trials (None: sized by the searcher)
    params: dict[str, ParamEntry] = Field(default_factory=dict)
    _rules = {"num_samples": _ge(1), "startup_trials": _ge(1)}

    @field_validator("params", mode="before")
    @classmethod
    def _null_params(cls, v: Any) -> Any:
        return {} if v is None else v


class MetricsSpec(_Section):
    """FID/KID protocol; ``real_samples`` null means the same count as ``samples``."""

    backbone: Literal["rand", "inception"] = "rand"
    samples: int = 1000
    real_samples: int | None = None
    every: int = 1
    kid: bool = True
    weights: str | None = None
    batch_size: int = 250
    final_samples: int | None = None  # end-of-sweep re-measurement sample count (None: decided downstream)
    final_top_k: int = 3  # how many of the best trials are re-measured (0: none)
    _rules = {
        "samples": _ge(2),
        "real_samples": _ge(2),
        "every": _ge(1),
        "batch_size": _ge(1),
        "final_samples": _ge(0),
        "final_top_k": _ge(0),
    }

    @field_validator("final_samples")
    @classmethod
    def _final_samples(cls, v: int | None) -> int | None:
        if v == 1:
            raise ValueError("final_samples must be 0 (no re-measurement) or >= 2, got 1")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        if info.data.get("backbone") == "rand":
            raise ValueError("weights only apply to backbone inception (rand needs no file)")
        resolved = _resolve_path(v)
        if _checks_data(info) and not os.path.isfile(resolved):
            raise ValueError(f"path does not exist: {resolved}")
        return resolved


class SchedulerSpec(_Section):
    """Early stopping. ``metric`` is ``fid``/``kid`` or a full protocol name; lower is better."""

    type: Literal["asha", "hyperband", "none"] = "asha"
    metric: str = "fid"
    mode: Literal["min"] = "min"
    grace_period: int = 1
    reduction_factor: float = 2
    max_t: int | None = None
    # what a rung decision reads: the latest value, the best so far, or an exponential smoothing
    signal: Literal["raw", "best", "smoothed"] = "best"
    smoothing: float = 0.5  # weight of the history in the smoothed signal
    _rules = {
        "grace_period": _ge(1),
        "reduction_factor": _gt(1),
        "max_t": _ge(1),
        "smoothing": _unit(False),
    }


class ResourcesSpec(_Section):
    """Per-trial resources for Tune; fractional GPUs (< 1) let trials share a card."""

    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    max_concurrent: int = 2
    max_failures: int = 2  # restarts of a trial from its last checkpoint after its worker died
    _rules = {
        "cpus_per_trial": _gt(0),
        "gpus_per_trial": _ge(0),
        "max_concurrent": _ge(1),
        "max_failures": _ge(0),
    }

    @field_validator("gpus_per_trial")
    @classmethod
    def _whole_gpus_above_one(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError(f"gpus_per_trial above 1 must be a whole number, got {v}")
        return v


class CheckpointSpec(_Section):
    """When trials write their resume state; null ``every``: at scheduler rungs and at the end."""

    every: int | None = None
    num_to_keep: int = 2
    _rules = {"every": _ge(1), "num_to_keep": _ge(1)}


def default_tracking_uri() -> str:
    """The one rule for an unset ``tracking.uri``: ``$MLFLOW_TRACKING_URI``, else SQLite under ./mlruns.

    The fallback is absolute because Ray trials and callbacks run in other working directories.
    """
    local = f"sqlite:///{Path.cwd().resolve() / 'mlruns' / 'mlflow.db'}"
    return os.environ.get("MLFLOW_TRACKING_URI") or local


class TrackingSpec(_Section):
    """MLflow store: null uri -> ``default_tracking_uri()``; null experiment -> spec name."""

    uri: str | None = Field(default=None, validate_default=True)
    experiment: str | None = None

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str | None) -> str:
        if v is None:
            return default_tracking_uri()
        if not v.strip():
            raise ValueError("uri must not be empty (use null for the local SQLite store)")
        return v


class _SeedSpec(_Section):
    """The top-level ``seed`` as a searchable field (replicates that differ)."""

    seed: int = 0
    _rules = {"seed": _ge(0)}


# fields that may be searched, and which distributions each accepts
SEARCHABLE: tuple[str, ...] = tuple(ModelSpec.model_fields) + tuple(TrainSpec.model_fields) + ("seed",)
assert set(SEARCHABLE) <= TRAIN_FIELDS, "spec fields must be TrainConfig fields"


def _section_of(name: str) -> type[_Section]:
    if name in ModelSpec.model_fields:
        return ModelSpec
    return TrainSpec if name in TrainSpec.model_fields else _SeedSpec


def _field_type(name: str) -> type | None:
    """int/float for numeric fields (Optional unwrapped), else None."""
    ann = _section_of(name).model_fields[name].annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def _allowed_kinds(name: str) -> tuple[str, ...]:
    if name == "conv_dim":  # a distribution would sample non powers of two
        return ("grid", "choice")
    typ = _field_type(name)
    if typ is int:
        return ("grid", "choice", "randint")
    if typ is float:
        return ("grid", "choice", "uniform", "loguniform")
    return ("grid", "choice")


# --------------------------------------------------------------------------------------------------
# the spec


class SweepSpec(_Section):
    """A validated sweep. Build with ``load``/``from_dict``; all fields are immutable."""

    name: str
    seed: int = 0
    storage: str = Field(default="runs", validate_default=True)
    time_budget_s: float | None = None
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    _rules = {"seed": _ge(0), "time_budget_s": _gt(0)}
    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"name may only contain letters, digits, '_', '.' and '-', got {v!r}")
        return v

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        """A URI (``s3://``, ``gs://``, ``file://``, any pyarrow filesystem) goes to Ray as is."""
        if not v.strip():
            raise ValueError("storage must not be empty")
        scheme = URI_RE.match(v)
        if scheme:
            if not v[scheme.end() :].strip("/"):
                raise ValueError(f"storage URI names no location after {scheme.group(0)}, got {v!r}")
            return v
        return _resolve_path(v)

    @field_validator("search")
    @classmethod
    def _search_values(cls, search: SearchSpec, info: ValidationInfo) -> SearchSpec:
        model = info.data.get("model") or ModelSpec()
        train = info.data.get("train") or TrainSpec()
        for name, entry in search.params.items():
            _check_param(name, entry, search.algorithm, model, train)
        return search

    @model_validator(mode="after")
    def _batches_fit_the_data(self) -> SweepSpec:
        """A batch larger than the dataset trains on nothing: refuse it while the user can fix it."""
        entry = self.search.params.get("batch_size")
        if entry is None:
            _check_batch(self.train.batch_size, self.data, ("train", "batch_size"))
        else:
            start = 1 if entry.kind == "randint" else 0  # the high bound is the largest batch
            for i, v in enumerate(entry.values[start:], start=start):
                _check_batch(v, self.data, ("search", "params", "batch_size", entry.kind, i))
        return self

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, sched: SchedulerSpec, info: ValidationInfo) -> SchedulerSpec:
        metrics: MetricsSpec | None = info.data.get("metrics")
        if metrics is not None:
            names = _metric_names(metrics)
            if _resolve_metric(sched.metric, names) is None:
                who = {"asha": "ASHA", "hyperband": "HyperBand"}.get(sched.type, "the search")
                why = " (metrics.kid is false)" if sched.metric.startswith("kid") and not metrics.kid else ""
                raise _FieldValueError(
                    f"metric {sched.metric!r} is not reported by trials{why}; "
                    f"{who} can see: {', '.join(names)}",
                    ("metric",),
                )
        search, train = info.data.get("search"), info.data.get("train")
        if sched.type == "asha" and search is not None and train is not None:
            limit = sched.max_t
            what = "max_t"
            if (
                limit is None
                and train.report_every_images is None
                and "report_every_images" not in search.params
            ):
                limit, what = _max_epochs(train, search), "the most epochs any trial runs"
            if limit is not None and sched.grace_period > limit:
                raise _FieldValueError(
                    f"grace_period must be <= {what} ({limit}), got {sched.grace_period}", ("grace_period",)
                )
        return sched

    # ---- derived values -------------------------------------------------------------------------

    @property
    def source_path(self) -> Path | None:
        """The YAML file this spec came from (None when built from a dict)."""
        return self._source_path

    @property
    def tracking_uri(self) -> str:
        return self.tracking.uri or default_tracking_uri()

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def storage_uri(self) -> str:
        """What Ray gets as ``storage_path``: the absolute local folder or the URI as written."""
        return self.storage

    @property
    def storage_is_local(self) -> bool:
        return URI_RE.match(self.storage) is None or self.storage.startswith("file://")

    @property
    def storage_path(self) -> Path:
        """The local results folder (a ``file://`` URI's path); remote storage has none (ValueError)."""
        if self.storage.startswith("file://"):
            return Path(self.storage.removeprefix("file://"))
        if URI_RE.match(self.storage):
            raise ValueError(f"storage {self.storage} is remote: it has no local path")
        return Path(self.storage)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """(fid name, kid name) as reported by trials; only the fid name when ``metrics.kid`` is false."""
        return _metric_names(self.metrics)

    @property
    def asha_metric(self) -> str:
        """The full protocol name of ``scheduler.metric`` (e.g. ``fid`` -> ``fid1k_rand``)."""
        resolved = _resolve_metric(self.scheduler.metric, self.metric_names)
        assert resolved is not None  # checked at validation
        return resolved

    @property
    def real_samples(self) -> int:
        return self.metrics.real_samples or self.metrics.samples

    @property
    def spec_hash(self) -> str:
        return stable_hash(self.resolved())

    def search_params(self) -> dict[str, ParamSpec]:
        """Validated search params by field name, values coerced to the field's type."""
        out: dict[str, ParamSpec] = {}
        for name, entry in self.search.params.items():
            kind = entry.kind
            values = [_validated_value(name, v, self.model, self.train) for v in entry.values]
            out[name] = ParamSpec(kind=kind, values=values)  # type: ignore[arg-type]
        return out

    def grid_size(self) -> int:
        """Number of trials Tune will run: product of grid sizes times ``num_samples``."""
        n = self.search.num_samples
        for entry in self.search.params.values():
            if entry.kind == "grid":
                n *= len(entry.values)
        return n

    def max_t(self, images: int | None = None) -> int | None:
        """ASHA's max_t in reports (Tune ``training_iteration``).

        Explicit ``scheduler.max_t`` wins. Otherwise the most epochs any trial can run; when
        ``report_every_images`` is set (anywhere), the number of reports that makes given the
        dataset size ``images`` (default: ``data.limit`` or the synthetic ``count``; None if unknown).
        """
        if self.scheduler.max_t is not None:
            return self.scheduler.max_t
        epochs = _max_epochs(self.train, self.search)
        every = [self.train.report_every_images]
        if "report_every_images" in self.search.params:
            every = [v for v in self.search.params["report_every_images"].values]
        every_known = [int(v) for v in every if v is not None]
        if not every_known:
            return epochs
        if images is None:
            known = self.data.known_size
            images = known[0] if known is not None else None
        if images is None:
            return None
        per_epoch = math.ceil(images / min(every_known))
        return max(epochs, epochs * per_epoch)

    def base_train_config(self) -> TrainConfig:
        """The TrainConfig every trial starts from (spec's model + train, data's image size, seed)."""
        values = {**self.model.model_dump(), **self.train.model_dump()}
        return TrainConfig(
            **values, image_size=self.data.image_size, seed=self.seed, metric_every=self.metrics.every
        )

    def trial_config(self, sampled: Mapping[str, Any]) -> TrainConfig:
        """``base_train_config()`` with Tune's sampled values applied (validated like the spec)."""
        unknown = sorted(set(sampled) - set(SEARCHABLE))
        if unknown:
            raise ValueError(
                f"not searchable fields: {', '.join(unknown)} (searchable: {', '.join(SEARCHABLE)})"
            )
        values = {k: _validated_value(k, _plain(v), self.model, self.train) for k, v in sampled.items()}
        return self.base_train_config().with_values(**values)

    def data_config(self) -> Any:
        """The ``trainers.data.DataConfig`` for this sweep (imported lazily: trainers.data is heavy)."""
        from trainers.data import DataConfig

        d = self.data
        return DataConfig(
            source=d.source,
            path=d.path,
            image_size=d.image_size,
            limit=d.limit,
            count=d.count,
            seed=self.seed,
        )

    def resolved(self) -> dict[str, Any]:
        """Fully resolved, JSON-serialisable spec (absolute paths, metric names, max_t, tracking).

        It is itself a valid spec: ``from_dict(spec.resolved())`` gives an equal spec, which is
        what lets a checkpoint or results directory carry the spec it was run with.
        """
        out = self.model_dump(mode="json")
        out["scheduler"]["metric"] = self.asha_metric
        out["scheduler"]["max_t"] = self.max_t()
        out["metrics"]["real_samples"] = self.real_samples
        out["tracking"] = {"uri": self.tracking_uri, "experiment": self.experiment}
        out["search"]["params"] = {k: {p.kind: p.values} for k, p in self.search_params().items()}
        return out


# --------------------------------------------------------------------------------------------------
# helpers for cross-section checks


def _metric_names(metrics: MetricsSpec) -> tuple[str, ...]:
    from trainers.metrics import metric_names  # the one name rule (imported late: keeps torch off --help)

    fid, kid = metric_names(metrics.backbone, metrics.samples)
    return (fid, kid) if metrics.kid else (fid,)


def _resolve_metric(metric: str, names: tuple[str, ...]) -> str | None:
    if metric in names:
        return metric
    for name in names:
        if metric in ("fid", "kid") and name.startswith(metric):
            return name
    return None


def _max_epochs(train: TrainSpec, search: SearchSpec) -> int:
    entry = search.params.get("epochs")
    if entry is None:
        return train.epochs
    return max(int(v) for v in entry.values if isinstance(v, int | float))


def _plain(v: Any) -> Any:
    """numpy scalars (as Tune may sample them) -> Python scalars, so strict validation accepts them."""
    item = getattr(v, "item", None)
    return item() if callable(item) and not isinstance(v, bool | int | float | str) else v


def _validated_value(name: str, value: Any, model: ModelSpec, train: TrainSpec) -> Any:
    """Validate one value of a model/train field by rebuilding that section with it substituted."""
    owner = _section_of(name)
    section: BaseModel = model if owner is ModelSpec else train if owner is TrainSpec else _SeedSpec()
    try:
        rebuilt = type(section).model_validate({**section.model_dump(), name: value})
    except ValidationError as err:
        first = err.errors()[0]
        raise _FieldValueError(_friendly(first, type(section), first["loc"])) from None
    return getattr(rebuilt, name)


def _check_batch(batch: Any, data: DataSpec, where: tuple[str | int, ...]) -> None:
    known = data.known_size
    if known is not None and isinstance(batch, int) and batch > known[0]:
        size, why = known
        raise _FieldValueError(
            f"batch_size must be <= the dataset size ({size} {why}), got {batch}"
            if why.startswith("images")
            else f"batch_size must be <= the dataset size ({why} is {size}), got {batch}",
            where,
        )


def _check_param(name: str, entry: ParamEntry, algorithm: str, model: ModelSpec, train: TrainSpec) -> None:
    where: tuple[str | int, ...] = ("params", name)
    if name not in SEARCHABLE:
        hint = difflib.get_close_matches(name, SEARCHABLE, n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        raise _FieldValueError(
            f"unknown search parameter {name!r} ({did}searchable: {', '.join(SEARCHABLE)})", where
        )
    kind = entry.kind
    if algorithm == "grid" and kind != "grid":
        raise _FieldValueError(
            f"algorithm grid takes only grid params, got {kind} (use algorithm random or optuna)",
            (*where, kind),
        )
    allowed = _allowed_kinds(name)
    if kind not in allowed:
        raise _FieldValueError(
            f"{name} cannot use {kind} (allowed for this field: {', '.join(allowed)})", (*where, kind)
        )
    values = []
    for i, v in enumerate(entry.values):
        try:
            values.append(_validated_value(name, v, model, train))
        except _FieldValueError as err:
            raise _FieldValueError(str(err), (*where, kind, i)) from None
    if kind in DISTRIBUTIONS:
        lo, hi = values
        if lo is None or hi is None:
            raise _FieldValueError(f"{kind} bounds must be numbers, got [{lo}, {hi}]", (*where, kind))
        if kind == "loguniform" and lo <= 0:
            raise _FieldValueError(f"loguniform bounds must be > 0, got {lo}", (*where, kind, 0))
        if not lo < hi:
            raise _FieldValueError(f"{kind} low must be < high, got [{lo}, {hi}]", (*where, kind))


# --------------------------------------------------------------------------------------------------
# errors -> one line


def _format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at ``loc`` (to list its allowed keys)."""
    current: Any = root
    i = 0
    while i < len(loc):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(loc[i]))
        if field is None:
            return None
        ann = field.annotation
        if typing.get_origin(ann) is dict:
            current = typing.get_args(ann)[1]
            i += 2  # skip the dict key
        else:
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            current = args[0] if len(args) == 1 else ann
            i += 1
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _typename(v: Any) -> str:
    return {type(None): "null", dict: "a mapping", list: "a list", str: "a string"}.get(
        type(v), type(v).__name__
    )


def _friendly(err: Mapping[str, Any], root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind, value = err["type"], err.get("input")
    field = str(loc[-1]) if loc else "spec"
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        allowed = list(owner.model_fields) if owner else []
        hint = difflib.get_close_matches(field, allowed, n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        return f"unknown key {field!r} ({did}allowed: {', '.join(allowed)})"
    if kind == "missing":
        return f"{field} is required"
    if kind.startswith("int"):
        return f"{field} must be an integer, got {value!r}"
    if kind.startswith("float"):
        return f"{field} must be a number, got {value!r}"
    if kind.startswith("bool"):
        return f"{field} must be true or false, got {value!r}"
    if kind.startswith("string"):
        return f"{field} must be a string, got {value!r}"
    if kind == "literal_error":
        return f"{field} must be one of {err['ctx']['expected']}, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{field} must be a mapping, got {_typename(value)}"
    if kind == "list_type":
        return f"{field} must be a list, got {_typename(value)}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    return str(err["msg"])


def _error_line(err: ValidationError, source: str) -> SpecError:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    ctx_err = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_err, _FieldValueError):
        loc += ctx_err.sub
    message = _friendly(first, SweepSpec, tuple(first["loc"]))
    where = _format_loc(loc)
    return SpecError(f"{source}: {where}: {message}" if where else f"{source}: {message}")


# --------------------------------------------------------------------------------------------------
# YAML and overrides


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` as a float (YAML 1.1 needs ``1.0e-4``) and rejects duplicate keys."""

    yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_error(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: {problem}"


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["data.path=/x", "train.epochs=2"]`` (the CLI's ``--set``) -> ``{"data.path": "/x", ...}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(
                f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. data.path=/data/celeba"
            )
        out[key.strip()] = value
    return out


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, str], source: str) -> dict[str, Any]:
    raw = _deep_copy(raw)
    for dotted, text in overrides.items():
        parts = dotted.split(".")
        if not all(parts):
            raise SpecError(f"{source}: override {dotted!r}: not a dotted field path (e.g. train.epochs)")
        try:
            value = yaml.load(text, Loader=_Loader) if isinstance(text, str) else text  # noqa: S506
        except yaml.YAMLError as err:
            raise SpecError(f"{source}: override {dotted!r}: {_yaml_error(err)}") from None
        node: Any = raw
        model: type[BaseModel] | None = SweepSpec
        free_then: type[BaseModel] | None = None  # set while walking a dict field's free key
        for depth, part in enumerate(parts):
            nxt: type[BaseModel] | None = None
            if model is not None:
                field = model.model_fields.get(part)
                if field is None:
                    allowed = ", ".join(model.model_fields)
                    where = ".".join(parts[:depth]) or "the spec"
                    raise SpecError(
                        f"{source}: override {dotted!r}: unknown key {part!r} in {where} (allowed: {allowed})"
                    )
                ann = field.annotation
                if typing.get_origin(ann) is dict:
                    free_then = typing.get_args(ann)[1]
                elif isinstance(ann, type) and issubclass(ann, BaseModel):
                    nxt = ann
            elif free_then is not None:
                nxt, free_then = free_then, None
            if depth == len(parts) - 1:
                node[part] = value
                break
            if model is not None and nxt is None and free_then is None:
                raise SpecError(
                    f"{source}: override {dotted!r}: {'.'.join(parts[: depth + 1])} is not a section"
                )
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise SpecError(
                    f"{source}: override {dotted!r}: {'.'.join(parts[: depth + 1])} is not a mapping"
                )
            node, model = child, nxt
    return raw


def _deep_copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _deep_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_deep_copy(x) for x in v]
    return v


def from_dict(
    data: Any,
    source: str = "<spec>",
    overrides: Mapping[str, str] | None = None,
    *,
    check_data: bool = True,
) -> SweepSpec:
    """Validate an already-parsed spec (e.g. a saved ``resolved()`` dict); errors name ``source``.

    ``check_data=False`` skips every check that needs the data on this machine (plan previews).
    """
    if data is None:
        raise SpecError(f"{source}: file is empty (a spec needs at least 'name')")
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}: a spec must be a mapping of sections (name, data, model, train, ...), "
            f"got {_typename(data)}"
        )
    if overrides:
        data = _apply_overrides(data, overrides, source)
    try:
        return SweepSpec.model_validate(data, context={"check_data": check_data})
    except ValidationError as err:
        raise _error_line(err, source) from None


def load(
    path: str | os.PathLike[str], overrides: Mapping[str, str] | None = None, *, check_data: bool = True
) -> SweepSpec:
    """Read and validate a spec file; ``overrides`` maps dotted paths to YAML scalars (CLI ``--set``).

    ``check_data=False`` (``validate --no-data``) previews a spec whose data is not on this machine.
    """
    source = str(path)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{source}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{source}: not a text file (expected UTF-8 YAML)") from None
    except OSError as err:
        raise SpecError(f"{source}: cannot read: {err.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        raise SpecError(f"{source}: {_yaml_error(err)}") from None
    spec = from_dict(data, source, overrides, check_data=check_data)
    spec._source_path = file.resolve()
    return spec
