"""YAML training configs: typed, validated sections (the schema) and the loader that reads them.

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
    "SamplerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainingConfig",
    "ValidationConfig",
    "config_to_dict",
    "dump_config",
    "load_config",
    "parse_config",
]


def __getattr__(name: str):
    # deprecated: these moved to embedding_net.optimizers (loaded on first use: keras)
    if name in ("RectifiedAdam", "build_optimizer", "build_schedule"):
        import warnings

        from embedding_net import optimizers

        warnings.warn(
            f"embedding_net.config.{name} is deprecated: use embedding_net.optimizers.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(optimizers, name)
    raise AttributeError(f"module 'embedding_net.config' has no attribute {name!r}")
