"""Workflows on the shared sample data: folder -> index -> query, LFW pairs evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from embedding_net.evaluation import (
    EmbeddingIndex,
    build_index_from_folder,
    evaluate_lfw_pairs,
    verification_metrics,
)


def tiny_encoder(batch):
    """4 x 4 average-pooled grey image, flattened: a deterministic 'network'."""
    x = np.asarray(batch, dtype=np.float32).mean(axis=3)
    n, h, w = x.shape
    return x.reshape(n, 4, h // 4, 4, w // 4).mean(axis=(2, 4)).reshape(n, 16)


@pytest.mark.data
def test_build_index_from_folder_and_query(shared_data, tmp_path):
    from embedding_net.data import load_images

    root = shared_data("sample", "traffic_signs_gtsrb") / "val"
    index = build_index_from_folder(tiny_encoder, root, image_size=(32, 32), batch_size=50)
    files = sorted(p for p in root.glob("*/*") if p.is_file())
    assert len(index) == len(files) and index.dim == 16
    query_path = str(files[7])
    query = tiny_encoder(load_images([query_path], image_size=(32, 32)).images)
    result = index.search(query, k=3)
    assert result.paths[0, 0] == query_path
    assert result.distances[0, 0] == pytest.approx(0.0, abs=1e-4)
    assert result.labels[0, 0] == files[7].parent.name
    index.save(tmp_path / "signs.npz")
    again = EmbeddingIndex.load(tmp_path / "signs.npz").search(query, k=3)
    np.testing.assert_array_equal(again.paths, result.paths)


@pytest.mark.data
def test_evaluate_lfw_pairs_equals_hand_pipeline(shared_data):
    from embedding_net.data import load_images

    root = shared_data("sample", "faces_lfw")
    pairs_file = root / "pairs_sample.txt"
    res = evaluate_lfw_pairs(tiny_encoder, pairs_file, root, image_size=(32, 32), batch_size=64)
    # independent parse of the pairs file: header N, N matched then N mismatched lines
    lines = [ln.split() for ln in pairs_file.read_text().splitlines() if ln.strip()]
    n = int(lines[0][0])

    def path(name, number):
        return str(root / name / f"{name}_{int(number):04d}.jpg")

    a = [path(p[0], p[1]) for p in lines[1 : n + 1]] + [path(p[0], p[1]) for p in lines[n + 1 :]]
    b = [path(p[0], p[2]) for p in lines[1 : n + 1]] + [path(p[2], p[3]) for p in lines[n + 1 :]]
    ea = tiny_encoder(load_images(a, image_size=(32, 32)).images)
    eb = tiny_encoder(load_images(b, image_size=(32, 32)).images)
    cos = np.sum(ea * eb, 1) / np.linalg.norm(ea, axis=1) / np.linalg.norm(eb, axis=1)
    same = np.arange(2 * n) < n
    folds = np.arange(2 * n) % n // (n // 10)  # 10 blocks per pair class, as in View 2
    expected = verification_metrics(cos, same, folds=folds)
    assert res["num_pairs"] == 2 * n
    assert res["fold_accuracies"] == pytest.approx(expected["fold_accuracies"], abs=1e-5)
    for key in ("accuracy", "auc", "eer", "threshold"):
        assert res[key] == pytest.approx(expected[key], abs=1e-5)
