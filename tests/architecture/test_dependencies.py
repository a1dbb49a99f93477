"""The dependency rule of docs/architecture.md, checked over the import graph: the layers (the
import-linter contract in pyproject.toml), and that a feature's SQL touches only its own tables."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import leadline.models

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "leadline"
# The packages whose tables are their own (leadline/models/<module>.py holds them).
TABLES_OF = {
    "accounts": "accounts",
    "adspend": "adspend",
    # Analytics owns no tables: it reads the rollups and the pipeline (ALLOWED_READS says which).
    "analytics": "analytics",
    "assistant": "assistant",
    "audit": "audit",
    "auth": "auth",
    "conversions": "conversions",
    # `leadline doctor` reads the database server's own catalogs (pg_settings,
    # pg_stat_activity) and Alembic's version table: no table of Leadline's.
    "doctor": "doctor",
    "forms": "forms",
    "idempotency": "idempotency",
    "inbox": "inbox",
    "jobs": "jobs",
    "knowledge": "knowledge",
    "leads": "leads",
    "people": "people",
    "privacy": "privacy",
    "sites": "sites",
    "tracking": "tracking",
    "webhooks": "webhooks",
    "workspaces": "workspace",
}
# Every table hangs from a workspace: any repository may join the tenant it is scoped to.
SHARED_TABLES = {"Workspace"}
# Reads of another feature's table that stay in SQL, and why.
ALLOWED_READS = {
    # The ad spend report matches each day's spend to the leads of its campaign and pages the
    # joined rows in the database: with a million leads the join cannot move to Python.
    ("adspend", "Lead"),
}


def _owner_of_models() -> dict[str, str]:
    owners = {}
    for name in leadline.models.__all__:
        module = getattr(getattr(leadline.models, name), "__module__", "")
        if module.startswith("leadline.models."):
            owners[name] = module.rsplit(".", 1)[1]
    return owners


def test_the_layers_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a development dependency"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_feature_imports_another_features_repository() -> None:
    graph = grimp.build_graph("leadline")
    wrong = []
    for feature in TABLES_OF:
        repository = f"leadline.{feature}.repository"
        if repository not in graph.modules:
            continue
        for importer in graph.find_modules_that_directly_import(repository):
            parts = importer.split(".")
            if parts[1] != feature and parts[1] != "surfaces":
                wrong.append(f"{importer} imports {repository}")
    assert wrong == []


@pytest.mark.parametrize("feature", sorted(TABLES_OF))
def test_a_features_repositories_use_only_its_own_tables(feature: str) -> None:
    owners = _owner_of_models()
    wrong = []
    for path in sorted((PACKAGE / feature).glob("**/*.py")):
        if "repository" not in path.stem and "store" not in path.stem:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("leadline.models")
            ):
                continue
            for alias in node.names:
                owner = owners.get(alias.name)
                if owner is None or alias.name in SHARED_TABLES:
                    continue
                if owner != TABLES_OF[feature] and (feature, alias.name) not in ALLOWED_READS:
                    wrong.append(f"{path.relative_to(ROOT)} reads {alias.name} ({owner}'s)")
    assert wrong == []


def test_every_feature_with_tables_is_known() -> None:
    """A new package with a repository gets its tables' owner here, so the check covers it."""
    with_repositories = {path.parent.name for path in PACKAGE.glob("*/repository.py")}
    assert with_repositories <= set(TABLES_OF)
