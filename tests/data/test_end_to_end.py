"""Each sample set goes folder -> TFRecords -> P x K batches -> fit (and the JAX backend too)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from embedding_net import data as A
from embedding_net.data import augment as Aug
from embedding_net.data import samplers as S
from embedding_net.data import tfrecords as T

pytestmark = [pytest.mark.slow, pytest.mark.data]


SETS = ("reid", "faces", "signs", "csv_triplets")
SIZE = (64, 32)  # one input size for all sets: one network, one compiled train step


def _records(shared_data, name):
    if name == "reid":
        return A.list_reid_images(shared_data("sample", "reid_cuhk03"), "cuhk03"), "reid"
    if name == "faces":
        return A.list_lfw_people(shared_data("sample", "faces_lfw")), "faces"
    if name == "signs":
        return A.list_gtsrb(shared_data("sample", "traffic_signs_gtsrb"), split="train"), "signs"
    rows = A.read_triplets_csv(shared_data("sample", "traffic_signs_gtsrb") / "triplets.csv")
    return A.triplet_records_to_images(rows), "signs"


def test_each_sample_set_folder_to_tfrecords_to_pk_to_fit(shared_data, tmp_path):
    import keras

    from embedding_net.losses import TripletSemiHardLoss
    from embedding_net.models import BaseNetwork

    net = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(*SIZE, 3))
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TripletSemiHardLoss())
    P, K = 4, 4
    for name in SETS:
        records, preset = _records(shared_data, name)
        out = tmp_path / name
        manifest = T.write_tfrecords(records, out, num_shards=2, val_fraction=0.2, progress=False)
        train, val = T.TFRecordIndex(out, "train"), T.TFRecordIndex(out, "val")
        assert not set(train.labels.tolist()) & set(val.labels.tolist()), f"{name}: identity leak"
        assert len(train) + len(val) == manifest["num_images"] == len(records)
        ds = S.pk_batches(
            out,
            P,
            K,
            SIZE,
            augment=Aug.augmentation_pipeline(preset, image_size=SIZE, seed=0),
            camera_aware=name == "reid",
            seed=0,
            batches_per_epoch=2,
        )
        for _, y in ds:
            blocks = y.numpy().reshape(P, K)
            assert np.all(blocks == blocks[:, :1]) and len(set(blocks[:, 0].tolist())) == P
        hist = net.fit(ds, epochs=1, verbose=0)
        assert np.isfinite(hist.history["loss"][0]), name


JAX_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    from embedding_net.data import augment as Aug, datasets as A, samplers as S, tfrecords as T
    from embedding_net.losses import TripletSemiHardLoss
    from embedding_net.models import BaseNetwork

    root, out = sys.argv[1], sys.argv[2]
    T.write_tfrecords(A.list_reid_images(root, "cuhk03"), out, num_shards=2, progress=False)
    ds = S.pk_batches(out, 4, 4, (64, 32), augment=Aug.augmentation_pipeline("reid", (64, 32), seed=0),
                      camera_aware=True, seed=0, batches_per_epoch=1)
    net = BaseNetwork("simple_cnn", embedding_dim=8, input_shape=(64, 32, 3))
    net.compile(optimizer="adam", loss=TripletSemiHardLoss())
    hist = net.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    print("JAX-FIT-OK")
    """
)


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("jax") is None, reason="jax not installed"
)
def test_pk_batches_fit_on_jax_backend(shared_data, tmp_path):
    root = shared_data("sample", "reid_cuhk03")
    script = tmp_path / "jax_fit.py"
    script.write_text(JAX_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, str(script), str(root), str(tmp_path / "tfr")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0 and "JAX-FIT-OK" in proc.stdout, proc.stderr[-3000:]
