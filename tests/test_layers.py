"""The import layers (docs/architecture.md): a lower layer never imports a higher one.

cli > serve > adapters > bot, and training > runtime; kb is used by bot, and bot may import kb and
runtime. Every import in every module counts, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the top-level packages it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "bot": frozenset({"adapters", "serve", "cli"}),
    "adapters": frozenset({"serve", "cli"}),
    "serve": frozenset({"cli"}),
    "cli": frozenset(),
    "runtime": frozenset({"bot", "adapters", "serve", "cli", "training"}),
    "training": frozenset({"adapters", "serve", "cli"}),
    "kb": frozenset({"serve", "cli", "adapters"}),
}
NOT_CODE = {"templates", "tests"}  # templates holds data files only; tests may import anything


def imported_packages(source: str, module: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package) for every import in `source`, the source of dotted `module`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: always inside the module's own top-level package
                yield node.lineno, module.split(".")[0]
            elif node.module:
                yield node.lineno, node.module.split(".")[0]


def violations(source: str, module: str) -> list[str]:
    forbidden = FORBIDDEN[module.split(".")[0]]
    return [f"{module}:{line} imports {pkg}" for line, pkg in imported_packages(source, module) if pkg in forbidden]


def _modules() -> Iterator[tuple[str, Path]]:
    for package in sorted(FORBIDDEN):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts), path


def test_every_code_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - NOT_CODE == set(FORBIDDEN), "a new top-level package needs its line in FORBIDDEN"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_lower_layer_imports_a_higher_one(package: str) -> None:
    found = [
        bad
        for module, path in _modules()
        if module.split(".")[0] == package
        for bad in violations(path.read_text(encoding="utf-8"), module)
    ]
    assert not found, "\n".join(found)


def test_the_check_sees_every_kind_of_import() -> None:
    source = (
        "from __future__ import annotations\n"
        "import serve.app\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from adapters.slack import adapter\n"
        "def f() -> None:\n"
        "    from cli.main import main\n"
        "from . import events\n"
        "import runtime.base, kb\n"
    )
    assert violations(source, "bot.core") == [
        "bot.core:2 imports serve",
        "bot.core:5 imports adapters",
        "bot.core:7 imports cli",
    ]
