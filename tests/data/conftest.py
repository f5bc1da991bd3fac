"""Fixtures writing small synthetic image datasets into tmp_path (see tests/data/synthetic.py)."""

from __future__ import annotations

import pytest

from tests.data.synthetic import write_image


@pytest.fixture
def reid_folder(tmp_path):
    """CUHK03-style names ``{pid:04d}_c{cam}_{shot:02d}.png`` (PNG: lossless, so pixels can be
    checked exactly): 8 identities x (3 camera-1 + 2 camera-2 images); identity 7 has one image."""
    root = tmp_path / "reid"
    for pid in range(8):
        shots = [(1, 0)] if pid == 7 else [(1, 0), (1, 1), (1, 2), (2, 5), (2, 6)]
        for cam, shot in shots:
            write_image(root / f"{pid:04d}_c{cam}_{shot:02d}.png", pid, green=cam * 50 + shot)
    return root


@pytest.fixture
def class_folders(tmp_path):
    """``root/train/<cls>/*.png`` (4 classes x 4) + ``root/val/<cls>/*.png`` (2 classes x 2)."""
    root = tmp_path / "folders"
    for c in range(4):
        for i in range(4):
            write_image(root / "train" / f"class{c}" / f"{i}.png", c, green=i)
    for c in range(4, 6):
        for i in range(2):
            write_image(root / "val" / f"class{c}" / f"{i}.png", c, green=i)
    return root
