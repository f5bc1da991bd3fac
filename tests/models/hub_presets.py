"""Tiny keras-hub backbones with random weights, saved as local presets (no download).

Each family's image converter gets the scale / offset of its published presets (ImageNet
mean / std for ResNet and DINOv2, CLIP's own mean / std, [-1, 1] for ViT and SigLIP), so
that the network's preprocessing is compared with keras-hub's on realistic values.
"""

from __future__ import annotations

import pytest

keras_hub = pytest.importorskip("keras_hub")

SIZE = 32  # image height and width of the tiny backbones (a multiple of the patch size 8)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _mean_std(mean, std):
    return {
        "scale": [1.0 / (255.0 * s) for s in std],
        "offset": [-m / s for m, s in zip(mean, std)],
    }


MINUS_ONE_ONE = {"scale": 1.0 / 127.5, "offset": -1.0}


def _resnet():
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(None, None, 3),
    )


def _dinov2():
    return keras_hub.models.DINOV2Backbone(
        patch_size=8,
        num_layers=1,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        num_register_tokens=2,
        image_shape=(SIZE, SIZE, 3),
        position_embedding_shape=(SIZE, SIZE, 3),
    )


def _vit():
    return keras_hub.models.ViTBackbone(
        image_shape=(SIZE, SIZE, 3),
        patch_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
    )


def _clip():
    return keras_hub.models.CLIPVisionEncoder(
        patch_size=8,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        image_shape=(SIZE, SIZE, 3),
    )


def _siglip():
    return keras_hub.models.SigLIPVisionEncoder(
        patch_size=8,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        intermediate_dim=32,
        image_shape=(SIZE, SIZE, 3),
    )


#: family -> (backbone builder, converter class name, converter scale / offset, output rank,
#: tokens before the patch tokens)
FAMILIES = {
    "resnet": (_resnet, "ResNetImageConverter", _mean_std(IMAGENET_MEAN, IMAGENET_STD), 4, 0),
    "dinov2": (_dinov2, "DINOV2ImageConverter", _mean_std(IMAGENET_MEAN, IMAGENET_STD), 3, 3),
    "vit": (_vit, "ViTImageConverter", MINUS_ONE_ONE, 3, 1),
    "clip": (_clip, "CLIPImageConverter", _mean_std(CLIP_MEAN, CLIP_STD), 3, 1),
    "siglip": (_siglip, "SigLIPImageConverter", MINUS_ONE_ONE, 2, 0),  # pools itself
}


def image_converter(family: str):
    """The family's keras-hub ImageConverter at the tiny size."""
    _, converter_name, values, _, _ = FAMILIES[family]
    converter_cls = getattr(keras_hub.layers, converter_name)
    return converter_cls(image_size=(SIZE, SIZE), **values)


def save_tiny_preset(family: str, directory) -> str:
    """Save the family's tiny backbone and its image converter as a keras-hub preset in
    ``directory``; returns the directory as a string (a local preset handle)."""
    build = FAMILIES[family][0]
    build().save_to_preset(str(directory))
    image_converter(family).save_to_preset(str(directory))
    return str(directory)
