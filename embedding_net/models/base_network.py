"""BaseNetwork: any Keras backbone + pooling + embedding head, images in, embeddings out."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras
import numpy as np

from embedding_net.compiling import compile_from_config
from embedding_net.constraints import NECKS, POOLINGS  # noqa: F401  (the names stay importable)
from embedding_net.distribute import gather_global_batch, num_replicas_in_sync
from embedding_net.layers import ImagePreprocessing
from embedding_net.models.feature_pooling import embedding_head, pool_features
from embedding_net.models.freezing import freeze_layers as _freeze_layers
from embedding_net.models.freezing import frozen_layer_paths as _frozen_layer_paths
from embedding_net.models.hub import (
    call_backbone,
    deserialize_backbone,
    hub_preprocessing,
    pin_interpolated_position_embeddings,
)
from embedding_net.models.network_arguments import (
    resolve_backbone,
    validate_center_crop,
    validate_head,
    validate_input_shape,
    validate_preprocessing,
)
from embedding_net.models.replicas import returns_scalar as _returns_scalar

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="embedding_net")
class BaseNetwork(keras.Model):
    """An embedding network: ``[crop ->] preprocessing -> backbone -> pooling -> head [-> neck] [-> L2]``.

    Raw images (uint8 or float in [0, 255]) go in; the preprocessing each backbone family
    expects is part of the network. The network is a functional Keras model: ``fit``,
    ``evaluate``, ``predict``, ``summary``, ``save("x.keras")`` and
    ``keras.saving.load_model`` work as usual and give back a ``BaseNetwork``.

    Compile it directly with an in-batch loss taking ``(labels, embeddings)``::

        net = BaseNetwork("simple_cnn", embedding_dim=64, input_shape=(64, 32, 3))
        net.compile(optimizer="adam", loss=embedding_net.losses.TripletSemiHardLoss())
        net.fit(images, labels, batch_size=64)

    Args:
        backbone: a name from :func:`available_backbones`; a keras-hub preset handle
            (``"dinov2_small"``, ``"resnet_18_imagenet"``, ``"hf://..."``, ``"kaggle://..."``,
            a local keras-hub preset directory, or any of these after ``"hub:"``; needs the
            ``hub`` extra and, for a remote preset, a download; see
            :mod:`embedding_net.models.hub` for the rule that tells them from our names) or a
            ``keras_hub.models.Backbone``; or any ``keras.Model`` mapping images to a
            feature map ``(b, h, w, c)``, a token sequence ``(b, tokens, c)`` or a vector
            ``(b, c)``.
        embedding_dim: size of the embedding (a Dense layer after pooling); ``None`` keeps
            the pooled backbone features.
        input_shape: ``(height, width, channels)`` of the images.
        pooling: ``"avg"``, ``"max"`` or ``"gem"`` (generalized mean, learned p) of a
            feature map.
        token_pooling: how a token sequence ``(b, tokens, c)`` (ViT, DINOv2, CLIP / SigLIP
            image towers) becomes one vector: ``"cls"`` (the CLS token) or ``"mean"`` (the
            mean of the patch tokens, CLS and register tokens left out).
        image_converter: the preprocessing of a keras-hub backbone: a
            ``keras_hub.layers.ImageConverter`` or a dict of
            :class:`~embedding_net.models.hub.HubImagePreprocessing` arguments (``scale``,
            ``offset``, ...); default: the preset's own converter (a ``Backbone`` instance
            without one: x / 255). A backbone with a fixed input size (ViT) gets the images
            resized to it, as keras-hub's preprocessor does.
        pooling_grid: ``(rows, cols)``: pool each cell of a grid over the feature map and
            concatenate (:class:`~embedding_net.layers.GridPooling`) before the embedding
            layer: ``(2, 1)`` or ``(3, 1)`` gives the horizontal stripes of part-based re-id
            models, the feature map's own size keeps every position (aligned faces).
            ``(1, 1)``: global pooling.
        dropout: dropout rate before the embedding layer.
        neck: ``"none"``; ``"batchnorm"`` (BatchNorm after the embedding layer); ``"bnneck"``
            (BatchNorm without shift, as in the strong re-id baseline of Luo et al. 2019).
        normalize: L2-normalise the output embedding.
        weights: backbone weights: None, ``"imagenet"`` (downloaded by Keras) or the path of
            a local weights file for the backbone. Only used when building from a name; a
            loaded model always keeps its saved weights. A keras-hub handle brings its
            preset's weights: None or ``"preset"`` (the same, said explicitly).
        freeze_backbone: make the backbone non-trainable (its BatchNorm layers then run in
            inference mode); see :meth:`unfreeze_backbone`.
        frozen_backbone_layers: names of backbone layers to keep frozen while the rest of
            the backbone trains (a layer inside a nested model is named by its path,
            ``"submodel/layer"``): the partial freeze left by
            ``unfreeze_backbone(from_layer)``, which ``get_config`` records so that a saved
            model loads with the same trainable layers (and its optimizer state). ``None``:
            no layer frozen apart from ``freeze_backbone``.
        preprocessing: override the preprocessing mode (one of ``PREPROCESSING_MODES``);
            default: the backbone family's mode, ``"scale"`` (x/255) for a custom model.
        last_stride: 1 removes the backbone's last down-sampling (ResNet18/34/50; the strong
            re-id baseline's trick), 2 keeps it.
        center_crop: ``(height, width)``: the network keeps the central part of each input
            image and feeds that to the backbone (a ``keras.layers.CenterCrop``, saved with
            the model, so every caller of the network gets the same crop). With images read
            at a larger size than the crop this zooms in on a centred object (aligned faces)
            at the backbone's cost for the crop size. ``None``: the whole image.
        width: width multiplier of a from-scratch backbone given by name (simple_cnn,
            vgg_small, resnet18, resnet34): ``round(filters * width)`` filters per
            convolution; 0.5 costs about a quarter of the multiply-adds.
        global_batch_loss: under a ``tf.distribute`` strategy, all-gather labels and
            embeddings across replicas before the loss (mining over the global batch).
        name: model name.
    """

    def __init__(
        self,
        backbone="simple_cnn",
        embedding_dim: int | None = 128,
        input_shape=(128, 64, 3),
        pooling: str = "avg",
        pooling_grid=(1, 1),
        token_pooling: str = "cls",
        image_converter=None,
        dropout: float = 0.0,
        neck: str = "none",
        normalize: bool = True,
        weights=None,
        freeze_backbone: bool = False,
        frozen_backbone_layers: Sequence[str] | None = None,
        preprocessing: str | None = None,
        last_stride: int = 2,
        width: float = 1.0,
        center_crop=None,
        global_batch_loss: bool = True,
        name: str = "base_network",
        **kwargs,
    ):
        input_shape = validate_input_shape(input_shape)
        center_crop = validate_center_crop(center_crop, input_shape)
        backbone_shape = input_shape if center_crop is None else (*center_crop, input_shape[2])
        pooling_grid = validate_head(embedding_dim, pooling, pooling_grid, dropout, neck)
        validate_preprocessing(preprocessing, token_pooling)
        backbone_model, family_mode, backbone_name, hub = resolve_backbone(
            backbone, backbone_shape, weights, last_stride, width, image_converter
        )
        mode = preprocessing or family_mode
        backbone_model.trainable = not freeze_backbone
        pin_interpolated_position_embeddings(backbone_model)
        if frozen_backbone_layers is not None:
            if freeze_backbone:
                raise ValueError(
                    "frozen_backbone_layers only applies with freeze_backbone=False (with "
                    "freeze_backbone=True the whole backbone is frozen)"
                )
            _freeze_layers(backbone_model, frozen_backbone_layers)

        inputs = keras.Input(shape=input_shape, name="images")
        x = inputs
        if center_crop is not None:
            x = keras.layers.CenterCrop(*center_crop, name="center_crop")(x)
        if hub is None:
            x = ImagePreprocessing(mode, name="preprocessing")(x)
            features = backbone_model(x)
        else:
            x = hub_preprocessing(x, hub, preprocessing)
            features = call_backbone(backbone_model, x)
        prefix_tokens = 1 if hub is None else hub.prefix_tokens
        x = pool_features(
            features, pooling, pooling_grid, input_shape, token_pooling, prefix_tokens
        )
        x = embedding_head(x, dropout, embedding_dim, neck, normalize)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)

        self.backbone = backbone_model
        self.backbone_name = backbone_name
        self.backbone_handle = backbone_name if hub is None else hub.handle
        self.hub_preprocessing = None if hub is None else hub.preprocessing
        self.token_pooling = token_pooling
        self.embedding_dim = int(x.shape[-1])
        self.image_shape = input_shape
        self.pooling = pooling
        self.pooling_grid = pooling_grid
        self.dropout = float(dropout)
        self.neck = neck
        self.normalize = bool(normalize)
        self.weights_source = (
            weights if isinstance(weights, str) or weights is None else str(weights)
        )
        self.preprocessing = preprocessing
        self.last_stride = int(last_stride)
        self.width = float(width)
        self.center_crop = center_crop
        self.global_batch_loss = bool(global_batch_loss)
        self._requested_embedding_dim = embedding_dim

    # ------------------------------------------------------------------ training helpers
    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """``keras.Model.compile`` with an in-batch loss on ``(labels, embeddings)``.

        Raises:
            ValueError: ``loss`` holds a deprecated loss with weights of its own
                (``CosFaceLoss``, ``XBMLoss``, ...), which a network cannot train or save:
                use a :class:`~embedding_net.models.ClassifierTrainingModel` with a head."""
        from embedding_net.losses.parametric import find_parametric_losses

        for owner in find_parametric_losses(loss) if loss is not None else ():
            raise ValueError(
                f"BaseNetwork.compile: {type(owner).__name__} owns trainable weights, which a "
                "network cannot train or save; use ClassifierTrainingModel(network, head=<an "
                "embedding_net.heads layer, e.g. CosFaceHead(num_classes)>, metric_loss=..., "
                "memory=...) instead (see docs/models.md)"
            )
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras' loss, over the GLOBAL batch when training under a ``tf.distribute``
        strategy (see :mod:`embedding_net.distribute`), so in-batch mining sees every replica's
        samples and gradients equal single-device training on the same global batch."""
        replicas = num_replicas_in_sync()
        if replicas == 1:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        if self.global_batch_loss:
            y, y_pred, sample_weight = gather_global_batch(y, y_pred, sample_weight)
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        if _returns_scalar(self.loss, y, y_pred):
            # Keras divides per-sample losses by the replica count (each replica's share of
            # the summed gradient) but leaves scalar-valued losses alone: do it here.
            loss = loss / replicas
        return loss

    def compile_from_config(self, config):
        compile_from_config(self, config)

    def freeze_backbone(self) -> None:
        """Freeze the backbone (BatchNorm in inference mode). Re-``compile`` afterwards."""
        self.backbone.trainable = False

    def unfreeze_backbone(self, from_layer: int | str | None = None) -> None:
        """Make the backbone trainable again, optionally only from layer ``from_layer``
        (index or name) upwards. BatchNorm layers of the backbone stay frozen (inference
        mode), the usual practice when fine-tuning on small batches. Re-``compile`` with a
        lower learning rate afterwards. ``save``/``load_model`` keep this partial freeze
        (``get_config()["frozen_backbone_layers"]``)."""
        self.backbone.trainable = True
        pin_interpolated_position_embeddings(self.backbone)
        layers = self.backbone.layers
        start = 0
        if isinstance(from_layer, str):
            names = [layer.name for layer in layers]
            if from_layer not in names:
                raise ValueError(f"from_layer={from_layer!r} is not a layer of the backbone")
            start = names.index(from_layer)
        elif isinstance(from_layer, int):
            start = from_layer
        for i, layer in enumerate(layers):
            if i < start or isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False

    # ------------------------------------------------------------------ inference
    def encode(self, images, batch_size: int = 64, verbose="auto") -> np.ndarray:
        """Embed images.

        Args:
            images: uint8/float array ``(n, height, width, channels)`` matching
                ``input_shape``, or a ``tf.data.Dataset`` yielding image batches (or
                ``(images, labels)`` batches).
            batch_size: images per forward pass (arrays only).
            verbose: ``"auto"`` shows a progress bar for more than 10 batches; 0/1 force it.

        Returns:
            float32 numpy array ``(n, embedding_dim)``.
        """
        if hasattr(images, "element_spec"):  # a tf.data.Dataset
            import tensorflow as tf

            dataset = images.map(lambda *xs: xs[0], num_parallel_calls=tf.data.AUTOTUNE)
            return np.asarray(self.predict(dataset, verbose=0 if verbose == "auto" else verbose))
        array = np.asarray(images)
        expected = tuple(self.image_shape)
        if array.ndim == len(expected) and array.shape == expected:
            array = array[None]
        if array.ndim != len(expected) + 1 or tuple(array.shape[1:]) != expected:
            raise ValueError(
                f"encode: images must have shape (n, {', '.join(map(str, expected))}), "
                f"got {array.shape}"
            )
        if len(array) == 0:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        if verbose == "auto":
            verbose = 1 if len(array) > 10 * batch_size else 0
        return np.asarray(self.predict(array, batch_size=batch_size, verbose=verbose), np.float32)

    def export(
        self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs
    ):
        """Export for serving. With the default ``tf_saved_model`` format and no
        ``input_signature``, the SavedModel's ``serve`` endpoint takes raw ``uint8`` images
        and returns embeddings, and a parity check against the Keras embeddings runs (see
        :func:`embedding_net.export.export_network`, which returns its report). Other
        formats and signatures go to ``keras.Model.export``."""
        if format in ("tf_saved_model", "onnx") and input_signature is None:
            from embedding_net.export import export_network

            return export_network(self, filepath, format=format, **kwargs)
        return super().export(
            filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
        )

    # ------------------------------------------------------------------ presets
    def save_to_preset(self, directory, training_config=None, metrics=None, overwrite=False):
        """Write the network as a preset directory (``network.keras`` + ``metadata.json`` +
        ``config.json``; see :mod:`embedding_net.models.presets`) and return its path.
        ``training_config`` (the run's config) and ``metrics`` (held-out results) go into
        the metadata."""
        from embedding_net.models.presets import save_preset

        return save_preset(self, directory, training_config, metrics, overwrite)

    @classmethod
    def from_preset(cls, handle, compile: bool = False):
        """Load a preset written by :meth:`save_to_preset`: a directory, or an ``hf://`` /
        ``kaggle://`` handle (downloaded). Keras safe mode: no code from the preset runs.
        ``network.preset_metadata`` holds its metadata.

        Raises:
            FileNotFoundError / ValueError: the preset cannot be found, downloaded or read
                (the message names the handle), or it holds no ``BaseNetwork``."""
        from embedding_net.models.presets import load_preset

        network = load_preset(handle, compile=compile)
        if not isinstance(network, cls):
            raise ValueError(
                f"preset {handle!r} holds a {type(network).__name__}, not a {cls.__name__}"
            )
        return network

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        backbone = self.backbone_name
        if backbone is None:
            backbone = keras.saving.serialize_keras_object(self.backbone)
        return {
            "backbone": backbone,
            "embedding_dim": self._requested_embedding_dim,
            "input_shape": list(self.image_shape),
            "pooling": self.pooling,
            "pooling_grid": list(self.pooling_grid),
            "token_pooling": self.token_pooling,
            "image_converter": self.hub_preprocessing,
            "backbone_handle": self.backbone_handle,
            "dropout": self.dropout,
            "neck": self.neck,
            "normalize": self.normalize,
            "weights": self.weights_source,
            "freeze_backbone": not self.backbone.trainable,
            "frozen_backbone_layers": _frozen_layer_paths(
                self.backbone, include_inputs=self.hub_preprocessing is None
            ),
            "preprocessing": self.preprocessing,
            "last_stride": self.last_stride,
            "width": self.width,
            "center_crop": None if self.center_crop is None else list(self.center_crop),
            "global_batch_loss": self.global_batch_loss,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = deserialize_backbone(config["backbone"])
        # The saved file holds every weight: never re-download or re-read backbone weights.
        config["weights"] = None
        handle = config.pop("backbone_handle", None)
        network = cls(**config)
        network.backbone_handle = handle if handle is not None else network.backbone_handle
        return network
