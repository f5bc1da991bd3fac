"""Partial freezing of a backbone, by layer path (``"submodel/layer"`` inside a nested model):
what ``BaseNetwork(frozen_backbone_layers=...)`` applies and ``get_config`` records."""

from __future__ import annotations

import keras


def frozen_layer_paths(backbone: keras.Model, include_inputs: bool = True) -> list[str] | None:
    """The frozen layers of a trainable backbone, as ``BaseNetwork(frozen_backbone_layers=)``
    takes them: top-level layer names, ``"submodel/layer"`` paths inside a trainable nested
    model. ``None`` when nothing is frozen or the whole backbone is (``freeze_backbone``).
    ``include_inputs=False`` leaves out input layers (no weights): a keras-hub backbone is
    rebuilt from its arguments on loading, and its unnamed inputs get new automatic names."""
    if not backbone.trainable:
        return None
    return list(_frozen_paths(backbone, "", include_inputs)) or None


def _frozen_paths(model: keras.Model, prefix: str, include_inputs: bool = True):
    for layer in model.layers:
        if not include_inputs and isinstance(layer, keras.layers.InputLayer):
            continue
        path = prefix + layer.name
        if not layer.trainable:
            yield path
        elif isinstance(layer, keras.Model):
            yield from _frozen_paths(layer, path + "/", include_inputs)


def freeze_layers(backbone: keras.Model, paths) -> None:
    """Set ``trainable = False`` on the backbone layers named by ``paths`` (see
    :func:`frozen_layer_paths`)."""
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"frozen_backbone_layers must be a list of layer names, got {paths!r}")
    for path in paths:
        layer = backbone
        for name in path.split("/"):
            children = {child.name: child for child in getattr(layer, "layers", ())}
            if not isinstance(layer, keras.Model) or name not in children:
                raise ValueError(
                    f"frozen_backbone_layers: {path!r} is not a layer of the backbone "
                    f"{backbone.name!r}"
                )
            layer = children[name]
        layer.trainable = False
