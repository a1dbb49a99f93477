"""Visits as other features read them: one of a workspace's by id, a visitor's latest on a
site, and how engaged a visit is as of now."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.clickhouse.client import ClickHouse
from leadline.models import TrackedEvent, Visit
from leadline.tracking import clickhouse_repository
from leadline.tracking.engagement import engagement
from leadline.tracking.repository import TrackingRepository


async def visit_of(session: AsyncSession, workspace_id: str, visit_id: str) -> Visit | None:
    """The workspace's tracked visit ``visit_id``, if there is one."""
    return await TrackingRepository(session).visit(workspace_id, visit_id)


async def visits_of(
    session: AsyncSession, workspace_id: str, visit_ids: Iterable[str]
) -> dict[str, Visit]:
    """The workspace's tracked visits among ``visit_ids``, by id (one read for all)."""
    wanted = sorted(set(visit_ids))
    if not wanted:
        return {}
    found = await TrackingRepository(session).visits(workspace_id, wanted)
    return {visit.id: visit for visit in found}


# Events arrive a little before a visit's start is stored (a batch racing its start) and after
# its last seen time is (under load the writer adds counts later): the window is this wider.
_EVENT_SLACK = timedelta(minutes=5)
_EVENT_TAIL = timedelta(hours=6)


async def events_of(
    session: AsyncSession, visit: Visit, limit: int, clickhouse: ClickHouse | None = None
) -> list[TrackedEvent]:
    """The visit's newest ``limit`` events, newest first (those still kept: raw events pass
    their retention); from ``clickhouse`` when it keeps the events (docs/clickhouse.md),
    as rows never added to the session (their ``id`` is None, their ``client_id`` the
    event's)."""
    since, until = visit.started_at - _EVENT_SLACK, visit.last_seen_at + _EVENT_TAIL
    if clickhouse is None:
        return await TrackingRepository(session).events_of_visit(visit, since, until, limit)
    if visit.site_id is None:
        return []
    rows = await clickhouse_repository.events_of_visit(
        clickhouse, visit.workspace_id, visit.site_id, visit.id, since, until, limit
    )
    return [
        TrackedEvent(
            workspace_id=visit.workspace_id,
            client_id=client_id,
            site_id=site_id,
            visit_id=visit_id,
            type=kind,
            occurred_at=occurred,
            received_at=received,
            url=url,
            data=data,
        )
        for client_id, site_id, visit_id, kind, occurred, received, url, data in rows
    ]


async def latest_visit_of(session: AsyncSession, site_id: str, visitor_id: str) -> Visit | None:
    """The visitor's latest visit to the site."""
    return await TrackingRepository(session).latest_visit_of(site_id, visitor_id)


def engagement_now(visit: Visit) -> tuple[int, str]:
    """The visit's engagement score and label as of now (reference 3.4): an open visit counts
    its time so far."""
    elapsed = int((visit.last_seen_at - visit.started_at).total_seconds() * 1000)
    return engagement(
        max(visit.duration_ms, elapsed), visit.max_scroll, visit.clicks, visit.earlier_visits
    )
