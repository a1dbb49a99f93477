"""The hash chain: how it links, what `leadline audit verify` finds, and concurrent appends."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadline.audit import service as audit
from leadline.cli import app
from leadline.config import Settings
from leadline.db import Database
from leadline.kit.ids import new_id
from leadline.models import AuditEvent, Workspace
from tests.fixtures.audit import audit_rows, head_of, run_sql
from tests.fixtures.factories import make_key, run_in_transaction
from tests.fixtures.server import live_server

GENESIS = "0" * 64


def stored_events(settings: Settings, workspace: str = "acme") -> list[dict[str, Any]]:
    """Every column of the workspace's events, as the column types read them, in seq order."""
    engine = create_engine(settings.sync_url)
    try:
        with engine.connect() as conn:
            query = (
                select(AuditEvent.__table__)
                .join(Workspace, Workspace.id == AuditEvent.workspace_id)
                .where(Workspace.slug == workspace)
                .order_by(AuditEvent.seq)
            )
            return [dict(row._mapping) for row in conn.execute(query)]
    finally:
        engine.dispose()


def documented_hash(event: dict[str, Any]) -> str:
    """The hash as docs/audit.md defines it, computed without Leadline's code."""
    content = {name: value for name, value in event.items() if name != "hash"}
    content["occurred_at"] = event["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def assert_chained(events: list[dict[str, Any]]) -> None:
    """Seqs 1..n, each event linked to the one before, each hash as documented."""
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["prev_hash"] == GENESIS
    for previous, event in itertools.pairwise(events):
        assert event["prev_hash"] == previous["hash"]
    for event in events:
        assert event["hash"] == documented_hash(event)


def verify(cli: CliRunner, *args: str) -> tuple[int, list[str]]:
    result = cli.invoke(app, ["audit", "verify", *args])
    return result.exit_code, result.stdout.strip().splitlines()


def some_history(api: TestClient) -> list[str]:
    """Leads created and moved along the pipeline; their ids."""
    ids = []
    for name in ("Ada", "Grace", "Édith"):
        response = api.post("/api/leads", json={"name": name, "note": "首次联系"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["data"]["id"])
    for lead_id, status in zip(ids, ("qualified", "won", "lost"), strict=True):
        moved = api.patch("/api/leads", json={"id": lead_id, "status": status, "value": 100})
        assert moved.status_code == 200, moved.text
    return ids


# ----------------------------------------------------------------------------------- links


def test_the_hash_covers_every_column_but_itself() -> None:
    columns = {column.name for column in AuditEvent.__table__.columns}
    assert set(audit.HASHED_FIELDS) == columns - {"hash"}

    fields: dict[str, Any] = {
        "id": "aud_1",
        "workspace_id": "ws_1",
        "seq": 7,
        "occurred_at": datetime(2026, 3, 10, 12, 0, 0, 123456, tzinfo=UTC),
        "actor_type": "key",
        "actor_id": "key_1",
        "action": "lead.updated",
        "target_type": "lead",
        "target_id": "lead_1",
        "changes": '{"note":{"after":"b","before":"a"}}',
        "ip": "203.0.113.9",
        "user_agent": "curl/8",
        "request_id": "req_0123456789ab",
        "prev_hash": "f" * 64,
    }
    original = audit.event_hash(fields)
    assert original == documented_hash(fields)
    for name, value in fields.items():
        if isinstance(value, datetime):
            changed: Any = value.replace(microsecond=value.microsecond + 1)
        elif isinstance(value, int):
            changed = value + 1
        else:
            changed = value + "x"
        assert audit.event_hash({**fields, name: changed}) != original, name
        if name != "seq" and not isinstance(value, datetime):
            assert audit.event_hash({**fields, name: None}) != original, name


def test_events_form_one_chain_per_workspace_that_verifies(
    api: TestClient, settings: Settings, cli: CliRunner
) -> None:
    some_history(api)
    make_key(settings, "other", "admin")
    events = stored_events(settings)
    assert len(events) == 2 + 3 + 6  # workspace and key, 3 created, 3 status + 3 value changes

    assert_chained(events)
    assert head_of(settings) == {"seq": len(events), "hash": events[-1]["hash"]}

    other = stored_events(settings, "other")
    assert len(other) == 2  # the workspace and its key
    assert_chained(other)

    code, lines = verify(cli)
    assert (code, lines) == (0, [f"audit chain intact: {len(events) + 2} events in 2 workspaces"])
    code, lines = verify(cli, "--workspace", "other")
    assert (code, lines) == (0, ["audit chain intact: 2 events in 1 workspaces"])


# --------------------------------------------------------------------------------- tampering


@pytest.fixture
def history(api: TestClient, settings: Settings) -> list[dict[str, Any]]:
    """Two workspaces with audit history; acme's events, in seq order."""
    some_history(api)
    make_key(settings, "other", "admin")
    return audit_rows(settings)


def test_an_edited_event_is_named(
    history: list[dict[str, Any]], settings: Settings, cli: CliRunner
) -> None:
    target = next(event for event in history if event["action"] == "lead.status_changed")
    forged = {"status": {"before": "open", "after": "lost"}}
    assert target["changes"] != forged
    run_sql(
        settings,
        "UPDATE audit_events SET changes = :changes WHERE id = :id",
        changes=json.dumps(forged),
        id=target["id"],
    )

    code, lines = verify(cli)
    assert code == 1
    assert lines == [
        f"workspace acme: event {target['id']} (seq {target['seq']}): hash does not match the "
        "event's content: the event was edited"
    ]
    # The other workspace's chain is untouched.
    assert verify(cli, "--workspace", "other") == (
        0,
        ["audit chain intact: 2 events in 1 workspaces"],
    )


def test_an_edit_that_rewrites_the_hash_too_is_caught_at_the_next_event(
    history: list[dict[str, Any]], settings: Settings, cli: CliRunner
) -> None:
    events = stored_events(settings)
    target, following = events[4], events[5]
    rewritten = {**target, "actor_id": "key_somebody_else"}
    run_sql(
        settings,
        "UPDATE audit_events SET actor_id = :actor, hash = :hash WHERE id = :id",
        actor=rewritten["actor_id"],
        hash=documented_hash(rewritten),
        id=target["id"],
    )
    code, lines = verify(cli)
    assert code == 1
    assert len(lines) == 1
    assert f"event {following['id']} (seq {following['seq']})" in lines[0]
    assert "prev_hash" in lines[0]


def test_a_deleted_event_is_found_where_the_gap_is(
    history: list[dict[str, Any]], settings: Settings, cli: CliRunner
) -> None:
    deleted, following = history[3], history[4]
    run_sql(settings, "DELETE FROM audit_events WHERE id = :id", id=deleted["id"])

    code, lines = verify(cli)
    assert code == 1
    assert lines == [
        f"workspace acme: event {following['id']} (seq {following['seq']}): seq "
        f"{following['seq']} follows seq {deleted['seq'] - 1}: seq {deleted['seq']} was deleted"
    ]


def test_a_deleted_last_event_is_found_by_the_head(
    history: list[dict[str, Any]], settings: Settings, cli: CliRunner
) -> None:
    last, new_last = history[-1], history[-2]
    run_sql(settings, "DELETE FROM audit_events WHERE id = :id", id=last["id"])

    code, lines = verify(cli)
    assert code == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"workspace acme: event {new_last['id']} (seq {new_last['seq']}):")
    assert f"the chain head is at seq {last['seq']}" in lines[0]
    assert "deleted" in lines[0]

    # Deleting every event leaves a head with nothing behind it.
    run_sql(settings, "DELETE FROM audit_events WHERE workspace_id = :ws", ws=last["workspace_id"])
    code, lines = verify(cli, "--workspace", "acme")
    assert code == 1
    assert lines == [
        f"workspace acme: the chain head is at seq {last['seq']} but no events are left: "
        "they were deleted"
    ]


def test_a_deleted_head_and_a_forged_first_event_are_found(
    history: list[dict[str, Any]], settings: Settings, cli: CliRunner
) -> None:
    run_sql(
        settings, "DELETE FROM audit_heads WHERE workspace_id = :ws", ws=history[0]["workspace_id"]
    )
    code, lines = verify(cli, "--workspace", "acme")
    assert code == 1
    assert lines == [
        f"workspace acme: event {history[-1]['id']} (seq {history[-1]['seq']}): the workspace "
        "has events but no chain head"
    ]

    # An event slipped in before the first one is not part of the chain, and is named.
    other = audit_rows(settings, "other")[0]
    run_sql(
        settings,
        "UPDATE audit_events SET seq = 0 WHERE id = :id",
        id=other["id"],
    )
    code, lines = verify(cli, "--workspace", "other")
    assert code == 1
    assert lines == [
        f"workspace other: event {other['id']} (seq 0): seq 0 is out of place: expected seq 1"
    ]


def test_verify_walks_in_batches(history: list[dict[str, Any]], settings: Settings) -> None:
    async def check(session: AsyncSession) -> audit.ChainReport:
        return await audit.check_chains(session, history[0]["workspace_id"], batch_size=2)

    intact = run_in_transaction(settings, check)
    assert (intact.problems, intact.events, intact.workspaces) == ([], len(history), 1)

    # A gap across a batch boundary (seqs 4 and 5 end the second batch) is still seen.
    run_sql(settings, "DELETE FROM audit_events WHERE id = :id", id=history[4]["id"])
    (problem,) = run_in_transaction(settings, check).problems
    assert (problem.event_id, problem.seq) == (history[5]["id"], 6)


def test_verify_an_unknown_workspace(cli: CliRunner) -> None:
    result = cli.invoke(app, ["audit", "verify", "--workspace", "nope"])
    assert result.exit_code != 0
    assert "no workspace 'nope'" in result.stderr


def test_verify_an_empty_log(cli: CliRunner) -> None:
    assert verify(cli) == (0, ["audit chain intact: 0 events in 0 workspaces"])


# ------------------------------------------------------------------------------ concurrency


def test_concurrent_lead_creations_make_a_gap_free_chain(
    settings: Settings, admin_key: str, cli: CliRunner
) -> None:
    async def create_all(base_url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"X-API-KEY": admin_key}, timeout=60
        ) as client:
            return await asyncio.gather(
                *(client.post("/api/leads", json={"name": f"Lead {n}"}) for n in range(20))
            )

    with live_server(settings) as base_url:
        responses = asyncio.run(create_all(base_url))
    assert [response.status_code for response in responses] == [201] * 20

    events = stored_events(settings)
    created = [event for event in events if event["action"] == "lead.created"]
    assert {event["target_id"] for event in created} == {
        response.json()["data"]["id"] for response in responses
    }
    assert {event["request_id"] for event in created} == {
        response.headers["X-Request-ID"] for response in responses
    }
    assert_chained(events)
    assert verify(cli) == (0, [f"audit chain intact: {len(events)} events in 1 workspaces"])


