"""What an export asks of tracking: pages of a site's raw events and visits in a range of
time, their counts, and the sites of visits (see leadline.analytics.export).

With ClickHouse keeping the events (docs/clickhouse.md), pass its client: the events are read
there, in the same columns, an event's ``id`` being the one the browser gave it (unique
within its visit, so pages go on after the time, visit and id of the last row:
``events_after``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.clickhouse.client import ClickHouse
from leadline.tracking import clickhouse_repository
from leadline.tracking.export_repository import (
    EVENT_COLUMNS,
    VISIT_COLUMNS,
    Keyset,
    TrackingExportRepository,
)

EVENT_FIELDS: tuple[str, ...] = tuple(name for name, _ in EVENT_COLUMNS)


class EventRow(NamedTuple):
    """An event read from ClickHouse, in the columns of EVENT_FIELDS."""

    id: str
    site_id: str
    visit_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    url: str | None
    data: str


VISIT_FIELDS: tuple[str, ...] = tuple(name for name, _ in VISIT_COLUMNS)


async def events_page(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    start: datetime,
    end: datetime,
    after: Any,
    limit: int,
    clickhouse: ClickHouse | None = None,
) -> Sequence[Any]:
    """Rows of EVENT_FIELDS, in order of (received_at, id); pass ``events_after`` of the
    last row as ``after`` for the next page."""
    if clickhouse is not None:
        rows = await clickhouse_repository.events_page(
            clickhouse, workspace_id, site_id, start, end, after, limit
        )
        return [EventRow(*row) for row in rows]
    return await TrackingExportRepository(session).events_page(
        workspace_id, site_id, start, end, after, limit
    )


def events_after(row: Any) -> Any:
    """Where the page after the one ending with event ``row`` starts."""
    if isinstance(row, EventRow):
        return (row.received_at, (row.visit_id, row.id))
    return (row.received_at, row.id)


async def visits_page(
    session: AsyncSession,
    workspace_id: str,
    site_id: str,
    start: datetime,
    end: datetime,
    after: Keyset,
    limit: int,
) -> Sequence[Any]:
    """Rows of VISIT_FIELDS, in order of (started_at, id); pass the last row's
    (started_at, id) as ``after`` for the next page."""
    return await TrackingExportRepository(session).visits_page(
        workspace_id, site_id, start, end, after, limit
    )


async def count_events(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
    clickhouse: ClickHouse | None = None,
) -> int:
    if clickhouse is not None:
        return await clickhouse_repository.count_events(
            clickhouse, workspace_id, site_ids, start, end
        )
    return await TrackingExportRepository(session).count_events(workspace_id, site_ids, start, end)


async def count_visits(
    session: AsyncSession,
    workspace_id: str,
    site_ids: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    return await TrackingExportRepository(session).count_visits(workspace_id, site_ids, start, end)


async def sites_of_visits(
    session: AsyncSession, workspace_id: str, visit_ids: Sequence[str]
) -> dict[str, str]:
    return await TrackingExportRepository(session).sites_of_visits(workspace_id, visit_ids)
