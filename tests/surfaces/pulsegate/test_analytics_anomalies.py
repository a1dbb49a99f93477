"""GET /analytics/anomalies: the open anomalies and those seen in the period, by site and
status, for admin and marketing keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.kit.ids import new_id
from leadline.models import Anomaly
from tests.fixtures.factories import fetch_rows, make_key, make_site, run_in_transaction

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.date()


def site_id(settings: Settings, site_key: str) -> str:
    rows = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :key", key=site_key)
    return str(rows[0]["id"])


def add_anomaly(
    settings: Settings, site_key: str, kind: str, last_seen: datetime, **values: Any
) -> str:
    """An anomaly of the site, seen in the hour starting ``last_seen`` (open by default)."""
    found = fetch_rows(
        settings, "SELECT id, workspace_id FROM sites WHERE site_key = :key", key=site_key
    )[0]
    anomaly_id = new_id("anm")
    row = {
        "id": anomaly_id,
        "workspace_id": found["workspace_id"],
        "site_id": found["id"],
        "kind": kind,
        "status": "open",
        "severity": "warning",
        "first_seen_hour": last_seen,
        "last_seen_hour": last_seen,
        "window_hours": 1,
        "observed": 240.0,
        "expected_low": 40.0,
        "expected_high": 120.0,
        "score": 7.5,
        "sentence": "Visits to shop.example jumped to 240.",
        "created_at": last_seen,
        "updated_at": last_seen,
        "resolved_at": None,
    } | values

    async def work(session: AsyncSession) -> None:
        session.add(Anomaly(**row))

    run_in_transaction(settings, work)
    return anomaly_id


@pytest.fixture
def seeded(settings: Settings) -> dict[str, str]:
    """Two sites of acme: a spike open on the shop for 40 days, a drop of the shop resolved
    yesterday, a resolved one 60 days ago, and the blog's open events_missing; and an
    anomaly of another workspace."""
    shop = make_site(settings, "acme", "shop.example")
    blog = make_site(settings, "acme", "blog.example")
    other = make_site(settings, "globex", "globex.example")
    long_ago = NOW - timedelta(days=40)
    yesterday = NOW - timedelta(days=1)
    return {
        "shop": shop,
        "blog": blog,
        "globex": other,
        "open_spike": add_anomaly(settings, shop, "traffic_spike", long_ago),
        "drop": add_anomaly(
            settings,
            shop,
            "traffic_drop",
            yesterday,
            status="resolved",
            severity="info",
            resolved_at=yesterday + timedelta(hours=1),
        ),
        "old": add_anomaly(
            settings,
            shop,
            "submission_drop",
            NOW - timedelta(days=60),
            status="resolved",
            resolved_at=NOW - timedelta(days=60),
            window_hours=3,
        ),
        "events": add_anomaly(settings, blog, "events_missing", NOW - timedelta(hours=2)),
        "other": add_anomaly(settings, other, "traffic_spike", NOW - timedelta(hours=2)),
    }


def ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [anomaly["id"] for anomaly in answer.json()["anomalies"]]


def test_the_answer_lists_open_ones_first_then_the_latest(
    api: TestClient, seeded: dict[str, str]
) -> None:
    answer = api.get("/analytics/anomalies")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    assert body["open"] == 2
    assert ids(answer) == [seeded["events"], seeded["open_spike"], seeded["drop"]]
    drop = body["anomalies"][2]
    hour = NOW - timedelta(days=1)
    assert drop == {
        "id": seeded["drop"],
        "site_id": drop["site_id"],
        "kind": "traffic_drop",
        "status": "resolved",
        "severity": "info",
        "first_seen": hour.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "last_seen": hour.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "window": {
            "start": hour.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "end": (hour + timedelta(hours=1))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "hours": 1,
        },
        "observed": 240.0,
        "expected": {"low": 40.0, "high": 120.0},
        "score": 7.5,
        "sentence": "Visits to shop.example jumped to 240.",
        "resolved_at": (hour + timedelta(hours=1))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }


def test_the_period_picks_what_was_seen_in_it_and_open_ones_always(
    api: TestClient, seeded: dict[str, str]
) -> None:
    sixty = (NOW - timedelta(days=60)).date().isoformat()
    answer = api.get("/analytics/anomalies", params={"from": sixty, "to": sixty})
    assert ids(answer) == [seeded["events"], seeded["open_spike"], seeded["old"]]
    assert answer.json()["anomalies"][2]["window"]["hours"] == 3


def test_status_and_site_filter_the_list(
    api: TestClient, settings: Settings, seeded: dict[str, str]
) -> None:
    assert ids(api.get("/analytics/anomalies", params={"status": "open"})) == [
        seeded["events"],
        seeded["open_spike"],
    ]
    assert ids(api.get("/analytics/anomalies", params={"status": "resolved"})) == [seeded["drop"]]
    assert ids(api.get("/analytics/anomalies", params={"site": seeded["blog"]})) == [
        seeded["events"]
    ]
    by_id = site_id(settings, seeded["shop"])
    shop = api.get("/analytics/anomalies", params={"site": by_id, "status": "open"})
    assert ids(shop) == [seeded["open_spike"]]
    assert shop.json()["open"] == 1


def test_a_bad_status_is_400_naming_it(api: TestClient, seeded: dict[str, str]) -> None:
    for status in ("closed", "OPEN"):
        answer = api.get("/analytics/anomalies", params={"status": status})
        assert answer.status_code == 400
        assert "status" in answer.json()["error"]
    assert api.get("/analytics/anomalies", params={"status": ""}).status_code == 200


def test_another_workspaces_site_is_not_found(
    api: TestClient, settings: Settings, seeded: dict[str, str]
) -> None:
    for site in (seeded["globex"], site_id(settings, seeded["globex"])):
        assert api.get("/analytics/anomalies", params={"site": site}).status_code == 404
    assert api.get("/analytics/anomalies", params={"site": "no-such-site"}).status_code == 404


def test_a_marketing_key_may_read_them(
    client: TestClient, settings: Settings, seeded: dict[str, str]
) -> None:
    marketing = make_key(settings, "acme", "marketing")
    answer = client.get("/analytics/anomalies", headers={"Authorization": f"Bearer {marketing}"})
    assert ids(answer) == [seeded["events"], seeded["open_spike"], seeded["drop"]]


def test_without_a_key_it_is_401(client: TestClient, seeded: dict[str, str]) -> None:
    answer = client.get("/analytics/anomalies")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert client.options("/analytics/anomalies").status_code == 204
    assert client.post("/analytics/anomalies").status_code == 405
