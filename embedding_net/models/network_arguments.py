"""The arguments of :class:`~embedding_net.BaseNetwork`, checked before anything is built.

The checks of values the training config also takes (``embedding_dim``, ``dropout``,
``pooling``, ``neck``) use the constraints the config declares for them
(:mod:`embedding_net.constraints`), so both refuse the same values.
"""

from __future__ import annotations

import keras

from embedding_net.constraints import DROPOUT, EMBEDDING_DIM, NECKS, POOLINGS
from embedding_net.layers.pooling import validate_grid
from embedding_net.layers.preprocessing import PREPROCESSING_MODES
from embedding_net.models import hub
from embedding_net.models.backbones import BACKBONES, available_backbones, build_backbone
from embedding_net.saving import is_preset_dir

__all__ = [
    "resolve_backbone",
    "validate_center_crop",
    "validate_head",
    "validate_input_shape",
    "validate_preprocessing",
]


def validate_head(embedding_dim, pooling, pooling_grid, dropout, neck) -> tuple[int, int]:
    """Check the head's arguments (the constraints the config declares for the same values);
    returns the pooling grid as a tuple."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r} is not one of {POOLINGS}")
    pooling_grid = validate_grid(pooling_grid, "pooling_grid")
    if neck not in NECKS:
        raise ValueError(f"neck={neck!r} is not one of {NECKS}")
    EMBEDDING_DIM.check("embedding_dim", embedding_dim, optional=True)
    DROPOUT.check("dropout", dropout)
    return pooling_grid


def validate_preprocessing(preprocessing, token_pooling) -> None:
    """Check ``preprocessing`` (None or a mode of ``PREPROCESSING_MODES``) and
    ``token_pooling`` (one of ``TOKEN_POOLINGS``)."""
    if preprocessing is not None and preprocessing not in PREPROCESSING_MODES:
        raise ValueError(
            f"preprocessing={preprocessing!r} is not one of {sorted(PREPROCESSING_MODES)}"
        )
    if token_pooling not in hub.TOKEN_POOLINGS:
        raise ValueError(f"token_pooling={token_pooling!r} is not one of {hub.TOKEN_POOLINGS}")


def resolve_backbone(backbone, backbone_shape, weights, last_stride, width, image_converter=None):
    """``(backbone model, its preprocessing mode, its name or None, HubBackbone or None)`` of
    a backbone given by name (built), as a keras-hub handle or ``keras_hub`` Backbone
    (:mod:`embedding_net.models.hub`), or as a ``keras.Model`` (used as it is)."""
    if isinstance(backbone, str) and is_preset_dir(backbone):
        raise ValueError(
            f"backbone={backbone!r} is a preset of a whole embedding network: load it with "
            "BaseNetwork.from_preset(...) (a backbone preset is keras-hub's)"
        )
    hub_source = isinstance(backbone, str) and hub.is_hub_handle(backbone, BACKBONES)
    hub_source = hub_source or (isinstance(backbone, keras.Model) and hub.is_hub_backbone(backbone))
    if image_converter is not None and not hub_source:
        raise ValueError("image_converter only applies to a keras-hub backbone")
    if isinstance(backbone, str) and not hub_source:
        if backbone not in BACKBONES and not hub.keras_hub_installed():
            raise ValueError(
                f"backbone={backbone!r} is not a known backbone; choose one of "
                f"{available_backbones()}, or install keras-hub ({hub.INSTALL_HINT}) for "
                "keras-hub preset names"
            )
        backbone_model, family_mode = build_backbone(
            backbone, backbone_shape, weights, last_stride=last_stride, width=width
        )
        return backbone_model, family_mode, backbone, None
    if isinstance(backbone, (str, keras.Model)):
        if weights not in (None, "preset") and hub_source:
            raise ValueError(
                f"weights={weights!r} does not apply to a keras-hub backbone: its preset "
                "brings its weights (None or 'preset'; a Backbone instance: load them "
                "before passing it)"
            )
        if weights is not None and not hub_source:
            raise ValueError(
                "weights= only applies to a backbone given by name; load weights into your "
                "keras.Model before passing it"
            )
        if last_stride != 2:
            raise ValueError("last_stride only applies to a backbone given by name")
        if width != 1.0:
            raise ValueError("width only applies to a backbone given by name")
        if not hub_source:
            return backbone, "scale", None, None
        resolved = hub.resolve_hub_backbone(backbone, image_converter, backbone_shape)
        return resolved.model, "none", None, resolved
    raise ValueError(
        "backbone must be a backbone name or keras-hub handle (str) or a keras.Model, got "
        f"{type(backbone).__name__}"
    )


def validate_input_shape(input_shape) -> tuple:
    """``(height, width, channels)`` as a tuple of ints (height and width may be None)."""
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"input_shape must be (height, width, channels), got {input_shape!r}"
        ) from None
    if len(shape) != 3 or any(d is not None and d < 1 for d in shape) or shape[-1] is None:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    return shape


def validate_center_crop(center_crop, input_shape: tuple) -> tuple | None:
    """``(height, width)`` of positive ints no larger than the images, or None."""
    crop = validate_grid(center_crop, "center_crop", parts="height, width", optional=True)
    if crop is None:
        return None
    h, w = input_shape[:2]
    if (h is not None and crop[0] > h) or (w is not None and crop[1] > w):
        raise ValueError(
            f"center_crop={crop} is larger than the images of input_shape {input_shape}"
        )
    return crop
