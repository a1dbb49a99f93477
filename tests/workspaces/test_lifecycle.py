"""A workspace's life: closing it, its archive status, restoring it within its retention period,
and what a purge finds due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.errors import RestorePeriodOver, WorkspaceClosed, WorkspaceNotClosed
from leadline.kit.time import utcnow
from leadline.models import Workspace
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import fetch_rows, run_in_transaction
from tests.fixtures.workspaces import set_closed

ACTOR = Actor.key("key_owner")


def make(settings: Settings, slug: str = "acme") -> str:
    async def work(session: AsyncSession) -> str:
        workspace, _ = await workspaces.get_or_create(session, slug)
        return workspace.id

    return run_in_transaction(settings, work)


def close(settings: Settings, workspace_id: str, days: int = 30) -> workspaces.ArchiveStatus:
    return run_in_transaction(
        settings,
        lambda session: workspaces.close(session, workspace_id, retention_days=days, actor=ACTOR),
    )


def restore(settings: Settings, workspace_id: str) -> workspaces.ArchiveStatus:
    return run_in_transaction(
        settings, lambda session: workspaces.restore(session, workspace_id, actor=ACTOR)
    )


def audit_actions(settings: Settings, workspace_id: str) -> list[dict[str, object]]:
    return fetch_rows(
        settings,
        "SELECT action, actor_type, actor_id, changes FROM audit_events"
        " WHERE workspace_id = :ws AND action LIKE 'workspace.%' ORDER BY seq",
        ws=workspace_id,
    )


def test_closing_starts_the_retention_period_and_is_audited(settings: Settings) -> None:
    ws = make(settings)
    before = utcnow()
    closed = close(settings, ws, days=7)
    assert closed.status == "closed"
    assert closed.closed_at is not None
    assert closed.purge_after is not None
    assert before <= closed.closed_at <= utcnow()
    assert closed.purge_after - closed.closed_at == timedelta(days=7)
    assert (closed.days_left, closed.restorable) == (7, True)
    (row,) = fetch_rows(settings, "SELECT status FROM workspaces WHERE id = :ws", ws=ws)
    assert row["status"] == "closed"
    events = [
        event for event in audit_actions(settings, ws) if event["action"] != "workspace.created"
    ]
    assert [(e["action"], e["actor_type"], e["actor_id"]) for e in events] == [
        ("workspace.closed", "key", "key_owner")
    ]
    changes = json.loads(str(events[0]["changes"]))
    assert changes["status"] == {"before": "active", "after": "closed"}
    assert changes["purge_after"]["before"] is None


def test_a_closed_workspace_cannot_be_closed_again(settings: Settings) -> None:
    ws = make(settings)
    first = close(settings, ws)
    with pytest.raises(WorkspaceClosed) as refused:
        close(settings, ws)
    assert refused.value.code == "workspace_closed"
    (row,) = fetch_rows(settings, "SELECT purge_after FROM workspaces WHERE id = :ws", ws=ws)
    assert row["purge_after"] is not None  # the first closing's period stands
    assert workspaces.archive_status(_workspace(settings, ws)).purge_after == first.purge_after


def test_restoring_within_the_period_reopens_it(settings: Settings) -> None:
    ws = make(settings)
    close(settings, ws)
    restored = restore(settings, ws)
    assert restored == workspaces.ArchiveStatus("active", None, None, None, restorable=False)
    (row,) = fetch_rows(
        settings, "SELECT status, closed_at, purge_after FROM workspaces WHERE id = :ws", ws=ws
    )
    assert row == {"status": "active", "closed_at": None, "purge_after": None}
    actions = [e["action"] for e in audit_actions(settings, ws)]
    assert actions[-2:] == ["workspace.closed", "workspace.restored"]
    # And it may be closed again, for a new period.
    assert close(settings, ws).status == "closed"


def test_an_active_workspace_is_not_restored(settings: Settings) -> None:
    ws = make(settings)
    with pytest.raises(WorkspaceNotClosed) as refused:
        restore(settings, ws)
    assert (refused.value.status_code, refused.value.code) == (409, "workspace_not_closed")


def test_a_workspace_past_its_period_is_not_restored(settings: Settings) -> None:
    ws = make(settings)
    now = utcnow()
    set_closed(
        settings, "acme", closed_at=now - timedelta(days=31), purge_after=now - timedelta(seconds=1)
    )
    with pytest.raises(RestorePeriodOver) as refused:
        restore(settings, ws)
    assert (refused.value.status_code, refused.value.code) == (409, "restore_period_over")
    (row,) = fetch_rows(settings, "SELECT status FROM workspaces WHERE id = :ws", ws=ws)
    assert row["status"] == "closed"


@pytest.mark.parametrize(
    ("left", "days"),
    [
        (timedelta(days=30), 30),
        (timedelta(days=29, hours=1), 30),  # rounded up: a part of a day is a day left
        (timedelta(minutes=1), 1),
        (timedelta(0), 0),
        (-timedelta(days=3), 0),
    ],
)
def test_days_left_count_whole_days_up(left: timedelta, days: int) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    workspace = Workspace(
        id="ws_1", slug="a", name="a", status="closed", closed_at=now, purge_after=now + left
    )
    status = workspaces.archive_status(workspace, now)
    assert status.days_left == days
    assert status.restorable is (left > timedelta(0))


def test_an_active_workspace_has_no_archive_dates() -> None:
    workspace = Workspace(id="ws_1", slug="a", name="a", status="active")
    assert workspaces.archive_status(workspace) == workspaces.ArchiveStatus(
        "active", None, None, None, restorable=False
    )


def test_refusing_writes_names_when_the_workspace_may_be_restored_until() -> None:
    until = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
    workspace = Workspace(id="ws_1", slug="a", name="a", status="closed", purge_after=until)
    with pytest.raises(WorkspaceClosed) as refused:
        workspaces.refuse_writes(workspace)
    assert "2027-01-06T12:00:00.000Z" in refused.value.message
    workspaces.refuse_writes(Workspace(id="ws_2", slug="b", name="b", status="active"))


def test_due_for_purge_is_closed_and_past_its_period(settings: Settings) -> None:
    for slug in ("active", "waiting", "due"):
        make(settings, slug)
    now = utcnow()
    set_closed(settings, "waiting", closed_at=now, purge_after=now + timedelta(days=1))
    set_closed(
        settings, "due", closed_at=now - timedelta(days=31), purge_after=now - timedelta(days=1)
    )

    async def due(session: AsyncSession) -> list[str]:
        return [w.slug for w in await workspaces.due_for_purge(session, utcnow())]

    assert run_in_transaction(settings, due) == ["due"]


def _workspace(settings: Settings, workspace_id: str) -> Workspace:
    return run_in_transaction(settings, lambda session: workspaces.get(session, workspace_id))
