"""Shared fixtures: a migrated database per backend, an app, a client, API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.app import create_app
from leadline.config import Settings, get_settings
from tests.fixtures.database import create_database, empty_tables, requested_backends
from tests.fixtures.factories import make_key

# Chromium, pages to open in it, and helpers: tests/fixtures/browser.py; Redis: redis.py.
pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.browser_pages", "tests.fixtures.redis"]


@pytest.fixture(scope="session", params=requested_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tmp_dir: Path = tmp_path_factory.mktemp("db")
    yield from create_database(request.param, tmp_dir)


@pytest.fixture
def settings(database_url: str) -> Iterator[Settings]:
    yield Settings(database_url=database_url)
    empty_tables(database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def admin_key(settings: Settings) -> str:
    return make_key(settings, "acme", "admin")


@pytest.fixture
def api(client: TestClient, admin_key: str) -> TestClient:
    """A client that sends the admin key of workspace ``acme`` with every request."""
    client.headers["X-API-KEY"] = admin_key
    return client


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The ``leadline`` command, run in-process against the test database."""
    monkeypatch.setenv("LEADLINE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
