"""A TFRecord set is complete only when its manifest says so: readers refuse the rest by name."""

from __future__ import annotations

import json

import pytest

from embedding_net import data as A
from embedding_net.data import tfrecords as T
from embedding_net.data.tfrecords.manifest import TFRecordSetError, read_manifest, verify_split


@pytest.fixture
def written(tmp_path, reid_folder):
    out = tmp_path / "tfr"
    recs = A.list_reid_images(reid_folder, "cuhk03")
    T.write_tfrecords(recs, out, num_shards=2, val_fraction=0.25, progress=False)
    return out


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def test_manifest_lists_every_file_with_count_size_and_checksum(written):
    manifest = _manifest(written)
    assert manifest["format"] == "embedding_net.tfrecords/2"
    for entry in manifest["splits"].values():
        files = {f["name"]: f for f in entry["files"]}
        assert set(files) == {*entry["shards"], entry["index"]}
        assert sum(files[s]["records"] for s in entry["shards"]) == entry["num_images"]
        for name, info in files.items():
            assert info["bytes"] == (written / name).stat().st_size and len(info["sha256"]) == 64
    assert sorted(p.name for p in written.iterdir() if p.name.startswith(".")) == []
    verify_split(written, "train", checksums=True)


def test_shards_without_manifest_are_an_incomplete_set(written):
    (written / "manifest.json").unlink()
    for read in (
        lambda: T.read_tfrecords(written, (24, 16)),
        lambda: T.TFRecordIndex(written, "train"),
    ):
        with pytest.raises(TFRecordSetError, match=r"no manifest\.json .* incomplete"):
            read()


def test_truncated_shard_is_refused_by_name(written):
    shard = written / _manifest(written)["splits"]["train"]["shards"][0]
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(TFRecordSetError, match=rf"{shard.name} has \d+ bytes, .* records \d+"):
        T.read_tfrecords(written, (24, 16))
    T.read_tfrecords(written, (24, 16), split="val")  # the other split is intact


def test_damaged_shard_of_the_same_size_fails_its_checksum(written):
    shard = written / _manifest(written)["splits"]["train"]["shards"][1]
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(TFRecordSetError, match=rf"{shard.name}: its SHA-256 differs"):
        T.TFRecordIndex(written, "train")
    assert len(T.TFRecordIndex(written, "train", checksums=False)) > 0  # sizes only: passes


def test_missing_shard_and_truncated_index_are_refused(written):
    manifest = _manifest(written)
    index = written / manifest["splits"]["val"]["index"]
    index.write_bytes(index.read_bytes()[:50])
    with pytest.raises(TFRecordSetError, match=r"val-index\.npz has 50 bytes"):
        T.TFRecordIndex(written, "val")
    (written / manifest["splits"]["train"]["shards"][0]).unlink()
    with pytest.raises(TFRecordSetError, match=r"train-00000-of-00002\.tfrecord is missing"):
        T.read_tfrecords(written, (24, 16))


def test_record_counts_must_match_the_index(written):
    manifest = _manifest(written)
    manifest["splits"]["train"]["files"][0]["records"] += 1
    (written / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TFRecordSetError, match=r"train-00000-of-00002\.tfrecord: .* records"):
        T.TFRecordIndex(written, "train")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"splits": {\n  "train": [1, 2\n', r"manifest\.json: not valid JSON \(line 3"),
        ("[]", r"manifest\.json: the manifest must be a JSON object"),
        ('{"format": "embedding_net.tfrecords/9", "splits": {}}', r"format .*tfrecords/9"),
        ('{"format": "embedding_net.tfrecords/2"}', r"the key 'splits' is missing"),
        ('{"splits": {"train": {"shards": ["a"], "index": "i"}}}', r"splits\.train\.num_images"),
        (
            '{"splits": {"train": {"shards": "a", "index": "i", "num_images": 1}}}',
            r"splits\.train\.shards must be a list",
        ),
        (
            '{"format": "embedding_net.tfrecords/2", "splits": {"train": '
            '{"shards": ["a"], "index": "i", "num_images": 1}}}',
            r"splits\.train\.files must be a list",
        ),
    ],
)
def test_malformed_manifest_names_the_file_and_the_fault(written, text, message):
    (written / "manifest.json").write_text(text)
    with pytest.raises(TFRecordSetError, match=message):
        read_manifest(written)
    with pytest.raises(TFRecordSetError, match=message):
        T.read_tfrecords(written, (24, 16))


def test_truncated_manifest_is_refused(written):
    path = written / "manifest.json"
    path.write_text(path.read_text()[:200])
    with pytest.raises(TFRecordSetError, match=r"manifest\.json: not valid JSON \(line \d+"):
        T.TFRecordIndex(written, "train")


def test_format_1_manifests_without_checksums_are_still_read(written):
    manifest = _manifest(written)
    manifest["format"] = "embedding_net.tfrecords/1"
    for entry in manifest["splits"].values():
        del entry["files"]
    (written / "manifest.json").write_text(json.dumps(manifest))
    assert len(T.TFRecordIndex(written, "train")) == manifest["splits"]["train"]["num_images"]
    (written / manifest["splits"]["train"]["shards"][0]).unlink()
    with pytest.raises(TFRecordSetError, match="is missing"):
        T.TFRecordIndex(written, "train")


def test_overwrite_removes_the_manifest_first_and_leftover_temporaries(written, reid_folder):
    leftover = written / ".train-00000-of-00002.tfrecord.tmp-1-abcd.tfrecord"
    leftover.write_bytes(b"half a shard")
    assert leftover in T.existing_outputs(written)
    recs = A.list_reid_images(reid_folder, "cuhk03")
    with pytest.raises(FileExistsError):
        T.write_tfrecords(recs, written, progress=False)
    T.write_tfrecords(recs, written, num_shards=1, overwrite=True, progress=False)
    assert not leftover.exists()
    verify_split(written, "train", checksums=True)


def test_a_failing_writer_leaves_no_manifest_and_no_temporary(tmp_path, reid_folder, monkeypatch):
    from embedding_net.data.tfrecords import writer

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_example", fail)
    out = tmp_path / "o"
    with pytest.raises(OSError, match="disk full"):
        T.write_tfrecords(A.list_reid_images(reid_folder, "cuhk03"), out, progress=False)
    assert list(out.iterdir()) == []
