"""Synthetic class-folder images and one tiny trained run, shared by the config and CLI tests.

Each class is a solid colour with noise and a class-dependent bar, so a tiny network separates
the classes within a few steps. The trained run is cached per test process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = [
    (220, 30, 30),
    (30, 200, 30),
    (30, 30, 220),
    (220, 220, 30),
    (200, 30, 200),
    (30, 200, 200),
]


def class_image(label: int, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    image = np.empty((size, size, 3), np.float64)
    image[:] = COLOURS[label % len(COLOURS)]
    bar = (label * 3) % size
    image[bar : bar + 3, :, :] = 255 - image[bar : bar + 3, :, :]
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_class_folders(
    root: Path, n_classes: int = 6, per_split=(("train", 8), ("val", 3)), size: int = 16, seed=0
) -> Path:
    """``root/<split>/c<k>/<i>.png`` images; returns ``root``."""
    rng = np.random.default_rng(seed)
    for split, count in per_split:
        for label in range(n_classes):
            folder = root / split / f"c{label}" if split else root / f"c{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.fromarray(class_image(label, rng, size)).save(folder / f"{split}{i:02d}.png")
    return root


def tiny_config_dict(data_root: Path, output_dir: Path, **sections) -> dict:
    """A config training a 16x16 simple_cnn for 3 x 4 steps on :func:`write_class_folders` data."""
    config = {
        "name": "tiny",
        "seed": 0,
        "output_dir": str(output_dir),
        "data": {
            "layout": "folders",
            "root": str(data_root),
            "image_size": [16, 16],
            "split": "given",
        },
        "model": {"backbone": "simple_cnn", "embedding_dim": 16},
        "loss": {"name": "batch-hard-triplet", "params": {"margin": 0.2}},
        "sampler": {"kind": "pk", "P": 3, "K": 4, "steps_per_epoch": 4},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "training": {"epochs": 3, "verbose": 0},
        "validation": {"protocol": "classification"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


_CACHE: dict = {}


def trained_run(tmp_path_factory) -> Path:
    """Output folder of one tiny training run (trained once per test process)."""
    if "run" not in _CACHE:
        from embedding_net.config import parse_config
        from embedding_net.training import train

        base = tmp_path_factory.mktemp("tiny_run")
        data = write_class_folders(base / "data")
        config = parse_config(tiny_config_dict(data, base / "run"), "tiny.yaml")
        result = train(config)
        _CACHE["run"] = (result.output_dir, data)
    return _CACHE["run"]
