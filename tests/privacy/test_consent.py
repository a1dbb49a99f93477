"""The consent ledger: a visit's consent at its start is its first entry, a consent event the
page sends adds a change (once, however often the batch is sent), a lead created through the
API with consent flags adds an api entry; the API lists a visitor's or a lead's entries with
the state before and after each; a lead's consent at any moment is reconstructed from it, and
conversion uploads record it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient

from leadline.app import create_app
from leadline.config import Settings
from leadline.kit.time import utcnow
from leadline.migrations import downgrade, upgrade
from leadline.tracking import consent
from tests.fixtures.factories import fetch_rows, make_key, make_site, run_in_transaction
from tests.fixtures.leadiosa import bearer

PAGE = {"Origin": "https://shop.example", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
UNKNOWN = dict.fromkeys(("ad_personalization", "ad_storage", "ad_user_data", "analytics_storage"))


def start(client: TestClient, site: str, **more: Any) -> dict[str, Any]:
    answer = client.post(
        "/track/session/start",
        json={"siteKey": site, "url": "https://shop.example/", **more},
        headers=PAGE,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def send(client: TestClient, site: str, visit: str, *events: dict[str, Any]) -> Any:
    return client.post(
        "/track/events/batch",
        json={"siteKey": site, "sessionId": visit, "events": list(events)},
        headers=PAGE,
    )


def ledger(client: TestClient, key: str, **query: str) -> dict[str, Any]:
    answer = client.get("/api/v1/privacy/consent", params=query, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_visit_start_and_each_change_are_entries_with_before_and_after(
    settings: Settings, client: TestClient
) -> None:
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(
        client,
        site,
        visitorId="v_0123456789",
        consent={"analytics_storage": "granted", "ad_storage": "denied", "source": "tcf"},
    )
    update = {
        "type": "consent_update",
        "id": "c1",
        "data": {"ad_storage": True, "ad_user_data": True, "source": "gcm", "ga": None},
    }
    assert send(client, site, visit["session_id"], update).status_code == 200
    # Sent again (a retry), the same event is no second change.
    assert send(client, site, visit["session_id"], update).status_code == 200
    revoke = {"type": "consent_update", "id": "c2", "data": {"mode": "denied", "source": "manual"}}
    assert send(client, site, visit["session_id"], revoke).status_code == 200

    found = ledger(client, key, visitor=visit["visitor_id"])
    entries = found["data"]
    assert [entry["source"] for entry in entries] == ["tcf", "consent_mode", "banner"]
    first, change, revoked = entries
    assert first["visit_id"] == visit["session_id"]
    assert "before" not in first
    assert first["after"] == {**UNKNOWN, "analytics_storage": True, "ad_storage": False}
    assert change["stated"] == {"ad_storage": True, "ad_user_data": True}
    assert change["before"] == first["after"]
    assert change["after"] == {
        **UNKNOWN,
        "analytics_storage": True,
        "ad_storage": True,
        "ad_user_data": True,
    }
    assert revoked["after"] == dict.fromkeys(UNKNOWN, False)
    assert found["pagination"] == {"has_more": False}
    # Consent events are events too: the visit's history shows them.
    events = fetch_rows(settings, "SELECT type FROM events WHERE type = 'consent_update'")
    assert len(events) == 2


def test_the_ledger_pages_with_a_cursor(settings: Settings, client: TestClient) -> None:
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(client, site, visitorId="v_0123456789", consent={"mode": "granted"})
    for index in range(3):
        flag = "granted" if index % 2 else "denied"
        event = {"type": "consent_update", "id": f"c{index}", "data": {"ad_storage": flag}}
        assert send(client, site, visit["session_id"], event).status_code == 200
    first = ledger(client, key, visitor=visit["visitor_id"], limit="2")
    assert first["pagination"]["has_more"] is True
    second = ledger(
        client,
        key,
        visitor=visit["visitor_id"],
        limit="2",
        after=first["pagination"]["next_cursor"],
    )
    assert second["pagination"]["has_more"] is False
    ids = [entry["id"] for entry in first["data"] + second["data"]]
    assert len(set(ids)) == 4
    # A page's first entry still knows the state before it.
    assert second["data"][0]["before"] == first["data"][1]["after"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"source": "gcm"},
        {"ad_storage": "maybe"},
        {"ad_storage": 1},
        {"ad_storage": None, "analytics_storage": None, "source": "tcf"},
        {"mode": "partly"},
    ],
)
def test_a_consent_update_stating_no_flag_is_kept_as_an_event_and_changes_nothing(
    settings: Settings, client: TestClient, data: dict[str, Any]
) -> None:
    """Trackers in the field send this event: it is never refused (docs/tracker.md)."""
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(client, site)
    answer = send(client, site, visit["session_id"], {"type": "consent_update", "data": data})
    assert answer.status_code == 200, answer.text
    # Nothing is stored: the visit's start, read from its row, is its only entry.
    assert fetch_rows(settings, "SELECT source FROM consent_changes") == []
    found = ledger(client, key, visitor=visit["visitor_id"])["data"]
    assert [entry["source"] for entry in found] == ["none"]
    assert len(fetch_rows(settings, "SELECT id FROM events")) == 1


def test_a_lead_from_the_api_with_consent_adds_an_api_entry_and_is_reconstructed(
    settings: Settings, client: TestClient
) -> None:
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(client, site, visitorId="v_0123456789", consent={"mode": "denied"})
    answer = client.post(
        "/api/leads",
        json={
            "name": "Ada",
            "email": "ada@shop.example",
            "sessionId": visit["session_id"],
            "ad_storage": True,
            "ad_user_data": True,
        },
        headers={"X-API-KEY": key},
    )
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["data"]["id"]
    # A lead without consent flags adds none.
    plain = client.post("/api/leads", json={"name": "Bo"}, headers={"X-API-KEY": key})
    assert plain.status_code == 201, plain.text

    found = ledger(client, key, lead=lead_id)["data"]
    assert [entry["source"] for entry in found] == ["site", "api"]
    api = found[1]
    assert api["lead_id"] == lead_id
    assert api["stated"] == {"ad_storage": True, "ad_user_data": True}
    assert api["after"] == {
        "ad_storage": True,
        "ad_user_data": True,
        "ad_personalization": False,
        "analytics_storage": False,
    }
    assert ledger(client, key, lead=plain.json()["data"]["id"])["data"] == []

    workspace_id = _workspace(settings)

    async def at(session: AsyncSession, moment: Any) -> consent.ConsentState:
        return await consent.consent_at(
            session, workspace_id, visit_id=visit["session_id"], lead_id=lead_id, at=moment
        )

    before_capture = run_in_transaction(
        settings, lambda session: at(session, utcnow() - timedelta(days=1))
    )
    assert before_capture.entry_id is None
    now = run_in_transaction(settings, lambda session: at(session, utcnow()))
    assert now.entry_id == api["id"]
    assert now.flags == api["after"]


def _workspace(settings: Settings) -> str:
    return str(fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"])


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"visitor": "v_0123456789", "lead": "lead_1"},
        {"visitor": ""},
        {"lead": ""},
        {"visitor": "x" * 65},
        {"visitor": "v_0123456789", "after": "not-a-cursor"},
    ],
)
def test_the_ledger_refuses_bad_queries(
    settings: Settings, client: TestClient, query: dict[str, str]
) -> None:
    key = make_key(settings, "acme", "admin")
    answer = client.get("/api/v1/privacy/consent", params=query, headers=bearer(key))
    assert answer.status_code in (400, 422), answer.text
    assert "error" in answer.json()


def test_an_unknown_lead_is_not_found_and_other_workspaces_see_nothing(
    settings: Settings, client: TestClient
) -> None:
    site = make_site(settings, "acme", "shop.example")
    other = make_key(settings, "other", "admin")
    visit = start(client, site, visitorId="v_0123456789", consent={"mode": "granted"})
    answer = client.get(
        "/api/v1/privacy/consent", params={"lead": "lead_nope"}, headers=bearer(other)
    )
    assert answer.status_code == 404
    assert ledger(client, other, visitor=visit["visitor_id"])["data"] == []
    marketing = make_key(settings, "acme", "marketing")
    answer = client.get(
        "/api/v1/privacy/consent",
        params={"visitor": visit["visitor_id"]},
        headers=bearer(marketing),
    )
    assert answer.status_code == 403


def end(client: TestClient, site: str, visit: str) -> None:
    answer = client.post(
        "/track/session/end", json={"siteKey": site, "sessionId": visit}, headers=PAGE
    )
    assert answer.status_code == 200, answer.text


def resume(client: TestClient, site: str, visit: dict[str, Any], **more: Any) -> None:
    """The next page of the visit: its end, then a start naming it (which resumes it)."""
    end(client, site, visit["session_id"])
    again = start(
        client, site, visitorId=visit["visitor_id"], sessionId=visit["session_id"], **more
    )
    assert again["session_id"] == visit["session_id"]


def test_a_visit_resumed_with_another_consent_records_the_change(
    settings: Settings, client: TestClient
) -> None:
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(client, site, visitorId="v_0123456789", consent={"mode": "granted"})
    # The next page with the same consent, or stating none, changes nothing.
    resume(client, site, visit, consent={"mode": "granted"})
    resume(client, site, visit)
    assert fetch_rows(settings, "SELECT id FROM consent_changes") == []
    # The next page comes denied: that is a change, in the visit's ledger.
    resume(client, site, visit, consent={"mode": "denied", "source": "tcf"})
    found = ledger(client, key, visitor=visit["visitor_id"])["data"]
    assert [entry["source"] for entry in found] == ["site", "tcf"]
    first, change = found
    assert first["after"] == dict.fromkeys(UNKNOWN, True)
    assert change["visit_id"] == visit["session_id"]
    assert change["stated"] == dict.fromkeys(UNKNOWN, False)
    assert change["before"] == first["after"]
    assert change["after"] == dict.fromkeys(UNKNOWN, False)
    # Denied again: no second change. Then one flag granted again: only it is stated.
    resume(client, site, visit, consent={"mode": "denied"})
    resume(
        client,
        site,
        visit,
        consent={
            "analytics_storage": "granted",
            "ad_storage": "denied",
            "ad_user_data": "denied",
            "ad_personalization": "denied",
        },
    )
    found = ledger(client, key, visitor=visit["visitor_id"])["data"]
    assert [entry["source"] for entry in found] == ["site", "tcf", "manual"]
    assert found[2]["stated"] == {"analytics_storage": True}
    assert found[2]["after"] == {**dict.fromkeys(UNKNOWN, False), "analytics_storage": True}
    rows = fetch_rows(settings, "SELECT visit_id, visitor_id FROM consent_changes")
    assert rows == [{"visit_id": visit["session_id"], "visitor_id": "v_0123456789"}] * 2


def test_a_resume_compares_with_the_consent_as_the_ledger_left_it(
    settings: Settings, client: TestClient
) -> None:
    """A change reported by a consent event counts: resumed with the consent it set, the
    visit records nothing more; and a writer that does not remember the visit (another
    process, or after a restart) reads the visit's consent before comparing."""
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(client, site, visitorId="v_0123456789", consent={"mode": "granted"})
    revoke = {"type": "consent_update", "id": "c1", "data": {"mode": "denied", "source": "gcm"}}
    assert send(client, site, visit["session_id"], revoke).status_code == 200
    with TestClient(create_app(settings)) as fresh:
        resume(fresh, site, visit, consent={"mode": "denied"})
        found = ledger(fresh, key, visitor=visit["visitor_id"])["data"]
        assert [entry["source"] for entry in found] == ["site", "consent_mode"]
        resume(fresh, site, visit, consent={"mode": "granted", "source": "gcm"})
    with TestClient(create_app(settings)) as other:
        resume(other, site, visit, consent={"mode": "granted"})
        found = ledger(other, key, visitor=visit["visitor_id"])["data"]
    assert [entry["source"] for entry in found] == ["site", "consent_mode", "gcm"]
    assert found[2]["stated"] == dict.fromkeys(UNKNOWN, True)


