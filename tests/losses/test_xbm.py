"""Cross-batch memory: values against the numpy reference over several steps, the ring
buffer's contents (through the deprecated XBMLoss, which keeps the memory in ``loss.layer``),
and training with the memory as a layer of a ClassifierTrainingModel (state carried across
steps on every backend, including jax's stateless trainer)."""

import keras
import numpy as np
import pytest

from embedding_net.losses import (
    CircleLoss,
    CrossBatchMemory,
    MultiSimilarityLoss,
    XBMLoss,
)
from embedding_net.models import ClassifierTrainingModel
from tests.losses import modern_reference as ref

pytestmark = pytest.mark.filterwarnings("ignore:XBMLoss is deprecated:DeprecationWarning")


def _batch(seed, n=8, d=5):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, n), rng.normal(size=(n, d)).astype("float32")


def test_values_and_ring_buffer_over_three_steps():
    loss = XBMLoss(
        MultiSimilarityLoss(epsilon=0.1), memory_size=12, embedding_dim=5, memory_weight=0.5
    )
    (y1, x1), (y2, x2), (y3, x3) = _batch(1), _batch(2), _batch(3)

    # step 1: empty memory, only the in-batch term
    v1 = float(loss(y1.astype("float32"), x1))
    np.testing.assert_allclose(v1, ref.multi_similarity(y1, x1).mean(), rtol=1e-4)
    assert int(ref.to_numpy(loss.layer.pointer)) == 8

    # step 2: memory holds batch 1 in slots 0..7, slots 8..11 empty
    v2 = float(loss(y2.astype("float32"), x2))
    mem_labels = np.concatenate([y1, -np.ones(4, int)])
    mem_x = np.concatenate([x1, np.zeros((4, 5), "float32")])
    want2 = ref.multi_similarity(y2, x2) + 0.5 * ref.multi_similarity(
        y2, x2, ref=(mem_labels, mem_x, mem_labels >= 0)
    )
    np.testing.assert_allclose(v2, want2.mean(), rtol=1e-4)

    # batch 2 wrapped around: slots 8..11 <- rows 0..3, slots 0..3 <- rows 4..7
    expect_labels = np.concatenate([y2[4:], y1[4:], y2[:4]])
    expect_x = np.concatenate([x2[4:], x1[4:], x2[:4]])
    np.testing.assert_array_equal(ref.to_numpy(loss.layer.labels), expect_labels)
    np.testing.assert_allclose(ref.to_numpy(loss.layer.embeddings), expect_x, rtol=1e-6)
    assert int(ref.to_numpy(loss.layer.pointer)) == 4

    v3 = float(loss(y3.astype("float32"), x3))
    want3 = ref.multi_similarity(y3, x3) + 0.5 * ref.multi_similarity(
        y3, x3, ref=(expect_labels, expect_x, np.ones(12, bool))
    )
    np.testing.assert_allclose(v3, want3.mean(), rtol=1e-4)


