"""A config file that is not valid YAML, binary or not UTF-8 ends in a ConfigError naming the
file and the line; every example config still loads to the same values."""

from pathlib import Path

import pytest

from embedding_net.config import ConfigError, config_to_dict, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path, data: bytes) -> Path:
    path = tmp_path / "run.yaml"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data, message",
    [
        (b"data: {root: [unclosed\n", r"run\.yaml, line 2: column 1: not valid YAML"),
        (
            b"data:\n  root: x\n   layout: folders\n",
            r"run\.yaml, line 3: column \d+: not valid YAML",
        ),
        (b"data:\n\troot: x\n", r"run\.yaml, line 2: column 1: not valid YAML"),
        (b"seed: 1\nseed: 2\n", r"line 2: .*key 'seed' a second time \(first on line 1\)"),
        (b"name: \x00\n", r"run\.yaml, line 1: expected a text file, found a NUL byte"),
        ("name: caf\u00e9\n".encode("latin-1"), r"run\.yaml, line 1: expected UTF-8 text"),
        (b"data: !!python/object/apply:os.system ['true']\n", r"line 1: column 7: not valid YAML"),
    ],
)
def test_yaml_errors_name_file_and_line(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, data))


def test_bom_and_crlf_configs_load_like_the_plain_file(tmp_path):
    source = REPO / "examples" / "csv_triplets" / "small.yaml"
    plain = config_to_dict(load_config(source))
    data = b"\xef\xbb\xbf" + source.read_bytes().replace(b"\n", b"\r\n")
    variant = tmp_path / "small.yaml"
    variant.write_bytes(data)
    assert config_to_dict(load_config(variant)) == plain


def test_key_errors_keep_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"run\.yaml: model\.embedding_dim: expected an integer"):
        load_config(_write(tmp_path, b"model: {embedding_dim: big}\n"))
    with pytest.raises(ConfigError, match="top level"):
        parse_config(["a"], "run.yaml")
