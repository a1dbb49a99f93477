"""Retention: how long a workspace keeps each class of data, and the run that applies it.

A class's period is set in days per workspace; unset, it is kept forever, except raw events,
which the instance keeps LEADLINE_EVENTS_RETENTION_DAYS at most (and never longer than their
visits). A run fixes each class's cut-off when it starts and then works class by class, in
``ORDER``, a batch per transaction, adding what each batch removed to the run's counts in the
same transaction. A run cut short is taken up again by the next one with its own cut-offs.

The order keeps every row another row needs until that one has gone: conversations first
(their messages and notes cascade), leads next (their submissions, status history and
conversion uploads cascade), submissions, then raw events before the visits they belong to;
a visit a remaining lead points to is anonymised and kept. Webhook deliveries and job rows
hang from nothing else. The audit log comes last: its oldest events are removed from the
start of the chain and the chain's anchor moves to the last one removed, so `leadline audit
verify` still passes, and the run's own `privacy.retention_applied` event is appended after.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.clickhouse.client import ClickHouse
from leadline.clickhouse.source import ClickHouseSource
from leadline.config import Settings
from leadline.db import Database
from leadline.errors import ValidationFailed
from leadline.forms import retention as forms_retention
from leadline.inbox import retention as inbox_retention
from leadline.jobs import retention as jobs_retention
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.leads import retention as leads_retention
from leadline.models import RetentionRun
from leadline.privacy import clickhouse_repository
from leadline.privacy import service as privacy
from leadline.privacy.registry import clickhouse_tables
from leadline.privacy.retention_repository import RetentionRepository
from leadline.tracking import retention as tracking_retention
from leadline.webhooks import retention as webhooks_retention

LEAD_STATUSES = ("open", "qualified", "won", "lost")

# The classes, in the order a run applies them (see the module's docstring for why).
ORDER: tuple[str, ...] = (
    "conversations",
    *(f"leads_{status}" for status in LEAD_STATUSES),
    "submissions",
    "events",
    "visits",
    "webhook_deliveries",
    "jobs",
    "audit",
)
CLASSES = frozenset(ORDER)
# The order they are shown in.
SHOWN: tuple[str, ...] = (
    "events",
    "visits",
    "submissions",
    *(f"leads_{status}" for status in LEAD_STATUSES),
    "conversations",
    "webhook_deliveries",
    "jobs",
    "audit",
)
MAX_DAYS = 36500

# Rows per transaction: no lock held for long (on SQLite, the whole database's).
BATCH = 2000

Step = Callable[[AsyncSession, str, datetime, int], Awaitable[int]]
Count = Callable[[AsyncSession, str, datetime], Awaitable[int]]


async def _delete_leads(
    status: str, session: AsyncSession, workspace_id: str, cutoff: datetime, batch: int
) -> int:
    return await leads_retention.delete_leads_before(session, workspace_id, status, cutoff, batch)


async def _count_leads(
    status: str, session: AsyncSession, workspace_id: str, cutoff: datetime
) -> int:
    return await leads_retention.count_leads_before(session, workspace_id, status, cutoff)


STEPS: dict[str, Step] = {
    "conversations": inbox_retention.delete_conversations_before,
    **{f"leads_{status}": partial(_delete_leads, status) for status in LEAD_STATUSES},
    "submissions": forms_retention.delete_submissions_before,
    "events": tracking_retention.delete_events_before,
    "webhook_deliveries": webhooks_retention.delete_deliveries_before,
    "jobs": jobs_retention.delete_jobs_before,
    "audit": audit.trim_older_than,
}

COUNTS: dict[str, Count] = {
    "conversations": inbox_retention.count_conversations_before,
    **{f"leads_{status}": partial(_count_leads, status) for status in LEAD_STATUSES},
    "submissions": forms_retention.count_submissions_before,
    "events": tracking_retention.count_events_before,
    "visits": tracking_retention.count_visits_before,
    "webhook_deliveries": webhooks_retention.count_deliveries_before,
    "jobs": jobs_retention.count_jobs_before,
    "audit": audit.count_older_than,
}


# ------------------------------------------------------------------------------ periods


def effective_days(periods: Mapping[str, int], events_default_days: int) -> dict[str, int]:
    """Each class's period as a run applies it: the periods set, and raw events at most the
    instance's events retention and never longer than the visits they belong to."""
    days = dict(periods)
    days["events"] = min(
        [events_default_days, *(periods[name] for name in ("events", "visits") if name in periods)]
    )
    return days


def cutoffs_of(days: Mapping[str, int], now: datetime) -> dict[str, datetime]:
    return {name: now - timedelta(days=count) for name, count in days.items()}


