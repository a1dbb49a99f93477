"""Clients for the API surfaces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.fixtures import badinput
from tests.fixtures.database import create_database
from tests.fixtures.leadiosa import bearer


@pytest.fixture
def leadiosa(client: TestClient, admin_key: str) -> TestClient:
    """A client that sends the admin key of workspace ``acme`` as a Leadiosa bearer token."""
    client.headers.update(bearer(admin_key))
    return client


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[badinput.World]:
    """One of everything the routes name, for the tests of bad input of a module, in a
    database of its own (on the backend of ``database_url``): the module's other tests start
    from empty tables and empty them after."""
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    for url in create_database(backend, tmp_path_factory.mktemp("world")):
        with badinput.world(url) as made:
            yield made
