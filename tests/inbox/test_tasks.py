"""The inbox's jobs: a snooze ends on time; unanswered conversations are handed on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient

from leadline.config import Settings
from leadline.db import Database
from leadline.inbox import rules as inbox_rules
from leadline.inbox import service as inbox
from leadline.inbox.schemas import InboxUsage
from leadline.jobs import service as jobs
from leadline.jobs.registry import get_task, load_tasks, schedules
from leadline.kit.time import iso_millis, parse_datetime, utcnow
from tests.fixtures.factories import (
    execute_sql,
    fetch_rows,
    make_key,
    run_in_transaction,
    set_workspace,
)
from tests.fixtures.inbox import make_person, patch, set_availability, set_conversation, start
from tests.fixtures.jobs import run_worker_until
from tests.fixtures.leadiosa import bearer


def conversation(api: TestClient, conversation_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/api/v1/conversations/{conversation_id}").json()["data"]
    return found


def quick(settings: Settings) -> Settings:
    return Settings(database_url=settings.database_url, jobs_poll_seconds=0.05)


# ------------------------------------------------------------------------------ snoozing


def test_a_snoozed_conversation_opens_when_its_time_comes(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    client.headers.update(bearer(admin_key))
    made = start(client)
    soon = utcnow() + timedelta(seconds=1)
    snoozed = patch(client, made["id"], status="snoozed", snoozed_until=iso_millis(soon))
    assert snoozed.status_code == 200, snoozed.text
    (job,) = fetch_rows(settings, "SELECT run_at, workspace_id FROM jobs WHERE kind = 'inbox.wake'")
    assert job["workspace_id"] is not None

    def opened() -> bool:
        return conversation(client, made["id"])["status"] == "open"

    run_worker_until(quick(settings), opened)
    woken = conversation(client, made["id"])
    assert "snoozed_until" not in woken
    # Not before its time.
    assert woken["updated_at"] >= iso_millis(soon)
    log = client.get(
        "/api/v1/audit", params={"target": f"conversation:{made['id']}", "limit": 1}
    ).json()["data"]
    assert log[0]["actor"] == {"type": "system", "id": "inbox.snooze"}
    assert log[0]["changes"]["status"] == {"before": "snoozed", "after": "open"}


def test_a_snooze_that_changed_is_left_alone(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    client.headers.update(bearer(admin_key))
    made = start(client)
    first = utcnow() + timedelta(hours=1)
    patch(client, made["id"], status="snoozed", snoozed_until=iso_millis(first))
    later = first + timedelta(hours=1)
    patch(client, made["id"], snoozed_until=iso_millis(later))

    # The first wake-up finds the snooze moved, and does nothing.
    first_due = parse_datetime(iso_millis(first))
    assert run_in_transaction(settings, lambda s: inbox.wake(s, made["id"], first_due)) is None
    assert conversation(client, made["id"])["status"] == "snoozed"
    # The second, early (a clock behind the queue's), says how long is left.
    due = parse_datetime(iso_millis(later))
    left = run_in_transaction(settings, lambda s: inbox.wake(s, made["id"], due))
    assert left is not None
    assert timedelta(minutes=110) < left <= timedelta(hours=2)
    # Opened by hand meanwhile, it is not touched when the time comes.
    patch(client, made["id"], status="open")
    execute_sql(settings, "UPDATE conversations SET snoozed_until = NULL")
    assert run_in_transaction(settings, lambda s: inbox.wake(s, made["id"], due)) is None
    assert conversation(client, made["id"])["status"] == "open"
    assert len(fetch_rows(settings, "SELECT id FROM jobs WHERE kind = 'inbox.wake'")) == 2


# ---------------------------------------------------------------------------- reassigning


def overdue(settings: Settings, conversation_id: str, minutes: int) -> None:
    """Make the conversation's assignment ``minutes`` old."""
    set_conversation(settings, conversation_id, assigned_at=utcnow() - timedelta(minutes=minutes))


