"""Multi-similarity loss (Wang et al., CVPR 2019) with its built-in pair mining."""

from __future__ import annotations

import keras

from embedding_net.losses.base import MetricLoss, register_loss
from embedding_net.losses.pairs import masked_logsumexp, pair_batch
from embedding_net.miners.pair_miners import multi_similarity_pairs


def multi_similarity_loss(
    labels,
    embeddings,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    epsilon: float | None = 0.1,
    distance="cosine",
    miner=None,
    *,
    ref_labels=None,
    ref_embeddings=None,
    ref_valid=None,
):
    """Multi-similarity loss, one value per anchor.

    With similarities ``S`` (cosine by default), positives ``P_i`` and negatives ``N_i``::

        L_i = 1/alpha * log(1 + sum_{p in P_i} exp(-alpha (S_ip - base)))
            + 1/beta  * log(1 + sum_{n in N_i} exp( beta (S_in - base)))

    Mining (``epsilon`` not ``None``, as in the paper): a negative is kept when
    ``S_in > min_p S_ip - epsilon``, a positive when ``S_ip < max_n S_in + epsilon``.
    For a distance ``D`` (``distance="L2"`` ...), ``S`` is replaced by ``-D`` and ``base``
    by ``-base`` (pytorch-metric-learning's ``distance.margin`` convention).

    Args:
        labels: int tensor ``(batch,)`` (float ids from Keras are cast back; exact < 2**24).
        embeddings: float tensor ``(batch, dim)``; computed in float32.
        alpha, beta, base: the paper's scales and similarity offset.
        epsilon: mining margin, or ``None`` to use every pair.
        distance: ``"cosine"`` (default), ``"dot"``, ``"L2"``, ``"squared-L2"``,
            ``"angular"``, a ``Distance`` or a callable ``(B, D) -> (B, B)``.
        ref_labels, ref_embeddings, ref_valid: optional reference set ``(ref,)``,
            ``(ref, dim)``, bool ``(ref,)`` (cross-batch memory); default the batch itself.
        miner: optional ``embedding_net.miners`` miner (object or name, e.g.
            ``"multi-similarity"``); only the pairs it keeps count.

    Returns:
        float32 tensor ``(batch,)``; 0 for anchors without any mined pair.
    """
    batch = pair_batch(labels, embeddings, distance, miner, ref_labels, ref_embeddings, ref_valid)
    # "higher = more similar" score, and the offset on the same scale
    score = -batch.distances
    offset = base if batch.is_similarity else -base
    positive, negative = batch.positive, batch.negative
    if epsilon is not None:
        positive, negative = multi_similarity_pairs(score, positive, negative, epsilon)
    pos_term, _ = masked_logsumexp(-alpha * (score - offset), positive, axis=1, add_one=True)
    neg_term, _ = masked_logsumexp(beta * (score - offset), negative, axis=1, add_one=True)
    return pos_term / alpha + neg_term / beta


@register_loss("multi-similarity")
@keras.saving.register_keras_serializable(package="embedding_net")
class MultiSimilarityLoss(MetricLoss):
    """Multi-similarity loss (Wang et al., 2019); see :func:`multi_similarity_loss`.

    Args:
        alpha, beta, base, epsilon, distance, miner: as in :func:`multi_similarity_loss`.
        reduction, name, dtype: as in ``keras.losses.Loss``.

    Call: ``loss(labels (batch,), embeddings (batch, dim))``.
    """

    fn = staticmethod(multi_similarity_loss)

    def __init__(
        self,
        alpha: float = 2.0,
        beta: float = 50.0,
        base: float = 0.5,
        epsilon: float | None = 0.1,
        distance="cosine",
        miner=None,
        reduction="sum_over_batch_size",
        name: str = "multi_similarity_loss",
        dtype=None,
    ):
        super().__init__(
            reduction,
            name,
            dtype,
            alpha=alpha,
            beta=beta,
            base=base,
            epsilon=epsilon,
            distance=distance,
            miner=miner,
        )
