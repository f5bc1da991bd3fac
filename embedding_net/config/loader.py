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
from embedding_net.config.schema import TrainConfig
from embedding_net.constraints import field_constraint
from embedding_net.data.datasets.registry import find_layout, get_layout, layout_names

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
    need = _Need(source)
    _check_sections(config, need)
    _check_schedule(config, need)
    _check_combinations(config, need)


def _check_sections(config: TrainConfig, need: _Need) -> None:
    d, m, s, o, sc = config.data, config.model, config.sampler, config.optimizer, config.schedule
    need(
        m.center_crop is None
        or (
            len(m.center_crop) == 2
            and all(0 < c <= size for c, size in zip(m.center_crop, d.image_size))
        ),
        "model.center_crop",
        f"expected [height, width] of positive integers no larger than data.image_size "
        f"{d.image_size}, got {m.center_crop}",
    )
    need(s.P >= 2 or s.kind != "pk", "sampler.P", f"must be >= 2 for P x K batches, got {s.P}")
    need(
        s.singles == 0 or s.kind == "pk",
        "sampler.singles",
        f"applies to P x K batches (sampler.kind: pk), not {s.kind!r}",
    )
    need(
        not o.rectify or o.name in ("adam", "adamw"),
        "optimizer.rectify",
        f"RAdam rectification applies to adam/adamw, not {o.name!r}",
    )
    need(
        sc.min_learning_rate < o.learning_rate,
        "schedule.min_learning_rate",
        "must be below optimizer.learning_rate",
    )


def _check_schedule(config: TrainConfig, need: _Need) -> None:
    m, o, sc, t = config.model, config.optimizer, config.schedule, config.training
    if sc.span == "time":
        need(
            sc.name in ("cosine", "warmup_cosine"),
            "schedule.span",
            f"'time' applies to the cosine and warmup_cosine schedules, not {sc.name!r}",
        )
        need(
            t.max_seconds is not None,
            "schedule.span",
            "'time' decays the learning rate over training.max_seconds: set it",
        )
    if m.freeze_epochs is not None:
        need(
            1 <= m.freeze_epochs < t.epochs,
            "model.freeze_epochs",
            f"must be >= 1 and below training.epochs ({t.epochs}: the epochs after it "
            f"fine-tune the unfrozen backbone), got {m.freeze_epochs}",
        )
        need(
            not m.freeze_backbone,
            "model.freeze_epochs",
            "model.freeze_backbone: true keeps the backbone frozen for the whole run; "
            "set one of the two",
        )
        need(
            sc.min_learning_rate < o.learning_rate * o.fine_tune_factor,
            "schedule.min_learning_rate",
            "must be below the fine-tuning learning rate (optimizer.learning_rate x "
            f"optimizer.fine_tune_factor = {o.learning_rate * o.fine_tune_factor:g})",
        )
    need(
        m.unfreeze_from is None or m.freeze_epochs is not None,
        "model.unfreeze_from",
        "only applies with model.freeze_epochs (the epoch the backbone is unfrozen)",
    )


def _check_combinations(config: TrainConfig, need: _Need) -> None:
    d, m, s, v = config.data, config.model, config.sampler, config.validation
    kind_samplers = {"embedding": ("pk", "random"), "siamese": ("pairs",), "triplet": ("triplets",)}
    need(
        s.kind in kind_samplers[m.kind],
        "sampler.kind",
        f"model.kind {m.kind!r} trains on sampler.kind {' or '.join(kind_samplers[m.kind])}, "
        f"got {s.kind!r}",
    )
    need(
        not get_layout(d.layout).triplet_rows or m.kind == "triplet",
        "data.layout",
        f"{d.layout} trains model.kind 'triplet'",
    )
    need(
        m.head == "distance" or m.kind == "siamese",
        "model.head",
        "only applies to model.kind 'siamese'",
    )
    need(
        d.split != "given" or get_layout(d.layout).given_split,
        "data.split",
        f"'given' needs train/ and val/ folders (layouts "
        f"{', '.join(layout_names(given_split=True))}), "
        f"not {d.layout!r}",
    )
    need(
        v.protocol == "none" or d.split != "none",
        "validation.protocol",
        f"{v.protocol!r} needs held-out data: set data.split",
    )
    need(
        not v.rerank or v.protocol == "reid",
        "validation.rerank",
        f"re-ranking applies to validation.protocol 'reid', not {v.protocol!r}",
    )


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