def test_concurrent_transactions_start_and_extend_one_chain(
    settings: Settings, cli: CliRunner
) -> None:
    """Threads, each with its own engine, append to a workspace that has no chain yet: the
    first appends race to create its head."""
    workspace_id = new_id("ws")
    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Workspace).values(
                    id=workspace_id, slug="race", name="race", allow_bulk_updates=False
                )
            )
    finally:
        engine.dispose()

    threads, appends = 6, 5
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append_some(n: int) -> None:
        async def run() -> None:
            db = Database(settings)
            try:
                start.wait(timeout=30)
                for i in range(appends):
                    async with db.transaction() as session:
                        await audit.record(
                            session,
                            workspace_id,
                            audit.Actor.system(f"thread-{n}"),
                            "test.appended",
                            "test",
                            f"{n}-{i}",
                        )
            finally:
                await db.dispose()

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    workers = [threading.Thread(target=append_some, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []

    events = stored_events(settings, "race")
    assert len(events) == threads * appends
    assert_chained(events)
    assert {event["target_id"] for event in events} == {
        f"{n}-{i}" for n in range(threads) for i in range(appends)
    }
    assert verify(cli, "--workspace", "race") == (
        0,
        [f"audit chain intact: {threads * appends} events in 1 workspaces"],
    )
