"""YAML text and ``--set`` overrides -> a validated ``SweepSpec``, or one ``SpecError`` line."""

from __future__ import annotations

import copy
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.sweep_spec.errors import SpecError, as_model, error_line, typename
from orchestrator.sweep_spec.sweep import SweepSpec


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
    return parse_pairs(items, "--set", "KEY=VALUE with a dotted key", "data.path=/data/celeba")


def parse_pairs(items: list[str] | tuple[str, ...], option: str, form: str, example: str) -> dict[str, str]:
    """Repeated ``option KEY=VALUE`` flags -> a dict (the value may hold ``=``); a flag without ``=`` or
    without a key is a one-line SpecError naming the option: ``--env 'X': expected NAME=VALUE, e.g. ...``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"{option} {item!r}: expected {form}, e.g. {example}")
        out[key.strip()] = value
    return out


def _set(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Put ``value`` at ``dotted`` in ``raw``, creating sections; keys are checked against the models
    as far as they go (a search param's own keys are left to validation)."""
    parts = dotted.split(".")
    node: dict[str, Any] = raw
    model: type[BaseModel] | None = SweepSpec
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        nxt: type[BaseModel] | None = None
        if model is not None:
            field = model.model_fields.get(part)
            if field is None:
                where = ".".join(parts[:depth]) or "the spec"
                allowed = ", ".join(model.model_fields)
                raise SpecError(
                    f"{source}: override {dotted!r}: unknown key {part!r} in {where} (allowed: {allowed})"
                )
            nxt = as_model(field.annotation)
            if nxt is None and typing.get_origin(field.annotation) is not dict and depth < len(parts) - 1:
                raise SpecError(f"{source}: override {dotted!r}: {here} is not a section")
        if depth == len(parts) - 1:
            if value is None and nxt is not None:  # would silently drop the file's section for defaults
                raise SpecError(
                    f"{source}: override {dotted!r}: {here} is a section and cannot be null; "
                    f"set its fields instead (e.g. --set {here}.FIELD=VALUE)"
                )
            node[part] = value
            return
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise SpecError(f"{source}: override {dotted!r}: {here} is not a mapping")
        node, model = child, nxt


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, str], source: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    for dotted, text in overrides.items():
        if not all(dotted.split(".")):
            raise SpecError(f"{source}: override {dotted!r}: not a dotted field path (e.g. train.epochs)")
        try:
            value = yaml.load(text, Loader=_Loader) if isinstance(text, str) else text  # noqa: S506
        except yaml.YAMLError as err:
            raise SpecError(f"{source}: override {dotted!r}: {_yaml_error(err)}") from None
        _set(raw, dotted, value, source)
    return raw


def from_dict(
    data: Any,
    source: str = "<spec>",
    overrides: Mapping[str, str] | None = None,
    *,
    check_data: bool = True,
) -> SweepSpec:
    """Validate an already-parsed spec (e.g. a saved ``resolved()`` dict); errors name ``source``.

    ``check_data=False`` skips every check that needs files on this machine (``data.path``,
    ``metrics.weights``): a plan preview, or a spec bound for a cluster that has the data.
    """
    if data is None:
        raise SpecError(f"{source}: file is empty (a spec needs at least 'name')")
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}: a spec must be a mapping of sections (name, data, model, train, ...), "
            f"got {typename(data)}"
        )
    if overrides:
        data = _apply_overrides(data, overrides, source)
    try:
        return SweepSpec.model_validate(data, context={"check_data": check_data})
    except ValidationError as err:
        raise error_line(err, source, SweepSpec) from None


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
