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


def _shape(value: Any) -> Any:
    """The keys of an answer, nested, lists by their first element: what the docs show."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


METRIC = {"value": "int", "previous": "int"}
RATE = {"value": "float", "previous": "float"}
PERIOD = {"from": "str", "to": "str", "tz": "str", "previous_from": "str", "previous_to": "str"}
SHAPES: dict[str, Any] = {
    "overview": {
        "role": "str",
        "site": "str",
        "period": PERIOD,
        "visits": METRIC,
        "visitors": METRIC,
        "page_views": METRIC,
        "events": METRIC,
        "leads": METRIC,
        "submissions": METRIC,
        "bounce_rate": RATE,
        "average_engagement": RATE,
    },
    "sessions/daily": {
        "site": "str",
        "period": PERIOD,
        "days": [
            {
                "date": "str",
                "previous_date": "str",
                "visits": METRIC,
                "visitors": METRIC,
                "page_views": METRIC,
                "events": METRIC,
            }
        ],
    },
    "pages/top": {
        "site": "str",
        "period": PERIOD,
        "pages": [{"path": "str", "page_views": METRIC}],
    },
    "geo": {"site": "str", "period": PERIOD, "countries": [{"name": "NoneType", "visits": METRIC}]},
    "engagement": {
        "site": "str",
        "period": PERIOD,
        "visits": METRIC,
        "average": RATE,
        "buckets": [{"from": "int", "to": "int", "visits": METRIC}],
        "labels": [{"label": "str", "from": "int", "to": "int", "visits": METRIC}],
    },
    "sources": {
        "site": "str",
        "period": PERIOD,
        **{
            name: [{"name": "str", "visits": METRIC}]
            for name in ("referrers", "channels", "sources", "platforms")
        },
    },
    "realtime": {
        "site": "str",
        "now": "str",
        "active_visits": METRIC,
        "events": METRIC,
        "minutes": [{"minute": "str", "events": "int"}],
    },
    "storage": {
        "site": "str",
        "tables": [{"table": "str", "rows": "int", "bytes": "int"}],
        "bytes_measured_by": "str",
        "database_bytes": "int",
        "oldest_event": "str",
        "oldest_visit": "str",
        "retention": {"events_days": "int", "visits_days": "NoneType", "rollups_days": "NoneType"},
    },
}


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_answers_in_its_documented_shape(
    client: TestClient, settings: Settings, tracked: str, route: str
) -> None:
    key = make_key(settings, "acme", "admin")
    answer = _get(client, key, route, site=tracked)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["cache-control"] == "no-store"
    shape = _shape(answer.json())
    if route == "storage" and shape["bytes_measured_by"] == "page_count":
        shape["tables"][0]["bytes"] = "int"  # SQLite without dbstat: documented as null
    assert shape == SHAPES[route]


def test_the_reports_count_what_was_tracked(
    client: TestClient, settings: Settings, tracked: str
) -> None:
    key = make_key(settings, "acme", "admin")
    overview = _get(client, key, "overview").json()
    assert overview["visits"] == {"value": 3, "previous": 0}
    assert overview["page_views"] == {"value": 4, "previous": 0}
    assert overview["visitors"] == {"value": 3, "previous": 0}
    # Two of the three visits saw one page.
    assert overview["bounce_rate"] == {"value": 66.7, "previous": 0.0}
    assert "marketing_visible_pages" not in overview
    pages = _get(client, key, "pages/top", limit="1").json()["pages"]
    assert len(pages) == 1
    sources = _get(client, key, "sources").json()
    assert sources["platforms"] == [{"name": "googleads", "visits": {"value": 1, "previous": 0}}]
    assert sources["referrers"] == [
        {"name": "www.google.com", "visits": {"value": 1, "previous": 0}}
    ]
    assert {row["name"] for row in sources["channels"]} == {"paid", "search", "direct"}
    engagement = _get(client, key, "engagement").json()
    assert sum(bucket["visits"]["value"] for bucket in engagement["buckets"]) == 3
    storage = _get(client, key, "storage").json()
    rows = {table["table"]: table["rows"] for table in storage["tables"]}
    assert rows["events"] == 4
    assert rows["visits"] == 3
    assert storage["retention"]["events_days"] == settings.events_retention_days


def test_realtime_counts_back_from_now(
    client: TestClient, settings: Settings, tracked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(settings, "acme", "admin")
    live = _get(client, key, "realtime").json()
    assert live["active_visits"]["value"] == 3
    assert live["events"]["value"] == 4
    assert len(live["minutes"]) == 30
    assert sum(minute["events"] for minute in live["minutes"]) == 4
    # Seven minutes on, nobody is active any more and the events are older ones; an hour on,
    # the events are past the 30 minutes compared with too.
    (row,) = fetch_rows(settings, "SELECT max(last_seen_at) AS seen FROM visits")
    seen = row["seen"] if isinstance(row["seen"], datetime) else datetime.fromisoformat(row["seen"])
    seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
    monkeypatch.setattr(reports, "utcnow", lambda: seen + timedelta(minutes=7))
    later = _get(client, key, "realtime").json()
    assert later["active_visits"] == {"value": 0, "previous": 3}
    assert later["events"]["value"] == 4
    monkeypatch.setattr(reports, "utcnow", lambda: seen + timedelta(minutes=45))
    later = _get(client, key, "realtime").json()
    assert later["events"] == {"value": 0, "previous": 4}


def test_without_a_key_the_answer_is_401_and_a_preflight_needs_none(client: TestClient) -> None:
    for route in ROUTES:
        missing = client.get(f"/analytics/{route}")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "error" in missing.json()
        preflight = client.options(
            f"/analytics/{route}",
            headers={"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 204


def test_a_marketing_key_opens_the_overview_but_not_another_workspaces_site(
    client: TestClient, settings: Settings, tracked: str
) -> None:
    marketing = make_key(settings, "acme", "marketing")
    answer = _get(client, marketing, "overview", site=tracked)
    assert answer.status_code == 200, answer.text
    overview = answer.json()
    assert overview["role"] == "marketing"
    assert "overview" in overview["marketing_visible_pages"]
    assert "storage" not in overview["marketing_visible_pages"]
    assert _get(client, marketing, "storage").status_code == 403
    other = make_site(settings, "globex", "globex.example")
    refused = _get(client, marketing, "overview", site=other)
    assert refused.status_code == 404
    assert "error" in refused.json()


def test_a_site_is_named_by_its_id_or_its_key(
    client: TestClient, settings: Settings, tracked: str
) -> None:
    key = make_key(settings, "acme", "admin")
    make_site(settings, "acme", "blog.example")  # a second site, with nothing tracked
    (site,) = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :key", key=tracked)
    by_key = _get(client, key, "overview", site=tracked).json()
    by_id = _get(client, key, "overview", site=site["id"]).json()
    assert by_key == by_id
    assert by_key["site"] == site["id"]
    assert by_key["visits"]["value"] == 3
    assert _get(client, key, "overview", site="no-such-site").status_code == 404


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-12-07", "to": "2026-12-01"}, "from"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(
    client: TestClient, settings: Settings, params: dict[str, str], parameter: str
) -> None:
    key = make_key(settings, "acme", "admin")
    answer = _get(client, key, "pages/top", **params)
    assert answer.status_code == 400, answer.text
    assert parameter in answer.json()["error"]


def test_days_are_the_zones_days(client: TestClient, settings: Settings, tracked: str) -> None:
    """The visits tracked now fall on today in UTC; in a zone 14 hours ahead, on the zone's
    date of now."""
    key = make_key(settings, "acme", "admin")
    now = datetime.now(UTC)
    ahead = (now + timedelta(hours=14)).date().isoformat()
    days = _get(
        client, key, "sessions/daily", tz="Pacific/Kiritimati", **{"from": ahead, "to": ahead}
    ).json()["days"]
    assert [(day["date"], day["visits"]["value"]) for day in days] == [(ahead, 3)]


def test_a_workspace_without_sites_gets_zeros(client: TestClient, settings: Settings) -> None:
    key = make_key(settings, "empty", "admin")
    for route in ROUTES:
        answer = _get(client, key, route, tz="Asia/Kolkata")
        assert answer.status_code == 200, (route, answer.text)
    overview = _get(client, key, "overview").json()
    assert overview["visits"] == {"value": 0, "previous": 0}
    assert overview["bounce_rate"] == {"value": 0.0, "previous": 0.0}
