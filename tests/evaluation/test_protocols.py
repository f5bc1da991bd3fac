"""evaluation.protocols: one PROTOCOLS registry, protocol objects, the ProtocolEvaluation
callback, the deprecated config.validation names."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from embedding_net.evaluation import (
    PROTOCOLS,
    ValidationSet,
    evaluate_protocol,
    get_protocol,
    retrieval_metrics,
)
from embedding_net.evaluation.protocols import MAIN_METRIC, Protocol


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (n, 4, 4, 3)).astype(np.uint8)


def _flat(x):
    return np.asarray(x, np.float32).reshape(len(x), -1)


def test_one_registry_with_the_main_metrics():
    assert PROTOCOLS.names() == ["classification", "reid", "retrieval", "verification"]
    assert MAIN_METRIC == {
        "classification": "knn_top1",
        "reid": "rank1",
        "retrieval": "map_at_r",
        "verification": "pair_accuracy",
    }
    assert get_protocol("ReID").name == "reid"
    assert isinstance(get_protocol("verification"), Protocol)
    assert get_protocol("verification").distance == "cosine"
    with pytest.raises(ValueError, match="classification"):
        get_protocol("ranking")
    with pytest.raises(ValueError, match="protocol"):
        get_protocol(3)


def test_retrieval_protocol_equals_retrieval_metrics():
    images = _images(30)
    labels = np.arange(30) % 3
    vs = ValidationSet("retrieval", images, labels, query=np.arange(10), gallery=np.arange(10, 30))
    got = evaluate_protocol(_flat, vs)
    emb = _flat(images)
    ref = retrieval_metrics(emb[:10], labels[:10], emb[10:], labels[10:])
    for key in ("precision_at_1", "r_precision", "map_at_r", "recall_at_5"):
        assert got[key] == pytest.approx(ref[key])
    assert got["num_queries"] == ref["num_valid_queries"]
    # leave-one-out without a gallery
    loo = ValidationSet("retrieval", images, labels, query=np.arange(30))
    assert evaluate_protocol(_flat, loo)["map_at_r"] == pytest.approx(
        retrieval_metrics(emb, labels)["map_at_r"]
    )


def test_unknown_protocol_and_rerank_outside_reid():
    vs = ValidationSet("ranking", _images(4), np.arange(4))
    with pytest.raises(ValueError, match="protocol must be one of"):
        evaluate_protocol(_flat, vs)
    vs = ValidationSet("classification", _images(4), np.arange(4), query=np.arange(4))
    with pytest.raises(ValueError, match="rerank"):
        evaluate_protocol(_flat, vs, rerank=True)


def test_config_validation_names_are_deprecated_aliases():
    from embedding_net.evaluation import protocols, validation_sets

    with pytest.warns(DeprecationWarning, match="embedding_net.evaluation.protocols"):
        from embedding_net.config.validation import evaluate_protocol as old
    assert old is protocols.evaluate_protocol
    with pytest.warns(DeprecationWarning, match="validation_sets"):
        from embedding_net.config.validation import ValidationSet as old_set
    assert old_set is validation_sets.ValidationSet
    import embedding_net.config.validation as module

    with pytest.raises(AttributeError):
        module.nothing_here  # noqa: B018


def test_protocol_evaluation_callback_logs_on_schedule_and_last_epoch():
    from embedding_net.callbacks.evaluation import ProtocolEvaluation

    images = _images(24, seed=1)
    labels = np.arange(24) % 4
    vs = ValidationSet(
        "classification", images, labels, query=np.arange(8), gallery=np.arange(8, 24)
    )
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    callback = ProtocolEvaluation(_flat, vs, every=2, epochs=3, batch_size=8)
    history = model.fit(
        images.astype("float32"), np.zeros(24), epochs=3, verbose=0, callbacks=[callback]
    )
    assert [epoch for epoch, _ in callback.evaluated] == [2, 3]
    expected = evaluate_protocol(_flat, vs)
    assert callback.evaluated[0][1] == expected
    assert history.history["val_knn_top1"] == [expected["knn_top1"]] * 2


def test_verification_protocol_with_another_distance_reports_its_threshold_units():
    from embedding_net.evaluation import pair_scores, verification_metrics

    images = _images(40, seed=3)
    pairs = np.stack([np.arange(0, 40, 2), np.arange(1, 40, 2)], axis=1)
    is_same = np.arange(20) % 2 == 0
    vs = ValidationSet("verification", images, np.arange(40), pairs=pairs, is_same=is_same)
    protocol = get_protocol("verification", distance="L2")
    assert protocol.distance == "L2" and get_protocol("verification").distance == "cosine"
    got = protocol.evaluate(_flat, vs)
    emb = _flat(images)
    scores = pair_scores(emb[pairs[:, 0]], emb[pairs[:, 1]], "L2")
    ref = verification_metrics(scores, is_same, n_folds=10, higher_is_similar=False)
    assert got["threshold"] == pytest.approx(ref["threshold"])
    assert got["pair_accuracy"] == pytest.approx(ref["accuracy"])
    with pytest.raises(ValueError, match="distance"):
        get_protocol("verification", distance="manhattan")


def test_pairs_file_whose_images_are_all_missing_is_named(tmp_path):
    from embedding_net.evaluation.validation_sets import verification_set

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t1\nAnn\t1\t2\nAnn\t1\tBob\t1\n")
    with pytest.raises(FileNotFoundError, match=r"pairs\.txt: no pair whose two images exist"):
        verification_set([], (16, 16), pairs_file=pairs, image_root=tmp_path)


def _reid_set(n_ids=6, per_camera=3, seed=0):
    labels = np.repeat(np.arange(n_ids), 2 * per_camera)
    cameras = np.tile(np.repeat([1, 2], per_camera), n_ids)
    rows = np.arange(len(labels))
    query = rows[(cameras == 1) & (np.arange(len(labels)) % per_camera == 0)]
    gallery = np.setdiff1d(rows, query)
    return ValidationSet(
        "reid", _images(len(labels), seed), labels, cameras, query=query, gallery=gallery
    )


def test_run_metrics_adds_reranked_metrics_from_one_encoding():
    from types import SimpleNamespace

    from embedding_net.evaluation.protocols import run_metrics

    vs = _reid_set()
    calls = []

    def network(x):
        calls.append(len(x))
        return _flat(x)

    plain = evaluate_protocol(_flat, vs)
    reranked = evaluate_protocol(_flat, vs, rerank=True)
    settings = SimpleNamespace(batch_size=128, flip=False, rerank=True)
    got = run_metrics(network, vs, settings)
    assert sum(calls) == len(vs)  # encoded once for the plain and the re-ranked metrics
    for key in ("rank1", "rank5", "mAP", "mINP"):
        assert got[key] == pytest.approx(plain[key])
        assert got[f"reranked_{key}"] == pytest.approx(reranked[key])
    assert got["num_queries"] == plain["num_queries"] and "reranked_num_queries" not in got
    assert run_metrics(_flat, vs, SimpleNamespace(batch_size=8, flip=False, rerank=False)) == (
        pytest.approx(plain)
    )
    cls = ValidationSet("classification", _images(4), np.arange(4), query=np.arange(4))
    with pytest.raises(ValueError, match="validation.rerank"):
        run_metrics(_flat, cls, settings)


def test_evaluate_protocol_on_given_embeddings_and_their_shape_checks():
    vs = _reid_set()
    emb = _flat(vs.images)
    assert evaluate_protocol(None, vs, embeddings=emb) == pytest.approx(
        evaluate_protocol(_flat, vs)
    )
    with pytest.raises(ValueError, match=r"one row per validation image"):
        evaluate_protocol(None, vs, embeddings=emb[:-1])
    with pytest.raises(ValueError, match=r"one row per validation image"):
        evaluate_protocol(None, vs, embeddings=emb.ravel())
    empty = ValidationSet("reid", _images(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="no readable held-out image"):
        evaluate_protocol(None, empty, embeddings=np.zeros((0, 4)))
