"""Reading the library's text inputs (pairs/people files, CSVs, YAML) with errors that say where.

Every parser reads through :func:`read_text` / :func:`text_lines` / :func:`csv_rows`, so that:

* a binary file (a NUL byte) or a file that is not UTF-8 is refused by name, with the line and
  the byte at fault (a UTF-8 byte-order mark is accepted and dropped);
* ``\\n``, ``\\r\\n`` and ``\\r`` all end a line; line numbers are 1-based, as in an editor;
* JSON is read with :func:`read_json` (line and column of a syntax error named);
* YAML is read with ``yaml.safe_load`` (:func:`read_yaml`); a syntax error names the line and
  the column;
* a malformed line raises :class:`ParseError` (a ``ValueError``) whose message reads
  ``<file>, line <n>: expected <what>, got <snippet>``.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

#: longest excerpt of a bad line quoted in an error message
SNIPPET_CHARS = 80


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters (``...`` marks the cut)."""
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)


class ParseError(ValueError):
    """A text input is malformed; the message names the file, the line and what was expected.

    Attributes:
        path: the file (str).
        line: 1-based line number, or None for a whole-file problem.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path = os.fspath(path)
        self.line = line
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")


def line_error(path, line: int | None, expected: str, got: str) -> ParseError:
    """``ParseError`` reading ``<file>, line <n>: expected <expected>, got <snippet of got>``."""
    return ParseError(path, line, f"expected {expected}, got {snippet(got)}")


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The text of a UTF-8 file (byte-order mark dropped).

    Args:
        path: the file.
        what: what the file is, for the not-found message (e.g. ``"read_lfw_pairs(pairs_file)"``).

    Returns:
        the decoded text.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ParseError: the file holds a NUL byte (binary) or is not valid UTF-8 (line named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {path} does not exist")
    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ParseError(
            path,
            data.count(b"\n", 0, nul) + 1,
            f"expected a text file, found a NUL byte at byte {nul}: a binary file?",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise ParseError(
            path,
            data.count(b"\n", 0, exc.start) + 1,
            f"expected UTF-8 text, found byte 0x{bad} at byte {exc.start} "
            "(another encoding? save the file as UTF-8)",
        ) from None


def split_lines(text: str) -> list[str]:
    """Lines of ``text``: ``\\r\\n``, ``\\r`` and ``\\n`` end a line (a final newline adds none)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def text_lines(path: str | os.PathLike, what: str = "file") -> list[tuple[int, str]]:
    """``(line number, line)`` of the non-blank lines of a UTF-8 text file (1-based numbers).

    Raises:
        FileNotFoundError, ParseError: as :func:`read_text`.
    """
    return [
        (i, line) for i, line in enumerate(split_lines(read_text(path, what)), 1) if line.strip()
    ]


def csv_rows(
    path: str | os.PathLike, what: str = "file", header_hint: str | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the ``(line number, fields)`` rows of a UTF-8 CSV with a header row.

    Blank lines are skipped; a row must have as many fields as the header.

    Args:
        path: the CSV file.
        what: what the file is, for the not-found message.
        header_hint: the expected header (e.g. ``"label,name"``): when given, a one-column
            header is refused with this hint (a CSV needs at least two columns then).

    Returns:
        (header fields stripped of spaces, rows as ``(first line of the row, fields)``).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ParseError: binary / not UTF-8, no header, a CSV syntax error (e.g. an unclosed quote,
            a field over ``csv.field_size_limit()``) or a row with another number of fields.
    """
    text = read_text(path, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                header_line = line
                continue
            if len(fields) != len(header):
                raise line_error(
                    path,
                    line,
                    f"{len(header)} comma-separated fields ({','.join(header)}), "
                    f"found {len(fields)}",
                    ",".join(fields),
                )
            rows.append((line, fields))
    except csv.Error as exc:
        raise ParseError(path, reader.line_num or 1, f"not valid CSV: {exc}") from None
    if header is None:
        raise ParseError(path, None, "expected a CSV header row, got an empty file")
    if header_hint is not None and len(header) < 2:
        raise line_error(
            path, header_line, f"a header {header_hint!r} (two columns or more)", ",".join(header)
        )
    if len(set(h.lower() for h in header)) != len(header):
        raise line_error(path, header_line, "distinct column names", ",".join(header))
    return header, rows


def _yaml_error(path, text: str, exc: Exception) -> ParseError:
    """``exc`` (a PyYAML error) as a ParseError naming the file, the line and the column."""
    mark = getattr(exc, "problem_mark", None)
    position = getattr(exc, "position", None)  # yaml.reader.ReaderError: a character offset
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif position is not None:
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
    else:
        return ParseError(path, None, f"not valid YAML: {exc}")
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark.line + 1 != line:
        context = f"{context} that starts on line {context_mark.line + 1}"
    detail = f"{problem} ({context})" if context else problem
    return ParseError(path, line, f"column {column}: not valid YAML: {detail}")


def _unique_key_loader():
    """A ``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the
    last one silently)."""
    import yaml

    class UniqueKeySafeLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found key {key!r} a second time (first on line {seen[key] + 1})",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark.line
                except TypeError:  # an unhashable key: the base class raises a marked error
                    break
            return super().construct_mapping(node, deep=deep)

    return UniqueKeySafeLoader


def read_yaml(path: str | os.PathLike, what: str = "file"):
    """The document of a UTF-8 YAML file (``yaml.safe_load``; None when the file is empty).

    Unlike plain ``yaml.safe_load``, a key given twice in one mapping is an error, not a
    silent overwrite.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ParseError: binary / not UTF-8 (as :func:`read_text`), or not valid YAML: the message
            names the file, the line and the column, e.g. ``run.yaml, line 3: column 9: not
            valid YAML: mapping values are not allowed here``.
    """
    import yaml

    text = read_text(path, what)
    try:
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, text, exc) from None
    except RecursionError:
        raise ParseError(path, None, "not valid YAML: nested too deeply") from None


def _unique_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"key {twice[0]!r} given twice in one object")
    return dict(pairs)


def read_json(path: str | os.PathLike, what: str = "file"):
    """The document of a UTF-8 JSON file (e.g. a ``manifest.json`` or ``label_map.json``).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ParseError: binary / not UTF-8 (as :func:`read_text`), not valid JSON (line and column
            named) or a key given twice in one object.
    """
    import json

    text = read_text(path, what)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ParseError(
            path, exc.lineno, f"column {exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise ParseError(path, None, "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # a key given twice
        raise ParseError(path, None, f"not valid JSON: {exc}") from None


__all__ = [
    "ParseError",
    "csv_rows",
    "line_error",
    "read_text",
    "read_yaml",
    "split_lines",
    "text_lines",
]
