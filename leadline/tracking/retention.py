"""Retention of raw events and visits for one workspace.

Events go by the time they were received; the rollups the dashboards read are not touched, so
a report over days whose raw events are gone still counts them. Visits go by their start, with
the events and consent ledger entries they still have; a visit that a lead still points to is
anonymised instead and kept, so the lead's attribution and consent history stay whole. The
caller says which visits are still needed and anonymises them (the privacy feature, from the
registry of personal data: this feature keeps no redaction code of its own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.sites import service as sites
from leadline.tracking.retention_repository import TrackingRetentionRepository

# Events of a visit arrive from a little before its stored start to a while after its last
# seen time (see visits.events_of): the window its events are looked for in.
_EVENT_SLACK = timedelta(minutes=5)
_EVENT_TAIL = timedelta(hours=6)


async def count_events_before(session: AsyncSession, workspace_id: str, cutoff: datetime) -> int:
    site_ids = await sites.site_ids_of(session, workspace_id)
    return await TrackingRetentionRepository(session).count_events_before(site_ids, cutoff)


async def delete_events_before(
    session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    """Delete up to ``batch`` of the workspace's events received before ``cutoff``, site by
    site; 0 once none is left."""
    repo = TrackingRetentionRepository(session)
    for site_id in await sites.site_ids_of(session, workspace_id):
        removed = await repo.delete_events_before(site_id, cutoff, batch)
        if removed:
            return removed
    return 0


async def count_visits_before(session: AsyncSession, workspace_id: str, cutoff: datetime) -> int:
    return await TrackingRetentionRepository(session).count_visits_before(workspace_id, cutoff)


async def visit_ids_before(session: AsyncSession, workspace_id: str, cutoff: datetime) -> list[str]:
    """The workspace's visits started before ``cutoff`` that are still there: after a
    retention run, those kept (anonymised) for a lead."""
    return await TrackingRetentionRepository(session).visit_ids_before(workspace_id, cutoff)


@dataclass(frozen=True)
class VisitBatch:
    """What one batch of a visits' retention did, and where the next one starts."""

    deleted: int
    anonymised: int
    last: tuple[datetime, str] | None  # the last visit looked at: (its start, its id)


NeededVisits = Callable[[Sequence[str]], Awaitable[Collection[str]]]
AnonymiseVisits = Callable[[Collection[str]], Awaitable[int]]


async def expire_visits_before(
    session: AsyncSession,
    workspace_id: str,
    cutoff: datetime,
    *,
    after: tuple[datetime, str] | None,
    batch: int,
    needed: NeededVisits,
    anonymise: AnonymiseVisits,
) -> VisitBatch:
    """Take up to ``batch`` visits started before ``cutoff`` (after ``after``): delete those
    ``needed`` does not name, with their events and consent entries, and ``anonymise`` the
    rest (it answers how many visits it changed).
    ``last`` is None once no visit is left to look at."""
    repo = TrackingRetentionRepository(session)
    found = await repo.visits_before(workspace_id, cutoff, after, batch)
    if not found:
        return VisitBatch(0, 0, None)
    keep = set(await needed([visit.id for visit in found]))
    doomed = [visit for visit in found if visit.id not in keep]
    deleted = 0
    if doomed:
        deleted = await repo.delete_visits(
            workspace_id,
            [visit.id for visit in doomed],
            sorted({visit.site_id for visit in doomed if visit.site_id is not None}),
            min(visit.started_at for visit in doomed) - _EVENT_SLACK,
            max(visit.last_seen_at for visit in doomed) + _EVENT_TAIL,
        )
    anonymised = 0
    if keep:
        anonymised = await anonymise(keep)
    return VisitBatch(deleted, anonymised, (found[-1].started_at, found[-1].id))
