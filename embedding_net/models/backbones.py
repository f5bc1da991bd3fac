"""Backbones by name: one builder per family, ``weights=None | "imagenet" | local file``.

A backbone is a plain ``keras.Model`` mapping images to a feature map ``(batch, h, w, c)``
(or a feature vector). Each entry also names the preprocessing its family expects, which
``BaseNetwork`` puts in front of it, so raw uint8 images go in whatever the backbone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import keras

from embedding_net.layers.normalization import FusedBatchNormalization


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one named backbone family."""

    build: Callable[..., keras.Model]  # (input_shape, weights) -> keras.Model (features)
    preprocessing: str  # an ImagePreprocessing mode
    has_imagenet_weights: bool
    min_size: int  # smallest height/width the architecture accepts
    any_channels: bool = False  # False: RGB input only (3 channels)
    scalable_width: bool = False  # True: build(..., width=w) scales every layer's filters


SMALL_FILTERS = (32, 64, 128, 256)  # simple_cnn and vgg_small
RESNET_FILTERS = (64, 128, 256, 512)  # ResNet18/34 (torchvision's widths)


def scale_filters(filters, width: float) -> tuple[int, ...]:
    """``filters`` times a width multiplier (MobileNet's alpha), rounded, at least 8 each."""
    return tuple(max(8, int(round(f * width))) for f in filters)


