"""The spec's sections as frozen pydantic models; constraints are pydantic's own (``Field`` bounds,
``Literal``, ``allow_inf_nan=False``, strict types). ``model`` and ``train`` are derived from
``trainers.config.TrainConfig``'s fields (types, bounds, defaults: one definition) and the families'
knobs (``trainers.families``), so a new training knob needs nothing here.

A constraint that pydantic cannot state (a power of two, a device string) is a small
``AfterValidator`` that raises a plain ``ValueError`` about the value; ``errors.py`` words it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from orchestrator.schedulers import SCHEDULERS
from orchestrator.sweep_spec.errors import FieldError, as_model
from trainers.config import (
    MIN_SWEEP_CONV_DIM,
    MODEL,
    TRAIN,
    Count,
    NonNegative,
    Positive,
    TrainConfig,
    section_of,
)
from trainers.data import SOURCES
from trainers.families import KNOB_FIELDS, KNOB_OWNERS
from trainers.registry import BACKBONES, METRICS

MAX_SYNTHETIC = 1_000_000  # rendered into memory at once: 1M faces at 64 px are 12 GB
# what a sweep asks beyond TrainConfig's own bounds (tests train width-4 nets; a sweep never should)
SWEEP_BOUNDS: dict[str, Any] = {"conv_dim": Field(ge=MIN_SWEEP_CONV_DIM)}


def _whole_above_one(v: float) -> float:
    if v > 1 and v != int(v):
        raise ValueError(f"above 1 must be a whole number, got {v}")
    return v


# value types of the other sections (Count, Positive, ... are TrainConfig's)
OpenFraction = Annotated[float, Field(gt=0, lt=1)]  # (0, 1)
Seed = Annotated[int, Field(ge=0)]


class Section(BaseModel):
    """Base of every spec model: strict types, finite numbers, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _null_sections_are_empty(cls, data: Any) -> Any:
        """``model:`` with everything commented out means "all defaults", not an error."""
        if isinstance(data, Mapping):
            nested = {k for k, f in cls.model_fields.items() if as_model(f.annotation) is not None}
            return {k: ({} if (k in nested and v is None) else v) for k, v in data.items()}
        return data


def checks_data(info: ValidationInfo) -> bool:
    """Whether validation may look at files on this machine (``load(..., check_data=False)``: no)."""
    return bool((info.context or {}).get("check_data", True))


def resolve_path(raw: str) -> str:
    return str((Path.cwd() / Path(raw).expanduser()).resolve())


def _count_images(data: DataSpec) -> int:
    """How many images ``trainers.data`` would read from the source: its own listing, and a small
    sample decoded (a folder of non-images named ``.jpg`` is refused here, not by ``run``)."""
    from trainers import data as data_mod

    cfg = data_mod.DataConfig(source=data.source, path=data.path, image_size=data.image_size)
    return len(data_mod.list_and_sample(cfg))


class DataSpec(Section):
    """Which images to train on; mirrors ``trainers.data.DataConfig`` (seed comes from the spec)."""

    source: Literal[SOURCES] = "synthetic"  # type: ignore[valid-type]  # trainers.data.sources.OPENERS
    path: str | None = Field(default=None, validate_default=True)
    image_size: Literal[32, 64] = 32
    limit: Count | None = None
    count: Annotated[int, Field(ge=1, le=MAX_SYNTHETIC)] = 2000
    _listed: int | None = PrivateAttr(default=None)  # images the source lists (when checked)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source")
        if v is None:
            if source is not None and source != "synthetic":
                raise FieldError(f"path is required for source {source}")
            return None
        if source == "synthetic":
            raise FieldError("path is not used by source synthetic (remove it or pick folder/zip/celeba)")
        if not v.strip():
            raise FieldError("path must not be empty")
        resolved = resolve_path(v)
        if checks_data(info) and not os.path.exists(resolved):
            raise FieldError(f"path does not exist: {resolved}")
        return resolved

    @model_validator(mode="after")
    def _has_images(self, info: ValidationInfo) -> DataSpec:
        """List the source (names only, nothing decoded): an empty folder fails here, not in ``run``."""
        if self.path is not None and checks_data(info):
            try:
                self._listed = _count_images(self)
            except ValueError as err:  # trainers.data.DataError: one line naming the path
                raise FieldError(str(err), ("path",)) from None
        return self

    @property
    def known_size(self) -> tuple[int, str] | None:
        """(images a trial trains on, where that number comes from) as far as known without decoding."""
        size: int | None = None
        why = ""
        if self.source == "synthetic":
            size, why = self.count, "data.count"
        elif self._listed is not None:
            size, why = self._listed, f"images listed in {self.path}"
        if self.limit is not None and (size is None or self.limit < size):
            size, why = self.limit, "data.limit"
        return None if size is None else (size, why)


