"""Class heads: layers that own per-class weights and compute their loss.

``head(embeddings, labels)`` gives the per-sample loss; put a head into a
:class:`~embedding_net.models.ClassifierTrainingModel` (which wraps the embedding network)
so that the optimizer trains its weights and ``.keras`` files keep them. The inference
network is ``model.network``; the head is for training only.

- margin heads: :class:`ArcFaceHead`, :class:`SubCenterArcFaceHead`, :class:`CosFaceHead`,
  :class:`IdentitySoftmaxHead`;
- proxy heads: :class:`ProxyAnchorHead`, :class:`ProxyNCAHead`, :class:`SoftTripleHead`;
- :class:`CenterHead`.

The cross-batch memory of XBM is :class:`embedding_net.losses.CrossBatchMemory`.
"""

from embedding_net.heads.base import (
    HEADS,
    ClassHead,
    available_heads,
    get_head,
    register_head,
)
from embedding_net.heads.margin import (
    ArcFaceHead,
    CosFaceHead,
    IdentitySoftmaxHead,
    SubCenterArcFaceHead,
)
from embedding_net.heads.proxy import CenterHead, ProxyAnchorHead, ProxyNCAHead, SoftTripleHead

__all__ = [
    "HEADS",
    "ArcFaceHead",
    "CenterHead",
    "ClassHead",
    "CosFaceHead",
    "IdentitySoftmaxHead",
    "ProxyAnchorHead",
    "ProxyNCAHead",
    "SoftTripleHead",
    "SubCenterArcFaceHead",
    "available_heads",
    "get_head",
    "register_head",
]
