"""LEADLINE_TRUSTED_PROXIES over the whole app: the per-IP limits and countries of tracking
count the client a trusted proxy names, and nobody else can name one."""

from __future__ import annotations

import pydantic
import pytest
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from tests.fixtures.factories import fetch_rows, make_site

PAGE = {"Origin": "https://shop.example"}


def starts(client: TestClient, site: str, forwarded_for: str, n: int) -> list[int]:
    body = {"siteKey": site, "url": "https://shop.example/"}
    headers = {**PAGE, "X-Forwarded-For": forwarded_for}
    return [
        client.post("/track/session/start", json=body, headers=headers).status_code
        for _ in range(n)
    ]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    behind = Settings(database_url=settings.database_url, trusted_proxies="10.0.0.0/8")
    with TestClient(create_app(behind), client=("10.0.0.5", 40000)) as client:
        assert starts(client, site, "203.0.113.7", 11) == [200] * 10 + [429]
        # Another visitor through the same proxy is counted apart.
        assert starts(client, site, "198.51.100.8, 10.0.0.9", 1) == [200]


def test_a_client_that_is_not_a_trusted_proxy_cannot_name_another(settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    behind = Settings(database_url=settings.database_url, trusted_proxies="10.0.0.0/8")
    with TestClient(create_app(behind), client=("198.51.100.200", 40000)) as client:
        codes = [starts(client, site, f"203.0.113.{n}", 1)[0] for n in range(1, 12)]
    assert codes == [200] * 10 + [429]


def test_the_country_is_the_forwarded_clients(settings: Settings) -> None:
    site = make_site(settings, "acme", "shop.example")
    # Loopback is trusted unless the setting says otherwise.
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
        body = {"siteKey": site, "url": "https://shop.example/"}
        headers = {**PAGE, "X-Forwarded-For": "8.8.8.8"}
        answer = client.post("/track/session/start", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
    (row,) = fetch_rows(
        settings, "SELECT country FROM visits WHERE id = :id", id=answer.json()["session_id"]
    )
    assert row["country"] == "US"


def test_the_setting_names_a_wrong_entry() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"'proxy\.example' is neither"):
        Settings(trusted_proxies="10.0.0.1,proxy.example")