def simple_cnn(
    input_shape=(128, 64, 3),
    filters=SMALL_FILTERS,
    block_dropout: float = 0.0,
    name: str = "simple_cnn",
) -> keras.Model:
    """A small from-scratch base network: four blocks of Conv2D(3x3) -> MaxPool2D -> BatchNorm -> ReLU.

    Args:
        input_shape: ``(height, width, channels)``; height and width >= 16.
        filters: filters of the four blocks.
        block_dropout: dropout rate after each block (0.2 regularises small siamese re-id sets).

    Returns:
        keras.Model from images (already rescaled) to a ``(h/16, w/16, filters[-1])`` map.
    """
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 3, padding="same", name=f"block{i}_conv")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = FusedBatchNormalization(momentum=0.9, name=f"block{i}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        if block_dropout:
            x = keras.layers.Dropout(block_dropout, name=f"block{i}_dropout")(x)
    return keras.Model(inputs, x, name=name)


def vgg_small(
    input_shape=(32, 32, 3),
    filters=SMALL_FILTERS,
    name: str = "vgg_small",
) -> keras.Model:
    """A small VGG-style network for small images (32x32 to 128x64): four blocks of
    two ``Conv2D(3x3) -> BatchNorm -> ReLU`` layers and a 2x2 max-pool.

    About 3.5x the multiply-adds of :func:`simple_cnn` (one convolution per block) at the
    same input size; meant for traffic signs, digits and other small crops trained from
    scratch on a CPU.

    Args:
        input_shape: ``(height, width, channels)``; height and width >= 16.
        filters: filters of the four blocks.

    Returns:
        keras.Model from images (already rescaled) to a ``(h/16, w/16, filters[-1])`` map.
    """
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for i, f in enumerate(filters, start=1):
        for j in (1, 2):
            conv = keras.layers.Conv2D(
                f, 3, padding="same", use_bias=False, name=f"block{i}_conv{j}"
            )
            x = conv(x)
            x = FusedBatchNormalization(momentum=0.9, name=f"block{i}_bn{j}")(x)
            x = keras.layers.ReLU(name=f"block{i}_relu{j}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return keras.Model(inputs, x, name=name)


def resnet_basic(
    input_shape=(128, 64, 3),
    blocks=(2, 2, 2, 2),
    filters=RESNET_FILTERS,
    last_stride: int = 2,
    name: str = "resnet18",
) -> keras.Model:
    """ResNet with basic blocks (He et al. 2016): ResNet18 ``blocks=(2, 2, 2, 2)``,
    ResNet34 ``(3, 4, 6, 3)``. Keras ships no ResNet18/34; these follow torchvision's layout
    (7x7/2 stem, 3x3/2 max-pool, stride 2 at the first block of stages 2-4; ``last_stride=1``
    keeps the last stage at full resolution, the strong re-id baseline's trick).

    Returns:
        keras.Model from (already normalised) images to the last stage's feature map.
    """
    bn = {"momentum": 0.9, "epsilon": 1e-5}
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = keras.layers.ZeroPadding2D(3, name="stem_pad")(inputs)
    x = keras.layers.Conv2D(filters[0], 7, strides=2, use_bias=False, name="stem_conv")(x)
    x = FusedBatchNormalization(name="stem_bn", **bn)(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, (count, width) in enumerate(zip(blocks, filters), start=1):
        for block in range(count):
            prefix = f"stage{stage}_block{block + 1}"
            stride = 1 if stage == 1 or block > 0 else 2
            if stage == len(blocks) and block == 0:
                stride = last_stride
            shortcut = x
            if stride != 1 or x.shape[-1] != width:
                shortcut = keras.layers.Conv2D(
                    width, 1, strides=stride, use_bias=False, name=f"{prefix}_down_conv"
                )(x)
                shortcut = FusedBatchNormalization(name=f"{prefix}_down_bn", **bn)(shortcut)
            y = keras.layers.Conv2D(
                width, 3, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv1"
            )(x)
            y = FusedBatchNormalization(name=f"{prefix}_bn1", **bn)(y)
            y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
            y = keras.layers.Conv2D(
                width, 3, padding="same", use_bias=False, name=f"{prefix}_conv2"
            )(y)
            y = FusedBatchNormalization(name=f"{prefix}_bn2", **bn)(y)
            x = keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
            x = keras.layers.ReLU(name=f"{prefix}_out")(x)
    return keras.Model(inputs, x, name=name)


def _resnet_basic_builder(blocks, name):
    def build(input_shape, weights, width=1.0):
        filters = scale_filters(RESNET_FILTERS, width)
        return resnet_basic(input_shape, blocks=blocks, filters=filters, name=name)

    return build


def _application(fn_name: str, **extra):
    def build(input_shape, weights):
        fn = getattr(keras.applications, fn_name)
        return fn(include_top=False, weights=weights, input_shape=tuple(input_shape), **extra)

    return build


def _from_scratch(fn):
    def build(input_shape, weights, width=1.0):
        return fn(input_shape, filters=scale_filters(SMALL_FILTERS, width))

    return build


BACKBONES: dict[str, BackboneSpec] = {
    "simple_cnn": BackboneSpec(
        _from_scratch(simple_cnn), "scale", False, 16, any_channels=True, scalable_width=True
    ),
    "vgg_small": BackboneSpec(
        _from_scratch(vgg_small), "scale", False, 16, any_channels=True, scalable_width=True
    ),
    "resnet18": BackboneSpec(
        _resnet_basic_builder((2, 2, 2, 2), "resnet18"), "torch", False, 32, scalable_width=True
    ),
    "resnet34": BackboneSpec(
        _resnet_basic_builder((3, 4, 6, 3), "resnet34"), "torch", False, 32, scalable_width=True
    ),
    "mobilenet_v3_small": BackboneSpec(
        _application("MobileNetV3Small", include_preprocessing=True), "none", True, 32
    ),
    "mobilenet_v3_large": BackboneSpec(
        _application("MobileNetV3Large", include_preprocessing=True), "none", True, 32
    ),
    "efficientnet_b0": BackboneSpec(_application("EfficientNetB0"), "none", True, 32),
    "resnet50": BackboneSpec(_application("ResNet50"), "caffe", True, 32),
    "vgg19": BackboneSpec(_application("VGG19"), "caffe", True, 32),
    "inception_resnet_v2": BackboneSpec(_application("InceptionResNetV2"), "tf", True, 75),
}


def available_backbones() -> list[str]:
    """Names accepted by ``BaseNetwork(backbone=...)``."""
    return sorted(BACKBONES)


def validate_weights(weights, backbone: str) -> None:
    """keras.applications-style up-front check of ``weights``.

    Raises:
        ValueError: ``weights`` is not None, "imagenet" or an existing file, or "imagenet"
            was asked of a backbone that has no ImageNet weights.
    """
    if weights is None:
        return
    if weights == "imagenet":
        if not BACKBONES[backbone].has_imagenet_weights:
            raise ValueError(
                f"weights='imagenet': backbone {backbone!r} has no ImageNet weights; "
                "use weights=None or a local weights file"
            )
        return
    if isinstance(weights, (str, os.PathLike)):
        if not os.path.isfile(weights):
            raise ValueError(
                f"weights={str(weights)!r}: no such file (expected None, 'imagenet' or the "
                "path of a local weights file, e.g. saved with backbone.save_weights())"
            )
        return
    raise ValueError(
        f"weights={weights!r}: expected None, 'imagenet' or the path of a local weights file"
    )


# backbones whose last down-sampling can be removed (last_stride=1), and the layers to change
LAST_STRIDE_LAYERS = {
    "resnet50": ("conv5_block1_0_conv", "conv5_block1_1_conv"),
    "resnet18": ("stage4_block1_down_conv", "stage4_block1_conv1"),
    "resnet34": ("stage4_block1_down_conv", "stage4_block1_conv1"),
}


def with_last_stride_one(model: keras.Model, layer_names) -> keras.Model:
    """Clone a functional backbone with stride 1 in ``layer_names`` (same weights).

    The strong re-id baseline (Luo et al. 2019) removes ResNet's last down-sampling so the
    final feature map is twice as large (16 x 8 for 256 x 128 inputs).
    """
    return _rebuilt(model, stride_one=layer_names)


def with_fused_batch_norm(model: keras.Model, fused: bool = True) -> keras.Model:
    """Clone a functional backbone with every ``keras.layers.BatchNormalization`` replaced by
    :class:`~embedding_net.layers.FusedBatchNormalization` (same arguments and weights);
    ``fused=False`` swaps the other way.

    The keras.applications backbones are built with Keras' batch normalisation, which the
    tensorflow backend runs as separate ops; the fused layer trains ResNet50 and
    MobileNetV3 about a quarter faster on a CPU (see docs/benchmarks_training.md).
    """
    return _rebuilt(model, batch_norm="fused" if fused else "keras")


_BATCH_NORM = {
    "fused": ("BatchNormalization", {
        "class_name": "FusedBatchNormalization",
        "module": FusedBatchNormalization.__module__,
        "registered_name": keras.saving.get_registered_name(FusedBatchNormalization),
    }),
    "keras": ("FusedBatchNormalization", {
        "class_name": "BatchNormalization", "module": "keras.layers", "registered_name": None,
    }),
}  # fmt: skip


def _rebuilt(model: keras.Model, stride_one=(), batch_norm: str | None = None) -> keras.Model:
    """``model`` rebuilt from its edited config, with its weights: stride 1 in the layers
    ``stride_one``, batch normalisation swapped to ``batch_norm`` ("fused" or "keras")."""
    config = model.get_config()
    found = set()
    before, after = _BATCH_NORM[batch_norm] if batch_norm else (None, {})
    for layer in config["layers"]:
        if layer["config"].get("name") in stride_one:
            layer["config"]["strides"] = [1, 1]
            found.add(layer["config"]["name"])
        if layer["class_name"] == before:
            layer.update(after)
    if found != set(stride_one):
        raise ValueError(f"{model.name}: layers {sorted(set(stride_one) - found)} not found")
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    return clone


def load_backbone_weights(model: keras.Model, path) -> None:
    """``model.load_weights(path)``, also for a file saved from the same backbone with the
    other batch-norm class (Keras' or :class:`FusedBatchNormalization`: a ``.weights.h5``
    file names layers by class, so files saved before the fused layer, or from a backbone
    rebuilt with it, still load)."""
    path = os.fspath(path)
    try:
        model.load_weights(path)
        return
    except ValueError as error:
        classes = {type(layer).__name__ for layer in model.layers}
        if not {"BatchNormalization", "FusedBatchNormalization"} & classes:
            raise
        mismatch = error
    twin = _rebuilt(model, batch_norm="keras" if "FusedBatchNormalization" in classes else "fused")
    try:
        twin.load_weights(path)
    except ValueError:
        raise mismatch from None
    model.set_weights(twin.get_weights())


def build_backbone(
    name: str, input_shape, weights=None, last_stride: int = 2, width: float = 1.0
) -> tuple[keras.Model, str]:
    """Build a named backbone without its classification top.

    Args:
        name: one of :func:`available_backbones`.
        input_shape: ``(height, width, channels)``.
        weights: None (random init), "imagenet" (downloaded by Keras; needs internet) or a
            local weights file for this backbone (loaded with ``load_weights``).
        last_stride: 2 (the architecture's own) or 1 (no last down-sampling; ResNet18/34/50).
        width: width multiplier of the from-scratch families (simple_cnn, vgg_small,
            resnet18, resnet34): every convolution gets ``round(filters * width)`` filters
            (at least 8). 0.5 halves the channels and costs about a quarter of the
            multiply-adds. Must stay 1.0 for the keras.applications backbones.

    Returns:
        ``(backbone, preprocessing_mode)``.
    """
    if name not in BACKBONES:
        raise ValueError(
            f"backbone={name!r} is not a known backbone; choose one of {available_backbones()} "
            "or pass a keras.Model"
        )
    spec = BACKBONES[name]
    validate_weights(weights, name)
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
    if last_stride == 1 and name not in LAST_STRIDE_LAYERS:
        raise ValueError(
            f"last_stride=1 is supported for {sorted(LAST_STRIDE_LAYERS)}, not {name!r}"
        )
    if (
        isinstance(width, bool)
        or not isinstance(width, (int, float))
        or not (math.isfinite(width) and width > 0)
    ):
        raise ValueError(f"width must be a finite number > 0, got {width!r}")
    if width != 1.0 and not spec.scalable_width:
        scalable = sorted(n for n, s in BACKBONES.items() if s.scalable_width)
        raise ValueError(
            f"width={width!r}: the width multiplier applies to {scalable}, not {name!r} "
            "(its architecture is fixed by its weights); use width=1.0"
        )
    rows, cols = input_shape[0], input_shape[1]
    if rows is not None and cols is not None and min(rows, cols) < spec.min_size:
        raise ValueError(
            f"input_shape={tuple(input_shape)}: backbone {name!r} needs height and width "
            f">= {spec.min_size}"
        )
    if not spec.any_channels and input_shape[-1] != 3:
        raise ValueError(
            f"input_shape={tuple(input_shape)}: backbone {name!r} expects 3 channels (RGB)"
        )
    source = "imagenet" if weights == "imagenet" else None
    if spec.scalable_width:
        model = spec.build(input_shape, source, width=float(width))
    else:
        model = spec.build(input_shape, source)
    stride_one = LAST_STRIDE_LAYERS[name] if last_stride == 1 else ()
    # keras.applications build with Keras' batch norm: rebuilt with the fused layer
    fuse = any(type(layer) is keras.layers.BatchNormalization for layer in model.layers)
    if stride_one or fuse:
        model = _rebuilt(model, stride_one=stride_one, batch_norm="fused" if fuse else None)
    if weights is not None and weights != "imagenet":  # into the final model: files saved
        load_backbone_weights(model, weights)  # from a backbone built here load directly
    return model, spec.preprocessing