def test_a_leads_consent_is_reconstructed_from_its_visits_row_and_changes(
    settings: Settings, client: TestClient
) -> None:
    """The visit's start is not stored: consent at capture comes from the visit's row, and
    each later change from the ledger."""
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    visit = start(
        client,
        site,
        visitorId="v_0123456789",
        consent={"analytics_storage": "granted", "ad_storage": "granted", "source": "tcf"},
    )
    answer = client.post(
        "/api/leads",
        json={"name": "Ada", "email": "ada@shop.example", "sessionId": visit["session_id"]},
        headers={"X-API-KEY": key},
    )
    assert answer.status_code == 201, answer.text
    lead_id = answer.json()["data"]["id"]
    captured = utcnow()
    resume(client, site, visit, consent={"mode": "denied"})
    workspace_id = _workspace(settings)

    async def at(session: AsyncSession, moment: Any) -> consent.ConsentState:
        return await consent.consent_at(
            session, workspace_id, visit_id=visit["session_id"], lead_id=lead_id, at=moment
        )

    then = run_in_transaction(settings, lambda session: at(session, captured))
    assert then.flags == {**UNKNOWN, "analytics_storage": True, "ad_storage": True}
    assert then.entry_id == consent.start_id(visit["session_id"])
    now = run_in_transaction(settings, lambda session: at(session, utcnow()))
    assert now.flags == dict.fromkeys(UNKNOWN, False)
    [change] = fetch_rows(settings, "SELECT id FROM consent_changes")
    assert now.entry_id == change["id"]
    before_visit = run_in_transaction(
        settings, lambda session: at(session, utcnow() - timedelta(days=1))
    )
    assert before_visit.entry_id is None
    assert ledger(client, key, lead=lead_id)["data"][0]["id"] == consent.start_id(
        visit["session_id"]
    )


