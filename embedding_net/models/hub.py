"""keras-hub backbones inside a :class:`~embedding_net.BaseNetwork` (the optional ``hub`` extra).

A backbone argument is a **keras-hub handle** (and not one of our own names of
:func:`~embedding_net.available_backbones`) when it

- starts with ``hub:`` (the prefix is removed: ``"hub:resnet_18_imagenet"``), or
- has a scheme: ``"hf://user/model"``, ``"kaggle://keras/dinov2/keras/dinov2_small"``,
  ``"modelscope://..."``, or
- is a local directory holding a keras-hub preset (``config.json``, written by
  ``Backbone.save_to_preset``), or
- is a built-in keras-hub preset name (``"dinov2_small"``, ``"resnet_18_imagenet"``; the names
  of ``keras_hub.models.Backbone.presets``) and not one of our names.

Our own names win: ``"resnet18"`` is the from-scratch ResNet18 of
:mod:`embedding_net.models.backbones`, ``"resnet_18_imagenet"`` keras-hub's with weights.

The preset's ``ImageConverter`` gives the family's preprocessing, which the network applies
to raw ``[0, 255]`` pixels (:class:`HubImagePreprocessing`): resize to the backbone's fixed
image size when it has one and the images differ (as keras-hub's preprocessor does), then
``x * scale + offset``. Token sequences ``(batch, tokens, dim)`` of ViT-style backbones are
pooled by :class:`TokenPooling` (the CLS token or the mean of the patch tokens).

keras-hub is imported only when a handle or a ``keras_hub`` object is used.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass

import keras
from keras import ops

from embedding_net.layers import ImagePreprocessing

logger = logging.getLogger(__name__)

HUB_PREFIX = "hub:"
HUB_SCHEMES = ("hf://", "kaggle://", "modelscope://")
TOKEN_POOLINGS = ("cls", "mean")
INSTALL_HINT = "pip install embedding_net[hub]"


def keras_hub_installed() -> bool:
    """Whether the optional ``keras_hub`` package can be imported."""
    return importlib.util.find_spec("keras_hub") is not None


def require_keras_hub(what: str):
    """Import ``keras_hub``, or raise an ImportError naming the extra that installs it."""
    if not keras_hub_installed():
        raise ImportError(
            f"{what} needs keras-hub, which is not installed: {INSTALL_HINT} "
            "(or pip install keras-hub)"
        )
    import keras_hub

    return keras_hub


def is_keras_hub_preset_dir(path) -> bool:
    """A local directory written by keras-hub's ``save_to_preset`` (it holds ``config.json``)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))


def is_hub_handle(name: str, own_names) -> bool:
    """Whether the backbone name ``name`` means a keras-hub preset (the rule of this module's
    docstring); ``own_names`` are our backbone names, which always win."""
    if not isinstance(name, str) or name in own_names:
        return False
    if name.startswith(HUB_PREFIX) or name.startswith(HUB_SCHEMES):
        return True
    if is_keras_hub_preset_dir(name):
        return True
    if not keras_hub_installed():
        return False
    import keras_hub

    return name in keras_hub.models.Backbone.presets


def is_hub_backbone(model) -> bool:
    """Whether ``model`` is a ``keras_hub.models.Backbone`` (without importing keras-hub)."""
    return any(c.__module__.startswith("keras_hub.") for c in type(model).__mro__)


