"""Kill a real ``embedding-net tfrecord`` at seeded-random moments of its writing.

After every kill the reader refuses the incomplete set with a clear error naming the folder
(no manifest: the writer was stopped), never reads it as valid; writing again without
``--overwrite`` is refused with exit code 2, and ``--overwrite`` gives a complete set whose
files match the manifest's sizes, counts and checksums.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from embedding_net.atomic import leftover_temporaries
from embedding_net.data.tfrecords import TFRecordSetError, read_tfrecords, verify_split
from tests.kill_harness import FaultCounts, classify, hidden_temporaries, run_child


def _folders(root, n_classes=8, per_class=40, seed=0):
    rng = np.random.default_rng(seed)
    for c in range(n_classes):
        (root / f"id{c}").mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / f"id{c}" / f"{i:03d}.png")
    return root


def _check_refused(out, counts: FaultCounts, name: str) -> None:
    """After a kill: a complete set verifies; anything else is refused, naming ``out``."""
    if (out / "manifest.json").is_file():
        for split in ("train", "val"):
            verify_split(out, split, checksums=True)
        counts.notes.append(f"{name}: killed after the manifest, set complete")
        return
    try:
        read_tfrecords(out, (8, 8), split="train")
    except TFRecordSetError as error:
        assert str(out) in str(error) and "incomplete" in str(error)
        counts.clear_errors += 1
        counts.notes.append(f"{name}: reader refused ({str(error)[len(str(out)) :][:60]}...)")
    except FileNotFoundError:
        counts.clear_errors += 1
        counts.notes.append(f"{name}: nothing written yet")
    else:
        counts.lost += 1
        counts.notes.append(f"{name}: an incomplete set was read as valid")


@pytest.mark.slow
def test_killed_tfrecord_writer_leaves_a_set_the_reader_refuses(tmp_path):
    source = _folders(tmp_path / "in")
    out = tmp_path / "out"
    command = ["tfrecord", str(source), str(out), "--val-fraction", "0.25", "--num-shards", "3"]
    command += ["--image-size", "48", "48", "--num-workers", "1", "--no-progress"]
    rng = np.random.default_rng(2828)

    def writing_shards():
        return bool(hidden_temporaries(out, ".tfrecord"))

    def before_manifest():
        return any(out.glob("train-*.tfrecord")) and not (out / "manifest.json").exists()

    plan = [
        ("writing shards", writing_shards, float(rng.uniform(0.0, 0.05))),
        ("train shards done, no manifest", before_manifest, 0.0),
        ("anywhere", lambda: True, float(rng.uniform(2.0, 10.0))),
    ]
    counts = FaultCounts()
    refused_without_overwrite = False
    for name, trigger, delay in plan:
        outcome = run_child(command + ["--overwrite"], trigger=trigger, delay=delay)
        kind = classify(outcome, counts, name)
        if kind == "killed":
            _check_refused(out, counts, name)
        if kind == "killed" and not refused_without_overwrite and any(out.iterdir()):
            again = run_child(command)
            assert classify(again, counts, "again without --overwrite") == "clear", str(counts)
            assert "--overwrite" in again.stderr, str(counts)
            refused_without_overwrite = True
    final = run_child(command + ["--overwrite"])
    assert classify(final, counts, "final run") == "ok", str(counts)
    for split in ("train", "val"):
        manifest = verify_split(out, split, checksums=True)
    images = sum(1 for _ in read_tfrecords(out, (8, 8), batch_size=1, shuffle=False))
    assert images == manifest["splits"]["train"]["num_images"], str(counts)
    assert manifest["num_images"] == 320 and leftover_temporaries(out) == [], str(counts)
    assert counts.cases >= 2 and counts.crashes == 0 and counts.lost == 0, str(counts)
    print(counts)
