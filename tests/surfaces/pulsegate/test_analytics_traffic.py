"""The traffic report routes over HTTP: each answers in its documented shape, from data fed
through the real tracking routes; keys, pages, sites and bad parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.surfaces.pulsegate import reports
from tests.fixtures.factories import fetch_rows, make_key, make_site

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0 Safari/537.36"
)
ORIGIN = {"Origin": "https://shop.example", "User-Agent": UA}
ROUTES = (
    "overview",
    "sessions/daily",
    "pages/top",
    "geo",
    "engagement",
    "sources",
    "realtime",
    "storage",
)


def _track(client: TestClient, site_key: str) -> list[str]:
    """Three visits: one from a Google Ads click landing on /offer that views two pages, one
    from a search engine that bounces, one direct that clicks and ends."""
    visits = []
    for url, referrer, headers in (
        ("https://shop.example/offer?gclid=abc", "", {"X-Visitor-ID": "a"}),
        ("https://shop.example/", "https://www.google.com/search?q=x", {}),
        ("https://shop.example/contact", "", {}),
    ):
        answer = client.post(
            "/track/session/start",
            json={"siteKey": site_key, "url": url, "referrer": referrer},
            headers={**ORIGIN, **headers, "User-Agent": f"{UA} {len(visits)}"},
        )
        assert answer.status_code == 200, answer.text
        visits.append(answer.json()["session_id"])
    pages = (["/offer", "/pricing"], ["/"], ["/contact"])
    for visit_id, paths in zip(visits, pages, strict=True):
        events: list[dict[str, Any]] = [
            {"type": "page_view", "url": f"https://shop.example{path}", "id": f"{visit_id}-{n}"}
            for n, path in enumerate(paths)
        ]
        answer = client.post(
            "/track/events/batch",
            json={"siteKey": site_key, "sessionId": visit_id, "events": events},
            headers=ORIGIN,
        )
        assert answer.status_code == 200, answer.text
    answer = client.post(
        "/track/session/end",
        json={"siteKey": site_key, "sessionId": visits[2], "durationMs": 120_000, "clicks": 4},
        headers=ORIGIN,
    )
    assert answer.status_code == 200, answer.text
    return visits


@pytest.fixture
def tracked(client: TestClient, settings: Settings) -> str:
    site_key = make_site(settings, "acme", "shop.example")
    _track(client, site_key)
    return site_key


def _get(client: TestClient, key: str, route: str, **params: str) -> Any:
    return client.get(
        f"/analytics/{route}", params=params, headers={"Authorization": f"Bearer {key}"}
    )


def test_smoke(client: TestClient, settings: Settings, tracked: str) -> None:
    key = make_key(settings, "acme", "admin")
    for route in ROUTES:
        answer = _get(client, key, route)
        print(route, answer.status_code, answer.text)