async def periods_of(session: AsyncSession, workspace_id: str) -> dict[str, int]:
    """The periods the workspace set, in days, by class (a class not named is kept forever)."""
    return await RetentionRepository(session).periods(workspace_id)


def _checked(changes: Mapping[str, Any]) -> dict[str, int | None]:
    if not changes:
        raise ValidationFailed(
            "periods must name at least one class", details={"parameter": "periods"}
        )
    checked: dict[str, int | None] = {}
    for name, days in changes.items():
        if name not in CLASSES:
            raise ValidationFailed(
                f"unknown data class '{name}': expected one of {', '.join(SHOWN)}",
                details={"parameter": f"periods.{name}"},
            )
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS
        ):
            raise ValidationFailed(
                f"periods.{name} must be a whole number of days from 1 to {MAX_DAYS}, or null",
                details={"parameter": f"periods.{name}"},
            )
        checked[name] = days
    return checked


async def set_periods(
    session: AsyncSession, workspace_id: str, changes: Mapping[str, Any], *, actor: Actor
) -> dict[str, int]:
    """Set the periods named in ``changes`` (days, or None to keep the class forever); the
    others stay as they are. Audited as ``privacy.retention_changed``. The periods after."""
    checked = _checked(changes)
    repo = RetentionRepository(session)
    before = await repo.periods(workspace_id)
    await repo.set_periods(workspace_id, checked)
    after = await repo.periods(workspace_id)
    changed = {
        name: (before.get(name), after.get(name))
        for name in sorted(checked)
        if before.get(name) != after.get(name)
    }
    if changed:
        await audit.record(
            session,
            workspace_id,
            actor,
            "privacy.retention_changed",
            "workspace",
            workspace_id,
            changed,
        )
    return after


# -------------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class ClassPreview:
    """What a run would do to one class today: ``rows`` older than ``days`` (None: the
    class is kept forever, and ``rows`` is 0)."""

    name: str
    days: int | None
    rows: int


async def preview(
    session: AsyncSession,
    workspace_id: str,
    *,
    events_default_days: int,
    now: datetime | None = None,
) -> list[ClassPreview]:
    """How many rows of each class a run started now would delete or anonymise, in ``SHOWN``
    order."""
    now = now or utcnow()
    days = effective_days(await periods_of(session, workspace_id), events_default_days)
    found = []
    for name in SHOWN:
        if name not in days:
            found.append(ClassPreview(name, None, 0))
            continue
        cutoff = now - timedelta(days=days[name])
        rows = await COUNTS[name](session, workspace_id, cutoff)
        found.append(ClassPreview(name, days[name], rows))
    return found


# ------------------------------------------------------------------------------------ run


@dataclass
class RunReport:
    """A run of one workspace: its id, the cut-offs it applies, what it removed so far by
    class (``visits_anonymised`` counts the visits kept for a lead), and whether it is over."""

    run_id: str
    workspace_id: str
    cutoffs: dict[str, datetime]
    counts: dict[str, int] = field(default_factory=dict)
    done: bool = False


async def _start_or_resume(
    db: Database, workspace_id: str, *, trigger: str, events_default_days: int, now: datetime
) -> RunReport:
    async with db.transaction() as session:
        repo = RetentionRepository(session)
        run = await repo.unfinished_run(workspace_id)
        if run is None:
            days = effective_days(await repo.periods(workspace_id), events_default_days)
            run = RetentionRun(
                id=new_id("ret"),
                workspace_id=workspace_id,
                trigger=trigger,
                cutoffs=json.dumps(
                    {name: iso_millis(moment) for name, moment in cutoffs_of(days, now).items()},
                    sort_keys=True,
                ),
                counts="{}",
                progress="{}",
                started_at=now,
            )
            await repo.add_run(run)
        return RunReport(
            run.id,
            workspace_id,
            {name: datetime.fromisoformat(at) for name, at in json.loads(run.cutoffs).items()},
            dict(json.loads(run.counts)),
        )


async def _add_counts(
    session: AsyncSession, report: RunReport, counts: Mapping[str, int], progress: Any = None
) -> RetentionRun:
    run = await RetentionRepository(session).run(report.run_id)
    stored = dict(json.loads(run.counts))
    for name, count in counts.items():
        if count:
            stored[name] = stored.get(name, 0) + count
    run.counts = json.dumps(stored, sort_keys=True)
    if progress is not None:
        run.progress = json.dumps(progress, sort_keys=True)
    report.counts = stored
    await session.flush()
    return run


