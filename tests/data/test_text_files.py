"""Malformed text inputs end in an error naming the file, the line and what was expected;
BOM, CRLF and trailing spaces parse exactly like the plain file."""

from __future__ import annotations

import logging

import pytest

from embedding_net.data import ParseError, read_class_names
from embedding_net.data.datasets import gtsrb, lfw, triplets_csv
from embedding_net.data.text_files import (
    csv_rows,
    read_json,
    read_text,
    read_yaml,
    split_lines,
    text_lines,
)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _people(root, names_counts):
    for name, count in names_counts:
        for n in range(1, count + 1):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{name}_{n:04d}.jpg").write_bytes(b"")


PAIRS = b"1\nAnn\t1\t2\nAnn\t1\tBob\t1\n"


def test_binary_and_non_utf8_files_are_refused_by_name(tmp_path):
    binary = _write(tmp_path, "pairs.bin", b"1\nAnn 1 2\n\x00\x9d\xff")
    with pytest.raises(ParseError, match=r"pairs\.bin, line 3: .*NUL byte") as info:
        lfw.read_lfw_pairs(binary, tmp_path)
    assert info.value.line == 3 and info.value.path == str(binary)
    latin = _write(tmp_path, "pairs.txt", "1\nAnn 1 2\nJos\u00e9 1 Ann 2\n".encode("latin-1"))
    with pytest.raises(
        ParseError, match=r"pairs\.txt, line 3: expected UTF-8 text, found byte 0xe9"
    ):
        lfw.read_lfw_pairs(latin, tmp_path)
    cp1252 = _write(tmp_path, "names.csv", b"class_id,name\n0,\x93Stop\x94\n")
    with pytest.raises(ParseError, match=r"names\.csv, line 2: .*0x93"):
        read_class_names(cp1252)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_text(tmp_path / "nope.txt", "what")


def test_lines_split_on_every_line_end_and_drop_the_bom(tmp_path):
    assert split_lines("a\r\nb\rc\n\nd") == ["a", "b", "c", "", "d"]
    assert split_lines("") == [] and split_lines("\n") == [""]
    path = _write(tmp_path, "x.txt", b"\xef\xbb\xbfa\r\n\r\n  \nb\n")
    assert text_lines(path) == [(1, "a"), (4, "b")]


def test_lfw_pairs_absolute_paths_name_the_line(tmp_path):
    f = _write(tmp_path, "pairs.txt", b"1\n/data/lfw/Ann 1 2\nAnn 1 Bob 1\n")
    with pytest.raises(
        ParseError, match=r"pairs\.txt, line 2: expected a person name .*'/data/lfw/Ann'"
    ):
        lfw.read_lfw_pairs(f, tmp_path)
    f.write_bytes(b"1\n/lfw/Ann/Ann_0001.jpg /lfw/Ann/Ann_0002.jpg\nAnn 1 Bob 1\n")
    with pytest.raises(ParseError, match=r"line 2: expected a matched pair 'Name n1 n2'"):
        lfw.read_lfw_pairs(f, tmp_path)


@pytest.mark.parametrize(
    "text, line, expected",
    [
        (b"1\nAnn -1 2\nAnn 1 Bob 1\n", 2, "an image number"),
        (b"1\nAnn 1 2.5\nAnn 1 Bob 1\n", 2, "an image number"),
        (b"1\nAnn 1 2\nAnn 1 Bob x\n", 3, "an image number"),
        (b"1\nAnn 1 2\nAnn 1 Bob\n", 3, "a mismatched pair"),
        (b"x\nAnn 1 2\nAnn 1 Bob 1\n", 1, "an LFW pairs header count"),
        (b"0\n", 1, "an LFW pairs header count"),
        (b"1 2 3\nAnn 1 2\n", 1, "'N' or 'folds N'"),
        (b"\n\n1\n\nAnn 1 2\n\nAnn 1 Bob 1 extra\n", 7, "a mismatched pair"),
    ],
)
def test_lfw_pairs_malformed_lines(tmp_path, text, line, expected):
    f = _write(tmp_path, "pairs.txt", text)
    with pytest.raises(ParseError, match=rf"pairs\.txt, line {line}: expected {expected}"):
        lfw.read_lfw_pairs(f, tmp_path)