def run_reassign(settings: Settings) -> None:
    """One run of the periodic job, as the worker runs it."""

    async def before(db: Database) -> None:
        async with db.transaction() as session:
            await jobs.enqueue(session, inbox_rules.REASSIGN)

    def finished() -> bool:
        rows = fetch_rows(settings, "SELECT state FROM jobs WHERE kind = 'inbox.reassign'")
        return bool(rows) and all(row["state"] == "succeeded" for row in rows)

    execute_sql(settings, "DELETE FROM jobs WHERE kind = 'inbox.reassign'")
    run_worker_until(quick(settings), finished, before=before)


def test_unanswered_conversations_go_to_the_next_person_online(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    client.headers.update(bearer(admin_key))
    ada = make_person(settings, "ada@team.example", availability="online")
    bob = make_person(settings, "bob@team.example", availability="online")
    waiting = start(client)
    answered = start(client)
    fresh = start(client)
    assert (waiting["assignee_id"], answered["assignee_id"], fresh["assignee_id"]) == (
        ada.id,
        bob.id,
        ada.id,
    )
    client.post(f"/api/v1/conversations/{answered['id']}/messages", json={"text": "On it"})
    overdue(settings, waiting["id"], 30)
    overdue(settings, answered["id"], 30)
    overdue(settings, fresh["id"], 5)
    # Off by default: nothing moves.
    run_reassign(settings)
    assert conversation(client, waiting["id"])["assignee_id"] == ada.id
    set_workspace(settings, "acme", auto_reassign_minutes=10)
    run_reassign(settings)
    moved = conversation(client, waiting["id"])
    assert moved["assignee_id"] == bob.id
    assert parse_datetime(moved["assigned_at"]) > utcnow() - timedelta(minutes=1)
    assert conversation(client, answered["id"])["assignee_id"] == bob.id  # answered: stays
    assert conversation(client, fresh["id"])["assignee_id"] == ada.id  # not overdue yet
    log = client.get(
        "/api/v1/audit", params={"target": f"conversation:{waiting['id']}", "limit": 1}
    ).json()["data"]
    assert log[0]["action"] == "conversation.assigned"
    assert log[0]["actor"] == {"type": "system", "id": "inbox.reassign"}
    assert log[0]["changes"]["assignee_id"] == {"before": ada.id, "after": bob.id}
    # Alone online, the assignee keeps it and the wait starts again; nobody online, it stays.
    set_availability(settings, ada.id, "offline")
    overdue(settings, waiting["id"], 30)
    run_reassign(settings)
    kept = conversation(client, waiting["id"])
    assert kept["assignee_id"] == bob.id
    assert parse_datetime(kept["assigned_at"]) > utcnow() - timedelta(minutes=1)
    set_availability(settings, bob.id, "away")
    overdue(settings, waiting["id"], 30)
    run_reassign(settings)
    assert conversation(client, waiting["id"])["assignee_id"] == bob.id


def test_the_inbox_jobs_are_registered() -> None:
    load_tasks()
    (schedule,) = [s for s in schedules() if s.kind == inbox_rules.REASSIGN]
    assert schedule.cron == "* * * * *"
    assert get_task(inbox_rules.WAKE) is not None


# ---------------------------------------------------------------------------------- usage


def test_usage_counts_what_was_made_since(
    client: TestClient, settings: Settings, admin_key: str
) -> None:
    client.headers.update(bearer(admin_key))
    first = start(client)
    client.post(f"/api/v1/conversations/{first['id']}/messages", json={"text": "Hi"})
    since = utcnow()
    second = start(client)
    client.post(f"/api/v1/conversations/{second['id']}/messages", json={"text": "Hi"})
    client.post(f"/api/v1/conversations/{first['id']}/messages", json={"text": "Again"})
    other = client.post(
        "/api/v1/conversations",
        json={"contact": {"name": "x"}, "message": {"text": "elsewhere"}},
        headers=bearer(make_key(settings, "other")),
    )
    assert other.status_code == 201
    workspace_id = fetch_rows(settings, "SELECT id FROM workspaces WHERE slug = 'acme'")[0]["id"]

    def usage(when: Any) -> InboxUsage:
        return run_in_transaction(settings, lambda s: inbox.usage(s, workspace_id, when))

    assert usage(since) == InboxUsage(conversations=1, messages=3)
    assert usage(since - timedelta(days=1)) == InboxUsage(conversations=2, messages=5)
    assert usage(utcnow() + timedelta(seconds=1)) == InboxUsage(0, 0)
