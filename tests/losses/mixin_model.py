"""A small subclassed embedding network shared by the loss and compile tests (registered
once: a second registration of the name would fail)."""

import keras


@keras.saving.register_keras_serializable(package="embedding_net_tests")
class TinyEmbedder(keras.Model):
    """``Dense(dim)`` over ``(batch, features)`` inputs."""

    def __init__(self, dim=8, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.dense = keras.layers.Dense(dim)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}
