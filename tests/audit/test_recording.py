"""What is recorded, by whom and from where: leads over HTTP, keys and workspaces from the CLI."""

from __future__ import annotations

import getpass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.auth import service as auth
from leadline.cli import app
from leadline.config import Settings
from leadline.errors import ValidationFailed
from leadline.kit.context import current_request
from leadline.leads import service as leads
from leadline.leads.schemas import LeadCreate
from tests.fixtures.audit import audit_rows, head_of
from tests.fixtures.factories import fetch_rows, make_key, run_in_transaction, set_workspace

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AuditTest/1.0"


def key_id_of(settings: Settings, token: str) -> str:
    prefixes = fetch_rows(settings, "SELECT id, prefix FROM api_keys")
    (key_id,) = [row["id"] for row in prefixes if token.startswith(row["prefix"])]
    return str(key_id)


def os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def lead_events(settings: Settings, lead_id: str) -> list[dict[str, Any]]:
    return audit_rows(settings, target_id=lead_id)


def after(value: Any) -> dict[str, Any]:
    return {"before": None, "after": value}


# ------------------------------------------------------------------------------------ leads


def test_creating_a_lead_records_who_what_and_from_where(
    api: TestClient, settings: Settings, admin_key: str
) -> None:
    response = api.post(
        "/api/leads",
        json={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "value": 1500.50,
            "currency": "usd",
            "custom": {"company": "Analytical", "seats": 3},
            "utm_source": "newsletter",
        },
        headers={"User-Agent": BROWSER},
    )
    assert response.status_code == 201, response.text
    lead_id = response.json()["data"]["id"]

    (event,) = lead_events(settings, lead_id)
    assert event["action"] == "lead.created"
    assert (event["actor_type"], event["actor_id"]) == ("key", key_id_of(settings, admin_key))
    assert (event["target_type"], event["target_id"]) == ("lead", lead_id)
    assert event["request_id"] == response.headers["X-Request-ID"]
    assert event["ip"] == "testclient"
    assert event["user_agent"] == BROWSER
    # Personal data is recorded as set, never by value: erasing it later leaves the log alone.
    assert event["changes"] == {
        "name": after("[personal data]"),
        "email": after("[personal data]"),
        "value": after("1500.5"),
        "currency": after("USD"),
        "custom": after("[personal data]"),
        "utm_source": after("newsletter"),
        "status": after("open"),
        "source": after("api"),
    }


def test_a_long_user_agent_is_cut_to_what_the_log_keeps(
    api: TestClient, settings: Settings
) -> None:
    agent = "Bot/1.0 " + "x" * 600
    response = api.post("/api/leads", json={"name": "Ada"}, headers={"User-Agent": agent})
    assert response.status_code == 201, response.text
    (event,) = lead_events(settings, response.json()["data"]["id"])
    assert event["user_agent"] == agent[:512]