def _spec_fields(section: str) -> dict[str, Any]:
    """TrainConfig's fields shown in ``section``: their own annotation, bounds and default."""
    out: dict[str, Any] = {}
    for name, info in TrainConfig.model_fields.items():
        if section_of(info) == section:
            tp = Annotated[info.annotation, SWEEP_BOUNDS[name]] if name in SWEEP_BOUNDS else info.annotation
            out[name] = (tp, info)
    return out


def _knob_fields() -> dict[str, Any]:
    """Every family's knobs (``trainers.families``), null by default: the trial's family's default.

    Which family a knob may be set for is checked by ``SweepSpec`` (it sees ``model.family`` and the
    searched families); the type and bounds here are the family's own.
    """
    out: dict[str, Any] = {}
    for name, info in KNOB_FIELDS.items():
        tp = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        whose = " and ".join(KNOB_OWNERS[name])
        out[name] = (tp | None, Field(None, description=f"a knob of family {whose}"))
    return out


ModelSpec = create_model(
    "ModelSpec", __base__=Section, __doc__="Architecture knobs: ``TrainConfig``'s model fields.",
    **_spec_fields(MODEL),
)
TrainSpec = create_model(
    "TrainSpec", __base__=Section,
    __doc__="Optimisation knobs: TrainConfig's train fields, the families' knobs (null: family default).",
    **_spec_fields(TRAIN), **_knob_fields(),
)
KNOBS: frozenset[str] = frozenset(KNOB_OWNERS)  # the train fields that belong to one family or another


class MetricsSpec(Section):
    """FID/KID protocol; ``real_samples`` null means the same count as ``samples``."""

    backbone: Literal[tuple(BACKBONES)] = "rand"  # type: ignore[valid-type]  # trainers.registry.BACKBONES
    samples: Annotated[int, Field(ge=2)] = 1000
    real_samples: Annotated[int, Field(ge=2)] | None = None
    every: Count = 1
    kid: bool = True
    # the registered metrics each evaluation computes (trainers.registry.METRICS); null: fid, and kid
    # unless kid is false. One feature pass serves them all.
    kinds: list[Literal[tuple(METRICS)]] | None = None  # type: ignore[valid-type]
    weights: str | None = None
    batch_size: Count = 250
    final_samples: NonNegative | None = None  # end-of-sweep re-measurement (0: none; None: downstream)
    final_top_k: NonNegative = 3  # how many of the best trials are re-measured
    final_draws: Count = 3  # independent sample draws per re-measured trial: mean +/- std
    final_seeds: Count = 1  # training seeds per top-K trial (>1: retrain each N-1 more times; 1: off)

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        backbone = info.data.get("backbone")
        if backbone in BACKBONES and not BACKBONES[backbone].weights:
            with_file = ", ".join(b for b, e in BACKBONES.items() if e.weights)
            raise FieldError(f"weights only apply to a backbone that loads a file ({with_file}); "
                             f"{backbone} needs none")
        resolved = resolve_path(v)
        if checks_data(info) and not os.path.isfile(resolved):
            raise FieldError(f"path does not exist: {resolved}")
        return resolved

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise FieldError("kinds must name at least one metric (or be left out: fid, kid)")
        if len(set(v)) != len(v):
            raise FieldError(f"kinds names a metric twice: {list(v)}")
        if "kid" in v and info.data.get("kid") is False:
            raise FieldError("kinds lists kid but metrics.kid is false; drop one of them")
        return v

    @property
    def computed_kinds(self) -> tuple[str, ...]:
        """The metric kinds every evaluation computes: ``kinds``, else fid (+ kid unless ``kid`` false)."""
        return tuple(self.kinds) if self.kinds is not None else (("fid", "kid") if self.kid else ("fid",))

    @field_validator("final_samples")
    @classmethod
    def _final_samples(cls, v: int | None) -> int | None:
        if v == 1:
            raise FieldError("final_samples must be 0 (no re-measurement) or >= 2, got 1")
        return v




