"""Generated history written to the database: the hours an anomaly check reads, as visits,
events and submissions rows (in bulk, one INSERT per table)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.analytics.anomalies import spans_needed
from leadline.config import Settings
from leadline.kit.hours import HOUR
from leadline.models import IngestErrorsHourly, LeadSubmission, Site, TrackedEvent, Visit
from tests.analytics.history import History
from tests.fixtures.factories import run_in_transaction

DATACENTER_IP = "3.5.140.10"  # in a network AWS publishes


def hours_read(*ends: datetime) -> list[datetime]:
    """Every hour a check of each of ``ends`` reads."""
    hours: set[datetime] = set()
    for end in ends:
        for start, stop in spans_needed(end):
            hour = start
            while hour < stop:
                hours.add(hour)
                hour += HOUR
    return sorted(hours)


def store_history(settings: Settings, site_key: str, history: History, hours: Iterable[datetime]):
    """Write ``history``'s counts of ``hours`` for the site (refused requests too), and date
    the site from the history's start."""

    async def work(session: AsyncSession) -> None:
        site = await session.scalar(select(Site).where(Site.site_key == site_key))
        assert site is not None
        site.created_at = history.start
        visits: list[dict[str, object]] = []
        events: list[dict[str, object]] = []
        submissions: list[dict[str, object]] = []
        refused: list[dict[str, object]] = []
        for hour in hours:
            if history.errors.get(hour):
                refused.append(
                    {
                        "site_id": site.id,
                        "workspace_id": site.workspace_id,
                        "hour": hour,
                        "errors": history.errors[hour],
                    }
                )
            count = history.visits.get(hour, 0)
            ids = [uuid.uuid4().hex for _ in range(max(count, 1))]
            for i, visit_id in enumerate(ids[:count]):
                at = hour + timedelta(seconds=i * 3599 // max(count, 1))
                visits.append(
                    {
                        "id": visit_id,
                        "workspace_id": site.workspace_id,
                        "site_id": site.id,
                        "started_at": at,
                        "last_seen_at": at,
                    }
                )
            for i in range(history.events.get(hour, 0)):
                at = hour + timedelta(seconds=i % 3600)
                events.append(
                    {
                        "workspace_id": site.workspace_id,
                        "site_id": site.id,
                        "visit_id": ids[i % len(ids)],
                        "client_id": f"e{i}",
                        "type": "page_view",
                        "occurred_at": at,
                        "received_at": at,
                    }
                )
            picked = history.datacenter.get(hour, 0)
            for i in range(history.submissions.get(hour, 0)):
                submissions.append(
                    {
                        "id": uuid.uuid4().hex,
                        "workspace_id": site.workspace_id,
                        "site_id": site.id,
                        "ip": DATACENTER_IP if i < picked else f"81.2.69.{i % 250 + 1}",
                        "outcome": "created",
                        "created_at": hour + timedelta(minutes=i % 60),
                    }
                )
        for model, rows in (
            (Visit, visits),
            (TrackedEvent, events),
            (LeadSubmission, submissions),
            (IngestErrorsHourly, refused),
        ):
            if rows:
                await session.execute(insert(model), rows)

    run_in_transaction(settings, work)