def test_gradient_is_finite_and_memory_is_constant():
    loss = XBMLoss(CircleLoss(), memory_size=16, embedding_dim=5)
    y, x = _batch(4)
    loss(y.astype("float32"), x)  # fill part of the memory with the same embeddings
    labels = y.astype("float32")
    _, grad = ref.value_and_grad(lambda v: loss.call(labels, v), x)
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def test_training_carries_the_memory_between_steps():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), 8)
    x = (rng.normal(size=(4, 6))[labels] + 0.3 * rng.normal(size=(32, 6))).astype("float32")
    inputs = keras.Input((6,))
    network = keras.Model(inputs, keras.layers.Dense(5)(inputs))
    memory = CrossBatchMemory(20)
    # the model builds the memory from the network's output size
    model = ClassifierTrainingModel(network, metric_loss=MultiSimilarityLoss(), memory=memory)
    assert all(not v.trainable for v in memory.weights)
    model.compile(optimizer="adam")
    history = model.fit(
        x, labels.astype("float32"), batch_size=8, epochs=1, shuffle=False, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    # 4 steps of 8 into 20 slots: pointer 32 mod 20 = 12, every slot written
    assert int(ref.to_numpy(memory.pointer)) == 12
    stored = ref.to_numpy(memory.labels)
    np.testing.assert_array_equal(stored, np.concatenate([labels[20:32], labels[12:20]]))
    emb = model.predict(x, verbose=0)
    np.testing.assert_allclose(ref.to_numpy(memory.embeddings)[12:], emb[12:20], atol=0.2)


def test_validation():
    with pytest.raises(ValueError, match="reference set"):
        XBMLoss(keras.losses.MeanSquaredError())
    with pytest.raises(ValueError, match="memory_size"):
        XBMLoss(CircleLoss(), memory_size=0)
    loss = XBMLoss(CircleLoss(), memory_size=4, embedding_dim=5)
    y, x = _batch(6)
    with pytest.raises(ValueError, match="memory_size"):
        loss(y.astype("float32"), x)


def test_loss_by_name_matches_the_object_form():
    # a YAML config can only name the wrapped loss: name + loss_params build the same loss
    by_name = XBMLoss(
        "multi-similarity", loss_params={"epsilon": 0.1}, memory_size=12, embedding_dim=5
    )
    by_object = XBMLoss(MultiSimilarityLoss(epsilon=0.1), memory_size=12, embedding_dim=5)
    assert isinstance(by_name.inner_loss, MultiSimilarityLoss)
    assert by_name.inner_loss.get_config() == by_object.inner_loss.get_config()
    for seed in (1, 2):  # the second step also compares with the memory
        y, x = _batch(seed)
        a = float(by_name(y.astype("float32"), x))
        b = float(by_object(y.astype("float32"), x))
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # round trip through get_config: the inner loss is stored as its config
    clone = XBMLoss.from_config(by_name.get_config())
    assert clone.inner_loss.get_config() == by_object.inner_loss.get_config()


def test_loss_by_name_errors():
    with pytest.raises(ValueError, match="Unknown loss 'no-such-loss'"):
        XBMLoss("no-such-loss")
    with pytest.raises(ValueError, match="loss_params of 'circle'.*bogus"):
        XBMLoss("circle", loss_params={"bogus": 1})
    with pytest.raises(ValueError, match="loss_params` must be a dict"):
        XBMLoss("circle", loss_params=[1])
    with pytest.raises(ValueError, match="loss_params` is for a loss given by name"):
        XBMLoss(CircleLoss(), loss_params={"margin": 0.3})
    with pytest.raises(ValueError, match="reference set"):
        XBMLoss("contrastive")


def test_memory_wraps_any_loss_with_a_compute_method():
    # the one call XBM makes: loss.compute(labels, embeddings, ref_labels=, ref_embeddings=,
    # ref_valid=) -> per-sample values; any in-batch loss providing it can be wrapped
    class MeanRefDistance(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return keras.ops.zeros_like(y_pred[:, 0])

        def compute(self, labels, embeddings, *, ref_labels, ref_embeddings, ref_valid):
            valid = keras.ops.cast(ref_valid, "float32")
            d = keras.ops.sum(keras.ops.square(embeddings[:, None] - ref_embeddings[None]), -1)
            return keras.ops.sum(d * valid, 1) / keras.ops.maximum(keras.ops.sum(valid), 1.0)

    inputs = keras.Input((3,))
    network = keras.Model(inputs, keras.layers.Identity()(inputs))
    memory = CrossBatchMemory(4)
    model = ClassifierTrainingModel(network, metric_loss=MeanRefDistance(), memory=memory)
    y, x = np.array([0, 1]), np.array([[1.0, 0, 0], [0, 1.0, 0]], "float32")
    assert float(model.compute_loss(x, y, x, training=True)) == 0.0  # empty memory
    assert int(ref.to_numpy(memory.pointer)) == 2
    x2 = np.array([[0, 0, 1.0], [0, 0, 1.0]], "float32")
    got = float(model.compute_loss(x2, y, x2, training=False))
    np.testing.assert_allclose(got, 2.0, rtol=1e-6)  # every |x2_i - x_j|^2 is 2