def test_updates_record_status_changes_and_field_changes_with_before_and_after(
    api: TestClient, settings: Settings, admin_key: str
) -> None:
    lead_id = api.post("/api/leads", json={"name": "Grace"}).json()["data"]["id"]

    moved = api.patch(
        "/api/leads",
        json={"id": lead_id, "status": "qualified", "value": 5000, "note": "called back"},
        headers={"User-Agent": BROWSER},
    )
    assert moved.status_code == 200, moved.text
    qualified_at = api.get(f"/api/leads/{lead_id}").json()["data"]["qualifiedAt"]

    created, status_changed, updated = lead_events(settings, lead_id)
    assert created["action"] == "lead.created"
    assert status_changed["action"] == "lead.status_changed"
    assert updated["action"] == "lead.updated"
    assert status_changed["seq"] < updated["seq"]
    for event in (status_changed, updated):
        assert event["request_id"] == moved.headers["X-Request-ID"]
        assert event["user_agent"] == BROWSER
        assert (event["actor_type"], event["actor_id"]) == ("key", key_id_of(settings, admin_key))
    assert status_changed["changes"]["status"] == {"before": "open", "after": "qualified"}
    stamped = status_changed["changes"]["qualified_at"]
    assert stamped["before"] is None
    assert stamped["after"][:23] == qualified_at[:23]  # the API shows milliseconds
    assert set(status_changed["changes"]) == {"status", "qualified_at"}
    assert updated["changes"] == {
        "value": {"before": None, "after": "5000"},
        "currency": {"before": None, "after": "EUR"},  # the workspace's default
        "note": {"before": None, "after": "[personal data]"},
    }

    # Won: only the status moves, qualified_at was already set.
    assert api.patch("/api/leads", json={"id": lead_id, "status": "won"}).status_code == 200
    assert lead_events(settings, lead_id)[-1]["changes"] == {
        "status": {"before": "qualified", "after": "won"}
    }

    # A changed note is an update with its old value; the same note again changes nothing.
    assert api.patch("/api/leads", json={"id": lead_id, "note": "signed"}).status_code == 200
    assert lead_events(settings, lead_id)[-1]["changes"] == {
        "note": {"before": "[personal data]", "after": "[personal data]"}
    }
    count = len(lead_events(settings, lead_id))
    assert api.patch("/api/leads", json={"id": lead_id, "note": "signed"}).status_code == 200
    assert len(lead_events(settings, lead_id)) == count


def test_a_bulk_update_records_one_event_per_lead(api: TestClient, settings: Settings) -> None:
    set_workspace(settings, "acme", allow_bulk_updates=True)
    ids = [
        api.post("/api/leads", json={"email": "twin@example.com"}).json()["data"]["id"]
        for _ in range(2)
    ]
    response = api.patch(
        "/api/leads", json={"email": "twin@example.com", "status": "lost", "lossReason": "price"}
    )
    assert response.json()["data"]["leadsUpdated"] == 2
    for lead_id in ids:
        _, status_changed, updated = lead_events(settings, lead_id)
        assert status_changed["changes"] == {"status": {"before": "open", "after": "lost"}}
        assert updated["changes"] == {"loss_reason": {"before": None, "after": "price"}}


def test_failed_requests_record_nothing(
    api: TestClient, client: TestClient, settings: Settings
) -> None:
    for _ in range(2):
        api.post("/api/leads", json={"email": "dup@example.com"})
    before = audit_rows(settings)
    head = head_of(settings)

    refused = [
        api.post("/api/leads", json={"email": "not an email"}),
        api.patch("/api/leads", json={"email": "dup@example.com", "status": "won"}),
        api.patch("/api/leads", json={"id": "lead_missing", "status": "won"}),
        client.post(
            "/api/leads",
            json={"name": "Eve"},
            headers={"X-API-KEY": make_key(settings, "acme", "marketing")},
        ),
    ]
    assert [r.status_code for r in refused] == [400, 409, 404, 403]
    # Only the marketing key's own creation was recorded, before its refused request.
    new = audit_rows(settings)[len(before) :]
    assert [event["action"] for event in new] == ["api_key.created"]
    assert audit_rows(settings)[: len(before)] == before
    assert head is not None
    assert head_of(settings) == {"seq": head["seq"] + 1, "hash": new[0]["hash"]}


def test_an_event_rides_the_transaction_of_its_change(settings: Settings, admin_key: str) -> None:
    """A change that is rolled back after recording its event leaves no event and no seq used."""
    head = head_of(settings)

    async def work(session: AsyncSession) -> None:
        principal = await auth.authenticate(session, admin_key)
        await leads.create_lead(session, principal, LeadCreate(name="Rolled back"))
        raise ValidationFailed("something later in the request failed")

    with pytest.raises(ValidationFailed):
        run_in_transaction(settings, work)
    assert not audit_rows(settings, action="lead.created")
    assert head_of(settings) == head

    async def commit(session: AsyncSession) -> None:
        principal = await auth.authenticate(session, admin_key)
        await leads.create_lead(session, principal, LeadCreate(name="Kept"))

    run_in_transaction(settings, commit)
    (event,) = audit_rows(settings, action="lead.created")
    assert head is not None
    assert event["seq"] == head["seq"] + 1
    assert event["prev_hash"] == head["hash"]
    assert event["request_id"] is None  # no request: called outside HTTP
    assert event["ip"] is None


