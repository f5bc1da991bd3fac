"""tf.data input pipelines: dataset adapters, TFRecords, P x K samplers, pairs, triplets, augmentation."""

from embedding_net.data.locations import data_root, sample_dir

__all__ = ["data_root", "sample_dir"]