def test_lfw_pairs_empty_file_and_line_count(tmp_path):
    f = _write(tmp_path, "pairs.txt", b"\n  \n")
    with pytest.raises(ParseError, match="pairs.txt: expected an LFW pairs file, got an empty"):
        lfw.read_lfw_pairs(f, tmp_path)
    f.write_bytes(b"2\nAnn 1 2\n")
    with pytest.raises(ParseError, match=r"line 1: header says 1 fold\(s\) x 2 x 2 pairs = 4"):
        lfw.read_lfw_pairs(f, tmp_path)


def test_lfw_pairs_bom_crlf_and_trailing_spaces_parse_identically(tmp_path, caplog):
    _people(tmp_path, [("Ann", 2), ("Bob", 1)])
    plain = lfw.read_lfw_pairs(_write(tmp_path, "a.txt", PAIRS), tmp_path)
    variant = b"\xef\xbb\xbf" + PAIRS.replace(b"\n", b"  \t\r\n")
    other = lfw.read_lfw_pairs(_write(tmp_path, "b.txt", variant), tmp_path)
    assert plain.paths1 == other.paths1 and plain.paths2 == other.paths2
    assert plain.is_same.tolist() == other.is_same.tolist() == [True, False]


@pytest.mark.parametrize(
    "text, line, expected",
    [
        (b"2\nAnn x\nBob 1\n", 2, "an image count"),
        (b"2\nAnn 3\n/abs/Bob 1\n", 3, "a person name"),
        (b"-2\nAnn 3\n", 1, "a count"),
        (b"1\nAnn 3\nBob 1\n", 3, "the end of the file"),
        (b"2\n1\nAnn 3\n", 4, "a count, got the file's end"),
        (b"2\nAnn 3 4\nBob 1\n", 2, "'Name n'"),
    ],
)
def test_lfw_people_malformed_lines(tmp_path, text, line, expected):
    f = _write(tmp_path, "people.txt", text)
    with pytest.raises(ParseError, match=rf"people\.txt, line {line}: expected {expected}"):
        lfw.read_lfw_people(f)


def test_triplets_csv_malformed_rows(tmp_path, caplog):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(b"")
    f = _write(
        tmp_path, "t.csv", b"\xef\xbb\xbfanchor , Positive,NEGATIVE\r\n0.png, 1.png ,2.png\r\n"
    )
    rows = triplets_csv.read_triplets_csv(f)  # BOM, CRLF, spaces, any case
    assert rows.anchors == [str(tmp_path / "0.png")] and rows.negatives == [str(tmp_path / "2.png")]
    cases = [
        (b"Anchor,Positive,Negative\n0.png,1.png\n", "line 2: expected 3 comma-separated fields"),
        (b"Anchor,Positive,Negative\n0.png,1.png,2.png,3.png\n", "line 2: expected 3 comma"),
        (
            b"Anchor,Positive,Negative\n0.png,,2.png\n",
            "line 2: expected an image path in column Pos",
        ),
        (b'Anchor,Positive,Negative\n"0.png,1.png,2.png\n', "line 2: expected 3 comma"),
        (b"Anchor,Positive,Negative\n" + b"a" * 200_000 + b",b,c\n", "line 2: not valid CSV"),
        (b"Anchor,Anchor,Positive,Negative\n", "line 1: expected distinct column names"),
        (b"", "expected a CSV header row"),
    ]
    for data, message in cases:
        f.write_bytes(data)
        with pytest.raises(ParseError, match=message) as info:
            triplets_csv.read_triplets_csv(f)
        assert str(f) in str(info.value)


def test_triplets_csv_long_names_are_missing_files_not_crashes(tmp_path, caplog):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(b"")
    long = "x" * 5000
    f = _write(
        tmp_path,
        "t.csv",
        f"A,P,N,Anchor,Positive,Negative\n,,,0.png,1.png,2.png\n,,,0.png,{long},2.png\n".encode(),
    )
    with caplog.at_level(logging.WARNING):
        rows = triplets_csv.read_triplets_csv(f)
    assert len(rows) == 1 and "1 row(s) skipped" in caplog.text


