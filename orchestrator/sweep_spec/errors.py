"""Spec errors: pydantic's structured errors -> one line ``<file>: <field.path>: <reason>``.

Validation itself is pydantic's (types, ``Field`` bounds, literals, a tagged union for search
params); this module only words its errors, in one place, so every mistake reads the same way
whichever mechanism caught it. Two kinds of ``ValueError`` come from the spec's own validators:
a plain one states what is wrong with the field's *value* ("must be a power of two >= 8, got 48")
and gets the field name put in front; a ``FieldError`` is a whole sentence, optionally about a
deeper path than the validator's own field (a cross-section check on ``search`` that blames
``params.lr.loguniform[0]``).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

Loc = tuple[str | int, ...]


class SpecError(ValueError):
    """A problem with a spec the user can fix; ``str(err)`` is one line naming the file and field."""


class FieldError(ValueError):
    """A complete one-line reason, blamed on ``sub`` below the field whose validator raised it.

    Pydantic keeps the exception in the error's ``ctx``, which is how ``sub`` reaches ``error_line``.
    """

    def __init__(self, message: str, sub: Loc = ()) -> None:
        super().__init__(message)
        self.sub = sub


# ------------------------------------------------------------------------------------ type helpers


def unwrap(tp: Any) -> Any:
    """``Annotated[X | None, ...]`` -> ``X`` (the type a value of the field actually has)."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
            tp = args[0]
            continue
        return tp


def as_model(tp: Any) -> type[BaseModel] | None:
    tp = unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def union_tags(tp: Any) -> dict[str, type[BaseModel]]:
    """Members of a tagged union (``Annotated[M, Tag("t")] | ...``) by tag; {} for anything else."""
    tp = unwrap(tp)
    out: dict[str, type[BaseModel]] = {}
    for arg in typing.get_args(tp):
        if typing.get_origin(arg) is Annotated:
            member, *meta = typing.get_args(arg)
            for m in meta:
                tag = getattr(m, "tag", None)
                if isinstance(tag, str):
                    out[tag] = member
    return out


def constraints(tp: Any) -> list[Any]:
    """The ``annotated_types`` constraints (Gt, Ge, Lt, Le, ...) anywhere in a field's annotation."""
    found: list[Any] = []
    stack = [tp]
    while stack:
        t = stack.pop()
        if typing.get_origin(t) is Annotated:
            base, *meta = typing.get_args(t)
            stack.append(base)
            for m in meta:
                found.extend(m.metadata if isinstance(m, FieldInfo) else [m])
        else:
            stack.extend(typing.get_args(t))
    return found


def field_type(info: FieldInfo) -> Any:
    """A model field's full annotated type (usable by ``TypeAdapter``), constraints included."""
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


# ------------------------------------------------------------------------------------- the wording


