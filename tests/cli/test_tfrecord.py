"""``embedding-net tfrecord``: writes shards + manifest, refuses to overwrite (exit 2, path named)."""

from __future__ import annotations

import json

import pytest

from embedding_net.cli import main
from tests.data.synthetic import write_image


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / "in"
    for c in range(4):
        for i in range(3):
            write_image(root / f"id{c}" / f"{i}.png", c, green=i)
    (root / "id0" / "broken.png").write_text("not a png")
    return root


def test_writes_split_manifest(folders, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "tfrecord",
            str(folders),
            str(out),
            "--num-shards",
            "2",
            "--val-fraction",
            "0.25",
            "--no-progress",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["num_images"] == 12 and summary["skipped"] == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["splits"]["train"]["num_identities"] == 3
        and manifest["splits"]["val"]["num_identities"] == 1
    )
    assert str(folders / "id0" / "broken.png") in manifest["skipped"]
    assert len(list(out.glob("train-*.tfrecord"))) == 2


def test_refuses_overwrite_exit_2(folders, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tfrecord", str(folders), str(out), "--no-progress"]) == 0
    capsys.readouterr()
    before = (out / "manifest.json").read_text()
    assert main(["tfrecord", str(folders), str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err
    assert (out / "manifest.json").read_text() == before
    assert (
        main(
            [
                "tfrecord",
                str(folders),
                str(out),
                "--overwrite",
                "--no-progress",
                "--image-size",
                "8",
                "4",
            ]
        )
        == 0
    )
    assert json.loads((out / "manifest.json").read_text())["image_size"] == [8, 4]


def test_bad_input_exit_2(tmp_path, capsys):
    assert main(["tfrecord", str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert str(tmp_path / "missing") in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["tfrecord", str(tmp_path / "empty"), str(tmp_path / "o")]) == 2
    assert "no image" in capsys.readouterr().err
    assert (
        main(["tfrecord", str(tmp_path / "empty"), str(tmp_path / "o"), "--val-fraction", "1.5"])
        == 2
    )


def test_reid_layout(tmp_path, capsys):
    for pid in (1, 2):
        for cam in (1, 2):
            write_image(tmp_path / "m" / f"{pid:04d}_c{cam}s1_000100_00.jpg", pid)
    write_image(tmp_path / "m" / "-1_c1s1_000100_00.jpg", 0)
    assert (
        main(
            [
                "tfrecord",
                str(tmp_path / "m"),
                str(tmp_path / "o"),
                "--layout",
                "market",
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["num_identities"] == 2


def _triplets_csv(tmp_path):
    for i in range(4):
        write_image(tmp_path / "img" / f"{i}.png", i)
    csv = tmp_path / "img" / "triplets.csv"
    csv.write_text("Anchor,Positive,Negative\n0.png,1.png,2.png\n2.png,3.png,0.png\n")
    return csv


def test_triplets_csv_layout_and_its_deprecated_spelling(tmp_path, capsys):
    csv = _triplets_csv(tmp_path)
    argv = ["tfrecord", str(csv), str(tmp_path / "a"), "--no-progress", "--layout"]
    assert main([*argv, "triplets_csv"]) == 0
    captured = capsys.readouterr()
    assert "deprecated" not in captured.err
    assert json.loads(captured.out)["num_images"] == 4
    argv[2] = str(tmp_path / "b")
    assert main([*argv, "triplets-csv"]) == 0
    captured = capsys.readouterr()
    assert "--layout triplets-csv is deprecated, use --layout triplets_csv" in captured.err
    assert json.loads(captured.out)["num_images"] == 4
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert a["label_map"] == b["label_map"] and a["splits"] == b["splits"]


def test_layout_choices_come_from_the_registry(tmp_path, capsys):
    from embedding_net.cli import tfrecord
    from embedding_net.data.datasets import layout_names

    assert tfrecord.LAYOUTS == layout_names(image_files=True)
    with pytest.raises(SystemExit) as exc:
        main(["tfrecord", str(tmp_path), str(tmp_path / "o"), "--layout", "tfrecord"])
    assert exc.value.code == 2 and "invalid choice: 'tfrecord'" in capsys.readouterr().err
    csv = _triplets_csv(tmp_path)
    assert main(["tfrecord", str(csv), str(tmp_path / "o"), "--layout", "folders"]) == 2
    assert f"input {csv} is not a folder (layout 'folders')" in capsys.readouterr().err
