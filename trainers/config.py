"""The one definition of a GAN training run's configuration: every field, its default and its bounds.

Everything the hand-run seed experiments changed (architecture width, optimizer, lr, batch size,
precision, EMA, ...) is a field here, so a sweep can vary it. A field marked ``spec(MODEL, ...)`` or
``spec(TRAIN, ...)`` is what the sweep spec shows in its ``model:`` / ``train:`` section and lets a
search vary: ``orchestrator.sweep_spec.sections`` derives those sections from these fields (same
types, bounds and defaults), so a new training knob is one line here plus the code that uses it.

Knobs of one GAN family (WGAN-GP's ``n_critic``, DCGAN's ``label_smoothing``) are declared by the
family itself (``trainers.families``, its ``Knobs`` model) and travel here as extra fields of that
family: ``TrainConfig(family="wgan_gp", n_critic=3).knobs.n_critic == 3``; a knob of another family
is refused (:func:`for_family` drops them where a sweep searches the family itself).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

MIN_SWEEP_CONV_DIM = 8  # the narrowest width a sweep's spec accepts (the networks take any power of two)
MODEL, TRAIN = "model", "train"  # the spec sections a field is shown in

Optimizer = Literal["adam", "rmsprop", "sgd"]
Precision = Literal["fp32", "bf16", "fp16"]
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_conv_dim(value: int, minimum: int = 1) -> int:
    """The one conv_dim rule: a power of two (each 2x stage halves or doubles the width), >= ``minimum``.

    The networks accept any power of two (tests train width-4 nets for speed); the spec asks for
    at least :data:`MIN_SWEEP_CONV_DIM`. Returns ``value``; raises ValueError saying what is wrong.
    """
    if value < minimum or value & (value - 1):
        bound = f" >= {minimum}" if minimum > 1 else ""
        raise ValueError(f"must be a power of two{bound}, got {value}")
    return value


def _device(v: str) -> str:
    if not DEVICE_RE.match(v):
        raise ValueError(f"must be auto, cpu, mps, cuda or cuda:N, got {v!r}")
    return v


def _known_family(v: str) -> str:
    """A name in the ``trainers.families`` registry (imported here: the families import this module)."""
    from .families import FAMILY_NAMES

    if v not in FAMILY_NAMES:
        names = [repr(n) for n in FAMILY_NAMES]
        raise ValueError(f"must be one of {', '.join(names[:-1])} or {names[-1]}, got {v!r}")
    return v


# value types, shared with the spec's sections and the families' knobs
Count = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # [0, 1)
PowerOfTwo = Annotated[int, AfterValidator(check_conv_dim)]
Device = Annotated[str, AfterValidator(_device)]
FamilyName = Annotated[str, AfterValidator(_known_family)]


def first_error(err: ValidationError) -> str:
    """A pydantic error as one line: the first problem's field path and message."""
    first = err.errors()[0]
    where = ".".join(map(str, first["loc"]))
    msg = first["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def spec(section: str | None, default: Any, shape: bool = False) -> Any:
    """A field the sweep spec shows in ``section`` (``MODEL`` or ``TRAIN``), searchable by its name;
    ``shape``: it changes the networks' tensors (a checkpoint made with another value cannot load)."""
    return Field(default, json_schema_extra={"section": section, "shape": shape})


def section_of(info: FieldInfo) -> str | None:
    """The spec section a field is shown in (None: set by the orchestrator, not by the user)."""
    extra = info.json_schema_extra
    return extra.get("section") if isinstance(extra, dict) else None  # type: ignore[return-value]


def shapes_networks(info: FieldInfo) -> bool:
    """Whether a field changes the networks' tensors (``trainers.checkpoint`` refuses a mismatch)."""
    extra = info.json_schema_extra
    return bool(extra.get("shape")) if isinstance(extra, dict) else False


class TrainConfig(BaseModel):
    """One training run. Frozen; built with ``TrainConfig(**values)`` or :meth:`from_dict`."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    # model
    family: FamilyName = spec(MODEL, "dcgan", shape=True)  # a name in trainers.families.FAMILY_NAMES
    fc: bool = spec(MODEL, False, shape=True)  # Udacity-style: Linear first layer in G, last in D
    z_dim: Count = spec(MODEL, 100, shape=True)
    conv_dim: PowerOfTwo = spec(MODEL, 32, shape=True)
    d_dropout: Fraction = spec(MODEL, 0.0)
    # optimisation
    epochs: Count = spec(TRAIN, 5)
    batch_size: Count = spec(TRAIN, 64)
    optimizer: Optimizer = spec(TRAIN, "adam")
    lr: Positive = spec(TRAIN, 2e-4)  # generator lr (and D's unless lr_d is set)
    lr_d: Positive | None = spec(TRAIN, None)
    beta1: Fraction | None = spec(TRAIN, None)  # None -> the family's default (0.5 dcgan, 0.0 wgan_gp)
    beta2: Fraction | None = spec(TRAIN, None)  # None -> the family's default (0.999 dcgan, 0.9 wgan_gp)
    precision: Precision = spec(TRAIN, "fp32")
    ema: bool = spec(TRAIN, True)  # evaluate (and keep) an exponential moving average of G's weights
    ema_kimg: Positive = spec(TRAIN, 10.0)  # EMA half-life in thousands of images (StyleGAN2-ADA)
    report_every_images: Count | None = spec(TRAIN, None)  # None: report once per epoch
    channels_last: bool = spec(TRAIN, False)
    compile: bool = spec(TRAIN, False)
    device: Device = spec(TRAIN, "auto")  # auto -> cuda if available else cpu
    # set by the orchestrator from other sections (data.image_size, seed, metrics.every)
    image_size: int = spec(None, 32, shape=True)  # 32 or 64
    seed: int = 0
    metric_every: Count = 1  # evaluate the metric every N reports (last value repeated between)
    grid_size: int = 64  # images in the fixed-noise sample grid

    @model_validator(mode="before")
    @classmethod
    def _family_knobs(cls, data: Any) -> Any:
        """Fill and check the chosen family's knobs (the fields beyond the declared ones)."""
        if not isinstance(data, Mapping):
            return data
        from .families import FAMILIES, KNOB_OWNERS

        family = FAMILIES.get(data.get("family", cls.model_fields["family"].default))
        if family is None:
            return data  # the family field's own validator names the problem
        extra = {k: v for k, v in data.items() if k not in cls.model_fields}
        for name in extra:
            if name not in family.knobs.model_fields:
                owners = KNOB_OWNERS.get(name)
                if owners:
                    whose = " and ".join(owners)
                    raise ValueError(f"{name} is a knob of family {whose}, not of {family.name}")
                raise ValueError(f"unknown field {name}: not in TrainConfig nor a knob of {family.name}")
        try:
            knobs = family.knobs.model_validate(extra)
        except ValidationError as err:
            raise ValueError(first_error(err)) from None
        return {**{k: v for k, v in data.items() if k in cls.model_fields}, **knobs.model_dump()}

    @cached_property
    def knobs(self) -> Any:
        """The family's own knobs (its ``Knobs`` model), e.g. ``cfg.knobs.n_critic`` for wgan_gp."""
        from .families import FAMILIES

        return FAMILIES[self.family].knobs.model_validate(self.model_extra or {})

    @property
    def d_lr(self) -> float:
        return self.lr if self.lr_d is None else self.lr_d

    @property
    def betas(self) -> tuple[float, float]:
        from .families import FAMILIES

        default = FAMILIES[self.family].betas
        return (
            default[0] if self.beta1 is None else self.beta1,
            default[1] if self.beta2 is None else self.beta2,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field and the family's knobs, flat (what checkpoints and MLflow params hold)."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        return cls.model_validate(dict(values))

    def with_values(self, **values: Any) -> TrainConfig:
        """A copy with ``values`` changed, validated again (``model_copy`` would not check them)."""
        return type(self).model_validate({**self.to_dict(), **values})


def for_family(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the knobs of families other than ``values["family"]``.

    A sweep that searches ``family`` may set the knobs of every family it searches (the spec checks
    that each belongs to one of them); each trial keeps its own family's. Anything else stays, so
    a misspelt field is still refused by ``TrainConfig``.
    """
    from .families import FAMILIES, KNOB_OWNERS

    family = FAMILIES.get(values.get("family", TrainConfig.model_fields["family"].default))
    own = family.knobs.model_fields if family is not None else {}
    return {k: v for k, v in values.items() if k in own or k not in KNOB_OWNERS}


TRAIN_FIELDS: frozenset[str] = frozenset(TrainConfig.model_fields)
"""The fields every family has (a family's knobs come on top: ``trainers.families.KNOB_OWNERS``)."""
