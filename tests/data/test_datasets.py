"""Dataset readers: class folders, re-id names, triplet CSVs, LFW pairs/people, GTSRB, label encoding."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from embedding_net import data as A
from tests.data.synthetic import write_image


def test_class_folders_flat_and_split(tmp_path, class_folders, caplog):
    (class_folders / "train" / "empty_class").mkdir()
    (class_folders / "train" / "class0" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        recs = A.list_class_folders(class_folders)
    assert len(recs) == 4 * 4 + 2 * 2
    assert {r.metadata["split"] for r in recs} == {"train", "val"}
    assert sorted({r.label for r in recs if r.metadata["split"] == "val"}) == ["class4", "class5"]
    assert "empty_class" in caplog.text and "notes.txt" in caplog.text
    flat = A.list_class_folders(class_folders / "train")
    assert len(flat) == 16 and all(r.metadata == {} for r in flat)


def test_class_folders_errors_name_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        A.list_class_folders(tmp_path / "nowhere")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="empty"):
        A.list_class_folders(tmp_path / "empty")


@pytest.mark.parametrize(
    ("name", "naming", "expected"),
    [
        (
            "0001_c1s1_000151_00.jpg",
            "market",
            {"pid": 1, "camera": 1, "sequence": 1, "frame": 151, "box": 0},
        ),
        (
            "-1_c3s2_012345_03.jpg",
            "market",
            {"pid": -1, "camera": 3, "sequence": 2, "frame": 12345, "box": 3},
        ),
        ("0005_c2_07.jpg", "cuhk03", {"pid": 5, "camera": 2, "shot": 7}),
        (
            "bbox_train/0001/0001C1T0001F001.jpg",
            "mars",
            {"pid": 1, "camera": 1, "tracklet": 1, "frame": 1},
        ),
        ("0023C6T0117F245.jpg", "mars", {"pid": 23, "camera": 6, "tracklet": 117, "frame": 245}),
        ("0005_c2_07.jpg", "market", None),
    ],
)
def test_parse_reid_name(name, naming, expected):
    assert A.parse_reid_name(name, naming) == expected


def test_reid_market_junk_and_distractors(tmp_path, caplog):
    root = tmp_path / "market"
    for name in [
        "0001_c1s1_000151_00",
        "0001_c2s1_000301_00",
        "0000_c1s1_000001_00",
        "-1_c1s1_000002_00",
        "oops",
    ]:
        write_image(root / f"{name}.jpg", 1)
    with caplog.at_level(logging.WARNING):
        recs = A.list_reid_images(root, "market")
    assert [r.label for r in recs] == [1, 1]
    assert [r.metadata["camera"] for r in recs] == [1, 2]
    assert "oops.jpg" in caplog.text
    assert len(A.list_reid_images(root, "market", keep_junk=True, keep_distractors=True)) == 4
    with pytest.raises(ValueError, match="naming"):
        A.list_reid_images(root, "viper")


def test_reid_mars_recursive(tmp_path):
    for name in ["0001C1T0001F001", "0001C1T0001F002", "0001C2T0003F001"]:
        write_image(tmp_path / "bbox_train" / "0001" / f"{name}.jpg", 1)
    recs = A.list_reid_images(tmp_path / "bbox_train", "mars")
    assert [(r.metadata["camera"], r.metadata["tracklet"], r.metadata["frame"]) for r in recs] == [
        (1, 1, 1),
        (1, 1, 2),
        (2, 3, 1),
    ]


@pytest.mark.data
def test_reid_cuhk03_sample(shared_data):
    root = shared_data("sample", "reid_cuhk03")
    recs = A.list_reid_images(root, "cuhk03")
    import csv

    with open(root / "labels.csv") as f:
        rows = {r["path"]: (int(r["pid"]), int(r["camid"])) for r in csv.DictReader(f)}
    assert len(recs) == len(rows) == 317
    for r in recs:
        from pathlib import Path

        assert rows[Path(r.path).name] == (r.label, r.metadata["camera"])


def test_triplets_csv_missing_files(tmp_path, caplog):
    for i in range(3):
        write_image(tmp_path / "img" / f"{i}.png", i)
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(
        "Anchor,Positive,Negative\nimg/0.png,img/1.png,img/2.png\nimg/0.png,img/9.png,img/2.png\n"
    )
    with caplog.at_level(logging.WARNING):
        rows = A.read_triplets_csv(csv_path)
    assert len(rows) == 1 and rows.anchors[0].endswith("img/0.png")
    assert "9.png" in caplog.text and "1 row(s)" in caplog.text
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\n")
    with pytest.raises(ValueError, match="Anchor,Positive,Negative"):
        A.read_triplets_csv(bad)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        A.read_triplets_csv(tmp_path / "nope.csv")


def test_triplet_records_to_images_groups_identities():
    rows = A.TripletRecords(["a1", "a2"], ["a2", "a3"], ["b1", "c1"])
    recs = {r.path: r.label for r in A.triplet_records_to_images(rows)}
    assert recs["a1"] == recs["a2"] == recs["a3"]
    assert len({recs["a1"], recs["b1"], recs["c1"]}) == 3


def _lfw_people(root, names_counts):
    for name, count in names_counts:
        for n in range(1, count + 1):
            write_image(root / name / f"{name}_{n:04d}.jpg", 1)


def test_lfw_pairs_view2_folds(tmp_path):
    _lfw_people(tmp_path, [("Ann", 3), ("Bob", 2), ("Cid", 1)])
    text = "2\t1\nAnn\t1\t2\nAnn\t1\tBob\t1\nBob\t1\t2\nCid\t1\tAnn\t3\n"
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(text)
    p = A.read_lfw_pairs(pairs_file, tmp_path)
    assert p.is_same.tolist() == [True, False, True, False]
    assert p.folds.tolist() == [0, 0, 1, 1]
    assert p.paths1[1].endswith("Ann/Ann_0001.jpg") and p.paths2[1].endswith("Bob/Bob_0001.jpg")
    assert p.is_same.dtype == bool


def test_lfw_pairs_errors_and_missing(tmp_path, caplog):
    _lfw_people(tmp_path, [("Ann", 2)])
    f = tmp_path / "p.txt"
    f.write_text("1\nAnn\t1\t2\nAnn\t1\tBob\t1\n")
    with caplog.at_level(logging.WARNING):
        p = A.read_lfw_pairs(f, tmp_path)
    assert len(p.paths1) == 1 and "Bob_0001.jpg" in caplog.text
    with pytest.raises(FileNotFoundError, match="Bob_0001"):
        A.read_lfw_pairs(f, tmp_path, skip_missing=False)
    f.write_text("1\nAnn\t1\nAnn\t1\tBob\t1\n")
    with pytest.raises(ValueError, match="line 2"):
        A.read_lfw_pairs(f, tmp_path)
    f.write_text("2\t1\nAnn\t1\t2\n")
    with pytest.raises(ValueError, match="4 lines"):
        A.read_lfw_pairs(f, tmp_path)


def test_lfw_people_view1_and_view2(tmp_path):
    v1 = tmp_path / "peopleDevTrain.txt"
    v1.write_text("2\nAnn\t3\nBob\t1\n")
    p = A.read_lfw_people(v1)
    assert p.names == ["Ann", "Bob"] and p.counts.tolist() == [3, 1] and p.folds.tolist() == [0, 0]
    v2 = tmp_path / "people.txt"
    v2.write_text("2\n1\nAnn\t3\n2\nBob\t1\nCid\t2\n")
    p = A.read_lfw_people(v2)
    assert p.names == ["Ann", "Bob", "Cid"] and p.folds.tolist() == [0, 1, 1]
    v2.write_text("2\n1\nAnn\t3\n")
    with pytest.raises(ValueError, match="count"):
        A.read_lfw_people(v2)


@pytest.mark.data
def test_lfw_sample_and_protocol_files(shared_data):
    root = shared_data("sample", "faces_lfw")
    p = A.read_lfw_pairs(root / "pairs_sample.txt", root)
    assert len(p.paths1) == 200 and p.is_same.sum() == 100 and set(p.folds.tolist()) == {0}
    proto = root / "protocol"
    # the official files (images mostly absent from the sample): parse without the files check
    view2 = A.read_lfw_pairs(proto / "pairs.txt", root / "nowhere", skip_missing=True)
    assert len(view2.paths1) == 0  # all missing, none kept, no crash
    lines = (proto / "pairs.txt").read_text().split("\n")
    assert lines[0].split() == ["10", "300"]
    people = A.read_lfw_people(proto / "people.txt")
    assert len(set(people.folds.tolist())) == 10 and people.counts.sum() == 13233
    dev = A.read_lfw_people(proto / "peopleDevTrain.txt")
    assert len(dev.names) == 4038
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt"):
        header = int((proto / name).read_text().split()[0])
        # every line parses: count matched/mismatched through the raw parser
        parsed = A.read_lfw_pairs(proto / name, root, skip_missing=True)
        assert len(parsed.paths1) <= 2 * header
    # the sample people are View-1 training people with >= 10 images
    names = {r.label for r in A.list_lfw_people(root)}
    assert len(names) == 20 and names <= set(dev.names)


def test_lfw_view2_all_folds_counted(tmp_path):
    # a View-2-shaped file built from 3 people: 10 folds x (1 matched + 1 mismatched)
    _lfw_people(tmp_path, [("Ann", 2), ("Bob", 1)])
    body = "".join("Ann\t1\t2\nAnn\t2\tBob\t1\n" for _ in range(10))
    f = tmp_path / "pairs.txt"
    f.write_text("10\t1\n" + body)
    p = A.read_lfw_pairs(f, tmp_path)
    assert np.bincount(p.folds).tolist() == [2] * 10
    assert p.is_same.sum() == 10


@pytest.mark.data
def test_gtsrb_sample(shared_data):
    root = shared_data("sample", "traffic_signs_gtsrb")
    recs = A.list_gtsrb(root)
    assert len(recs) == 688 + 172
    train = A.list_gtsrb(root, split="train")
    val = A.list_gtsrb(root, split="val")
    assert len(train) == 688 and len(val) == 172
    tracks = lambda rs: {(r.label, r.metadata["tracklet"]) for r in rs}  # noqa: E731
    assert not tracks(train) & tracks(val)
    assert sorted({r.label for r in train}) == list(range(43))


def test_gtsrb_without_labels_csv(tmp_path):
    write_image(tmp_path / "train" / "03" / "00012_00004.png", 3)
    recs = A.list_gtsrb(tmp_path)
    assert (
        recs[0].label == 3 and recs[0].metadata["tracklet"] == 12 and recs[0].metadata["index"] == 4
    )


def test_encode_labels():
    ids, label_map = A.encode_labels(["b", "a", "b", "c"])
    assert ids.dtype == np.int32 and ids.tolist() == [1, 0, 1, 2]
    assert label_map == {"a": 0, "b": 1, "c": 2}
    ids2, _ = A.encode_labels(["c"], label_map)
    assert ids2.tolist() == [2]
    with pytest.raises(ValueError, match="label_map"):
        A.encode_labels(["z"], label_map)
    empty, m = A.encode_labels([])
    assert empty.shape == (0,) and m == {}
