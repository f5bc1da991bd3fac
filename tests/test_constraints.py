"""Constraints declared once: their messages, the schema fields that carry them, the loader
and BaseNetwork refusing the same values."""

import dataclasses
import math

import pytest

from embedding_net import constraints
from embedding_net.config import ConfigError, TrainConfig, parse_config
from embedding_net.constraints import (
    DROPOUT,
    EMBEDDING_DIM,
    Bounds,
    OneOf,
    PositivePair,
    Rule,
    constrained,
    field_constraint,
)


@pytest.mark.parametrize(
    "constraint, value, message",
    [
        (Bounds(0, 1), 1.0, "must be in [0, 1), got 1.0"),
        (Bounds(0, 1), -0.1, "must be in [0, 1), got -0.1"),
        (Bounds(0, 1, low_inclusive=False, high_inclusive=True), 0, "must be in (0, 1], got 0"),
        (Bounds(0, 1, high_inclusive=True), 1.5, "must be in [0, 1], got 1.5"),
        (Bounds(1), 0, "must be >= 1, got 0"),
        (Bounds(0, low_inclusive=False), 0.0, "must be > 0, got 0.0"),
        (Bounds(1, or_null=True), 0, "must be >= 1 or null, got 0"),
        (Bounds(high=3), 3, "must be < 3, got 3"),
        (Bounds(0, low_inclusive=False, finite=True), math.inf, "must be > 0, got inf"),
        (Bounds(0, low_inclusive=False), math.nan, "must be > 0, got nan"),
        (Bounds(0, 1), "half", "must be in [0, 1), got 'half'"),
        (Bounds(0, 1), True, "must be in [0, 1), got True"),  # a bool is not a number
        (EMBEDDING_DIM, 2.5, "must be an integer >= 1, got 2.5"),
        (EMBEDDING_DIM, 0, "must be an integer >= 1, got 0"),
        (OneOf((0, 1, 2)), 3, "must be 0, 1 or 2, got 3"),
        (OneOf((0,)), True, "must be 0, got True"),
        (PositivePair("rows, cols"), [2], "expected [rows, cols] of positive integers, got [2]"),
        (PositivePair("h, w"), [0, 4], "expected [h, w] of positive integers, got [0, 4]"),
        (PositivePair("h, w"), [1.5, 4], "expected [h, w] of positive integers, got [1.5, 4]"),
        (PositivePair("h, w"), [], "expected [h, w] of positive integers, got []"),
        (Rule(bool, "is required"), "", "is required"),
        (Rule(lambda v: v != 3, "not {value}"), 3, "not 3"),
    ],
)
def test_problem_words_what_was_expected_and_what_came(constraint, value, message):
    assert constraint.problem(value) == message


@pytest.mark.parametrize(
    "constraint, value",
    [
        (Bounds(0, 1), 0),
        (Bounds(0, 1), 0.999),
        (Bounds(0, 1, high_inclusive=True), 1),
        (Bounds(1), 10**9),
        (Bounds(0), math.inf),  # not finite=True
        (EMBEDDING_DIM, 128),
        (EMBEDDING_DIM, 64.0),
        (OneOf((0, 1, 2)), 2),
        (PositivePair("h, w"), (3, 4)),
        (Rule(bool, "is required"), "x"),
    ],
)
def test_good_values_pass(constraint, value):
    assert constraint.problem(value) is None


def test_check_names_the_argument_and_none_passes_only_when_optional():
    DROPOUT.check("dropout", 0.5)
    with pytest.raises(ValueError, match=r"^dropout must be in \[0, 1\), got 1.5$"):
        DROPOUT.check("dropout", 1.5)
    with pytest.raises(ValueError, match="dropout must be in"):
        DROPOUT.check("dropout", None)
    EMBEDDING_DIM.check("embedding_dim", None, optional=True)


def test_constrained_fields_carry_their_constraint():
    @dataclasses.dataclass
    class Section:
        size: int = constrained(3, Bounds(1))
        grid: list = constrained(check=PositivePair("a, b"), factory=lambda: [1, 1])
        free: int = 0

    size, grid, free = dataclasses.fields(Section)
    assert field_constraint(size) == Bounds(1) and field_constraint(free) is None
    assert isinstance(field_constraint(grid), PositivePair)
    assert Section().grid == [1, 1] and Section().grid is not Section().grid


def _constrained_fields(cls=TrainConfig, prefix=""):
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            yield from _constrained_fields(type(default), key)
        elif field_constraint(f) is not None:
            yield key, field_constraint(f)


#: a value of the field's type that breaks its constraint
BAD = {
    "data.root": "",
    "data.image_size": [0, 4],
    "data.val_fraction": 1.0,
    "data.num_val_pairs": 1,
    "data.max_identities": 0,
    "data.max_images_per_identity": 0,
    "data.min_images_per_identity": 0,
    "model.embedding_dim": 0,
    "model.pooling_grid": [2],
    "model.dropout": 1.0,
    "model.unfreeze_from": -1,
    "model.width": 0.0,
    "model.margin": 0.0,
    "sampler.K": 0,
    "sampler.batch_size": 0,
    "sampler.positive_fraction": 1.5,
    "sampler.steps_per_epoch": 0,
    "sampler.singles": -1,
    "optimizer.learning_rate": 0.0,
    "optimizer.weight_decay": -1.0,
    "optimizer.fine_tune_factor": 0.0,
    "optimizer.backbone_lr_factor": 0.0,
    "schedule.warmup_epochs": -1.0,
    "schedule.factor": 1.0,
    "schedule.step_epochs": 0,
    "training.epochs": 0,
    "training.verbose": 3,
    "training.max_seconds": -1.0,
    "validation.every": 0,
}


def test_every_constrained_field_has_a_bad_value_here():
    assert {key for key, _ in _constrained_fields()} == set(BAD)


@pytest.mark.parametrize("key", sorted(BAD))
def test_the_loader_names_file_key_and_the_constraint_problem(key):
    section, name = key.split(".")
    mapping = {"data": {"root": "x"}}
    mapping.setdefault(section, {})[name] = BAD[key]
    with pytest.raises(ConfigError) as info:
        parse_config(mapping, "cfg.yaml")
    problem = dict(_constrained_fields())[key].problem(BAD[key])
    assert str(info.value) == f"cfg.yaml: {key}: {problem}"


@pytest.mark.parametrize(
    "argument, value, section_value",
    [("embedding_dim", 0, 0), ("dropout", 1.0, 1.0), ("dropout", -0.5, -0.5)],
)
def test_base_network_refuses_what_the_config_refuses(argument, value, section_value):
    from embedding_net import BaseNetwork

    problem = getattr(constraints, argument.upper()).problem(value)
    with pytest.raises(ValueError) as net_error:
        BaseNetwork("simple_cnn", input_shape=(16, 16, 3), **{argument: value})
    assert str(net_error.value) == f"{argument} {problem}"
    with pytest.raises(ConfigError) as config_error:
        parse_config({"data": {"root": "x"}, "model": {argument: section_value}}, "c.yaml")
    assert str(config_error.value) == f"c.yaml: model.{argument}: {problem}"


def test_pooling_and_neck_vocabularies_are_shared():
    import typing

    from embedding_net.config import ModelConfig
    from embedding_net.models import base_network

    hints = typing.get_type_hints(ModelConfig)
    assert typing.get_args(hints["pooling"]) == constraints.POOLINGS == base_network.POOLINGS
    assert typing.get_args(hints["neck"]) == constraints.NECKS == base_network.NECKS