def test_the_migration_moves_visit_starts_out_of_the_ledger_and_back(
    settings: Settings, client: TestClient
) -> None:
    site = make_site(settings, "acme", "shop.example")
    visit = start(
        client,
        site,
        visitorId="v_0123456789",
        consent={"analytics_storage": "granted", "ad_storage": "denied", "source": "tcf"},
    )
    update = {"type": "consent_update", "id": "c1", "data": {"ad_storage": True}}
    assert send(client, site, visit["session_id"], update).status_code == 200
    [change] = fetch_rows(settings, "SELECT id, source, flags FROM consent_changes")
    query = "SELECT id, source, flags, visitor_id FROM consent_changes ORDER BY source"
    try:
        # Back to where each visit's start was stored: it is, as the writer wrote it.
        downgrade(settings, "d9e4a1c7b3f2")
        assert fetch_rows(settings, query) == [
            {**change, "visitor_id": "v_0123456789"},
            {
                "id": consent.start_id(visit["session_id"]),
                "source": "tcf",
                "flags": '{"ad_storage":false,"analytics_storage":true}',
                "visitor_id": "v_0123456789",
            },
        ]
    finally:
        upgrade(settings)
    # Forward again: only the change is stored.
    assert fetch_rows(settings, "SELECT id, source, flags FROM consent_changes") == [change]


