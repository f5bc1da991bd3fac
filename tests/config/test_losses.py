"""Losses from the config: WeightedLossSum against its parts, identity loss weights, errors."""

import keras
import numpy as np
import pytest

from embedding_net.config import LossConfig
from embedding_net.config.losses import WeightedLossSum, build_loss
from embedding_net.losses import BatchHardTripletLoss, ContrastiveLoss, CosFaceLoss


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 3).astype(np.int32)
    emb = rng.normal(size=(12, 8)).astype(np.float32)
    return labels, emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_weighted_sum_equals_weighted_parts_and_round_trips():
    labels, emb = _batch()
    a, b = BatchHardTripletLoss(margin=0.3), BatchHardTripletLoss(margin=1.0, soft=True)
    total = WeightedLossSum([a, b], [1.0, 0.25])
    expected = float(a(labels, emb)) + 0.25 * float(b(labels, emb))
    assert float(total(labels, emb)) == pytest.approx(expected, rel=1e-6)
    clone = keras.losses.deserialize(keras.losses.serialize(total))
    assert isinstance(clone, WeightedLossSum) and clone.loss_weights == [1.0, 0.25]
    assert float(clone(labels, emb)) == pytest.approx(expected, rel=1e-6)


def test_build_loss_with_identity_loss_exposes_class_weights():
    loss = build_loss(
        LossConfig(name="batch-hard-triplet", params={"margin": 0.3}, identity_loss="cosface"),
        num_classes=4,
        embedding_dim=8,
    )
    assert isinstance(loss, WeightedLossSum)
    assert isinstance(loss.losses[1], CosFaceLoss) and loss.losses[1].num_classes == 4
    assert loss.layer is loss.losses[1].layer and tuple(loss.layer.weight_matrix.shape) == (4, 8)
    labels, emb = _batch()
    assert np.isfinite(float(loss(labels, emb)))


def test_build_loss_plain_and_miner():
    loss = build_loss(LossConfig(name="contrastive"), 3, 8)
    assert isinstance(loss, ContrastiveLoss)
    loss = build_loss(LossConfig(name="batch_all_triplet", miner="semi-hard"), 3, 8)
    assert type(loss._fn_kwargs["miner"]).__name__ == "SemiHardMiner"


def test_build_loss_xbm_from_a_config_names_its_inner_loss():
    from embedding_net.losses import MultiSimilarityLoss, XBMLoss

    config = LossConfig(
        name="xbm",
        params={"loss": "multi-similarity", "loss_params": {"alpha": 3.0}, "memory_size": 24},
    )
    loss = build_loss(config, 4, 8)
    assert isinstance(loss, XBMLoss) and isinstance(loss.inner_loss, MultiSimilarityLoss)
    assert loss.inner_loss._fn_kwargs["alpha"] == 3.0 and loss.memory_size == 24
    # embedding_dim is filled in: the memory exists before the first call
    assert tuple(loss.layer.embeddings.shape) == (24, 8)
    labels, emb = _batch()
    reference = MultiSimilarityLoss(alpha=3.0)(labels, emb)
    np.testing.assert_allclose(float(loss(labels, emb)), float(reference), rtol=1e-6)


@pytest.mark.parametrize(
    "config, key",
    [
        (LossConfig(name="no-such-loss"), "loss.name"),
        (LossConfig(name="batch-hard-triplet", params={"margn": 1.0}), "loss.params"),
        (LossConfig(name="contrastive", miner="batch-hard"), "loss.miner"),
        (LossConfig(miner="no-such-miner"), "loss.miner"),
        (LossConfig(identity_loss="nope"), "loss.identity_loss"),
        (LossConfig(name="xbm", params={"loss": "circle", "loss_params": {"x": 1}}), "loss.params"),
    ],
)
def test_build_loss_errors_name_the_key(config, key):
    with pytest.raises(ValueError) as info:
        build_loss(config, 3, 8, source="run.yaml")
    assert str(info.value).startswith(f"run.yaml: {key}"), str(info.value)


def test_identity_loss_weights_are_attached_to_the_network_and_trained():
    from embedding_net.models import BaseNetwork

    network = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))
    loss = build_loss(
        LossConfig(name="batch-hard-triplet", identity_loss="cosface"),
        num_classes=3,
        embedding_dim=8,
    )
    network.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
    matrix = loss.losses[1].layer.weight_matrix
    assert any(w is matrix for w in network.trainable_weights)
    before = keras.ops.convert_to_numpy(matrix).copy()
    images = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3)).astype(np.uint8)
    network.fit(images, np.repeat(np.arange(3), 2), epochs=1, batch_size=6, verbose=0)
    assert np.abs(keras.ops.convert_to_numpy(matrix) - before).max() > 0  # the class weights move
