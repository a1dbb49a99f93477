"""One name per thing (docs/architecture.md, the glossary): a tracked visit is a ``visit`` in the
code and the schema, and ``session`` is a database session. PulseGate and Octanist call a visit
a session on the wire (``session_id``, ``sessionId``): those names live only in the surfaces,
in the tracker's request bodies (``tracking/schemas.py``) and as quoted wire keys."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import leadline.models

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "leadline"
# Where the products' own words are spoken.
WIRE = ("surfaces/", "tracking/schemas.py", "migrations/")
# The wire structs' fields, read where a request is prepared (and Google Analytics' own session
# id, which is one of its sessions, not a visit of ours).
WIRE_FIELDS = {"sessionId"}
# A visit called a session: session_id, sessionId, sessions, SessionStart, VisitSession...
VISIT_AS_SESSION = re.compile(r"session_?ids?\b|sessions\b|Session(Start|End)\b|VisitSession", re.I)


def _names(tree: ast.AST) -> list[tuple[int, str]]:
    """Every identifier the code gives or uses: names, attributes, arguments, keywords,
    functions, classes."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and node.attr not in WIRE_FIELDS:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.arg):
            found.append((node.lineno, node.arg))
        elif isinstance(node, ast.keyword) and node.arg:
            found.append((node.value.lineno, node.arg))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append((node.lineno, node.name))
    return found


def test_the_schema_has_no_session_that_means_a_visit() -> None:
    wrong = [
        f"{table.name}.{column.name}" if column is not None else table.name
        for table in leadline.models.Base.metadata.tables.values()
        for column in (None, *table.columns)
        if VISIT_AS_SESSION.search(table.name if column is None else column.name)
    ]
    assert wrong == []


def test_the_code_calls_a_visit_a_visit() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(WIRE):
            continue
        for line, name in _names(ast.parse(path.read_text())):
            if VISIT_AS_SESSION.search(name):
                wrong.append(f"leadline/{relative}:{line}: {name}")
    assert wrong == []


def test_the_check_sees_a_visit_called_a_session() -> None:
    code = "def start(session_id: str) -> None:\n    record(visit=session_id)\n"
    assert [name for _, name in _names(ast.parse(code)) if VISIT_AS_SESSION.search(name)] == [
        "session_id",
        "session_id",
    ]
