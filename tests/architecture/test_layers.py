"""The package map of docs/architecture.md, enforced: a room imports only the rooms below it,
the runtime never imports the sample-data generator, and no module outgrows one responsibility."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from paths import PACKAGE_DIR as PACKAGE

# Each room and the rooms it may import (besides itself). The base modules import nothing else.
BASE = {"config", "errors", "domains"}
ALLOWED: dict[str, set[str]] = {
    "config": {"errors"},
    "errors": set(),
    "domains": {"errors"},
    "warehouse": BASE,
    "dbt": BASE | {"warehouse"},
    "contracts": BASE | {"warehouse", "dbt"},
    "ingest": BASE | {"warehouse", "contracts"},
    "quality": BASE | {"warehouse", "contracts"},
    "reporting": BASE | {"warehouse", "contracts", "quality"},
    "orchestration": BASE | {"warehouse", "dbt", "contracts", "ingest", "quality", "reporting"},
    "sample_data": {"errors"},
    "serving": BASE,
    "cli": BASE | {"warehouse", "dbt", "contracts", "ingest", "quality", "reporting", "orchestration", "sample_data"},
}
MAX_LINES = 400


def _room(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "meshplatform" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_lower_rooms(path: Path) -> None:
    room = _room(path)
    assert room in ALLOWED, f"{room} is not on the package map: add it to docs/architecture.md and this test"
    forbidden = _imported_rooms(path) - ALLOWED[room] - {room}
    assert not forbidden, f"{path.name} ({room}) imports {sorted(forbidden)}, which sit above it or beside it"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_stays_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it along its sections"


def test_every_room_says_what_it_owns() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "May import" in doc, f"{init.parent.name}/__init__.py must say what it owns and may import"
