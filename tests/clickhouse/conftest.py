"""ClickHouse for the tests: the engine inside the test process (chDB), reached through
clickhouse-connect's chDB backend, one directory for the whole run (chDB opens one per
process) and a database of its own for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadline.clickhouse.client import ClickHouse, open_clickhouse
from leadline.clickhouse.schema import ensure_tables


@pytest.fixture(scope="session")
def clickhouse_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clickhouse")


@pytest.fixture
def clickhouse_url(clickhouse_dir: Path) -> str:
    return f"chdb://{clickhouse_dir}?database=t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clickhouse(clickhouse_url: str) -> Iterator[ClickHouse]:
    client = open_clickhouse(clickhouse_url)
    ensure_tables(client)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {client.database}")
    client.close()
