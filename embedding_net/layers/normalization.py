"""Normalisation layers for embeddings."""

from __future__ import annotations

import keras
from keras import ops

from embedding_net.distances.functional import l2_normalize


@keras.saving.register_keras_serializable(package="embedding_net")
class L2Normalize(keras.layers.Layer):
    """Scale each embedding to unit L2 norm: ``x / sqrt(max(sum(x^2), epsilon))``.

    Computed in float32 (safe under mixed precision); an all-zero row stays zero
    with a finite gradient.

    Input: ``(batch, dim)``. Output: ``(batch, dim)`` float32.
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        return l2_normalize(x, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="embedding_net")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that runs TensorFlow's fused kernel where it can.

    Keras 3 computes batch normalisation from separate ops (moments, then a multiply-add),
    forward and backward: on a CPU that is about a fifth of a ResNet18 training step's op
    time. On the tensorflow backend, for a 4-D channels-last input without mask, renorm
    or cross-replica statistics, this layer calls ``FusedBatchNormV3`` instead (one op each
    way, oneDNN's on x86). Same arguments, weights, outputs (up to float rounding) and
    moving-statistic updates as the Keras layer (biased batch variance, as Keras uses);
    every other case, and every other backend, is the Keras layer itself. Under a
    ``mixed_bfloat16`` / ``mixed_float16`` policy the half-precision activations go into the
    kernel as they are (it keeps its statistics in float32): casting them to float32 and
    back cost a ResNet18 bf16 training step about a sixth of its time on an AMX CPU.
    """

    def _fusable(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.convert_to_tensor(inputs)
        if x.dtype not in (tf.bfloat16, tf.float16):  # half types go in as they are: the
            x = tf.cast(x, "float32")  # kernel keeps its statistics in float32 for them too
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        if training and self.trainable:
            y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.zeros([0]), variance=tf.zeros([0]),
                epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
                is_training=True,
            )  # fmt: skip
            # the kernel returns the unbiased (n / (n - 1)) variance; Keras keeps the biased one
            shape = tf.shape(x)
            n = tf.cast(shape[0] * shape[1] * shape[2], "float32")
            variance = variance * tf.where(n > 1.0, (n - 1.0) / tf.maximum(n, 1.0), 1.0)
            momentum = self.momentum
            self.moving_mean.assign(
                tf.cast(self.moving_mean, "float32") * momentum + mean * (1.0 - momentum)
            )
            self.moving_variance.assign(
                tf.cast(self.moving_variance, "float32") * momentum + variance * (1.0 - momentum)
            )
        else:
            y, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta,
                mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon, data_format="NHWC", is_training=False,
            )  # fmt: skip
        return tf.cast(y, self.compute_dtype)
