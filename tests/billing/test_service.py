"""A workspace's subscription: the configured plan and cycle, and its usage this cycle counted
for real (leads created, events tracked), each beside its configured limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.audit.service import Actor
from leadline.billing import service as billing
from leadline.config import Settings
from leadline.models import TrackingDaily
from leadline.sites import service as sites
from tests.fixtures.factories import (
    fetch_rows,
    make_key,
    make_site,
    run_in_transaction,
    set_lead_columns,
)
from tests.fixtures.leadiosa import workspace_id
from tests.fixtures.workspaces import BROWSER

# A cycle of day 31 that starts on the 30th of April (a 30-day month) and ends on 31 May.
TODAY = date(2026, 5, 12)
CYCLE_DAY = 31
START = datetime(2026, 4, 30, tzinfo=UTC)
END = datetime(2026, 5, 31, tzinfo=UTC)


def subscription(
    settings: Settings, slug: str = "acme", today: date | None = None
) -> billing.Subscription:
    ws = workspace_id(settings, slug)
    return run_in_transaction(
        settings, lambda session: billing.subscription(session, ws, settings, today=today)
    )


def used(found: billing.Subscription) -> dict[str, int]:
    return {item.name: item.used for item in found.usage}


def create_leads(api: TestClient, count: int) -> list[str]:
    ids = []
    for n in range(count):
        answer = api.post("/api/leads", json={"name": f"Lead {n}"})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["data"]["id"])
    return ids


def test_the_plan_and_cycle_come_from_the_settings(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "billing_plan": "Team",
            "billing_cycle_day": CYCLE_DAY,
            "billing_limit_leads": 1000,
            "billing_limit_messages": 0,
        }
    )
    found = subscription(configured, today=TODAY)
    assert (found.plan, found.provider, found.cycle_day) == ("Team", "none", CYCLE_DAY)
    assert (found.cycle.starts_at, found.cycle.ends_at) == (START, END)
    limits = {item.name: item.limit for item in found.usage}
    assert limits == {
        "conversations": None,
        "messages": 0,
        "ai_tokens": None,
        "leads": 1000,
        "events": None,
    }


def test_the_defaults_are_a_self_hosted_plan_in_calendar_months(settings: Settings) -> None:
    found = subscription(settings, today=date(2026, 2, 14))
    assert (found.plan, found.provider, found.cycle_day) == ("self-hosted", "none", 1)
    assert found.cycle == billing.Cycle(date(2026, 2, 1), date(2026, 3, 1))
    assert used(found) == {
        "conversations": 0,
        "messages": 0,
        "ai_tokens": 0,
        "leads": 0,
        "events": 0,
    }


def test_leads_created_in_the_cycle_are_counted(settings: Settings, api: TestClient) -> None:
    configured = settings.model_copy(update={"billing_cycle_day": CYCLE_DAY})
    ids = create_leads(api, 5)
    microsecond = timedelta(microseconds=1)
    for lead_id, created in zip(
        ids,
        [START - microsecond, START, END - microsecond, END, START + timedelta(days=3)],
        strict=True,
    ):
        set_lead_columns(settings, lead_id, created_at=created)
    # Another workspace's lead, in the cycle.
    other = api.post(
        "/api/leads",
        json={"name": "Elsewhere"},
        headers={"X-API-KEY": make_key(settings, "other", "admin")},
    )
    set_lead_columns(settings, other.json()["data"]["id"], created_at=START)

    assert used(subscription(configured, today=TODAY))["leads"] == 3
    # The previous cycle holds the first; the next one the fourth.
    assert used(subscription(configured, today=date(2026, 4, 29)))["leads"] == 1
    assert used(subscription(configured, today=date(2026, 5, 31)))["leads"] == 1


def test_events_tracked_this_cycle_are_counted(settings: Settings, client: TestClient) -> None:
    site_key = make_site(settings, "acme", "shop.example")
    page = {"Origin": "https://shop.example", "User-Agent": BROWSER}
    started = client.post(
        "/track/session/start",
        json={"siteKey": site_key, "url": "https://shop.example/"},
        headers=page,
    )
    visit = started.json()["session_id"]
    events = [
        {"type": "page_view", "id": f"e{n}", "url": "https://shop.example/"} for n in range(7)
    ]
    for chunk in (events[:4], events[4:], events[:2]):  # the last, sent again, adds nothing
        answer = client.post(
            "/track/events/batch",
            json={"siteKey": site_key, "sessionId": visit, "events": chunk},
            headers=page,
        )
        assert answer.status_code == 200, answer.text
    client.post(
        "/track/event",
        json={"siteKey": site_key, "sessionId": visit, "type": "click", "id": "c1"},
        headers=page,
    )
    (stored,) = fetch_rows(settings, "SELECT count(*) AS n FROM events")
    assert stored["n"] == 8

    assert used(subscription(settings))["events"] == 8


def test_events_count_the_cycles_days_of_the_workspaces_sites(settings: Settings) -> None:
    configured = settings.model_copy(update={"billing_cycle_day": CYCLE_DAY})
    ws = workspace_id(settings, "acme")
    other = workspace_id(settings, "other")
    live = _site_id(settings, make_site(settings, "acme", "shop.example"))
    gone = _site_id(settings, make_site(settings, "acme", "old.example"))
    elsewhere = _site_id(settings, make_site(settings, "other", "other.example"))
    run_in_transaction(settings, lambda session: sites.delete_site(session, ws, gone, Actor.cli()))
    rows = [
        # site, day, dimension, events: counted when on the total row of a day of the cycle
        (live, date(2026, 4, 29), "total", 1000),
        (live, date(2026, 4, 30), "total", 10),
        (live, date(2026, 5, 30), "total", 20),
        (live, date(2026, 5, 31), "total", 2000),
        (live, date(2026, 5, 1), "event", 3000),  # the same events again, by type
        (gone, date(2026, 5, 2), "total", 5),  # a deleted site's events were tracked all the same
        (elsewhere, date(2026, 5, 2), "total", 4000),
    ]

    async def store(session: AsyncSession) -> None:
        for site_id, day, dimension, events in rows:
            owner = other if site_id == elsewhere else ws
            session.add(
                TrackingDaily(
                    site_id=site_id,
                    day=day,
                    dimension=dimension,
                    value="" if dimension == "total" else "page_view",
                    workspace_id=owner,
                    events=events,
                )
            )

    run_in_transaction(settings, store)

    assert used(subscription(configured, today=TODAY))["events"] == 35


def _site_id(settings: Settings, site_key: str) -> str:
    (row,) = fetch_rows(settings, "SELECT id FROM sites WHERE site_key = :k", k=site_key)
    return str(row["id"])
