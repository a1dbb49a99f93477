"""Clients for the API surfaces."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.fixtures.leadiosa import bearer


@pytest.fixture
def leadiosa(client: TestClient, admin_key: str) -> TestClient:
    """A client that sends the admin key of workspace ``acme`` as a Leadiosa bearer token."""
    client.headers.update(bearer(admin_key))
    return client