def _call_preset(handle: str, preset: str, load):
    try:
        return load()
    except ImportError:
        raise
    except Exception as exc:  # keras-hub raises ValueError, OSError, requests errors, ...
        where = (
            "a local directory"
            if os.path.isdir(preset)
            else "needs a download (internet), or give a local preset directory"
        )
        raise ValueError(
            f"backbone={handle!r}: cannot load this keras-hub preset ({where}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def load_hub_preset(handle: str):
    """``(backbone, image converter or None)`` of a keras-hub preset handle.

    A combined image-text preset (CLIP, SigLIP) gives its image tower (``vision_encoder``).

    Raises:
        ImportError: keras-hub is not installed (names the ``hub`` extra).
        ValueError: the preset cannot be found or downloaded (names the handle).
    """
    keras_hub = require_keras_hub(f"backbone={handle!r}")
    preset = handle.removeprefix(HUB_PREFIX)
    if not preset.startswith(HUB_SCHEMES) and (
        os.sep in preset or preset.startswith(".") or preset.startswith("/")
    ):
        if not os.path.isdir(preset):
            raise ValueError(
                f"backbone={handle!r}: no such preset directory (expected a keras-hub preset "
                "name, an hf:// / kaggle:// handle or a local preset directory)"
            )
    backbone = _call_preset(handle, preset, lambda: keras_hub.models.Backbone.from_preset(preset))
    converter = None
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except Exception as exc:  # a backbone-only preset has no image converter
        converter = _converter_file_config(preset)
        if converter is None:
            logger.warning(
                "backbone=%r: no image converter in the preset (%s); pixels are scaled to [0, 1]",
                handle,
                exc,
            )
    return getattr(backbone, "vision_encoder", backbone), converter


def _converter_file_config(preset: str) -> dict | None:
    """The scale / offset / resizing arguments in a local preset's ``image_converter.json``
    (read as data: keras-hub matches converter classes to the saved backbone class, which
    fails for an image tower saved on its own, e.g. ``CLIPVisionEncoder``)."""
    import json

    path = os.path.join(preset, "image_converter.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        config = json.load(f).get("config", {})
    keys = ("scale", "offset", "interpolation", "crop_to_aspect_ratio")
    return {key: config[key] for key in keys if key in config}


def converter_preprocessing(converter) -> dict:
    """The :class:`HubImagePreprocessing` arguments of a keras-hub ``ImageConverter``
    (its config, or the dict of those arguments, given as it is)."""
    if isinstance(converter, dict):
        return HubImagePreprocessing(**converter).get_preprocessing()
    config = converter.get_config()
    return {
        "scale": config.get("scale"),
        "offset": config.get("offset"),
        "image_size": config.get("image_size"),
        "interpolation": config.get("interpolation", "bilinear"),
        "crop_to_aspect_ratio": bool(config.get("crop_to_aspect_ratio", True)),
    }


def prefix_tokens(backbone) -> int:
    """Tokens before the patch tokens in a ViT-style backbone's output: the CLS token and
    the register tokens (DINOv2/v3 with registers). (SigLIP's image tower pools its tokens
    itself, with an attention-pooling head: it outputs ``(batch, dim)``.)"""
    config = backbone.get_config()
    if "num_register_tokens" in config:  # DINOv2, DINOv3
        return 1 + int(config["num_register_tokens"])
    if "use_class_token" in config:  # ViT
        return int(bool(config["use_class_token"]))
    return 1  # CLIP's vision encoder and other ViTs: one CLS token


def pin_interpolated_position_embeddings(backbone) -> None:
    """Keep DINOv2's interpolated position embeddings out of training.

    keras-hub's DINOv2 trains a copy of its position embeddings resized to the image size,
    and on ``save`` maps it back to the original grid only when the *signed* sum of the
    change is positive (and through a lossy resize): a trained network would load with
    other embeddings than it was trained with. Fixed (pretrained) position embeddings save
    and load exactly; every other weight trains as usual."""
    for layer in backbone.layers:
        variable = getattr(layer, "interpolated_position_embeddings", None)
        if isinstance(variable, keras.Variable) and variable.trainable:
            variable.trainable = False


def fixed_image_size(backbone) -> tuple[int, int] | None:
    """``(height, width)`` a backbone with a fixed input size needs (ViT), else None."""
    images = backbone.input
    if isinstance(images, dict):
        images = images.get("images", next(iter(images.values())))
    h, w = tuple(images.shape)[1:3]
    return None if h is None or w is None else (int(h), int(w))


def call_backbone(backbone, x):
    """Apply a keras-hub backbone to images (its input may be the dict ``{"images": x}``)."""
    if isinstance(backbone.input, dict):
        return backbone({"images": x})
    return backbone(x)


@dataclass(frozen=True)
class HubBackbone:
    """A keras-hub backbone ready for :class:`~embedding_net.BaseNetwork`: the model, the
    preprocessing its family expects and the number of tokens before the patch tokens."""

    model: keras.Model
    preprocessing: dict
    prefix_tokens: int
    handle: str | None


def resolve_hub_backbone(backbone, image_converter, backbone_shape, handle=None) -> HubBackbone:
    """A :class:`HubBackbone` from a handle or a ``keras_hub.models.Backbone``; the
    preprocessing comes from ``image_converter`` (a keras-hub ``ImageConverter`` or the
    dict of :class:`HubImagePreprocessing`'s arguments), else from the preset's converter,
    else x / 255."""
    converter = None
    if isinstance(backbone, str):
        handle = backbone
        backbone, converter = load_hub_preset(backbone)
    if image_converter is not None:
        converter = image_converter
    preprocessing = converter_preprocessing(
        {"scale": 1.0 / 255.0} if converter is None else converter
    )
    if backbone_shape[-1] != 3:
        raise ValueError(
            f"input_shape={tuple(backbone_shape)}: keras-hub backbones expect 3 channels (RGB)"
        )
    size = fixed_image_size(backbone)
    preprocessing["image_size"] = None if size == tuple(backbone_shape[:2]) else size
    return HubBackbone(backbone, preprocessing, prefix_tokens(backbone), handle)


@keras.saving.register_keras_serializable(package="embedding_net")
class HubImagePreprocessing(keras.layers.Layer):
    """What a keras-hub ``ImageConverter`` does to raw pixels, inside the network.

    Args:
        scale: float or per-channel floats multiplied with the pixels; None: 1.
        offset: float or per-channel floats added after scaling; None: 0.
        image_size: ``(height, width)`` to resize to first (a backbone with a fixed input
            size); None: no resizing.
        interpolation: resizing interpolation (``"bilinear"``, ``"bicubic"``, ...).
        crop_to_aspect_ratio: crop to the target's aspect ratio before resizing.

    Input: float or integer tensor ``(batch, height, width, 3)`` in [0, 255]. Output: float
    tensor ``(batch, *image_size or (height, width), 3)``.
    """

    def __init__(
        self,
        scale=None,
        offset=None,
        image_size=None,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.scale = _floats(scale, "scale")
        self.offset = _floats(offset, "offset")
        self.image_size = None if image_size is None else tuple(int(s) for s in image_size)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.resizing = None
        if self.image_size is not None:
            self.resizing = keras.layers.Resizing(
                *self.image_size,
                interpolation=interpolation,
                crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                dtype=self.dtype_policy,
                name="resizing",
            )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.resizing is not None:
            x = self.resizing(x)
        if self.scale is not None:
            x = x * ops.convert_to_tensor(self.scale, dtype=self.compute_dtype)
        if self.offset is not None:
            x = x + ops.convert_to_tensor(self.offset, dtype=self.compute_dtype)
        return x

    def compute_output_shape(self, input_shape):
        if self.image_size is None:
            return tuple(input_shape)
        return (input_shape[0], *self.image_size, input_shape[-1])

    def get_preprocessing(self) -> dict:
        """The constructor arguments (what a preset's metadata records)."""
        return {
            "scale": self.scale,
            "offset": self.offset,
            "image_size": None if self.image_size is None else list(self.image_size),
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
        }

    def get_config(self):
        config = super().get_config()
        config.update(self.get_preprocessing())
        return config


def _floats(value, name: str):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    values = [float(v) for v in value]
    if len(values) not in (1, 3):
        raise ValueError(f"{name} must be a float or 3 per-channel floats, got {value!r}")
    return values


@keras.saving.register_keras_serializable(package="embedding_net")
class TokenPooling(keras.layers.Layer):
    """Pool the token sequence of a ViT-style backbone into one vector.

    Args:
        mode: ``"cls"`` (the first token) or ``"mean"`` (the mean of the patch tokens, after
            the ``prefix_tokens`` CLS / register tokens).
        prefix_tokens: tokens before the patch tokens (1 for a CLS token, 1 + registers for
            DINOv2 with registers, 0 for a ViT without CLS token).

    Input: float tensor ``(batch, tokens, dim)``. Output: ``(batch, dim)``.
    """

    def __init__(self, mode: str = "cls", prefix_tokens: int = 1, **kwargs):
        super().__init__(**kwargs)
        if mode not in TOKEN_POOLINGS:
            raise ValueError(f"token_pooling={mode!r} is not one of {TOKEN_POOLINGS}")
        if mode == "cls" and prefix_tokens < 1:
            raise ValueError(
                "token_pooling='cls': this backbone has no CLS token (prefix_tokens=0); use 'mean'"
            )
        self.mode = mode
        self.prefix_tokens = int(prefix_tokens)

    def call(self, inputs):
        if self.mode == "cls":
            return inputs[:, 0]
        return ops.mean(inputs[:, self.prefix_tokens :], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "prefix_tokens": self.prefix_tokens})
        return config


def deserialize_backbone(config: dict):
    """A serialized backbone back as a model; imports keras-hub first for its classes."""
    if str(config.get("module", "")).startswith("keras_hub") or "keras_hub" in str(
        config.get("registered_name", "")
    ):
        require_keras_hub("loading a network with a keras-hub backbone")
    return keras.saving.deserialize_keras_object(config)


def hub_preprocessing(x, hub: HubBackbone, mode: str | None):
    """Apply the keras-hub family's preprocessing (or the ``mode`` of
    :class:`~embedding_net.layers.ImagePreprocessing` that overrides it, after the resize to
    a fixed backbone size) to the network's images ``x``."""
    if mode is None:
        return HubImagePreprocessing(**hub.preprocessing, name="preprocessing")(x)
    size = hub.preprocessing.get("image_size")
    if size is not None:
        resize = {k: hub.preprocessing[k] for k in ("interpolation", "crop_to_aspect_ratio")}
        x = HubImagePreprocessing(image_size=size, **resize, name="resize")(x)
    return ImagePreprocessing(mode, name="preprocessing")(x)