def test_there_is_no_request_context_outside_a_request() -> None:
    assert current_request() is None


def test_ad_spend_imports_are_recorded(api: TestClient, settings: Settings) -> None:
    rows = [{"date": "2026-03-10", "platform": "googleads", "campaignId": "1", "spend": 10}]
    assert api.post("/api/ad-spend/import", json={"rows": rows}).status_code == 200
    assert api.post("/api/ad-spend/import", json={"rows": rows}).status_code == 200
    first, second = audit_rows(settings, action="ad_spend.imported")
    assert first["changes"] == {"rows": after(1), "inserted": after(1), "replaced": after(0)}
    assert second["changes"] == {"rows": after(1), "inserted": after(0), "replaced": after(1)}
    assert first["actor_type"] == "key"


# -------------------------------------------------------------------------- command line


def test_keys_created_and_revoked_from_the_cli_record_the_cli_actor(
    cli: CliRunner, settings: Settings
) -> None:
    created = cli.invoke(
        app, ["keys", "create", "--workspace", "newco", "--role", "integration", "--name", "Zap"]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    key_id = key_id_of(settings, token)

    workspace_created, key_created = audit_rows(settings, "newco")
    assert workspace_created["action"] == "workspace.created"
    assert workspace_created["changes"]["slug"] == after("newco")
    assert key_created["action"] == "api_key.created"
    assert (key_created["target_type"], key_created["target_id"]) == ("api_key", key_id)
    assert key_created["changes"] == {
        "name": after("Zap"),
        "role": after("integration"),
        # What key lists show of a generated key: its first ten characters, never the rest.
        "prefix": after(token[:10]),
    }
    stored = fetch_rows(settings, "SELECT prefix FROM api_keys")[0]["prefix"]
    assert stored == token[:10]
    digest = fetch_rows(settings, "SELECT key_hash FROM api_keys")[0]["key_hash"]
    for event in audit_rows(settings, "newco"):
        assert (event["actor_type"], event["actor_id"]) == ("cli", os_user())
        assert event["request_id"] is None
        assert token not in str(event)
        assert digest not in str(event)

    revoked = cli.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    event = audit_rows(settings, "newco")[-1]
    assert (event["action"], event["target_id"], event["actor_type"]) == (
        "api_key.revoked",
        key_id,
        "cli",
    )
    assert event["changes"]["revoked_at"]["before"] is None
    assert event["changes"]["revoked_at"]["after"].endswith("Z")

    # Revoking a revoked key changes nothing, so records nothing.
    assert cli.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert len(audit_rows(settings, "newco")) == 3


def test_workspace_updates_record_only_what_changed(
    cli: CliRunner, settings: Settings, admin_key: str
) -> None:
    result = cli.invoke(
        app, ["workspaces", "update", "acme", "--currency", "usd", "--leads-limit", "500"]
    )
    assert result.exit_code == 0, result.output
    event = audit_rows(settings, action="workspace.updated")[-1]
    assert (event["actor_type"], event["actor_id"]) == ("cli", os_user())
    assert event["target_type"] == "workspace"
    assert event["changes"] == {
        "default_currency": {"before": "EUR", "after": "USD"},
        "leads_limit": {"before": None, "after": 500},
    }

    # The same values again: no change, no event.
    cli.invoke(app, ["workspaces", "update", "acme", "--currency", "USD"])
    assert len(audit_rows(settings, action="workspace.updated")) == 1

    cli.invoke(app, ["workspaces", "update", "acme", "--unlimited", "--allow-bulk-updates"])
    assert audit_rows(settings, action="workspace.updated")[-1]["changes"] == {
        "leads_limit": {"before": 500, "after": None},
        "allow_bulk_updates": {"before": False, "after": True},
    }

    # A refused update records nothing.
    assert cli.invoke(app, ["workspaces", "update", "acme", "--currency", "euro"]).exit_code != 0
    assert len(audit_rows(settings, action="workspace.updated")) == 2