def test_the_ledger_pages_one_by_one_across_visit_starts(
    settings: Settings, client: TestClient
) -> None:
    """A cursor may stop at a visit's start (read from its row) as at a stored change."""
    site = make_site(settings, "acme", "shop.example")
    key = make_key(settings, "acme", "admin")
    first = start(client, site, visitorId="v_0123456789", consent={"mode": "granted"})
    revoke = {"type": "consent_update", "id": "c1", "data": {"mode": "denied"}}
    assert send(client, site, first["session_id"], revoke).status_code == 200
    # A new visit of the same visitor (an ad click starts one).
    second = start(
        client,
        site,
        visitorId="v_0123456789",
        url="https://shop.example/?gclid=abc123",
        consent={"mode": "granted", "source": "gcm"},
    )
    assert second["session_id"] != first["session_id"]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"visitor": "v_0123456789", "limit": "1"}
        if cursor is not None:
            query["after"] = cursor
        found = ledger(client, key, **query)
        seen.extend(found["data"])
        if not found["pagination"]["has_more"]:
            break
        cursor = found["pagination"]["next_cursor"]
    assert [entry["id"] for entry in seen] == [
        consent.start_id(first["session_id"]),
        seen[1]["id"],
        consent.start_id(second["session_id"]),
    ]
    assert [entry["source"] for entry in seen] == ["site", "banner", "gcm"]
    # Each visit's thread folds on its own: the second starts afresh.
    assert "before" not in seen[2]
    assert seen[1]["before"] == dict.fromkeys(UNKNOWN, True)
