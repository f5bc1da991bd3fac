"""Losses from the config: CombinedLoss against its parts, class heads and the cross-batch
memory of a loss section (build_objective), errors."""

import keras
import numpy as np
import pytest

from embedding_net.config import LossConfig
from embedding_net.heads import CosFaceHead, IdentitySoftmaxHead, ProxyAnchorHead
from embedding_net.losses import (
    BatchHardTripletLoss,
    CombinedLoss,
    ContrastiveLoss,
    CrossBatchMemory,
)
from embedding_net.training.losses import build_loss, build_objective


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 3).astype(np.int32)
    emb = rng.normal(size=(12, 8)).astype(np.float32)
    return labels, emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_weighted_sum_equals_weighted_parts_and_round_trips():
    labels, emb = _batch()
    a, b = BatchHardTripletLoss(margin=0.3), BatchHardTripletLoss(margin=1.0, soft=True)
    total = CombinedLoss([a, b], [1.0, 0.25])
    expected = float(a(labels, emb)) + 0.25 * float(b(labels, emb))
    assert float(total(labels, emb)) == pytest.approx(expected, rel=1e-6)
    clone = keras.losses.deserialize(keras.losses.serialize(total))
    assert isinstance(clone, CombinedLoss) and clone.loss_weights == [1.0, 0.25]
    assert float(clone(labels, emb)) == pytest.approx(expected, rel=1e-6)


def test_weighted_loss_sum_is_a_deprecated_alias_that_still_loads():
    from embedding_net.config.losses import WeightedLossSum

    labels, emb = _batch()
    from embedding_net.losses import MultiSimilarityLoss

    parts = [BatchHardTripletLoss(margin=0.3), MultiSimilarityLoss()]
    with pytest.warns(DeprecationWarning, match="CombinedLoss"):
        old = WeightedLossSum(parts, [1.0, 0.5])
    assert isinstance(old, CombinedLoss)
    config = keras.losses.serialize(old)
    assert config["registered_name"] == "embedding_net>WeightedLossSum"  # as older files hold
    with pytest.warns(DeprecationWarning):
        clone = keras.losses.deserialize(config)
    assert type(clone) is WeightedLossSum
    assert float(clone(labels, emb)) == pytest.approx(
        float(CombinedLoss(parts, [1, 0.5])(labels, emb))
    )


def test_combined_loss_validation():
    with pytest.raises(ValueError, match="at least one loss"):
        CombinedLoss([])
    with pytest.raises(ValueError, match="2 weights for 1 losses"):
        CombinedLoss([ContrastiveLoss()], [1.0, 2.0])
    with pytest.raises(ValueError, match="keras.losses.Loss"):
        CombinedLoss(["contrastive"])


def test_identity_loss_with_class_weights_is_a_head():
    objective = build_objective(
        LossConfig(
            name="batch-hard-triplet",
            params={"margin": 0.3},
            identity_loss="cosface",
            identity_weight=0.5,
        ),
        num_classes=4,
        embedding_dim=8,
    )
    assert objective.needs_training_model and objective.memory is None
    assert isinstance(objective.metric_loss, BatchHardTripletLoss)
    assert isinstance(objective.head, CosFaceHead) and objective.head.num_classes == 4
    assert tuple(objective.head.weight_matrix.shape) == (4, 8) and objective.head_weight == 0.5
    labels, emb = _batch()
    assert np.isfinite(float(keras.ops.mean(objective.head(emb, labels))))
    with pytest.raises(ValueError, match="loss: 'batch-hard-triplet' \\+ 'cosface' has weights"):
        build_loss(LossConfig(name="batch-hard-triplet", identity_loss="cosface"), 4, 8)


def test_head_as_main_loss_and_a_plain_identity_loss():
    objective = build_objective(
        LossConfig(
            name="proxy-anchor",
            params={"alpha": 16.0},
            identity_loss="batch-hard-triplet",
            identity_weight=0.25,
        ),
        3,
        8,
    )
    assert isinstance(objective.head, ProxyAnchorHead) and objective.head.alpha == 16.0
    assert isinstance(objective.metric_loss, BatchHardTripletLoss)
    assert objective.metric_weight == 0.25 and objective.head_weight == 1.0
    # a deprecated class name resolves to its head
    objective = build_objective(LossConfig(name="IdentitySoftmaxLoss"), 3, 8)
    assert isinstance(objective.head, IdentitySoftmaxHead) and objective.metric_loss is None


def test_build_loss_plain_and_miner():
    loss = build_loss(LossConfig(name="contrastive"), 3, 8)
    assert isinstance(loss, ContrastiveLoss)
    loss = build_loss(LossConfig(name="batch_all_triplet", miner="semi-hard"), 3, 8)
    assert type(loss._fn_kwargs["miner"]).__name__ == "SemiHardMiner"