async def _visits_batch(
    session: AsyncSession, report: RunReport, cutoff: datetime, batch: int
) -> bool:
    """One batch of the visits class; False once none is left."""
    run = await RetentionRepository(session).run(report.run_id)
    progress = dict(json.loads(run.progress))
    after_raw = progress.get("visits")
    after = (datetime.fromisoformat(after_raw[0]), str(after_raw[1])) if after_raw else None
    workspace_id = report.workspace_id

    async def needed(visit_ids: Any) -> set[str]:
        return await leads_retention.visit_ids_in_use(session, workspace_id, visit_ids)

    async def anonymise(visit_ids: Any) -> int:
        changed = await privacy.anonymise_visits(session, workspace_id, sorted(visit_ids))
        return changed.get("visits", 0)

    done = await tracking_retention.expire_visits_before(
        session,
        workspace_id,
        cutoff,
        after=after,
        batch=batch,
        needed=needed,
        anonymise=anonymise,
    )
    if done.last is None or done.last == after:
        return False
    progress["visits"] = [done.last[0].isoformat(), done.last[1]]
    await _add_counts(
        session, report, {"visits": done.deleted, "visits_anonymised": done.anonymised}, progress
    )
    return True


async def apply_retention(
    db: Database,
    workspace_id: str,
    *,
    trigger: str,
    events_default_days: int,
    now: datetime | None = None,
    batch: int = BATCH,
    max_batches: int | None = None,
    clickhouse: ClickHouse | None = None,
) -> RunReport:
    """Apply the workspace's periods: start a run (or take up the one left unfinished) and
    work through ``ORDER`` a batch per transaction. ``max_batches`` stops after that many
    (the run stays unfinished, for the next one to finish). With ``clickhouse`` (when it
    keeps the tracking events), its events and visits' starts past their periods go too,
    once the SQL database's have: the visits kept there for a lead are anonymised in
    ClickHouse as the registry declares."""
    now = now or utcnow()
    report = await _start_or_resume(
        db, workspace_id, trigger=trigger, events_default_days=events_default_days, now=now
    )
    batches = 0
    for name in ORDER:
        cutoff = report.cutoffs.get(name)
        if cutoff is None:
            continue
        while True:
            if max_batches is not None and batches >= max_batches:
                return report
            batches += 1
            async with db.transaction() as session:
                if name == "visits":
                    more = await _visits_batch(session, report, cutoff, batch)
                else:
                    removed = await STEPS[name](session, workspace_id, cutoff, batch)
                    if removed:
                        await _add_counts(session, report, {name: removed})
                    more = removed > 0
            if not more:
                break
    if clickhouse is not None:
        in_clickhouse = await _clickhouse_part(db, report, clickhouse)
        async with db.transaction() as session:
            await _add_counts(session, report, in_clickhouse)
    async with db.transaction() as session:
        run = await _add_counts(session, report, {})
        run.finished_at = utcnow()
        if any(report.counts.values()):
            await audit.record(
                session,
                workspace_id,
                Actor.system("retention"),
                "privacy.retention_applied",
                "retention_run",
                run.id,
                {name: (None, count) for name, count in sorted(report.counts.items())},
            )
    report.done = True
    return report


@asynccontextmanager
async def clickhouse_of(settings: Settings) -> AsyncIterator[ClickHouse | None]:
    """ClickHouse's client while the block runs, when it keeps the tracking events
    (LEADLINE_CLICKHOUSE_URL); None otherwise."""
    if not settings.clickhouse_url:
        yield None
        return
    source = ClickHouseSource(settings.clickhouse_url)
    try:
        yield await source.client()
    finally:
        source.close()


async def _clickhouse_part(
    db: Database, report: RunReport, clickhouse: ClickHouse
) -> dict[str, int]:
    events_before = report.cutoffs.get("events")
    visits_before = report.cutoffs.get("visits")
    if events_before is None and visits_before is None:
        return {}
    kept: list[str] = []
    if visits_before is not None:
        async with db.transaction() as session:
            kept = await tracking_retention.visit_ids_before(
                session, report.workspace_id, visits_before
            )
    visit_data = dict(clickhouse_tables()).get("visits")
    assert visit_data is not None, "the registry declares ClickHouse's visits"
    return await clickhouse_repository.expire(
        clickhouse,
        report.workspace_id,
        events_before=events_before,
        visits_before=visits_before,
        kept_visits=kept,
        visit_data=visit_data,
        scrub=privacy.scrubber([]),
    )


async def workspaces_to_run(session: AsyncSession) -> list[str]:
    """The workspaces a daily run covers: those with a period set."""
    return await RetentionRepository(session).workspaces_with_periods()


async def last_run(session: AsyncSession, workspace_id: str) -> RetentionRun | None:
    return await RetentionRepository(session).last_run(workspace_id)
