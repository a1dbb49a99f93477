"""Erasing a person: their submissions, leads (with status history) and the visits they came
from, in one transaction; tombstones that recognise them later without holding their data;
a receipt that proves what was done; the workspace's choice when they come back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.privacy import service as privacy
from leadline.privacy.service import Receipt
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import (
    fetch_rows,
    make_form,
    make_key,
    make_site,
    run_in_transaction,
    set_workspace,
)

PAGE = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
FORM = {
    "fields": [
        {"name": "FIRSTNAME", "label": "Name"},
        {"name": "EMAIL", "type": "email", "label": "Email"},
        {"name": "PHONE", "type": "tel", "label": "Phone"},
    ],
}


def erase(settings: Settings, slug: str = "acme", **person: list[str]) -> Receipt:
    async def work(session: AsyncSession) -> Receipt:
        workspace = await workspaces.require(session, slug)
        return await privacy.erase(
            session,
            workspace.id,
            Actor.cli(),
            emails=person.get("emails", []),
            phones=person.get("phones", []),
        )

    return run_in_transaction(settings, work)


def tracked_capture(client: TestClient, site: str, **fields: str) -> str:
    visit = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/?gclid=G-1", "referrer": ""},
        headers=PAGE,
    ).json()
    client.post(
        "/track/events/batch",
        json={
            "siteKey": site,
            "sessionId": visit["session_id"],
            "events": [{"type": "scroll", "data": {"depth": 50}}],
        },
        headers=PAGE,
    )
    answer = client.post(
        "/lead.capture",
        json={
            "siteKey": site,
            "formId": "enquiry",
            **fields,
            "__visitor_id": visit["visitor_id"],
            "__session_id": visit["session_id"],
        },
        headers=PAGE,
    )
    assert answer.status_code == 200, answer.text
    session_id: str = visit["session_id"]
    return session_id


@pytest.fixture
def site(settings: Settings) -> str:
    key = make_site(settings, "acme", "shop.example")
    make_form(settings, key, FORM)
    return key


def _count(settings: Settings, table: str, where: str = "", **params: Any) -> int:
    rows = fetch_rows(settings, f"SELECT COUNT(*) AS n FROM {table} {where}", **params)
    return int(rows[0]["n"])


def test_a_person_leaves_no_lead_submission_or_linked_visit_behind(
    api: TestClient, settings: Settings, site: str
) -> None:
    visit_id = tracked_capture(
        api, site, FIRSTNAME="Ada", EMAIL="Ada@Example.com", PHONE="+44 20 7946 0000"
    )
    api.post("/api/leads", json={"name": "Ada again", "email": "ada@example.com"})
    other = api.post("/api/leads", json={"name": "Grace", "email": "grace@example.com"})
    assert other.status_code == 201, other.text
    (lead_id,) = [
        row["id"]
        for row in fetch_rows(settings, "SELECT id FROM leads")
        if row["id"] != other.json()["data"]["id"]
    ][:1]
    api.patch("/api/leads", json={"id": lead_id, "status": "qualified"})

    receipt = erase(settings, emails=["ADA@example.com"])

    listed = api.get("/api/leads").json()
    assert [lead["email"] for lead in listed["data"]] == ["grace@example.com"]
    assert listed["meta"]["pagination"]["total"] == 1
    assert _count(settings, "lead_submissions") == 0
    assert _count(settings, "lead_status_changes", "WHERE lead_id = :id", id=lead_id) == 0
    (visit,) = fetch_rows(settings, "SELECT * FROM visits WHERE id = :id", id=visit_id)
    assert (visit["visitor_id"], visit["user_agent"], visit["device_id"]) == (None, None, None)
    events = fetch_rows(settings, "SELECT data FROM events WHERE visit_id = :id", id=visit_id)
    assert events
    assert all(row["data"] == "{}" for row in events)
    assert receipt.counts["leads"] == 2
    assert receipt.counts["lead_submissions"] == 1
    assert receipt.counts["lead_status_changes"] >= 3
    assert receipt.counts["visits"] == 1
    assert receipt.matched == {"email": "A***@example.com"}
    assert receipt.receipt_hash == privacy.receipt_hash(
        receipt.id,
        receipt.workspace_id,
        receipt.erased_at,
        receipt.actor,
        None,
        receipt.matched,
        receipt.counts,
    )
    # What is left names the person nowhere.
    for table in ("tombstones", "erasures", "audit_events", "webhook_events", "leads"):
        for row in fetch_rows(settings, f"SELECT * FROM {table}"):
            assert "ada@example.com" not in json.dumps(row, default=str).lower(), table
    assert {row["kind"] for row in fetch_rows(settings, "SELECT kind FROM tombstones")} == {
        "email",
        "phone",
    }


def test_counts_stay_exact_after_an_erasure(api: TestClient, settings: Settings) -> None:
    for n in range(3):
        api.post("/api/leads", json={"name": f"P{n}", "email": f"p{n}@example.com", "gclid": "g"})
    erase(settings, emails=["p1@example.com"])
    (workspace,) = fetch_rows(settings, "SELECT lead_count FROM workspaces WHERE slug = 'acme'")
    assert workspace["lead_count"] == 2
    assert api.get("/api/leads?gclid[exists]=true").json()["meta"]["pagination"]["total"] == 2


def test_a_returning_person_is_accepted_anew_and_recognised(
    api: TestClient, settings: Settings
) -> None:
    api.post("/api/leads", json={"name": "Ada", "phone": "+44 20 7946 0000"})
    erase(settings, phones=["+442079460000"])
    again = api.post("/api/leads", json={"name": "Ada", "phone": "+44 (20) 7946-0000"})
    assert again.status_code == 201, again.text
    (event,) = fetch_rows(
        settings,
        "SELECT changes FROM audit_events WHERE target_id = :id AND action = 'lead.created'",
        id=again.json()["data"]["id"],
    )
    assert "returned_after_erasure" in event["changes"]


def test_a_workspace_that_refuses_returning_people_refuses_them(
    api: TestClient, client: TestClient, settings: Settings, site: str
) -> None:
    api.post("/api/leads", json={"name": "Ada", "email": "ada@example.com"})
    erase(settings, emails=["ada@example.com"])
    set_workspace(settings, "acme", erased_returns="refuse")
    refused = api.post("/api/leads", json={"name": "Ada", "email": "ADA@example.com"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["success"] is False
    captured = client.post(
        "/lead.capture",
        json={"siteKey": site, "formId": "enquiry", "FIRSTNAME": "Ada", "EMAIL": "ada@example.com"},
        headers=PAGE,
    )
    assert captured.status_code == 409, captured.text
    assert _count(settings, "leads") == 0
    assert _count(settings, "lead_submissions") == 0
    # Someone else is welcome.
    assert api.post("/api/leads", json={"email": "grace@example.com"}).status_code == 201


def test_an_erasure_touches_no_other_workspace(api: TestClient, settings: Settings) -> None:
    other = make_key(settings, "globex", "admin")
    api.post("/api/leads", json={"email": "ada@example.com"})
    api.post("/api/leads", json={"email": "ada@example.com"}, headers={"X-API-KEY": other})
    receipt = erase(settings, emails=["ada@example.com"])
    assert receipt.counts["leads"] == 1
    listed = api.get("/api/leads", headers={"X-API-KEY": other}).json()
    assert [lead["email"] for lead in listed["data"]] == ["ada@example.com"]
    assert _count(settings, "tombstones") == 1


def test_an_erasure_that_matches_nothing_still_leaves_a_receipt(settings: Settings) -> None:
    make_key(settings, "acme", "admin")
    receipt = erase(settings, emails=["nobody@example.com"])
    assert receipt.counts["leads"] == 0
    (row,) = fetch_rows(settings, "SELECT * FROM erasures")
    assert row["receipt_hash"] == receipt.receipt_hash
    assert "nobody@example.com" not in row["matched"]
