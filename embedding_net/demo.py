"""The built-in demo: metric learning on scikit-learn's bundled digits (no download).

Trains a small :class:`~embedding_net.BaseNetwork` with the semi-hard triplet loss on
held-in digits, and reports kNN top-1 accuracy and recall@1 on held-out digits before and
after training, plus a t-SNE picture and a query/top-5 retrieval grid.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from embedding_net.atomic import atomic_path, write_json_atomic

logger = logging.getLogger(__name__)

IMAGE_SIZE = 16  # the 8x8 digits are upsampled x2 so four conv blocks fit


@dataclass
class DemoResult:
    """What the demo measured and wrote."""

    before: dict
    after: dict
    train_seconds: float
    output_dir: str
    files: list = field(default_factory=list)


def load_digits_images(seed: int = 0, test_fraction: float = 0.4):
    """scikit-learn's 1,797 8x8 digits as uint8 ``(n, 16, 16, 1)`` images, split per class.

    Returns:
        ``(x_train, y_train, x_test, y_test)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    images = np.kron(images, np.ones((1, 2, 2), dtype=np.uint8))[..., None]
    return tuple(
        train_test_split(
            images,
            digits.target.astype(np.int32),
            test_size=test_fraction,
            stratify=digits.target,
            random_state=seed,
        )[i]
        for i in (0, 2, 1, 3)
    )


def evaluate_embeddings(train_emb, y_train, test_emb, y_test) -> dict:
    """kNN top-1 (test queries vs the training set) and recall@1 (leave-one-out in test)."""
    from embedding_net.evaluation import knn_accuracy, retrieval_metrics

    knn = knn_accuracy(test_emb, y_test, train_emb, y_train, k=1, top=(1,))
    retrieval = retrieval_metrics(test_emb, y_test, ks=(1,))
    return {"knn_top1": float(knn["top1"]), "recall_at_1": float(retrieval["recall_at_1"])}


def run_demo(
    output_dir: str | Path,
    epochs: int = 20,
    embedding_dim: int = 32,
    batch_size: int = 128,
    seed: int = 0,
    verbose: int = 2,
) -> DemoResult:
    """Train on digits and write the pictures into ``output_dir`` (created; must be empty).

    Returns:
        :class:`DemoResult` with the before/after metrics and the written files.
    """
    import keras

    from embedding_net.losses import TripletSemiHardLoss
    from embedding_net.models import BaseNetwork
    from embedding_net.visualization import plot_retrieval, plot_tsne, tsne_embed

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = load_digits_images(seed)

    network = BaseNetwork(
        "simple_cnn",
        embedding_dim=embedding_dim,
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 1),
        name="digits_network",
    )
    before = evaluate_embeddings(network.encode(x_train), y_train, network.encode(x_test), y_test)
    logger.info("before training: %s", before)

    network.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TripletSemiHardLoss(margin=0.5))
    start = time.perf_counter()
    network.fit(
        x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose
    )
    train_seconds = time.perf_counter() - start

    train_emb, test_emb = network.encode(x_train), network.encode(x_test)
    after = evaluate_embeddings(train_emb, y_train, test_emb, y_test)
    logger.info("after training: %s", after)

    files = []
    model_path = output_dir / "digits_network.keras"
    with atomic_path(model_path) as tmp:
        network.save(tmp)
    files.append(model_path)

    points = tsne_embed(test_emb, seed=seed)  # computed once, drawn twice
    tsne_path = output_dir / "tsne.png"
    plot_tsne(
        test_emb, y_test, points_2d=points, path=tsne_path, title="Held-out digits after training"
    )
    files.append(tsne_path)
    if importlib.util.find_spec("plotly") is not None:
        from embedding_net.visualization import plot_tsne_interactive

        html_path = output_dir / "tsne.html"
        plot_tsne_interactive(
            test_emb, y_test, images=x_test[..., 0], points_2d=points, path=html_path
        )
        files.append(html_path)

    grid_path = output_dir / "retrieval.png"
    _retrieval_grid(x_test, y_test, test_emb, grid_path, seed=seed, plot=plot_retrieval)
    files.append(grid_path)

    result = DemoResult(before, after, train_seconds, str(output_dir), [str(f) for f in files])
    write_json_atomic(output_dir / "metrics.json", asdict(result), indent=2)
    return result


def _retrieval_grid(images, labels, embeddings, path, seed, plot, num_queries=6, k=5):
    """Query/top-k grid among held-out digits (each query excluded from its own results)."""
    rng = np.random.default_rng(seed)
    queries = rng.choice(len(images), size=num_queries, replace=False)
    d = np.sum((embeddings[queries, None, :] - embeddings[None, :, :]) ** 2, axis=-1)
    d[np.arange(num_queries), queries] = np.inf
    top = np.argsort(d, axis=1)[:, :k]
    plot(
        images[queries, ..., 0],
        images[top][..., 0],
        np.sqrt(np.take_along_axis(d, top, axis=1)),
        labels[top] == labels[queries][:, None],
        query_labels=labels[queries],
        result_labels=labels[top],
        path=path,
        title="Held-out digits: query and its 5 nearest neighbours",
    )
