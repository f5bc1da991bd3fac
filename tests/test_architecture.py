"""The import rule of docs/architecture.md, checked on the package's own imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "embedding_net"

FOUNDATION = {"registry", "constraints", "compiling", "atomic"}
#: Which top-level units of ``embedding_net`` each unit may import (besides itself). The
#: core (distances .. models) sees only the core below it; ``data`` sees no model code;
#: ``config`` describes (layout and protocol names, loss/miner names), it builds nothing.
ALLOWED = {
    "registry": set(),
    "atomic": set(),
    "constraints": set(),
    "compiling": set(),
    "distances": FOUNDATION,
    "miners": FOUNDATION | {"distances"},
    "losses": FOUNDATION | {"distances", "miners"},
    "layers": FOUNDATION | {"distances", "miners", "losses"},
    "heads": FOUNDATION | {"distances", "miners", "losses", "layers"},
    "saving": FOUNDATION,
    "distribute": FOUNDATION,
    "export": FOUNDATION,
    "models": FOUNDATION
    | {"distances", "miners", "losses", "layers", "heads", "saving", "distribute", "export"},
    "data": FOUNDATION,
    "evaluation": FOUNDATION | {"distances", "data"},
    "visualization": FOUNDATION | {"evaluation"},
    "callbacks": FOUNDATION | {"distances", "data", "evaluation"},
    "optimizers": FOUNDATION | {"callbacks"},
    "config": FOUNDATION | {"distances", "miners", "losses", "data", "evaluation", "optimizers"},
}
#: Named exceptions, each kept for one release only (docs/migration.md):
#: the deprecated loss classes that own weights (ArcFaceLoss, ...) hold a head layer, and the
#: deprecated alias modules of config/ re-export what moved to training/ and evaluation/.
DEPRECATED_EDGES = {("losses", "heads")}
DEPRECATED_MODULES = {"config/losses.py", "config/optimizers.py", "config/validation.py"}
#: The application layer may import everything.
TOP = {"training", "demo", "app", "cli", "__main__", "__init__"}
#: Modules that import only their own unit at run time.
CORE = ("distances", "miners", "losses", "layers", "heads", "models")


def _unit(path: Path, package: Path) -> str:
    parts = path.relative_to(package).parts
    return parts[0].removesuffix(".py")


def _imports(path: Path):
    """(line, imported unit of embedding_net) of every import in ``path``, lazy ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "embedding_net":
                continue
            if len(parts) > 1:
                yield node.lineno, parts[1]
            else:  # from embedding_net import distances
                yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "embedding_net":
                    yield node.lineno, parts[1] if len(parts) > 1 else "__init__"


def _type_checking_lines(path: Path) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (annotations only, never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _violations(files, package: Path = PACKAGE) -> list[str]:
    found = []
    for path in files:
        unit = _unit(path, package)
        if unit in TOP or path.relative_to(package).as_posix() in DEPRECATED_MODULES:
            continue
        assert unit in ALLOWED, f"{path}: unit {unit!r} is missing from the import rule"
        skip = _type_checking_lines(path)
        for line, target in _imports(path):
            allowed = ALLOWED[unit] | {b for a, b in DEPRECATED_EDGES if a == unit}
            if target != unit and line not in skip and target not in allowed:
                found.append(f"{path.relative_to(package.parent)}:{line}: {unit} -> {target}")
    return found


def test_every_import_follows_the_rule():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    found = _violations(files)
    assert not found, "imports against docs/architecture.md:\n" + "\n".join(found)


def test_the_core_does_not_import_tensorflow_at_module_level():
    found = []
    for unit in CORE:
        for path in sorted((PACKAGE / unit).rglob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                found += [f"{path}:{node.lineno}" for n in names if n.split(".")[0] == "tensorflow"]
    assert not found, found


@pytest.mark.parametrize(
    "unit, source",
    [
        ("losses", "from embedding_net.models import BaseNetwork\n"),
        ("distances", "from embedding_net import losses\n"),
        ("data", "def f():\n    from embedding_net.models.base_network import BaseNetwork\n"),
        ("evaluation", "import embedding_net.training\n"),
    ],
)
def test_the_rule_catches_a_back_edge(tmp_path, unit, source):
    folder = tmp_path / unit
    folder.mkdir()
    (folder / "module.py").write_text(source)
    assert _violations([folder / "module.py"], package=tmp_path)


def test_the_rule_allows_type_checking_imports(tmp_path):
    folder = tmp_path / "optimizers"
    folder.mkdir()
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from embedding_net.config import X\n"
    (folder / "module.py").write_text(source)
    assert _violations([folder / "module.py"], package=tmp_path) == []


MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400


def test_no_function_over_80_lines_and_no_module_over_400():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(PACKAGE.parent)
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno}: {node.name}() has {lines} lines")
    assert not too_long, "\n".join(too_long)


def _compares_layout_with_a_name(node) -> bool:
    """``layout == "gtsrb"``, ``d.layout in ("folders", ...)`` and the like."""
    if not isinstance(node, ast.Compare):
        return False
    sides = [node.left, *node.comparators]
    named = any(
        (isinstance(s, ast.Name) and s.id == "layout")
        or (isinstance(s, ast.Attribute) and s.attr == "layout")
        for s in sides
    )
    literal = any(
        isinstance(s, ast.Constant)
        and isinstance(s.value, str)
        or isinstance(s, (ast.Tuple, ast.List, ast.Set))
        for s in sides
    )
    return named and literal


def test_no_layout_name_chain_outside_the_layout_table():
    registry = PACKAGE / "data" / "datasets"
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if registry not in path.parents
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if _compares_layout_with_a_name(node)
    ]
    assert not found, "compare layouts through embedding_net.data.datasets.get_layout: " + str(
        found
    )


def test_the_layout_check_finds_a_chain():
    tree = ast.parse('if d.layout == "tfrecord":\n    pass\nok = layout in ("a", "b")\n')
    assert sum(_compares_layout_with_a_name(n) for n in ast.walk(tree)) == 2
    assert not any(_compares_layout_with_a_name(n) for n in ast.walk(ast.parse("a == 'x'")))
