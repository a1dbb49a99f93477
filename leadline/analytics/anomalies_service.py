"""The anomaly check: each site's series read, judged (analytics.anomalies) and recorded.

A check judges the windows that end at the start of the current UTC hour (the last complete
hour, and the last three for submissions). A kind of anomaly of a site is one row while it
lasts: a new one is ``anomaly.detected``; one found again is updated (latest observation,
highest severity); an open one the check no longer finds is resolved, ``anomaly.resolved``.
Running the check twice in an hour changes nothing more and sends nothing more. The
webhook events are queued in the transaction that records the change (one per workspace).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.analytics.anomalies import SEVERITIES, Finding, SiteSeries, evaluate
from leadline.analytics.anomalies import spans_needed as spans_for
from leadline.analytics.anomalies_repository import OPEN, RESOLVED, AnomalyRepository
from leadline.analytics.query import ReportQuery
from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.source import ClickHouseSource
from leadline.db import Database
from leadline.errors import ValidationFailed
from leadline.forms import series as submissions
from leadline.kit import datacenters
from leadline.kit.hours import HOUR, floor_hour
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.models import Anomaly, Site
from leadline.sites import service as sites
from leadline.tracking import clickhouse_repository as clickhouse_counts
from leadline.tracking import series as tracking
from leadline.webhooks import service as webhooks
from leadline.workspaces import service as workspaces

DETECTED, RESOLVED_EVENT = "anomaly.detected", "anomaly.resolved"
STATUSES = (OPEN, RESOLVED)
# The most anomalies one answer lists.
LIST_LIMIT = 500

Outcome = Literal["detected", "ongoing", "resolved"]


@dataclass(frozen=True, slots=True)
class Change:
    """What a check did with one anomaly."""

    outcome: Outcome
    workspace_slug: str
    site_label: str
    anomaly: Anomaly


def label_of(site: Site, domains: Sequence[str]) -> str:
    """How a sentence names the site: its first domain, else its name."""
    return domains[0] if domains else site.name


async def site_series(
    session: AsyncSession,
    site: Site,
    label: str,
    end: datetime,
    ranges: datacenters.Datacenters,
    clickhouse: ClickHouse | None = None,
) -> SiteSeries:
    """The hours of the site's series that the windows ending at ``end`` need (the events
    from ClickHouse when it keeps them)."""
    spans = spans_for(end)
    workspace_id = site.workspace_id
    sent = await submissions.submissions_by_hour(
        session, workspace_id, site.id, spans, pick=ranges.__contains__
    )
    return SiteSeries(
        label=label,
        since=floor_hour(site.created_at),
        visits=await tracking.visits_by_hour(session, workspace_id, site.id, spans),
        events=(
            await clickhouse_counts.events_by_hour(clickhouse, workspace_id, site.id, spans)
            if clickhouse is not None
            else await tracking.events_by_hour(session, site.id, spans)
        ),
        submissions=sent.total,
        datacenter_submissions=sent.picked,
        ingest_errors=await tracking.ingest_errors_by_hour(session, workspace_id, site.id, spans),
    )


def _set(anomaly: Anomaly, finding: Finding, hour: datetime, now: datetime) -> None:
    anomaly.last_seen_hour = hour
    anomaly.window_hours = int((finding.end - finding.start) / HOUR)
    anomaly.observed = finding.observed
    anomaly.expected_low = finding.expected_low
    anomaly.expected_high = finding.expected_high
    anomaly.score = finding.score
    anomaly.sentence = finding.sentence
    anomaly.updated_at = now
    if SEVERITIES.index(finding.severity) > SEVERITIES.index(anomaly.severity):
        anomaly.severity = finding.severity


async def record(
    session: AsyncSession,
    site: Site,
    findings: Sequence[Finding],
    end: datetime,
    now: datetime,
) -> list[tuple[Outcome, Anomaly]]:
    """Record the findings of the windows ending at ``end`` for ``site``: open, update or
    resolve its anomalies, and queue their webhook events."""
    repository = AnomalyRepository(session)
    hour = end - HOUR
    still_open = {a.kind: a for a in await repository.open_of_site(site.workspace_id, site.id)}
    done: list[tuple[Outcome, Anomaly]] = []
    for finding in findings:
        known = still_open.pop(finding.kind, None)
        if known is not None:
            if known.last_seen_hour <= hour:
                _set(known, finding, hour, now)
            done.append(("ongoing", known))
            continue
        anomaly = Anomaly(
            id=new_id("anm"),
            workspace_id=site.workspace_id,
            site_id=site.id,
            kind=finding.kind,
            status=OPEN,
            severity=finding.severity,
            first_seen_hour=hour,
            created_at=now,
        )
        _set(anomaly, finding, hour, now)
        await repository.add(anomaly)
        await webhooks.emit(session, site.workspace_id, DETECTED, {"anomaly": view(anomaly)})
        done.append(("detected", anomaly))
    for anomaly in still_open.values():
        # Seen in a later hour than this check judges (a check of an earlier hour run late).
        if anomaly.last_seen_hour >= hour:
            continue
        anomaly.status = RESOLVED
        anomaly.resolved_at = now
        anomaly.updated_at = now
        await webhooks.emit(session, site.workspace_id, RESOLVED_EVENT, {"anomaly": view(anomaly)})
        done.append(("resolved", anomaly))
    await session.flush()
    return done


async def check_workspace(
    session: AsyncSession,
    workspace_id: str,
    slug: str,
    *,
    end: datetime,
    ranges: datacenters.Datacenters,
    now: datetime | None = None,
    clickhouse: ClickHouse | None = None,
) -> list[Change]:
    """Judge every site of the workspace for the windows ending at ``end``."""
    now = now or utcnow()
    changes: list[Change] = []
    for managed in await sites.sites_of(session, workspace_id):
        site = managed.site
        label = label_of(site, [row.domain for row in managed.domains])
        series = await site_series(session, site, label, end, ranges, clickhouse)
        for outcome, anomaly in await record(session, site, evaluate(series, end), end, now):
            changes.append(Change(outcome, slug, label, anomaly))
    return changes


async def check(
    db: Database,
    *,
    workspace_slug: str | None = None,
    now: datetime | None = None,
) -> list[Change]:
    """Run the check for every open workspace (or the one named), each in a transaction of
    its own, judging the hour before the current one."""
    now = now or utcnow()
    end = floor_hour(now)
    ranges = datacenters.load(db.settings.datacenter_ranges_file)
    async with db.transaction() as session:
        if workspace_slug is not None:
            found = [await workspaces.require(session, workspace_slug)]
        else:
            found = [
                w
                for w in await workspaces.list_workspaces(session)
                if w.status == workspaces.ACTIVE
            ]
        targets = [(workspace.id, workspace.slug) for workspace in found]
    changes: list[Change] = []
    # With ClickHouse the events are there (docs/clickhouse.md).
    url = db.settings.clickhouse_url
    source = ClickHouseSource(url) if url else None
    clickhouse = await source.client() if source is not None else None
    try:
        for workspace_id, slug in targets:
            async with db.transaction() as session:
                changes += await check_workspace(
                    session,
                    workspace_id,
                    slug,
                    end=end,
                    ranges=ranges,
                    now=now,
                    clickhouse=clickhouse,
                )
    finally:
        if source is not None:
            await asyncio.to_thread(source.close)
    return changes


# ------------------------------------------------------------------------------ reading


def view(anomaly: Anomaly) -> dict[str, Any]:
    """An anomaly as the API answers it and webhook events carry it."""
    hour = anomaly.last_seen_hour
    return {
        "id": anomaly.id,
        "site_id": anomaly.site_id,
        "kind": anomaly.kind,
        "status": anomaly.status,
        "severity": anomaly.severity,
        "first_seen": iso_millis(anomaly.first_seen_hour),
        "last_seen": iso_millis(hour),
        "window": {
            "start": iso_millis(hour + HOUR - HOUR * anomaly.window_hours),
            "end": iso_millis(hour + HOUR),
            "hours": anomaly.window_hours,
        },
        "observed": anomaly.observed,
        "expected": {"low": anomaly.expected_low, "high": anomaly.expected_high},
        "score": anomaly.score,
        "sentence": anomaly.sentence,
        "resolved_at": iso_millis(anomaly.resolved_at) if anomaly.resolved_at else None,
    }


def parse_status(raw: str | None) -> str | None:
    """The ``status`` filter: open, resolved, or none (both) when absent or empty."""
    if not raw:
        return None
    if raw not in STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(STATUSES)}, not '{raw}'",
            details={"field": "status", "value": raw},
        )
    return raw


async def anomalies_report(
    session: AsyncSession, query: ReportQuery, status: str | None
) -> dict[str, Any]:
    """The anomalies of the query's sites seen in its period, and every open one."""
    found = await AnomalyRepository(session).listing(
        query.workspace_id,
        query.site_ids,
        query.period.start,
        query.period.end,
        status,
        LIST_LIMIT,
    )
    return {
        "open": sum(1 for anomaly in found if anomaly.status == OPEN),
        "anomalies": [view(anomaly) for anomaly in found],
    }
