"""The table of layouts: names, flags, aliases, and that every reader goes through it."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from embedding_net import data as D
from embedding_net.config.records import list_records
from embedding_net.config.schema import LAYOUTS as SCHEMA_LAYOUTS
from embedding_net.config.schema import DataConfig
from embedding_net.data.datasets import (
    LAYOUTS,
    Layout,
    find_layout,
    get_layout,
    is_shard_record,
    layout_names,
    list_layout_records,
    list_tfrecord_records,
    read_shard_images,
)
from tests.data.synthetic import label_from_pixels, write_image


def test_one_name_per_layout_in_config_order():
    assert layout_names() == SCHEMA_LAYOUTS
    assert all(isinstance(v, Layout) and v.name == k for k, v in LAYOUTS.items())
    aliases = [a for layout in LAYOUTS.values() for a in layout.aliases]
    assert aliases == ["triplets-csv"] and not set(aliases) & set(LAYOUTS)


def test_flags_select_the_layouts_the_cli_and_checks_use():
    assert layout_names(image_files=True, source="folder") == (
        "folders",
        "gtsrb",
        "cuhk03",
        "market",
        "duke",
        "mars",
        "lfw",
    )
    assert layout_names(image_files=True)[-1] == "triplets_csv"
    assert "tfrecord" not in layout_names(image_files=True)
    assert layout_names(given_split=True) == ("folders", "gtsrb", "tfrecord")
    assert layout_names(tracklets=True) == ("gtsrb", "mars")
    assert layout_names(cameras=True) == ("cuhk03", "market", "duke", "mars")
    assert layout_names(triplet_rows=True) == ("triplets_csv",)
    assert layout_names(pairs=True) == ("lfw",)
    assert layout_names(source="file") == ("triplets_csv",)
    with pytest.raises(ValueError, match="unknown attribute.*'camera'"):
        layout_names(camera=True)


def test_get_layout_alias_warns_and_unknown_lists_the_names():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_layout("mars") is LAYOUTS["mars"]
        assert get_layout(LAYOUTS["lfw"]) is LAYOUTS["lfw"]
        assert find_layout("triplets-csv") is LAYOUTS["triplets_csv"]
    with pytest.warns(DeprecationWarning, match="'triplets-csv' is deprecated: use 'triplets_csv'"):
        assert get_layout("triplets-csv") is LAYOUTS["triplets_csv"]
    with pytest.raises(ValueError, match=r"Unknown layout 'market1501'.*'folders'.*'tfrecord'"):
        get_layout("market1501")
    assert find_layout("Folders") is None and find_layout(None) is None


def test_registry_reads_like_the_family_functions(tmp_path, reid_folder, class_folders):
    assert list_layout_records("cuhk03", reid_folder).records == D.list_reid_images(
        reid_folder, naming="cuhk03"
    )
    listing = list_layout_records("folders", class_folders)
    assert listing.triplets is None and listing.records == D.list_class_folders(class_folders)
    csv = tmp_path / "t.csv"
    for i in range(3):
        write_image(tmp_path / f"{i}.png", i)
    csv.write_text("Anchor,Positive,Negative\n0.png,1.png,2.png\n")
    records, triplets = list_layout_records("triplets_csv", csv)
    assert len(triplets) == 1 and [r.label for r in records] == [0, 0, 1]


def test_config_accepts_the_deprecated_spelling(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"{i}.png", i)
    csv = tmp_path / "t.csv"
    csv.write_text("Anchor,Positive,Negative\n0.png,1.png,2.png\n")
    with pytest.warns(DeprecationWarning, match="triplets_csv"):
        records, triplets = list_records(DataConfig(root=str(csv), layout="triplets-csv"))
    assert len(records) == 3 and len(triplets) == 1


def test_tfrecord_layout_records_and_images(tmp_path, class_folders):
    out = tmp_path / "tfr"
    D.write_tfrecords(
        D.list_class_folders(class_folders), out, num_shards=2, split_by="given", progress=False
    )
    records = list_records(DataConfig(root=str(out), layout="tfrecord"))[0]
    assert records == list_tfrecord_records(out)
    assert len(records) == 20 and {r.metadata["split"] for r in records} == {"train", "val"}
    assert all(is_shard_record(r) for r in records)
    assert not is_shard_record(D.list_class_folders(class_folders)[0])
    picked = [records[5], records[0], records[-1]]
    images = read_shard_images(picked, (24, 16))
    assert images.shape == (3, 24, 16, 3) and images.dtype == np.uint8
    names = D.read_manifest(out)["label_names"]
    expected = [int(names[r.label].removeprefix("class")) for r in picked]
    assert label_from_pixels(images).tolist() == expected
    assert read_shard_images([], (8, 8)).shape == (0, 8, 8, 3)


def test_adapters_module_still_works_with_a_warning():
    adapters = importlib.import_module("embedding_net.data.adapters")
    for name in adapters.__all__:
        with pytest.warns(DeprecationWarning, match=f"adapters.{name} is deprecated"):
            value = getattr(adapters, name)
        assert value is getattr(D, name)
    with pytest.raises(AttributeError):
        adapters.no_such_name  # noqa: B018


def test_tfrecords_names_importable_from_the_package():
    from embedding_net.data import tfrecords as T

    for name in (
        "MANIFEST",
        "SPLIT_BY",
        "TFRecordIndex",
        "parse_example",
        "read_manifest",
        "read_tfrecords",
        "write_tfrecords",
        "existing_outputs",
        "_existing_outputs",
        "_split_records",
    ):
        assert hasattr(T, name), name
    for name in ("TFRecordIndex", "read_manifest", "read_tfrecords", "write_tfrecords"):
        assert getattr(D, name) is getattr(T, name)


def test_adding_a_dataset_is_a_module_and_a_table_line(tmp_path, monkeypatch):
    """The recipe of docs/data.md, "Adding a dataset"."""
    import re
    import sys
    import types
    from pathlib import Path

    from embedding_net.data.datasets import registry
    from embedding_net.data.datasets.base import ImageRecord, Listing, is_image, require_dir

    name = re.compile(r"^(.+)_(\d+)_(\d+)$")

    def listing(source: Path, people_file=None) -> Listing:
        root = require_dir(source, "data.root")
        records = []
        for path in sorted(p for p in root.iterdir() if is_image(p)):
            m = name.match(path.stem)
            if m:
                records.append(ImageRecord(str(path), m.group(1), {"camera": int(m.group(2))}))
        return Listing(records)

    module = types.ModuleType("embedding_net.data.datasets.my_faces")
    module.listing = listing
    monkeypatch.setitem(sys.modules, module.__name__, module)
    layout = Layout("my_faces", "my_faces", "my faces", cameras=True)
    monkeypatch.setitem(registry.LAYOUTS, "my_faces", layout)
    for person, cam, n in [("ann", 1, 0), ("ann", 2, 1), ("bob", 1, 0)]:
        write_image(tmp_path / f"{person}_{cam}_{n}.png", len(person))
    records, triplets = list_records(DataConfig(root=str(tmp_path), layout="my_faces"))
    assert triplets is None
    assert [(r.label, r.metadata["camera"]) for r in records] == [
        ("ann", 1),
        ("ann", 2),
        ("bob", 1),
    ]
    assert "my_faces" in layout_names(cameras=True, source="folder")


def test_tracklet_split_error_names_the_layouts_with_track_ids(class_folders):
    from embedding_net.config.records import split_records

    data = DataConfig(root=str(class_folders), layout="folders", split="tracklet")
    records, triplets = list_records(data)
    with pytest.raises(ValueError, match=r"needs track ids \(layouts gtsrb, mars\);"):
        split_records(records, triplets, data, seed=0)
