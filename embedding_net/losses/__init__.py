"""Metric-learning losses (``keras.ops`` only; every Keras backend).

Every loss is a pure function plus a thin :class:`MetricLoss` class (Keras'
``LossFunctionWrapper`` shape: own arguments, then ``reduction, name, dtype``). Every in-batch
loss takes ``distance=``, ``miner=`` and a reference set (``ref_labels``, ``ref_embeddings``,
``ref_valid``, keywords), also through :meth:`MetricLoss.compute`.

- tensorflow-addons 0.23 drop-ins: :class:`TripletSemiHardLoss`, :class:`TripletHardLoss`,
  :class:`ContrastiveLoss` and their functions (results in the dtype of ``y_pred``).
- Hermans et al. batch-hard / batch-all triplet losses, the in-batch contrastive loss, and the
  pair-based family (multi-similarity, circle, lifted structure, N-pairs, NT-Xent / InfoNCE,
  supervised contrastive).
- :func:`get` resolves a loss name (:func:`available_losses`); :func:`register_loss` adds one.
- :class:`CombinedLoss`: a weighted sum of in-batch losses.
- Class weights (ArcFace, CosFace, proxies, centres) live in the layers of
  :mod:`embedding_net.heads`, inside :class:`embedding_net.models.ClassifierTrainingModel`;
  the pure functions (:func:`arcface_loss`, :func:`proxy_anchor_loss`, ...) take the weights
  as an argument. The loss classes that own weights (:class:`ArcFaceLoss`, ...) and
  :class:`XBMLoss` are deprecated.
"""

from embedding_net.losses.base import MetricLoss, available_losses, get, register_loss
from embedding_net.losses.batch_triplet import (
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    batch_triplet_loss,
)
from embedding_net.losses.center import CenterLoss, center_loss
from embedding_net.losses.circle import CircleLoss, circle_loss
from embedding_net.losses.combined import CombinedLoss
from embedding_net.losses.contrastive import (
    BatchContrastiveLoss,
    ContrastiveLoss,
    batch_contrastive_loss,
    contrastive_loss,
)
from embedding_net.losses.identity import (
    IdentityCrossEntropy,
    IdentitySoftmaxLoss,
    identity_cross_entropy,
    identity_softmax_loss,
)
from embedding_net.losses.lifted import (
    GeneralizedLiftedStructureLoss,
    LiftedStructureLoss,
    generalized_lifted_structure_loss,
    lifted_structure_loss,
)
from embedding_net.losses.margin_softmax import (
    ArcFaceLoss,
    CosFaceLoss,
    SubCenterArcFaceLoss,
    arcface_loss,
    cosface_loss,
)
from embedding_net.losses.multi_similarity import MultiSimilarityLoss, multi_similarity_loss
from embedding_net.losses.npairs import (
    InfoNCELoss,
    NPairsLoss,
    NTXentLoss,
    info_nce_loss,
    npairs_loss,
    ntxent_loss,
)
from embedding_net.losses.parametric import ParametricLoss
from embedding_net.losses.proxy import (
    ProxyAnchorLoss,
    ProxyNCALoss,
    proxy_anchor_loss,
    proxy_nca_loss,
)
from embedding_net.losses.softtriple import SoftTripleLoss, softtriple_loss
from embedding_net.losses.supcon import SupervisedContrastiveLoss, supervised_contrastive_loss
from embedding_net.losses.triplet import (
    TripletHardLoss,
    TripletSemiHardLoss,
    triplet_hard_loss,
    triplet_semihard_loss,
)
from embedding_net.losses.xbm import CrossBatchMemory, XBMLoss

__all__ = [
    "BatchAllTripletLoss",
    "BatchContrastiveLoss",
    "BatchHardTripletLoss",
    "CombinedLoss",
    "batch_all_triplet_loss",
    "batch_contrastive_loss",
    "batch_hard_triplet_loss",
    "batch_triplet_loss",
    "ContrastiveLoss",
    "MetricLoss",
    "TripletHardLoss",
    "TripletSemiHardLoss",
    "available_losses",
    "contrastive_loss",
    "get",
    "register_loss",
    "triplet_hard_loss",
    "triplet_semihard_loss",
]

# modern family
__all__ += [
    "ArcFaceLoss",
    "CenterLoss",
    "CircleLoss",
    "CosFaceLoss",
    "CrossBatchMemory",
    "GeneralizedLiftedStructureLoss",
    "IdentityCrossEntropy",
    "IdentitySoftmaxLoss",
    "InfoNCELoss",
    "LiftedStructureLoss",
    "MultiSimilarityLoss",
    "NPairsLoss",
    "NTXentLoss",
    "ParametricLoss",
    "ProxyAnchorLoss",
    "ProxyNCALoss",
    "SoftTripleLoss",
    "SubCenterArcFaceLoss",
    "SupervisedContrastiveLoss",
    "XBMLoss",
    "arcface_loss",
    "center_loss",
    "circle_loss",
    "cosface_loss",
    "generalized_lifted_structure_loss",
    "identity_cross_entropy",
    "identity_softmax_loss",
    "info_nce_loss",
    "lifted_structure_loss",
    "multi_similarity_loss",
    "npairs_loss",
    "ntxent_loss",
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "softtriple_loss",
    "supervised_contrastive_loss",
]
