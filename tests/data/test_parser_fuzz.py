"""Fuzz every text parser with seeded random and mutated inputs.

Each case must either parse cleanly (and keep every data line: parsed + reported-skipped =
lines in the file) or raise the library's clear error: a ``ValueError`` / ``FileNotFoundError``
whose message names the file and, for a :class:`ParseError` of one line, that line. Any
other exception, or a message without the file name, is a crash. The counts per parser are
printed (``-s`` or not) and checked.
"""

from __future__ import annotations

import csv
import io
import logging
import random
import re
import string
from collections import Counter
from pathlib import Path

import pytest

from embedding_net.config import config_to_dict, load_config
from embedding_net.data.datasets import gtsrb, lfw, triplets_csv
from embedding_net.data.labels import read_class_names
from embedding_net.data.text_files import ParseError, read_json

CASES = 250  # per parser: 25 random byte strings, 35 random line sets, the rest mutations
SEED = 20261206
PRINTABLE = string.ascii_letters + string.digits + " \t,;:-_./\\\"'#[]{}!?\u00e9\u4e2d"

PAIRS = "2\t2\n" + "".join(
    f"P{f}a\t1\t2\nP{f}b\t2\t3\nP{f}a\t1\tP{f}b\t2\nP{f}b\t3\tP{f}a\t4\n" for f in range(2)
)
PEOPLE = "2\n2\nAnn\t3\nBob\t1\n1\nCid\t2\n"
TRIPLETS = "Anchor,Positive,Negative\n" + "".join(
    f"img/{i}.png,img/{i + 1}.png,img/{i + 2}.png\n" for i in range(6)
)
LABELS = "path,class_id,track_id\n" + "".join(
    f"train/{c:02d}/{t:05d}_{i:05d}.png,{c},{t}\n"
    for c in range(3)
    for t in range(2)
    for i in (0, 1)
)
CLASS_NAMES = 'class_id,name\n0,Speed limit (20km/h)\n1,"Stop, then go"\n2,Yield\n'
YAML = """name: fuzz
seed: 0
data:
  layout: folders
  root: ${config_dir}/images
  image_size: [32, 32]
  split: identity
model:
  backbone: simple_cnn
  embedding_dim: 16
training:
  epochs: 1
"""
JSON = '{\n "format": 1,\n "splits": {"train": {"shards": 2, "images": 40}},\n "labels": [0, 1, 2]\n}\n'


def _csv_records(text: str) -> int:
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    return sum(1 for row in rows if any(f.strip() for f in row)) - 1


def _skipped(log: str, pattern: str) -> int:
    return sum(int(m) for m in re.findall(pattern, log))


def _pairs(path: Path, root: Path, log) -> int:
    got = lfw.read_lfw_pairs(path, root)
    body = sum(1 for line in _lines(path) if line.strip()) - 1
    return body - len(got.paths1) - _skipped(log(), r"(\d+) of \d+ pair\(s\) skipped")


def _people(path: Path, root: Path, log) -> int:
    got = lfw.read_lfw_people(path)
    return sum(1 for line in _lines(path) if len(line.split()) == 2) - len(got.names)


def _triplets(path: Path, root: Path, log) -> int:
    got = triplets_csv.read_triplets_csv(path)
    skipped = _skipped(log(), r"(\d+) row\(s\) skipped")
    return _csv_records(path.read_text("utf-8")) - len(got) - skipped


def _gtsrb(path: Path, root: Path, log) -> int:
    got = gtsrb.list_gtsrb(path.parent)
    skipped = _skipped(log(), r"(\d+) listed file\(s\) do not exist")
    return _csv_records(path.read_text("utf-8")) - len(got) - skipped


def _class_names(path: Path, root: Path, log) -> int:
    got = read_class_names(path)
    return _csv_records(path.read_text("utf-8")) - len(got)


def _yaml(path: Path, root: Path, log) -> int:
    import yaml

    config = config_to_dict(load_config(path))
    written = yaml.safe_load(path.read_text("utf-8")) or {}
    return sum(1 for key in written if key not in config)


def _json(path: Path, root: Path, log) -> int:
    import json

    got = read_json(path)
    return 0 if got == json.loads(path.read_text("utf-8").lstrip("\ufeff")) else 1


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _touch(root: Path, names) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def _setup_pairs(tmp: Path) -> Path:
    _touch(
        tmp, [f"P{f}{x}/P{f}{x}_{n:04d}.jpg" for f in range(2) for x in "ab" for n in (1, 2, 3, 4)]
    )
    return tmp / "pairs.txt"


def _setup_triplets(tmp: Path) -> Path:
    _touch(tmp, [f"img/{i}.png" for i in range(8)])
    return tmp / "triplets.csv"


def _setup_gtsrb(tmp: Path) -> Path:
    _touch(tmp, [line.split(",")[0] for line in LABELS.splitlines()[1:]])
    return tmp / "labels.csv"