def test_gtsrb_labels_csv_malformed_rows(tmp_path):
    (tmp_path / "train" / "00").mkdir(parents=True)
    (tmp_path / "train" / "00" / "00000_00000.png").write_bytes(b"")
    header = b"path,class_id,track_id\n"
    labels = tmp_path / "labels.csv"
    labels.write_bytes(header + b"train/00/00000_00000.png, 0 ,0\r\n")
    assert [r.label for r in gtsrb.list_gtsrb(tmp_path)] == [0]
    for row, message in [
        (b"train/00/00000_00000.png,-1,0\n", "line 2: expected a non-negative integer class_id"),
        (b"train/00/00000_00000.png,0,x\n", "line 2: expected a non-negative integer track_id"),
        (b"train/00/00000_00000.png,0\n", "line 2: expected 3 comma-separated fields"),
        (b",0,0\n", "line 2: expected an image path in column path"),
    ]:
        labels.write_bytes(header + row)
        with pytest.raises(ParseError, match=message):
            gtsrb.list_gtsrb(tmp_path)


def test_read_class_names(tmp_path):
    f = _write(tmp_path, "class_names.csv", b'class_id,name\n0, Stop \n1,"Yield, then go"\n')
    assert read_class_names(f) == {"0": "Stop", "1": "Yield, then go"}
    for data, message in [
        (b"class_id\n0\n", "line 1: expected a header 'label,name'"),
        (b"\n\nclass_id\n0\n", "line 3: expected a header 'label,name"),
        (b"class_id,name\n", "expected rows 'label,name'"),
        (b"class_id,name\n0,a\n0,b\n", r"line 3: expected a label not given before \(line 2\)"),
        (b"class_id,name\n,a\n", "line 2: expected a label in the first column"),
        (b"class_id,name\n0,a,b\n", "line 2: expected 2 comma-separated fields"),
    ]:
        f.write_bytes(data)
        with pytest.raises(ParseError, match=message):
            read_class_names(f)


def test_csv_rows_line_numbers_follow_quoted_newlines(tmp_path):
    f = _write(tmp_path, "x.csv", b'a,b\n\n1,"two\nlines"\n3,4\n')
    header, rows = csv_rows(f)
    assert header == ["a", "b"] and [line for line, _ in rows] == [3, 5]


def test_read_yaml_names_line_and_column(tmp_path):
    f = _write(tmp_path, "run.yaml", b"data:\n  root: x\n  image_size: [32\nmodel: {}\n")
    with pytest.raises(ParseError, match=r"run\.yaml, line 4: column 6: not valid YAML: .*line 3"):
        read_yaml(f)
    f.write_bytes(b"data:\n  root: a\n  root: b\n")
    with pytest.raises(ParseError, match=r"line 3: .*key 'root' a second time \(first on line 2\)"):
        read_yaml(f)
    f.write_bytes(b"a: 1\nb: \x07\n")
    with pytest.raises(ParseError, match=r"line 2: column 4: not valid YAML"):
        read_yaml(f)
    f.write_bytes(b"[" * 3000)
    with pytest.raises(ParseError, match="run.yaml"):
        read_yaml(f)
    f.write_bytes(b"base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n")
    assert read_yaml(f) == {"base": {"x": 1, "y": 2}, "d": {"x": 3, "y": 2}}
    f.write_bytes(b"")
    assert read_yaml(f) is None


def test_read_json_names_line_and_column(tmp_path):
    f = _write(tmp_path, "manifest.json", b'\xef\xbb\xbf{\r\n "a": 1,\r\n "b": [1, 2]\r\n}\r\n')
    assert read_json(f) == {"a": 1, "b": [1, 2]}
    f.write_bytes(b'{\n "a": 1,\n "b": [1, 2\n}\n')
    with pytest.raises(ParseError, match=r"manifest\.json, line 4: column 1: not valid JSON"):
        read_json(f)
    f.write_bytes(b'{"a": 1, "a": 2}')
    with pytest.raises(ParseError, match="key 'a' given twice"):
        read_json(f)
    f.write_bytes(b"[" * 100_000)
    with pytest.raises(ParseError, match="manifest.json"):
        read_json(f)
