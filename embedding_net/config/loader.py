"""Read a YAML file into a validated :class:`~embedding_net.config.schema.TrainConfig`.

Only ``yaml.safe_load`` is used. Every problem is a :class:`ConfigError` (a ``ValueError``)
whose message names the file and the dotted key at fault, e.g.
``runs.yaml: optimizer.learning_rate: expected a number, got 'fast' (str)``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal, Union

from embedding_net.atomic import write_text_atomic
from embedding_net.config.rules import check_rules
from embedding_net.config.schema import TrainConfig
from embedding_net.constraints import field_constraint
from embedding_net.data.datasets.registry import find_layout

#: fields holding paths: ``${data}``, ``${config_dir}`` and ``~`` are expanded in them
PATH_FIELDS = {
    ("data", "root"),
    ("data", "people_file"),
    ("data", "pairs_file"),
    ("model", "weights"),
    ("output_dir",),
}


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A config file is malformed; the message names the file and the key."""


def _where(source: str | None, key: str) -> str:
    prefix = f"{source}: " if source else "config: "
    return f"{prefix}{key}" if key else prefix.rstrip(": ")


def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"a list of {_type_name(item)}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(annotation):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        annotation, str(annotation)
    )


def _convert(value, annotation, key: str, source: str | None):
    """Check ``value`` against ``annotation``; return the converted value or raise."""

    def fail(expected: str | None = None):
        expected = expected or _type_name(annotation)
        raise ConfigError(
            f"{_where(source, key)}: expected {expected}, got {value!r} ({type(value).__name__})"
        )

    if annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if value is None:
            return annotation()
        if not isinstance(value, dict):
            fail()
        return _build(annotation, value, key, source)
    if origin in (Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None:
            if type(None) in args:
                return None
            fail()
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except ConfigError as exc:
                errors.append(exc)
        fail()
    if origin is Literal:
        if key == "data.layout":
            value = _layout_name(value, key, source)
        if value not in typing.get_args(annotation) or isinstance(value, bool):
            fail()
        return value
    if origin is list:
        (item,) = typing.get_args(annotation)
        if not isinstance(value, list):
            fail()
        return [_convert(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            fail()
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ConfigError(f"{_where(source, key)}: keys must be strings, got {bad[0]!r}")
        return dict(value)
    if annotation is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return value
    if annotation is float:
        # YAML 1.1 (PyYAML) reads `1e-3` as a string: accept numeric strings for floats
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            fail()
        return value
    raise TypeError(f"unsupported config annotation {annotation!r} at {key}")  # pragma: no cover


def _layout_name(value, key: str, source: str | None):
    """A deprecated layout alias (``triplets-csv``) becomes its name, with a warning."""
    layout = find_layout(value)
    if layout is not None and layout.name != value:
        warnings.warn(
            f"{_where(source, key)}: {value!r} is deprecated, use {layout.name!r}",
            DeprecationWarning,
            stacklevel=2,
        )
        return layout.name
    return value


def _build(cls, mapping: dict, prefix: str, source: str | None):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
    kwargs = {}
    for raw_key, value in mapping.items():
        key = f"{prefix}.{raw_key}" if prefix else str(raw_key)
        if raw_key not in names:
            section = f"section {prefix!r}" if prefix else "the top level"
            raise ConfigError(
                f"{_where(source, key)}: unknown key; {section} accepts {', '.join(names)}"
            )
        kwargs[raw_key] = _convert(value, hints[raw_key], key, source)
    return cls(**kwargs)


def _expand(path: str, config_dir: Path | None) -> str:
    from embedding_net.data.locations import data_root

    if "${data}" in path:
        path = path.replace("${data}", str(data_root()))
    if "${config_dir}" in path:
        path = path.replace("${config_dir}", str(config_dir or Path.cwd()))
    return os.path.expanduser(path)


def _check_fields(config, source: str | None, prefix: str = "") -> None:
    """Check every field declared with a constraint (:func:`~embedding_net.constraints.
    constrained`), section by section in declaration order."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(value):
            _check_fields(value, source, key)
            continue
        constraint = field_constraint(f)
        problem = None if constraint is None or value is None else constraint.problem(value)
        if problem is not None:
            raise ConfigError(f"{_where(source, key)}: {problem}")


class _Need:
    """``need(condition, key, message)``: raise a :class:`ConfigError` naming the file and
    the key when ``condition`` is false."""

    def __init__(self, source: str | None):
        self.source = source

    def __call__(self, condition: bool, key: str, message: str) -> None:
        if not condition:
            raise ConfigError(f"{_where(self.source, key)}: {message}")


def _check_values(config: TrainConfig, source: str | None) -> None:
    """The checks that involve more than one field (each field's own are declared with it)."""
    check_rules(config, _Need(source))


def parse_config(mapping: Any, source: str | os.PathLike | None = None) -> TrainConfig:
    """Validate a mapping (e.g. from ``yaml.safe_load``) into a :class:`TrainConfig`.

    Args:
        mapping: the parsed YAML document.
        source: file name used in error messages and to expand ``${config_dir}``.

    Returns:
        :class:`TrainConfig` with path fields expanded.

    Raises:
        ConfigError: unknown key, wrong type or invalid value; the message names ``source``
            and the dotted key.
    """
    source_str = None if source is None else os.fspath(source)
    if not isinstance(mapping, dict):
        raise ConfigError(
            f"{_where(source_str, '')}: expected a mapping of sections at the top level, "
            f"got {type(mapping).__name__}"
        )
    config = _build(TrainConfig, mapping, "", source_str)
    config.source = source_str
    config_dir = Path(source_str).resolve().parent if source_str else None
    for path in PATH_FIELDS:
        owner = config
        for part in path[:-1]:
            owner = getattr(owner, part)
        value = getattr(owner, path[-1])
        if isinstance(value, str) and value:
            setattr(owner, path[-1], _expand(value, config_dir))
    _check_fields(config, source_str)
    _check_values(config, source_str)
    return config


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> TrainConfig:
    """Read and validate a YAML config file.

    Args:
        path: the YAML file.
        overrides: optional ``{"section.key": value}`` applied on top of the file (e.g. from
            ``embedding-net train --set training.epochs=1``), validated like the file.

    Returns:
        :class:`TrainConfig`.

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigError: binary, non-UTF-8 or bad YAML (file, line named); bad key/type/value.
    """
    from embedding_net.data.text_files import ParseError, read_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        mapping = read_yaml(path, "config file")
    except ParseError as exc:
        raise ConfigError(str(exc)) from None
    if mapping is None:
        mapping = {}
    for dotted, value in (overrides or {}).items():
        target = mapping
        parts = dotted.split(".")
        for part in parts[:-1]:
            if not isinstance(target, dict):
                break
            if target.get(part) is None:
                target[part] = {}
            target = target[part]
        if not isinstance(target, dict):
            raise ConfigError(f"{path}: {dotted}: cannot override inside a non-mapping value")
        target[parts[-1]] = value
    return parse_config(mapping, path)


def config_to_dict(config: TrainConfig) -> dict:
    """The config as plain YAML-ready data (``source`` dropped)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k != "source"}


def dump_config(config: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (what a run actually used), atomically."""
    import yaml

    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))
