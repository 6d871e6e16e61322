"""``SweepSpec``: the whole sweep, the checks that span sections, and the values derived from it."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator

from orchestrator.schedulers import SCHEDULERS, scheduler_label
from orchestrator.sweep_spec.errors import FieldError, Loc
from orchestrator.sweep_spec.params import ParamSpec, SearchSpec
from orchestrator.sweep_spec.sections import (
    KNOBS,
    CheckpointSpec,
    DataSpec,
    MetricsSpec,
    ModelSpec,
    ResourcesSpec,
    SchedulerSpec,
    Section,
    Seed,
    TrackingSpec,
    TrainSpec,
    default_tracking_uri,
    resolve_path,
)
from trainers.cache import stable_hash
from trainers.config import TrainConfig, first_error, for_family
from trainers.metric_names import format_metric_name, parse_metric_name
from trainers.registry import metric_mode

# A sweep name is one folder name under `storage` and an MLflow experiment/run name: an identifier
# that starts with a letter or digit (no hidden or option-like names), never a path (no separators,
# no `..`, which would put the results above `storage`).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # two+ letters: not a Windows drive


def _metric_names(metrics: MetricsSpec) -> tuple[str, ...]:
    """The names trials report, one per kind in ``metrics.kinds`` (the one name rule, torch-free)."""
    return tuple(format_metric_name(k, metrics.backbone, metrics.samples) for k in metrics.computed_kinds)


def _resolve_metric(metric: str, names: tuple[str, ...]) -> str | None:
    if metric in names:
        return metric
    return next((n for n in names if (p := parse_metric_name(n)) is not None and p.kind == metric), None)


def _check_batch(batch: Any, data: DataSpec, where: Loc) -> None:
    known = data.known_size
    if known is not None and isinstance(batch, int) and batch > known[0]:
        size, why = known
        of = f"{size} {why}" if why.startswith("images") else f"{why} is {size}"
        raise FieldError(f"batch_size must be <= the dataset size ({of}), got {batch}", where)


class SweepSpec(Section):
    """A validated sweep. Build with ``load``/``from_dict``; all fields are immutable."""

    name: str
    seed: Seed = 0
    storage: str = Field(default="runs", validate_default=True)
    time_budget_s: Annotated[float, Field(gt=0)] | None = None
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v) or ".." in v:
            raise FieldError(
                "name must be an identifier (letters, digits, '_', '.', '-'; starting with a letter or "
                f"digit; no '..'), got {v!r}"
            )
        return v

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str) -> str:
        """A URI (``s3://``, ``gs://``, ``file://``, any pyarrow filesystem) goes to Ray as is."""
        if not v.strip():
            raise FieldError("storage must not be empty")
        scheme = URI_RE.match(v)
        if scheme is None:
            return resolve_path(v)
        if not v[scheme.end() :].strip("/"):
            raise FieldError(f"storage URI names no location after {scheme.group(0)}, got {v!r}")
        return v

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, sched: SchedulerSpec, info: ValidationInfo) -> SchedulerSpec:
        metrics: MetricsSpec | None = info.data.get("metrics")
        if metrics is not None:
            names = _metric_names(metrics)
            resolved = _resolve_metric(sched.metric, names)
            if resolved is None:
                who = scheduler_label(sched.type) if sched.type != "none" else "the search"
                why = " (metrics.kid is false)" if sched.metric.startswith("kid") and not metrics.kid else ""
                seen = ", ".join(names)
                raise FieldError(
                    f"metric {sched.metric!r} is not reported by trials{why}; {who} can see: {seen}",
                    ("metric",),
                )
            better = metric_mode(resolved)  # the registry says which way is better, not the user
            if sched.mode is not None and sched.mode != better:
                raise FieldError(f"{resolved} is better when {'lower' if better == 'min' else 'higher'} "
                                 f"(mode {better}), got mode {sched.mode}; leave mode out", ("mode",))
            sched = sched.model_copy(update={"mode": better})
        search, train = info.data.get("search"), info.data.get("train")
        if SCHEDULERS[sched.type].uses_grace and search is not None and train is not None:
            limit, what = sched.max_t, "max_t"
            if (
                limit is None
                and train.report_every_images is None
                and "report_every_images" not in search.params
            ):
                limit, what = search.largest("epochs") or train.epochs, "the most epochs any trial runs"
            if limit is not None and sched.grace_period > limit:
                raise FieldError(
                    f"grace_period must be <= {what} ({limit}), got {sched.grace_period}", ("grace_period",)
                )
        return sched

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

    @model_validator(mode="after")
    def _knobs_fit_the_families(self) -> SweepSpec:
        """A family's knob (``train.n_critic``, searched or set) needs that family in the sweep, and the
        base config must make a valid ``TrainConfig`` for every family the sweep trains."""
        from trainers.families import KNOB_OWNERS

        families = self.families
        places = [(name, ("train", name)) for name in KNOBS if getattr(self.train, name) is not None]
        places += [(name, ("search", "params", name)) for name in self.search.params if name in KNOBS]
        for name, where in places:
            owners = KNOB_OWNERS[name]
            if not set(owners) & set(families):
                fam = "model.family is" if "family" not in self.search.params else "the searched families are"
                raise FieldError(
                    f"{name} is a knob of family {' and '.join(owners)}; {fam} {', '.join(families)} "
                    f"(set model.family: {owners[0]}, search family, or remove {name})",
                    where,
                )
        for family in families:
            try:
                TrainConfig.from_dict(for_family({**self.base_train_values(), "family": family}))
            except ValidationError as err:  # what the sections cannot see (none today): say it as it is
                raise FieldError(f"for family {family}: {first_error(err)}", ("train",)) from None
        return self

    # ---- derived values -------------------------------------------------------------------------

    @property
    def families(self) -> tuple[str, ...]:
        """The GAN families this sweep trains: ``model.family``, or the values a search gives it."""
        entry = self.search.params.get("family")
        return tuple(dict.fromkeys(entry.values)) if entry is not None else (self.model.family,)

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
        """The metric names trials report, one per kind of ``metrics.kinds`` (``fid1k_rand``...)."""
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
        return self.search.validated()

    def grid_size(self) -> int:
        """Number of trials Tune will run: product of grid sizes times ``num_samples``."""
        return math.prod(
            (len(entry.values) for entry in self.search.params.values() if entry.kind == "grid"),
            start=self.search.num_samples,
        )

    def max_t(self, images: int | None = None) -> int | None:
        """ASHA's max_t in reports (Tune ``training_iteration``).

        Explicit ``scheduler.max_t`` wins. Otherwise the most epochs any trial can run; when
        ``report_every_images`` is set (anywhere), the number of reports that makes given the
        dataset size ``images`` (default: the size known at load time; None if unknown).
        """
        if self.scheduler.max_t is not None:
            return self.scheduler.max_t
        epochs = self.search.largest("epochs") or self.train.epochs
        searched = self.search.params.get("report_every_images")
        every = [int(v) for v in (searched.values if searched else [self.train.report_every_images]) if v]
        if not every:
            return epochs
        if images is None:
            known = self.data.known_size
            images = known[0] if known is not None else None
        if images is None:
            return None
        return max(epochs, epochs * math.ceil(images / min(every)))

    def base_train_values(self) -> dict[str, Any]:
        """The TrainConfig values every trial starts from: spec's model + train (the knobs set), data's
        image size, seed. A plain dict, not a ``TrainConfig``: where the sweep searches ``family`` it
        holds the knobs of every family searched, and a trial's sampled values complete it
        (``orchestrator.trial.trial_config``)."""
        train = {k: v for k, v in self.train.model_dump().items() if not (k in KNOBS and v is None)}
        return {**self.model.model_dump(), **train, "image_size": self.data.image_size, "seed": self.seed,
                "metric_every": self.metrics.every}

    def data_config(self) -> Any:
        """The ``trainers.data.DataConfig`` for this sweep (imported lazily: trainers.data is heavy)."""
        from trainers.data import DataConfig

        return DataConfig(**self.data.model_dump(), seed=self.seed)

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
