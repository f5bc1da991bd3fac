"""YAML training configs: typed, validated sections; optimizers and schedules built from them.

Usage::

    from embedding_net.config import load_config
    config = load_config("examples/traffic_signs/small.yaml")
    config.optimizer.learning_rate       # 0.001, a float, checked

``load_config`` uses ``yaml.safe_load`` only; an unknown key, a wrong type or a bad value
raises :class:`ConfigError` naming the file and the key. ``embedding_net.training.train``
turns a config into a trained model.
"""

from embedding_net.config.loader import (
    ConfigError,
    config_to_dict,
    dump_config,
    load_config,
    parse_config,
)
from embedding_net.config.schema import (
    AugmentationConfig,
    CallbacksConfig,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    SamplerConfig,
    ScheduleConfig,
    TrainConfig,
    TrainingConfig,
    ValidationConfig,
)

__all__ = [
    "AugmentationConfig",
    "CallbacksConfig",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "RectifiedAdam",
    "SamplerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainingConfig",
    "ValidationConfig",
    "build_optimizer",
    "build_schedule",
    "config_to_dict",
    "dump_config",
    "load_config",
    "parse_config",
]


def __getattr__(name: str):
    # optimizers import keras: loaded on first use so that reading a config stays light
    if name in ("RectifiedAdam", "build_optimizer", "build_schedule"):
        from embedding_net.config import optimizers

        return getattr(optimizers, name)
    raise AttributeError(f"module 'embedding_net.config' has no attribute {name!r}")
