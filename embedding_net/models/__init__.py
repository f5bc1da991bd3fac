"""Models: BaseNetwork (backbone + embedding head), SiameseModel, TripletModel and
ClassifierTrainingModel (a network trained with a class head / metric loss / memory)."""

from embedding_net.models.backbones import (
    BACKBONES,
    available_backbones,
    build_backbone,
    simple_cnn,
    vgg_small,
)
from embedding_net.models.base_network import BaseNetwork
from embedding_net.models.classifier import ClassifierTrainingModel
from embedding_net.models.siamese import SiameseModel
from embedding_net.models.triplet import TripletModel, triplet_margin_loss

__all__ = [
    "BACKBONES",
    "BaseNetwork",
    "ClassifierTrainingModel",
    "SiameseModel",
    "TripletModel",
    "available_backbones",
    "build_backbone",
    "simple_cnn",
    "triplet_margin_loss",
    "vgg_small",
]
