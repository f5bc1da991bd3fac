"""Small synthetic image sets for model tests (no data files needed)."""

from __future__ import annotations

import numpy as np


def class_images(num_classes=4, per_class=16, size=16, channels=3, noise=25.0, seed=0):
    """uint8 images ``(n, size, size, channels)``: one random template per class plus noise."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, (num_classes, size, size, channels))
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
    images = templates[labels] + rng.normal(0, noise, (len(labels), size, size, channels))
    order = rng.permutation(len(labels))
    return np.clip(images, 0, 255).astype(np.uint8)[order], labels[order]


def make_pairs(images, labels, seed=0):
    """Balanced pairs: for each image one same-class and one different-class partner."""
    rng = np.random.default_rng(seed)
    first, second, same = [], [], []
    for i, label in enumerate(labels):
        pos = rng.choice(np.flatnonzero(labels == label))
        neg = rng.choice(np.flatnonzero(labels != label))
        first += [i, i]
        second += [pos, neg]
        same += [1, 0]
    first, second = np.array(first), np.array(second)
    return images[first], images[second], np.array(same, dtype=np.float32)


def make_triplets(images, labels, seed=0):
    rng = np.random.default_rng(seed)
    pos = [rng.choice(np.flatnonzero(labels == label)) for label in labels]
    neg = [rng.choice(np.flatnonzero(labels != label)) for label in labels]
    return images, images[pos], images[neg]


def edit_saved_config(path, edit):
    """Rewrite the ``config.json`` of a ``.keras`` file: ``edit(config)`` changes the dict in
    place (to make a file as an older version, or another environment, would have written)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    edit(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
