"""Image checking, conversion and decoding; bad input is converted or skipped, counted, named."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from embedding_net.data import images as I
from tests.data.synthetic import colour_of, label_from_pixels, write_image


@pytest.fixture
def bad_folder(tmp_path):
    """One file of each kind of bad input, plus two good ones."""
    d = tmp_path / "bad"
    d.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(d / "good.png")
    Image.fromarray(rgb).save(d / "good.jpg", quality=95)
    Image.fromarray(rgb[..., 0]).save(d / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((20, 12), 200, np.uint8)])).save(d / "rgba.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(d / "deep16.png")
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(rgb).save(d / "netpbm.ppm")
    (d / "rgb48.png").write_bytes(
        tf.io.encode_png(tf.constant(rgb.astype(np.uint16) * 257)).numpy()
    )
    jpeg = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (d / "corrupt.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    )
    (d / "text.jpg").write_text("this is not an image")
    (d / "empty.png").write_bytes(b"")
    return d, rgb


GOOD = [
    "good.png",
    "good.jpg",
    "grey.png",
    "rgba.png",
    "deep16.png",
    "cmyk.jpg",
    "netpbm.ppm",
    "rgb48.png",
]
BROKEN = ["truncated.jpg", "corrupt.png", "text.jpg", "empty.png", "missing.jpg"]


def test_check_images_classifies_and_warns(bad_folder, caplog):
    d, _ = bad_folder
    paths = [str(d / n) for n in GOOD + BROKEN]
    with caplog.at_level(logging.WARNING):
        check = I.check_images(paths)
    kinds = dict(zip(GOOD + BROKEN, check.kinds))
    assert [kinds[n] for n in BROKEN] == [I.BROKEN] * len(BROKEN)
    assert (
        kinds["good.png"] == kinds["good.jpg"] == kinds["grey.png"] == kinds["rgba.png"] == I.NATIVE
    )
    assert kinds["deep16.png"] == kinds["cmyk.jpg"] == kinds["netpbm.ppm"] == I.CONVERT
    assert check.kept.tolist() == list(range(len(GOOD)))
    assert f"{len(BROKEN)} of {len(paths)} image(s) skipped" in caplog.text
    for name in BROKEN:
        assert name in caplog.text


def test_to_rgb8_conversions(bad_folder):
    d, rgb = bad_folder
    assert np.array_equal(I.to_rgb8((d / "good.png").read_bytes()), rgb)
    grey = I.to_rgb8((d / "grey.png").read_bytes())
    assert grey.shape == (20, 12, 3) and np.array_equal(grey[..., 1], rgb[..., 0])
    deep = I.to_rgb8((d / "deep16.png").read_bytes())
    assert np.array_equal(deep[..., 2], rgb[..., 0])  # x * 257 scaled back by 255/65535
    assert np.array_equal(I.to_rgb8((d / "rgba.png").read_bytes()), rgb)
    assert np.array_equal(I.to_rgb8((d / "netpbm.ppm").read_bytes()), rgb)


def test_load_images_skips_and_converts(bad_folder, caplog):
    d, rgb = bad_folder
    paths = [
        str(d / n)
        for n in ["text.jpg", "good.png", "deep16.png", "missing.jpg", "grey.png", "rgba.png"]
    ]
    with caplog.at_level(logging.WARNING):
        out = I.load_images(paths, image_size=(20, 12))
    assert out.kept.tolist() == [1, 2, 4, 5]
    assert out.images.shape == (4, 20, 12, 3) and out.images.dtype == np.uint8
    assert np.array_equal(out.images[0], rgb)  # same size: decode only, exact
    assert np.array_equal(out.images[1][..., 0], rgb[..., 0])  # 16-bit -> 8-bit grey
    assert np.array_equal(out.images[2][..., 2], rgb[..., 0])
    assert np.array_equal(out.images[3], rgb)  # alpha dropped
    rgb48 = I.load_images([d / "rgb48.png", d / "cmyk.jpg"], image_size=(20, 12))
    assert np.array_equal(rgb48.images[0], rgb)  # 16-bit RGB PNG -> 8 bits
    assert np.abs(rgb48.images[1].astype(int) - rgb).mean() < 12  # CMYK JPEG -> RGB (lossy)
    assert "text.jpg" in caplog.text and "missing.jpg" in caplog.text


def test_load_images_resize_matches_reference(tmp_path):
    # bilinear resize of a flat image is flat; of a 2-colour image the halves keep their colours
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[:, 4:] = 200
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = I.load_images([tmp_path / "a.png"], image_size=(4, 4)).images[0]
    assert out.shape == (4, 4, 3)
    assert np.all(out[:, 0] == 0) and np.all(out[:, 3] == 200)


def test_load_images_empty_and_bad_size():
    out = I.load_images([], image_size=(5, 6))
    assert out.images.shape == (0, 5, 6, 3)
    with pytest.raises(ValueError, match="image_size"):
        I.load_images(["x.png"], image_size=(0, 5))
    with pytest.raises(ValueError, match="image_size"):
        I.load_images(["x.png"], image_size="big")


def test_image_dataset_labels_follow_pixels(tmp_path, bad_folder, caplog):
    paths, labels = [], []
    for label in ["zebra", "ant", "mole"]:
        for i in range(3):
            paths.append(
                str(
                    write_image(
                        tmp_path / label / f"{i}.png", {"ant": 0, "mole": 1, "zebra": 2}[label]
                    )
                )
            )
            labels.append(label)
    d, _ = bad_folder
    paths.append(str(d / "truncated.jpg"))
    labels.append("ant")
    with caplog.at_level(logging.WARNING):
        ds = I.image_dataset(paths, labels, (12, 8), batch_size=4, shuffle=True, seed=3)
        batches = list(ds)
    assert "truncated.jpg" in caplog.text
    images = np.concatenate([b[0].numpy() for b in batches])
    ys = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (9, 12, 8, 3) and images.dtype == np.uint8 and ys.dtype == np.int32
    np.testing.assert_array_equal(label_from_pixels(images), ys)  # sorted labels: ant, mole, zebra
    again = np.concatenate(
        [b[1].numpy() for b in I.image_dataset(paths, labels, (12, 8), 4, seed=3)]
    )
    np.testing.assert_array_equal(ys, again)


def test_image_dataset_argument_errors(tmp_path):
    p = str(write_image(tmp_path / "a.png", 0))
    with pytest.raises(ValueError, match="same length"):
        I.image_dataset([p], [0, 1], (4, 4))
    with pytest.raises(ValueError, match="batch_size"):
        I.image_dataset([p], [0], (4, 4), batch_size=0)
    (tmp_path / "b.png").write_text("no")
    with pytest.raises(ValueError, match="no readable image"):
        I.image_dataset([str(tmp_path / "b.png")], [0], (4, 4))


def test_colour_helper_is_invertible():
    imgs = np.stack([np.full((2, 2, 3), colour_of(c), np.uint8) for c in range(25)])
    assert label_from_pixels(imgs).tolist() == list(range(25))