PARSERS = {
    "lfw_pairs": (PAIRS, r"\s+", _pairs, _setup_pairs),
    "lfw_people": (PEOPLE, r"\s+", _people, lambda tmp: tmp / "people.txt"),
    "triplets_csv": (TRIPLETS, ",", _triplets, _setup_triplets),
    "gtsrb_labels_csv": (LABELS, ",", _gtsrb, _setup_gtsrb),
    "class_names_csv": (CLASS_NAMES, ",", _class_names, lambda tmp: tmp / "class_names.csv"),
    "yaml_config": (YAML, ": ", _yaml, lambda tmp: tmp / "run.yaml"),
    "json_file": (JSON, ",", _json, lambda tmp: tmp / "manifest.json"),
}


def _garbage(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(PRINTABLE) for _ in range(n))


def _mutate_line(rng: random.Random, line: str, sep: str) -> str:
    joiner = "\t" if sep == r"\s+" else sep
    fields = re.split(sep, line)
    op = rng.randrange(7)
    if op == 0 and fields:
        fields.pop(rng.randrange(len(fields)))
    elif op == 1 and fields:
        fields.insert(rng.randrange(len(fields) + 1), rng.choice(fields))
    elif op == 2 and len(fields) > 1:
        i, j = rng.sample(range(len(fields)), 2)
        fields[i], fields[j] = fields[j], fields[i]
    elif op == 3:
        fields.insert(rng.randrange(len(fields) + 1), _garbage(rng, rng.randint(1, 12)))
    elif op == 4 and fields:
        fields[rng.randrange(len(fields))] = rng.choice(
            ["-1", "0", "99999999999999999999", "1.5", "", "/abs/path/x", "..", "\u0663", "+3"]
        )
    elif op == 5:
        return line + rng.choice([" ", "\t", "  \t", ","])
    else:
        return line[: rng.randrange(len(line) + 1)]
    return joiner.join(fields)


def _mutate(rng: random.Random, text: str, sep: str) -> bytes:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        i = rng.randrange(len(lines))
        if op <= 1:
            lines[i] = _mutate_line(rng, lines[i], sep)
        elif op == 2:
            lines.insert(i, rng.choice([lines[i], _garbage(rng, rng.randint(0, 40))]))
        elif op == 3 and len(lines) > 1:
            lines.pop(i)
        elif op == 4:
            lines[i] = lines[i] + "x" * rng.choice([1, 200, 200_000])
        else:
            cut = "\n".join(lines)
            lines = cut[: rng.randrange(len(cut) + 1)].split("\n")
    data = bytearray("\n".join(lines).encode("utf-8"))
    style = rng.randrange(8)
    if style == 0 and data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)  # flip one bit
    elif style == 1:
        data = bytearray(data.replace(b"\n", b"\r\n"))
    elif style == 2:
        data = bytearray(b"\xef\xbb\xbf" + data)
    elif style == 3 and data:
        data.insert(rng.randrange(len(data)), rng.choice([0x00, 0x9D, 0xFF, 0xE9]))
    return bytes(data)


def _case(rng: random.Random, k: int, text: str, sep: str) -> bytes:
    if k < 25:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    if k < 60:
        n = rng.randint(0, 8)
        return "\n".join(_garbage(rng, rng.randint(0, 60)) for _ in range(n)).encode("utf-8")
    return _mutate(rng, text, sep)


def _clear(exc: BaseException, path: Path, folder: Path) -> bool:
    """The library's clear error: ValueError / FileNotFoundError naming the file (or, for a
    FileNotFoundError of a whole folder, that folder) and, for a line error, the line."""
    if not isinstance(exc, (ValueError, FileNotFoundError)):
        return False
    message = str(exc)
    named = str(path) in message or (isinstance(exc, FileNotFoundError) and str(folder) in message)
    if isinstance(exc, ParseError) and exc.line is not None:
        named = named and f"line {exc.line}" in message
    return named


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_parser_fuzz(parser, tmp_path, capsys):
    text, sep, parse, setup = PARSERS[parser]
    rng = random.Random(f"{SEED}-{parser}")
    path = setup(tmp_path)
    path.write_text(text)
    assert parse(path, tmp_path, lambda: "") == 0  # the valid file parses, nothing lost
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger("embedding_net").addHandler(handler)
    counts, crashes = Counter(), []
    try:
        for k in range(CASES):
            path.write_bytes(_case(rng, k, text, sep))
            stream.seek(0)
            stream.truncate()
            try:
                lost = parse(path, tmp_path, stream.getvalue)
            except Exception as exc:  # noqa: BLE001 (classified below)
                clear = _clear(exc, path, tmp_path)
                counts["clear errors" if clear else "crashes"] += 1
                if not clear:
                    crashes.append(f"case {k}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            counts["clean parses"] += 1
            if lost:
                counts["data lost"] += 1
                crashes.append(f"case {k}: clean parse lost {lost} line(s)")
    finally:
        logging.getLogger("embedding_net").removeHandler(handler)
    summary = (
        f"{parser}: {CASES} cases, {counts['clean parses']} clean parses, "
        f"{counts['clear errors']} clear errors, {counts['crashes']} crashes, "
        f"{counts['data lost']} data lost"
    )
    with capsys.disabled():
        print("\n" + summary)
    assert not crashes, summary + "\n" + "\n".join(crashes[:10])
    assert counts["clean parses"] + counts["clear errors"] == CASES, summary
    assert counts["clean parses"] > 0 and counts["clear errors"] > 0, summary
