"""Tracking's hourly series, as anomaly detection reads them: visits and events per UTC hour
of a site. Every such read of tracking is here, so that it can move to hourly rollups
without its readers knowing.

``spans`` are the ranges of time wanted (start included, end excluded, whole hours): a
detector needs the same few hours of each past week, not every hour of eight weeks. Hours
without any visit or event are absent from the answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.tracking.ingest_errors_repository import IngestErrorsRepository
from leadline.tracking.series_repository import SeriesRepository, Span


async def visits_by_hour(
    session: AsyncSession, workspace_id: str, site_id: str, spans: Sequence[Span]
) -> dict[datetime, int]:
    """Visits of people started on the workspace's site in each hour of ``spans`` (visits
    taken for bots are not counted)."""
    return await SeriesRepository(session).visits_by_hour(workspace_id, site_id, spans)


async def events_by_hour(
    session: AsyncSession, site_id: str, spans: Sequence[Span]
) -> dict[datetime, int]:
    """Events received from the site in each hour of ``spans``, bots' included (this is the
    tracker's heartbeat, not a count of people). ``site_id`` must be one the caller read from
    its workspace's sites: events are found by site alone, along their index."""
    return await SeriesRepository(session).events_by_hour(site_id, spans)


async def ingest_errors_by_hour(
    session: AsyncSession, workspace_id: str, site_id: str, spans: Sequence[Span]
) -> dict[datetime, int]:
    """Tracking and capture requests of the site refused in each hour of ``spans`` (see
    tracking.ingest_errors)."""
    return await IngestErrorsRepository(session).by_hour(workspace_id, site_id, spans)