def _num(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def typename(v: Any) -> str:
    return {type(None): "null", dict: "a mapping", list: "a list", str: "a string"}.get(
        type(v), type(v).__name__
    )


def _bounds(field: str, tp: Any, value: Any) -> str:
    """Say "lr must be > 0", or "beta2 must be in [0, 1)" where the field has both bounds."""
    lo = hi = None
    for c in constraints(tp):
        if isinstance(c, annotated_types.Gt | annotated_types.Ge):
            lo = ("(" if isinstance(c, annotated_types.Gt) else "[", getattr(c, "gt", getattr(c, "ge", None)))
        elif isinstance(c, annotated_types.Lt | annotated_types.Le):
            hi = (")" if isinstance(c, annotated_types.Lt) else "]", getattr(c, "lt", getattr(c, "le", None)))
    if lo and hi:
        return f"{field} must be in {lo[0]}{_bound(lo[1])}, {_bound(hi[1])}{hi[0]}, got {_num(value)}"
    side, bound = lo or hi or ("", None)
    op = {"(": ">", "[": ">=", ")": "<", "]": "<="}.get(side, "within")
    return f"{field} must be {op} {_bound(bound)}, got {_num(value)}"


def _bound(b: Any) -> str:
    return str(int(b)) if isinstance(b, int | float) and b == int(b) else str(b)


def describe(err: Mapping[str, Any], field: str, tp: Any = None, owner: type[BaseModel] | None = None) -> str:
    """One pydantic error about ``field`` (of type ``tp``, in model ``owner``) as a sentence."""
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        allowed = list(owner.model_fields) if owner else []
        hint = difflib.get_close_matches(field, allowed, n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        return f"unknown key {field!r} ({did}allowed: {', '.join(allowed)})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        allowed = list(union_tags(tp))
        if not isinstance(value, dict):
            return f"{field} must be a mapping, got {typename(value)}"
        if kind == "union_tag_invalid":
            tag = str(err["ctx"]["tag"])
            hint = difflib.get_close_matches(tag, allowed, n=1)
            did = f"did you mean {hint[0]!r}? " if hint else ""
            return f"unknown key {tag!r} ({did}allowed: {', '.join(allowed)})"
        got = " and ".join(map(str, value)) or "none"
        return f"needs exactly one of {', '.join(allowed)}, got {got}"
    if kind == "missing":
        return f"{field} is required"
    if kind == "finite_number":
        return f"{field} must be a finite number, got {value}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bounds(field, tp, value)
    if kind in ("too_short", "too_long"):
        ctx, actual = err["ctx"], err["ctx"].get("actual_length")
        if ctx.get("max_length") is not None or (ctx.get("min_length") or 0) >= 2:  # a [low, high] pair
            if actual == 1:  # one value is no interval: say how to write a fixed one
                one = value[0] if isinstance(value, list) and value else "..."
                return (f"{field} takes [low, high], got 1 value; for one fixed value use grid: [{one}] "
                        "or set the field itself")
            return f"{field} takes [low, high], got {actual} values"
        return f"{field} must not be empty"
    if kind.startswith("int"):
        return f"{field} must be an integer, got {value!r}"
    if kind.startswith("float"):
        return f"{field} must be a number, got {value!r}"
    if kind.startswith("bool"):
        return f"{field} must be true or false, got {value!r}"
    if kind.startswith("string"):
        return f"{field} must be a string, got {value!r}"
    if kind == "literal_error":
        expected = err["ctx"]["expected"]
        numbers = all(isinstance(a, int | float) for a in typing.get_args(unwrap(tp))) and tp is not None
        return f"{field} must be {'' if numbers else 'one of '}{expected}, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{field} must be a mapping, got {typename(value)}"
    if kind == "list_type":
        return f"{field} must be a list, got {typename(value)}"
    if kind == "value_error":
        error = err["ctx"]["error"]
        return str(error) if isinstance(error, FieldError) else f"{field} {error}"
    return f"{field}: {err['msg']}"


# ---------------------------------------------------------------------------------- where it is


def _walk(root: type[BaseModel], loc: Loc) -> tuple[Loc, Any, type[BaseModel] | None]:
    """Follow pydantic's ``loc`` from ``root``: (the path as the user wrote it, the type there, the
    model owning the last key). Tagged-union tags, which pydantic inserts into ``loc``, are dropped."""
    shown: list[str | int] = []
    current: Any = root
    owner: type[BaseModel] | None = None
    for part in loc:
        model = as_model(current)
        if model is not None and part in model.model_fields:
            owner, current = model, field_type(model.model_fields[str(part)])
            shown.append(part)
            continue
        tags = union_tags(current)
        if tags and part in tags:
            current = tags[str(part)]
            continue
        origin, args = typing.get_origin(unwrap(current)), typing.get_args(unwrap(current))
        current = args[-1] if origin in (dict, list) and args else None
        shown.append(part)
    return tuple(shown), current, owner


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def error_line(err: ValidationError, source: str, root: type[BaseModel]) -> SpecError:
    """The first error of a failed ``root`` validation as the one line the CLI prints; every error's
    line is in ``.lines`` (``gansweep validate`` lists them all at once)."""
    lines = [_one_line(e, source, root) for e in err.errors()]
    found = SpecError(lines[0])
    found.lines = list(dict.fromkeys(lines))  # type: ignore[attr-defined]
    return found


def _one_line(first: Any, source: str, root: type[BaseModel]) -> str:
    loc, tp, owner = _walk(root, tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        owner = as_model(_walk(root, tuple(first["loc"])[:-1])[1])
    field = next((str(p) for p in reversed(loc) if isinstance(p, str)), "spec")
    message = describe(first, field, tp, owner)
    ctx_err = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_err, FieldError):
        loc += ctx_err.sub
    elif first["type"] == "union_tag_invalid" and isinstance(first.get("input"), dict):
        loc += (str(first["ctx"]["tag"]),)
    where = format_loc(loc)
    return f"{source}: {where}: {message}" if where else f"{source}: {message}"