class SchedulerSpec(Section):
    """Early stopping. ``metric`` is a registered kind (``fid``, ``kid``, ``prec``) or a full protocol name;
    which way is better is the metric's (``trainers.registry``)."""

    # sha: synchronous successive halving over all trials (orchestrator.schedule.SuccessiveHalving),
    # the default because it met the decision target on real CelebA curves (README, Decisions)
    type: Literal[tuple(SCHEDULERS)] = "sha"  # type: ignore[valid-type]  # orchestrator.schedulers
    metric: str = "fid"
    # which way is better comes from the metric's registry entry (trainers.registry): lower for fid/kid,
    # higher for prec; resolved by SweepSpec, a contradicting value is refused
    mode: Literal["min", "max"] | None = None
    grace_period: Count = 1
    # null: the scheduler's own default (``orchestrator.schedulers``: sha 2.25, asha/hyperband 3)
    reduction_factor: Annotated[float | None, Field(gt=1, validate_default=True)] = None
    max_t: Count | None = None
    # what a rung decision reads: the latest value, the best so far, or an exponential smoothing
    signal: Literal["raw", "best", "smoothed"] = "best"
    smoothing: OpenFraction = 0.5  # weight of the history in the smoothed signal
    # sha: a rung also keeps trials within the metric's noise of its cut line, up to this x its quota
    # (orchestrator.schedule.promotions); 1 cuts at the quota (and the free slots) alone
    noise_bound: Annotated[float, Field(ge=1)] = 2

    @field_validator("reduction_factor")
    @classmethod
    def _scheduler_default(cls, v: float | None, info: ValidationInfo) -> float:
        """An unset factor is the scheduler's (``Scheduler.reduction_factor``), so code downstream always
        reads a number and the replayed default is the one a sweep runs."""
        return v if v is not None else SCHEDULERS[info.data.get("type", "sha")].reduction_factor


class ResourcesSpec(Section):
    """Per-trial resources for Tune; fractional GPUs (< 1) let trials share a card."""

    cpus_per_trial: Positive = 1
    gpus_per_trial: Annotated[float, Field(ge=0), AfterValidator(_whole_above_one)] = 0
    max_concurrent: Count = 2
    max_failures: NonNegative = 2  # restarts of a trial from its last checkpoint after its worker died


class CheckpointSpec(Section):
    """When trials write their resume state; null ``every``: at scheduler rungs and at the end.

    ``every_s`` bounds what a dead worker costs by training time whatever the rungs: a report also
    writes resume state once that many seconds of training passed since the trial's last one
    (default 600: at most ~10 minutes plus one report lost; null: rungs/``every`` only).
    """

    every: Count | None = None
    every_s: Positive | None = 600.0
    num_to_keep: Count = 2


def default_tracking_uri() -> str:
    """The one rule for an unset ``tracking.uri``: ``$MLFLOW_TRACKING_URI``, else SQLite under ./mlruns.

    The fallback is absolute because Ray trials and callbacks run in other working directories.
    """
    from orchestrator.record.sqlite import DB_FILE, STORE_DIR, sqlite_uri

    local = sqlite_uri(Path.cwd().resolve() / STORE_DIR / DB_FILE)
    return os.environ.get("MLFLOW_TRACKING_URI") or local


class TrackingSpec(Section):
    """MLflow store: null uri -> ``default_tracking_uri()``; null experiment -> spec name."""

    uri: str | None = Field(default=None, validate_default=True)
    experiment: str | None = None

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str | None) -> str:
        if v is None:
            return default_tracking_uri()
        if not v.strip():
            raise FieldError("uri must not be empty (use null for the local SQLite store)")
        return v
