"""Listing a workspace's events: newest first, filtered, paged by seq."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.errors import ValidationFailed
from leadline.kit.time import utcnow
from leadline.models import AuditEvent
from leadline.workspaces import service as workspaces
from tests.fixtures.factories import run_in_transaction

# (actor, action, target type, target id) of each event recorded below, in order.
HISTORY = [
    (Actor.key("key_a"), "lead.created", "lead", "lead_1"),
    (Actor.key("key_a"), "lead.created", "lead", "lead_2"),
    (Actor.key("key_b"), "lead.status_changed", "lead", "lead_1"),
    (Actor.system("import"), "ad_spend.imported", "ad_spend", None),
    (Actor.key("key_b"), "lead.updated", "lead", "lead_2"),
    (Actor.key("key_a"), "lead.status_changed", "lead", "lead_2"),
]


@pytest.fixture
def workspace_id(settings: Settings) -> str:
    """Workspace ``acme`` with HISTORY as its events (after its own creation, seq 1), and
    workspace ``other`` with events of its own."""

    async def work(session: AsyncSession) -> str:
        acme, _ = await workspaces.get_or_create(session, "acme", actor=Actor.system("test"))
        other, _ = await workspaces.get_or_create(session, "other", actor=Actor.system("test"))
        for actor, action, target_type, target_id in HISTORY:
            await audit.record(session, acme.id, actor, action, target_type, target_id)
            await audit.record(session, other.id, actor, action, target_type, target_id)
        return acme.id

    return run_in_transaction(settings, work)


def page_of(settings: Settings, workspace_id: str, **filters: Any) -> audit.EventPage:
    async def work(session: AsyncSession) -> audit.EventPage:
        return await audit.list_events(session, workspace_id, **filters)

    filters.setdefault("limit", 100)
    page = run_in_transaction(settings, work)
    assert all(event.workspace_id == workspace_id for event in page.events)
    return page


def listed(settings: Settings, workspace_id: str, **filters: Any) -> list[int]:
    """The seqs ``list_events`` returns."""
    return [event.seq for event in page_of(settings, workspace_id, **filters).events]


def test_newest_first(settings: Settings, workspace_id: str) -> None:
    assert listed(settings, workspace_id) == [7, 6, 5, 4, 3, 2, 1]


def test_filters(settings: Settings, workspace_id: str) -> None:
    assert listed(settings, workspace_id, action="lead.status_changed") == [7, 4]
    assert listed(settings, workspace_id, target_type="ad_spend") == [5]
    assert listed(settings, workspace_id, target_type="lead", target_id="lead_2") == [7, 6, 3]
    assert listed(settings, workspace_id, actor_id="key_b") == [6, 4]
    assert listed(settings, workspace_id, action="lead.created", actor_id="key_b") == []


def test_time_window(settings: Settings, workspace_id: str) -> None:
    # Spread the events over the last seven days: seq n happened 7 - n days ago.
    now = utcnow()
    engine = create_engine(settings.sync_url)
    try:
        with engine.begin() as conn:
            for seq in range(1, 8):
                conn.execute(
                    update(AuditEvent)
                    .where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq == seq)
                    .values(occurred_at=now - timedelta(days=7 - seq))
                )
    finally:
        engine.dispose()
    three_days_ago = now - timedelta(days=3)
    assert listed(settings, workspace_id, since=three_days_ago) == [7, 6, 5, 4]
    assert listed(settings, workspace_id, until=three_days_ago) == [3, 2, 1]
    assert listed(
        settings, workspace_id, since=now - timedelta(days=5), until=now - timedelta(days=1)
    ) == [5, 4, 3, 2]


def test_pages_follow_on_by_seq(settings: Settings, workspace_id: str) -> None:
    first = listed(settings, workspace_id, limit=3)
    assert first == [7, 6, 5]
    second = listed(settings, workspace_id, limit=3, after_seq=first[-1])
    assert second == [4, 3, 2]
    assert listed(settings, workspace_id, limit=3, after_seq=second[-1]) == [1]
    assert listed(settings, workspace_id, limit=3, after_seq=1) == []
    assert listed(settings, workspace_id, action="lead.created", limit=1, after_seq=3) == [2]


def test_a_page_says_whether_more_follow(settings: Settings, workspace_id: str) -> None:
    assert page_of(settings, workspace_id, limit=6).has_more is True
    assert page_of(settings, workspace_id, limit=7).has_more is False
    assert page_of(settings, workspace_id, limit=3, after_seq=4).has_more is False
    assert page_of(settings, workspace_id, limit=2, after_seq=4).has_more is True
    assert page_of(settings, workspace_id, action="lead.created", limit=1).has_more is True
    assert page_of(settings, workspace_id, action="lead.created", limit=2).has_more is False


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_is_bounded(settings: Settings, workspace_id: str, limit: int) -> None:
    with pytest.raises(ValidationFailed, match="limit"):
        listed(settings, workspace_id, limit=limit)
