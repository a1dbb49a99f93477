"""Google's offline-conversion file, made without any destination or credentials: from the
command line (``leadline conversions export``) and the Leadiosa API
(``GET /api/v1/conversions/export``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, update
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.models import LeadStatusChange
from tests.fixtures.factories import make_key
from tests.fixtures.leadiosa import bearer, error_of

HEADER = "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency"
GOOGLE_SETTINGS: dict[str, Any] = {
    "customer_id": "123-456-7890",
    "conversion_actions": {"Lead qualified": "555", "purchase": "777"},
}
GOOGLE_CREDENTIALS = {
    "developer_token": "dev-token",
    "client_id": "client-1",
    "client_secret": "secret-1",
    "refresh_token": "refresh-1",
}


@pytest.fixture
def api(settings: Settings, admin_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        client.headers.update(bearer(admin_key))
        client.headers["X-API-KEY"] = admin_key
        yield client


def new_lead(api: TestClient, email: str, **fields: Any) -> str:
    body = {
        "name": "Ada Lovelace",
        "email": email,
        "ad_user_data": "granted",
        "value": 1200,
        "currency": "EUR",
        **fields,
    }
    answer = api.post("/api/leads", json=body)
    assert answer.status_code == 201, answer.text
    lead_id: str = answer.json()["data"]["id"]
    return lead_id


def reach(api: TestClient, settings: Settings, lead_id: str, status: str, at: datetime) -> None:
    """Move the lead to ``status`` and record the change as made at ``at``."""
    answer = api.patch("/api/leads", json={"id": lead_id, "status": status})
    assert answer.status_code == 200, answer.text
    backdate(settings, lead_id, status, at)


def backdate(settings: Settings, lead_id: str, status: str, at: datetime) -> None:
    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(LeadStatusChange)
                .where(LeadStatusChange.lead_id == lead_id, LeadStatusChange.to_status == status)
                .values(changed_at=at)
            )
    finally:
        engine.dispose()


@pytest.fixture
def pipeline(api: TestClient, settings: Settings) -> dict[str, str]:
    """Leads that reached qualified and won at known times, with and without a gclid."""
    clicked = new_lead(api, "clicked@example.com", gclid="Gcl-AbC_123")
    # 23:30 UTC on the 30th is half past midnight on the 1st in Amsterdam.
    reach(api, settings, clicked, "qualified", datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    reach(api, settings, clicked, "won", datetime(2026, 12, 2, 10, 0, 5, tzinfo=UTC))
    no_click = new_lead(api, "noclick@example.com")
    reach(api, settings, no_click, "qualified", datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    denied = new_lead(api, "denied@example.com", gclid="Gcl-Denied", ad_user_data="denied")
    reach(api, settings, denied, "qualified", datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    later = new_lead(api, "later@example.com", gclid="Gcl-Later")
    reach(api, settings, later, "qualified", datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    other = make_key(settings, "other", "admin")
    with TestClient(create_app(settings)) as elsewhere:
        answer = elsewhere.post(
            "/api/leads",
            headers={"X-API-KEY": other},
            json={"email": "x@example.com", "gclid": "Gcl-Other", "ad_user_data": "granted"},
        )
        assert answer.status_code == 201, answer.text
        other_id = answer.json()["data"]["id"]
        changed = elsewhere.patch(
            "/api/leads", headers={"X-API-KEY": other}, json={"id": other_id, "status": "won"}
        )
        assert changed.status_code == 200, changed.text
    # Another workspace's lead, won within the days: never in this workspace's file.
    backdate(settings, other_id, "won", datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    return {"clicked": clicked, "no_click": no_click, "denied": denied, "later": later}


AMSTERDAM = (
    "Parameters:TimeZone=Europe/Amsterdam\n"
    f"{HEADER}\n"
    "Gcl-AbC_123,qualified_lead,2026-12-01 00:30:00,,\n"
    "Gcl-AbC_123,purchase,2026-12-02 11:00:05,1200,EUR\n"
)


def export_args(*extra: str) -> list[str]:
    return [
        "conversions",
        "export",
        "--workspace",
        "acme",
        "--platform",
        "google",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-07",
        *extra,
    ]


def test_cli_writes_googles_file(cli: Any, pipeline: dict[str, str]) -> None:
    from leadline.cli import app

    done = cli.invoke(app, export_args("--timezone", "Europe/Amsterdam"))
    assert done.exit_code == 0, done.output
    assert done.stdout == AMSTERDAM

    # The days are the file's time zone's: in UTC the qualification fell on November 30th.
    utc = cli.invoke(app, export_args())
    assert utc.exit_code == 0, utc.output
    assert utc.stdout == (
        f"Parameters:TimeZone=UTC\n{HEADER}\nGcl-AbC_123,purchase,2026-12-02 10:00:05,1200,EUR\n"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--platform", "meta"], "platform must be one of google"),
        (["--from", "2026-13-01"], "from must be a day as YYYY-MM-DD"),
        (["--to", "2026-11-01"], "to must be on or after from"),
        (["--timezone", "Mars/Olympus"], "timezone must be an IANA time zone name"),
    ],
)
def test_cli_refuses_bad_input(
    cli: Any, pipeline: dict[str, str], change: list[str], message: str
) -> None:
    from leadline.cli import app

    done = cli.invoke(app, [*export_args(), *change])
    assert done.exit_code == 1
    assert message in done.output
    assert "Parameters:" not in done.output


def test_api_download_matches_and_follows_the_google_destination(
    api: TestClient, pipeline: dict[str, str]
) -> None:
    query = {
        "platform": "google",
        "from": "2026-12-01",
        "to": "2026-12-07",
        "timezone": "Europe/Amsterdam",
    }
    answer = api.get("/api/v1/conversions/export", params=query)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="google-conversions-2026-12-01-2026-12-07.csv"'
    )
    assert answer.text == AMSTERDAM

    # With a Google destination, its status map names the conversions.
    created = api.post(
        "/api/v1/conversions/destinations",
        json={
            "platform": "google",
            "name": "Google Ads",
            "settings": GOOGLE_SETTINGS,
            "credentials": GOOGLE_CREDENTIALS,
            "status_map": {"qualified": "Lead qualified"},
        },
    )
    assert created.status_code == 201, created.text
    named = api.get("/api/v1/conversions/export", params=query)
    assert named.status_code == 200, named.text
    assert named.text == (
        "Parameters:TimeZone=Europe/Amsterdam\n"
        f"{HEADER}\n"
        "Gcl-AbC_123,Lead qualified,2026-12-01 00:30:00,,\n"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "0001-01-01", "timezone": "Asia/Tokyo"}, "from"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"to": "2026-11-30"}, "to"),
        ({"to": "2028-01-01"}, "to"),
        ({"timezone": "Not/AZone"}, "timezone"),
        # A folder of the zone database, and a file of it that is no zone.
        ({"timezone": "Europe"}, "timezone"),
        ({"timezone": "zone.tab"}, "timezone"),
        ({"platform": "meta"}, "platform"),
    ],
)
def test_api_refuses_bad_input(api: TestClient, change: dict[str, str], field: str) -> None:
    query = {"platform": "google", "from": "2026-12-01", "to": "2026-12-07", **change}
    answer = api.get("/api/v1/conversions/export", params=query)
    error = error_of(answer, 400, "validation_error")
    assert error["message"].startswith(field), error


def test_api_download_needs_an_admin(settings: Settings, api: TestClient) -> None:
    integration = make_key(settings, "acme", "integration")
    answer = api.get(
        "/api/v1/conversions/export",
        params={"platform": "google", "from": "2026-12-01", "to": "2026-12-07"},
        headers=bearer(integration),
    )
    error_of(answer, 403, "forbidden")
