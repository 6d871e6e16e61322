"""The ``search`` section: which model/train fields vary, and how.

A param is written ``NAME: {KIND: VALUES}`` with exactly one of five kinds; each kind is its own
small model in a tagged union keyed by that one key. ``grid: [..]`` (every value tried; Tune
crosses grids with ``num_samples``) and ``choice: [..]`` (sampled) take any values of the field;
``uniform``/``loguniform: [lo, hi]`` only fields whose values form an interval of floats, and
``randint: [lo, hi]`` of ints (both bounds INCLUSIVE: convert with ``tune.randint(lo, hi + 1)``).
Every value and bound is validated by the field's own type (a ``TypeAdapter`` of the section's
annotation), so a searched ``lr`` obeys exactly what ``train.lr`` obeys.
"""

from __future__ import annotations

import difflib
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from orchestrator.space import ALGORITHMS
from orchestrator.sweep_spec.errors import FieldError, Loc, constraints, describe, field_type, unwrap
from orchestrator.sweep_spec.sections import Count, ModelSpec, Section, Seed, TrainSpec
from trainers.config import TRAIN_FIELDS
from trainers.families import KNOB_OWNERS

Kind = Literal["grid", "choice", "uniform", "loguniform", "randint"]
PARAM_KINDS: tuple[str, ...] = typing.get_args(Kind)
DISTRIBUTIONS: frozenset[str] = frozenset({"uniform", "loguniform", "randint"})

Values = Annotated[list[Any], Field(min_length=1)]
Bounds = Annotated[list[Any], Field(min_length=2, max_length=2)]


class _Param(Section):
    """One ``search.params`` entry as written: a model with one field, named after its kind."""

    @property
    def kind(self) -> str:
        return next(iter(type(self).model_fields))

    @property
    def values(self) -> list[Any]:
        return list(getattr(self, self.kind))


# {grid: [..]} -> the "grid" model, ... : pydantic picks the member by the entry's single key
PARAM_MODELS: dict[str, type[_Param]] = {
    kind: create_model(
        f"{kind}_param", __base__=_Param, **{kind: (Bounds if kind in DISTRIBUTIONS else Values, ...)}
    )
    for kind in PARAM_KINDS
}


def _kind_of(v: Any) -> str | None:
    """The tag of a param: its single key (None -> pydantic reports "exactly one of ...")."""
    if isinstance(v, _Param):
        return v.kind
    return next(iter(v)) if isinstance(v, dict) and len(v) == 1 else None


ParamEntry = Annotated[
    typing.Union[tuple(Annotated[model, Tag(kind)] for kind, model in PARAM_MODELS.items())],  # noqa: UP007
    Discriminator(_kind_of),
]


class ParamSpec(BaseModel):
    """A validated search parameter for ``orchestrator.space`` to turn into a Ray Tune object.

    ``values`` is the list of grid/choice values, or ``[low, high]`` for distributions (randint
    bounds are inclusive), each of the field's type.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Kind
    values: list[Any]


# searchable fields and their types: the model and train fields (the families' knobs included), and
# the seed (replicates that differ)
FIELD_TYPES: dict[str, Any] = {
    **{k: field_type(f) for k, f in ModelSpec.model_fields.items()},
    **{k: field_type(f) for k, f in TrainSpec.model_fields.items()},
    "seed": Seed,
}
SEARCHABLE: tuple[str, ...] = tuple(FIELD_TYPES)
assert set(SEARCHABLE) <= TRAIN_FIELDS | set(KNOB_OWNERS), "searchable: TrainConfig fields or knobs"
_ADAPTERS = {
    name: TypeAdapter(tp, config=ConfigDict(strict=True, allow_inf_nan=False))
    for name, tp in FIELD_TYPES.items()
}


def allowed_kinds(name: str) -> tuple[str, ...]:
    """Distributions need a numeric field whose valid values form an interval (not conv_dim's powers)."""
    tp = FIELD_TYPES[name]
    base = unwrap(tp)
    if base not in (int, float) or any(isinstance(c, AfterValidator) for c in constraints(tp)):
        return ("grid", "choice")
    return ("grid", "choice", "randint") if base is int else ("grid", "choice", "uniform", "loguniform")


def validated_value(name: str, value: Any, where: Loc = ()) -> Any:
    """``value`` checked and coerced by field ``name``'s own type; a ``FieldError`` at ``where`` if not."""
    try:
        return _ADAPTERS[name].validate_python(value)
    except ValidationError as err:
        raise FieldError(describe(err.errors()[0], name, FIELD_TYPES[name]), where) from None


def _check_param(name: str, entry: _Param, algorithm: str) -> None:
    where: Loc = ("params", name)
    if name not in FIELD_TYPES:
        hint = difflib.get_close_matches(name, SEARCHABLE, n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        raise FieldError(
            f"unknown search parameter {name!r} ({did}searchable: {', '.join(SEARCHABLE)})", where
        )
    kind = entry.kind
    takes = ALGORITHMS[algorithm].kinds
    if takes is not None and kind not in takes:
        others = [a for a, alg in ALGORITHMS.items() if alg.kinds is None or kind in alg.kinds]
        raise FieldError(
            f"algorithm {algorithm} takes only {'/'.join(takes)} params, got {kind} "
            f"(use algorithm {' or '.join(others)})",
            (*where, kind),
        )
    allowed = allowed_kinds(name)
    if kind not in allowed:
        raise FieldError(
            f"{name} cannot use {kind} (allowed for this field: {', '.join(allowed)})", (*where, kind)
        )
    values = [validated_value(name, v, (*where, kind, i)) for i, v in enumerate(entry.values)]
    if kind in DISTRIBUTIONS:
        lo, hi = values
        if lo is None or hi is None:
            raise FieldError(f"{kind} bounds must be numbers, got [{lo}, {hi}]", (*where, kind))
        if kind == "loguniform" and lo <= 0:
            raise FieldError(f"loguniform bounds must be > 0, got {lo}", (*where, kind, 0))
        if not lo < hi:
            raise FieldError(f"{kind} low must be < high, got [{lo}, {hi}]", (*where, kind))


class SearchSpec(Section):
    """How trials are drawn: the search algorithm, how many samples, and the searched fields."""

    algorithm: Literal[tuple(ALGORITHMS)] = "random"  # type: ignore[valid-type]  # orchestrator.space.ALGORITHMS
    num_samples: Count = 1
    startup_trials: Count | None = None  # Optuna's random start-up trials (None: sized by the searcher)
    params: dict[str, ParamEntry] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _null_params(cls, v: Any) -> Any:
        return {} if v is None else v

    @model_validator(mode="after")
    def _params_fit_their_fields(self) -> SearchSpec:
        for name, entry in self.params.items():
            _check_param(name, typing.cast(_Param, entry), self.algorithm)
        return self

    def validated(self) -> dict[str, ParamSpec]:
        """Search params by field name, values coerced to the field's type (e.g. 1 -> 1.0 for lr)."""
        return {
            name: ParamSpec(kind=entry.kind, values=[validated_value(name, v) for v in entry.values])  # type: ignore[arg-type]
            for name, entry in self.params.items()
        }

    def largest(self, name: str) -> Any:
        """The largest value a searched field can take (None when it is not searched)."""
        entry = self.params.get(name)
        if entry is None:
            return None
        numbers = [v for v in entry.values if isinstance(v, int | float) and not isinstance(v, bool)]
        return max(numbers) if numbers else None