def test_xbm_from_a_config_is_a_memory_around_its_inner_loss():
    from embedding_net.losses import MultiSimilarityLoss

    config = LossConfig(
        name="xbm",
        params={"loss": "multi-similarity", "loss_params": {"alpha": 3.0}, "memory_size": 24},
    )
    objective = build_objective(config, 4, 8)
    loss, memory = objective.metric_loss, objective.memory
    assert isinstance(loss, MultiSimilarityLoss) and isinstance(memory, CrossBatchMemory)
    assert loss._fn_kwargs["alpha"] == 3.0 and memory.memory_size == 24
    # embedding_dim is filled in: the memory exists before the first call
    assert tuple(memory.embeddings.shape) == (24, 8) and objective.memory_weight == 1.0
    from embedding_net.models import BaseNetwork

    network = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))
    model = objective.training_model(network)
    labels, emb = _batch()
    reference = MultiSimilarityLoss(alpha=3.0)(labels, emb)  # empty memory: the batch term
    got = model.compute_loss(None, labels, emb, training=False)
    np.testing.assert_allclose(float(got), float(reference), rtol=1e-6)


@pytest.mark.parametrize(
    "config, key",
    [
        (LossConfig(name="no-such-loss"), "loss.name"),
        (LossConfig(name="batch-hard-triplet", params={"margn": 1.0}), "loss.params"),
        (LossConfig(name="contrastive", miner="batch-hard"), "loss.miner"),
        (LossConfig(miner="no-such-miner"), "loss.miner"),
        (LossConfig(identity_loss="nope"), "loss.identity_loss"),
        (LossConfig(name="xbm", params={"loss": "circle", "loss_params": {"x": 1}}), "loss.params"),
        (LossConfig(name="xbm", params={"loss": "circle", "size": 3}), "loss.params"),
        (LossConfig(name="xbm", params={"loss": "circle", "memory_size": 0}), "loss.params"),
        (LossConfig(name="xbm", params={"loss": "contrastive"}), "loss.params"),
        (LossConfig(name="cosface", params={"margn": 1.0}), "loss.params"),
        (LossConfig(name="cosface", miner="batch-hard"), "loss.miner"),
        (LossConfig(name="cosface", identity_loss="arcface"), "loss.identity_loss"),
        (LossConfig(name="xbm", params={"loss": "circle"}, identity_loss="xbm"), "loss.identity"),
        (
            LossConfig(name="xbm", params={"loss": "circle"}, identity_loss="contrastive"),
            "loss.identity_loss",
        ),
    ],
)
def test_build_loss_errors_name_the_key(config, key):
    with pytest.raises(ValueError) as info:
        build_loss(config, 3, 8, source="run.yaml")
    assert str(info.value).startswith(f"run.yaml: {key}"), str(info.value)


def test_identity_head_weights_are_trained_with_the_network():
    from embedding_net.models import BaseNetwork

    network = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(16, 16, 3))
    objective = build_objective(
        LossConfig(name="batch-hard-triplet", identity_loss="cosface"),
        num_classes=3,
        embedding_dim=8,
    )
    model = objective.training_model(network)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    matrix = objective.head.weight_matrix
    assert any(w is matrix for w in model.trainable_weights)
    before = keras.ops.convert_to_numpy(matrix).copy()
    images = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3)).astype(np.uint8)
    model.fit(images, np.repeat(np.arange(3), 2), epochs=1, batch_size=6, verbose=0)
    assert np.abs(keras.ops.convert_to_numpy(matrix) - before).max() > 0  # the class weights move


@pytest.mark.parametrize(
    "loss",
    [
        {"name": "batch-hard-triplet", "identity_loss": "cosface", "identity_weight": 0.5},
        {"name": "xbm", "params": {"loss": "multi-similarity", "memory_size": 24}},
    ],
)
def test_train_run_with_own_weights_saves_resumes_and_writes_the_network(tmp_path, loss):
    from embedding_net.config import parse_config
    from embedding_net.models import BaseNetwork, ClassifierTrainingModel
    from embedding_net.training import train
    from tests.config.tiny_run import tiny_config_dict, write_class_folders

    data = write_class_folders(tmp_path / "data", n_classes=3, per_split=(("train", 4), ("val", 2)))
    mapping = tiny_config_dict(data, tmp_path / "run", loss=loss, training={"epochs": 1})
    mapping["sampler"] = {"kind": "pk", "P": 3, "K": 2, "steps_per_epoch": 2}
    result = train(parse_config(mapping))
    assert np.isfinite(result.history["loss"]).all()
    assert {"metric_loss"} <= set(result.history)
    final = keras.saving.load_model(tmp_path / "run" / "final.keras")
    assert isinstance(final, ClassifierTrainingModel)
    parts = [final.head, final.memory]
    trained = [p for p in parts if p is not None]
    assert len(trained) == 1 and trained[0].built
    network = keras.saving.load_model(tmp_path / "run" / "network.keras")
    assert isinstance(network, BaseNetwork)  # the inference copy: no head, no memory
    assert len(network.weights) == len(final.network.weights)
    # resume: the backup holds the head / memory and the optimizer state
    mapping["training"]["epochs"] = 2
    resumed = train(parse_config(mapping), resume=True)
    assert resumed.epochs_run == 1
    again = keras.saving.load_model(tmp_path / "run" / "final.keras")
    if final.memory is not None:  # the memory carried on from the first run: 2 x 6 + 2 x 6
        assert int(keras.ops.convert_to_numpy(again.memory.pointer)) == 0
        assert int(keras.ops.convert_to_numpy(final.memory.pointer)) == 12
    else:
        assert not np.array_equal(
            keras.ops.convert_to_numpy(again.head.weight_matrix),
            keras.ops.convert_to_numpy(final.head.weight_matrix),
        )
