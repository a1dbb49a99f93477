"""POST /api/stats: usage, pipeline counts, conversion formulas and period boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.surfaces.octanist.report_schemas import StatsEnvelope
from tests.fixtures.factories import make_key, set_lead_columns, set_workspace
from tests.fixtures.octanist import error_of


def create_lead(api: TestClient, **fields: Any) -> str:
    response = api.post("/api/leads", json={"name": "Lead", **fields})
    assert response.status_code == 201, response.text
    lead_id: str = response.json()["data"]["id"]
    return lead_id


def move(api: TestClient, lead_id: str, status: str, **fields: Any) -> None:
    response = api.patch("/api/leads", json={"id": lead_id, "status": status, **fields})
    assert response.status_code == 200, response.text


def stats(api: TestClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post("/api/stats", json={} if body is None else body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["success"] is True
    assert set(payload["meta"]) == {"requestId", "timestamp"}
    StatsEnvelope.model_validate(payload)  # exactly the shape the OpenAPI document describes
    data: dict[str, Any] = payload["data"]
    return data


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month_start(day: date) -> date:
    return month_start(month_start(day) - timedelta(days=1))


def test_formulas_on_a_known_pipeline(api: TestClient, settings: Settings) -> None:
    # 10 leads: 3 open, 2 qualified, 4 won (100 + 250.50 + 1000 + 149.50 = 1500), 1 lost.
    ids = [create_lead(api) for _ in range(10)]
    move(api, ids[3], "qualified")
    move(api, ids[4], "qualified")
    for lead_id, value in zip(ids[5:9], ("100", "250.50", "1000", "149.50"), strict=True):
        move(api, lead_id, "won", value=value)
    move(api, ids[9], "lost", value=5000)  # a lost lead's value is not won value
    set_lead_columns(settings, ids[0], source="import")
    set_lead_columns(settings, ids[1], source="import")

    data = stats(api)

    assert data["leads"] == {
        "total": 10,
        "byStatus": {"open": 3, "qualified": 2, "won": 4, "lost": 1},
        "bySource": {"api": 8, "import": 2},
    }
    assert data["conversion"] == {
        "qualified": 6,  # qualified + won
        "qualificationRate": 0.7,  # (10 - 3) / 10
        "winRate": 0.6667,  # 4 / 6, four places
        "averageValue": 375,  # 1500 / 4
        "totalValue": 1500,
        "currency": "EUR",
        "valueByCurrency": {"EUR": 1500},
    }
    assert data["usage"]["leadsUsed"] == 10
    assert data["usage"]["leadsLimit"] is None
    assert data["usage"]["lockedLeads"] == 0


def test_octanist_example_arithmetic(api: TestClient, settings: Settings) -> None:
    # The Octanist docs' example, scaled down by five: 30 leads, 9 open, 6 qualified,
    # 10 won worth 5000 in all, 5 lost -> 16 qualified, 0.7 qualification, 0.625 win, 500 avg.
    ids = [create_lead(api) for _ in range(30)]
    for lead_id in ids[9:15]:
        move(api, lead_id, "qualified")
    for lead_id in ids[15:25]:
        move(api, lead_id, "won", value=500)
    for lead_id in ids[25:]:
        move(api, lead_id, "lost")

    conversion = stats(api)["conversion"]

    assert conversion["qualified"] == 16
    assert conversion["qualificationRate"] == 0.7
    assert conversion["winRate"] == 0.625
    assert conversion["averageValue"] == 500
    assert conversion["totalValue"] == 5000


def test_no_leads_gives_zeros_and_every_status(api: TestClient) -> None:
    data = stats(api)

    assert data["leads"] == {
        "total": 0,
        "byStatus": {"open": 0, "qualified": 0, "won": 0, "lost": 0},
        "bySource": {},
    }
    assert data["conversion"] == {
        "qualified": 0,
        "qualificationRate": 0,
        "winRate": 0,
        "averageValue": 0,
        "totalValue": 0,
        "currency": "EUR",
        "valueByCurrency": {},
    }


def test_only_open_leads_divide_by_zero_safely(api: TestClient) -> None:
    create_lead(api)
    create_lead(api)

    conversion = stats(api)["conversion"]

    assert conversion["qualificationRate"] == 0
    assert conversion["winRate"] == 0
    assert conversion["averageValue"] == 0


def test_won_without_value_lowers_the_average(api: TestClient) -> None:
    first, second = create_lead(api), create_lead(api)
    move(api, first, "won", value="99.99")
    move(api, second, "won")

    conversion = stats(api)["conversion"]

    assert conversion["totalValue"] == 99.99
    assert conversion["averageValue"] == 49.995  # 99.99 / 2 won leads
    assert conversion["winRate"] == 1


def test_other_currencies_are_never_added_to_total_value(api: TestClient) -> None:
    eur, usd, plain = create_lead(api), create_lead(api), create_lead(api)
    move(api, eur, "won", value=300)
    move(api, usd, "won", value=1000, currency="usd")
    move(api, plain, "won", value=100)

    conversion = stats(api)["conversion"]

    assert conversion["totalValue"] == 400
    assert conversion["averageValue"] == 200  # 400 over the two EUR leads
    assert conversion["valueByCurrency"] == {"EUR": 400, "USD": 1000}
    assert conversion["winRate"] == 1


def test_period_boundaries(api: TestClient, settings: Settings) -> None:
    today = datetime.now(UTC).date()
    this_month = month_start(today)
    last_month = previous_month_start(today)
    two_months_ago = previous_month_start(last_month)
    first_instant = datetime(this_month.year, this_month.month, 1, tzinfo=UTC)
    last_instant_before = first_instant - timedelta(microseconds=1)

    at_start = create_lead(api)
    just_before = create_lead(api)
    mid_last_month = create_lead(api)
    older = create_lead(api)
    set_lead_columns(settings, at_start, created_at=first_instant)
    set_lead_columns(settings, just_before, created_at=last_instant_before)
    set_lead_columns(
        settings,
        mid_last_month,
        created_at=datetime.combine(last_month, datetime.min.time(), UTC) + timedelta(days=10),
    )
    set_lead_columns(
        settings,
        older,
        created_at=datetime(two_months_ago.year, two_months_ago.month, 5, 12, tzinfo=UTC),
    )

    current = stats(api, {"period": "current"})
    assert current["leads"]["total"] == 1
    assert current["usage"]["periodStart"] == f"{this_month.isoformat()}T00:00:00.000Z"
    month_end = month_start(this_month + timedelta(days=40)) - timedelta(days=1)
    assert current["usage"]["periodEnd"] == f"{month_end.isoformat()}T23:59:59.999Z"
    assert stats(api)["leads"]["total"] == 1  # current is the default

    previous = stats(api, {"period": "previous"})
    assert previous["leads"]["total"] == 2
    assert previous["usage"]["periodStart"] == f"{last_month.isoformat()}T00:00:00.000Z"
    assert (
        previous["usage"]["periodEnd"]
        == f"{(this_month - timedelta(days=1)).isoformat()}T23:59:59.999Z"
    )

    custom = stats(
        api,
        {
            "period": "custom",
            "startDate": two_months_ago.isoformat(),
            "endDate": (this_month - timedelta(days=1)).isoformat(),
        },
    )
    assert custom["leads"]["total"] == 3
    assert custom["usage"]["periodStart"] == f"{two_months_ago.isoformat()}T00:00:00.000Z"

    # One day, inclusive of its last microsecond.
    one_day = stats(
        api,
        {
            "period": "custom",
            "startDate": last_instant_before.date().isoformat(),
            "endDate": last_instant_before.date().isoformat(),
        },
    )
    assert one_day["leads"]["total"] == 1
    assert (
        one_day["usage"]["periodEnd"] == f"{last_instant_before.date().isoformat()}T23:59:59.999Z"
    )


def test_custom_range_across_a_year_end(api: TestClient, settings: Settings) -> None:
    inside = create_lead(api)
    outside = create_lead(api)
    set_lead_columns(
        settings, inside, created_at=datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    )
    set_lead_columns(settings, outside, created_at=datetime(2026, 1, 1, tzinfo=UTC))

    data = stats(api, {"period": "custom", "startDate": "2025-12-01", "endDate": "2025-12-31"})

    assert data["leads"]["total"] == 1
    assert data["usage"]["periodStart"] == "2025-12-01T00:00:00.000Z"
    assert data["usage"]["periodEnd"] == "2025-12-31T23:59:59.999Z"


def test_usage_against_the_workspace_limit(api: TestClient, settings: Settings) -> None:
    for _ in range(5):
        create_lead(api)
    set_workspace(settings, "acme", leads_limit=3)

    usage = stats(api)["usage"]
    assert (usage["leadsUsed"], usage["leadsLimit"], usage["lockedLeads"]) == (5, 3, 2)

    set_workspace(settings, "acme", leads_limit=10)
    usage = stats(api)["usage"]
    assert (usage["leadsUsed"], usage["leadsLimit"], usage["lockedLeads"]) == (5, 10, 0)


def test_a_body_is_required(api: TestClient) -> None:
    error_of(api.post("/api/stats"), 400, "VALIDATION_ERROR")
    error_of(api.post("/api/stats", content=b"not json"), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"period": "yearly"}, "VALIDATION_ERROR", "period"),
        ({"period": "custom"}, "VALIDATION_ERROR", "startDate"),
        ({"period": "custom", "startDate": "2026-03-01"}, "VALIDATION_ERROR", "endDate"),
        (
            {"period": "custom", "startDate": "2026-13-01", "endDate": "2026-12-31"},
            "INVALID_DATE",
            "startDate",
        ),
        (
            {"period": "custom", "startDate": "2026-03-01", "endDate": "03/31/2026"},
            "INVALID_DATE",
            "endDate",
        ),
        (
            {"period": "custom", "startDate": "2026-02-30", "endDate": "2026-03-31"},
            "INVALID_DATE",
            "startDate",
        ),
        (
            {"period": "custom", "startDate": "20260301", "endDate": "2026-03-31"},
            "INVALID_DATE",
            "startDate",
        ),
        (
            {"period": "custom", "startDate": "0001-01-01", "endDate": "2026-03-31"},
            "INVALID_DATE",
            "startDate",
        ),
        (
            {"period": "custom", "startDate": "2026-03-31", "endDate": "2026-03-01"},
            "VALIDATION_ERROR",
            "endDate",
        ),
    ],
)
def test_bad_periods_are_refused(
    api: TestClient, body: dict[str, Any], code: str, field: str
) -> None:
    error = error_of(api.post("/api/stats", json=body), 400, code)
    assert field in error["message"]


def test_roles(client: TestClient, settings: Settings) -> None:
    integration = make_key(settings, "acme", "integration")
    marketing = make_key(settings, "acme", "marketing")

    refused = client.post("/api/stats", json={}, headers={"X-API-KEY": integration})
    error = error_of(refused, 403, "FORBIDDEN")
    assert error["details"]["permission"] == "stats:read"

    allowed = client.post("/api/stats", json={}, headers={"X-API-KEY": marketing})
    assert allowed.status_code == 200

    error_of(client.post("/api/stats", json={}), 401, "UNAUTHORIZED")


def test_another_workspace_sees_none_of_acme(api: TestClient, settings: Settings) -> None:
    won = create_lead(api)
    move(api, won, "won", value=700)
    create_lead(api)
    set_workspace(settings, "acme", leads_limit=1)
    other = make_key(settings, "globex", "admin")

    response = api.post("/api/stats", json={}, headers={"X-API-KEY": other})

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["leads"]["total"] == 0
    assert data["usage"] == {**data["usage"], "leadsUsed": 0, "leadsLimit": None, "lockedLeads": 0}
    assert data["conversion"]["totalValue"] == 0
    assert stats(api)["leads"]["total"] == 2
