"""Planning the uploads a status change calls for, and sending them in batches.

A status change that a destination's status map names gets one upload row per destination,
keyed by :func:`~leadline.conversions.preflight.dedupe_key`: ``pending`` when the preflight
lets it go, ``skipped`` with every reason when not. The key is unique, so a status reached
again (or a job run twice) never makes a second row, and nothing is sent twice. Pending rows
go in batches of at most the platform's ``max_batch``; each outcome is recorded per row, and a
failure the platform calls passing is tried again later, the wait doubling each time (never
sooner than the platform's Retry-After).

Requests are paced per destination: at most ``conversions_requests_per_minute`` a minute,
counted across workers (in Redis when it is set). When a platform answers "slow down" with a
delay, its destination sends nothing more until then, and the next run is set for that time."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.config import Settings
from leadline.conversions import preflight as checks
from leadline.conversions import service
from leadline.conversions.platforms import registry
from leadline.conversions.platforms.base import Conversion, Outcome
from leadline.conversions.repository import FAILED, PENDING, SENT, SKIPPED, ConversionRepository
from leadline.db import Database
from leadline.jobs import service as jobs
from leadline.kit.ids import new_id
from leadline.kit.ratelimit import RateLimiter
from leadline.kit.time import utcnow
from leadline.leads import service as leads
from leadline.models import ConversionDestination, ConversionUpload, Lead
from leadline.tracking import consent, visits

DELIVER = "conversions.deliver"
# Attempts an upload gets before it is failed for good.
MAX_ATTEMPTS = 8
# How long a batch being sent is its job's: a job that dies mid-way has it sent again after.
LEASE = timedelta(minutes=5)
ACTOR = Actor.system("conversions")


@dataclass(frozen=True, slots=True)
class StatusReached:
    lead_id: str
    status: str
    at: datetime


def retry_delay(settings: Settings, attempt: int, retry_after: float | None) -> float:
    """Seconds before attempt ``attempt + 1``: the configured first wait, doubled per attempt,
    capped at an hour, spread by +/-20%; never sooner than the platform asked."""
    base = min(3600.0, settings.conversions_retry_seconds * 2.0 ** max(0, attempt - 1))
    return max(base * random.uniform(0.8, 1.2), retry_after or 0.0)


# ------------------------------------------------------------------------------- planning


async def plan(
    session: AsyncSession, workspace_id: str, reached: Sequence[StatusReached]
) -> list[str]:
    """Write the upload rows the status changes call for; the destinations given new
    pending ones (to deliver after the commit)."""
    destinations = (await service.list_destinations(session, workspace_id)).destinations
    if not destinations:
        return []
    repo = ConversionRepository(session)
    found = await leads.leads_by_id(session, workspace_id, [item.lead_id for item in reached])
    adapters = registry.adapters()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for item in reached:
        lead = found.get(item.lead_id)
        if lead is None:
            continue
        visit = (
            await visits.visit_of(session, workspace_id, lead.visit_id) if lead.visit_id else None
        )
        # What the ledger says the lead consented to as the uploads are recorded.
        state = await consent.consent_at(
            session, workspace_id, visit_id=lead.visit_id, lead_id=lead.id, at=now
        )
        for destination in destinations:
            target = service.target_of(destination)
            event_name = target.status_map.get(item.status)
            if event_name is None or destination.platform not in adapters:
                continue
            check = checks.preflight(
                lead, visit, [target], adapters, status=item.status, occurred_at=item.at, now=now
            )[0]
            rows.append(
                {
                    "id": new_id("cvu"),
                    "workspace_id": workspace_id,
                    "destination_id": destination.id,
                    "lead_id": lead.id,
                    "status": item.status,
                    "event_name": event_name,
                    "dedupe_key": checks.dedupe_key(lead.id, destination.id, item.status),
                    "occurred_at": item.at,
                    "state": PENDING if check.state == "eligible" else SKIPPED,
                    "reasons": ",".join(check.reasons) or None,
                    "consent": state.as_json(),
                    "attempts": 0,
                    "next_attempt_at": now if check.state == "eligible" else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    known = await repo.known_keys([row["dedupe_key"] for row in rows])
    fresh = [row for row in rows if row["dedupe_key"] not in known]
    await repo.add_uploads(fresh)
    skipped = [row for row in fresh if row["state"] == SKIPPED]
    if skipped:
        await audit.record(
            session,
            workspace_id,
            ACTOR,
            "conversion.skipped",
            "lead",
            None,
            {
                "skipped": (None, len(skipped)),
                "leads": (None, sorted({r["lead_id"] for r in skipped})),
            },
        )
    return sorted({row["destination_id"] for row in fresh if row["state"] == PENDING})


async def enqueue_delivery(
    session: AsyncSession, workspace_id: str, destination_id: str, run_at: datetime | None = None
) -> None:
    await jobs.enqueue(
        session,
        DELIVER,
        {"destination_id": destination_id},
        workspace_id=workspace_id,
        run_at=run_at,
    )


# ------------------------------------------------------------------------------- delivery


@dataclass
class Delivered:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    batches: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    # Set when the run stopped early: the destination's pace was used up, or the platform
    # asked for a pause. The next run is enqueued for then.
    paused_until: datetime | None = None


_pacers: dict[tuple[int, str | None], RateLimiter] = {}


def _pacer(settings: Settings) -> RateLimiter:
    """The per-destination request counter for these settings (one per process)."""
    key = (settings.conversions_requests_per_minute, settings.redis_url)
    found = _pacers.get(key)
    if found is None:
        found = _pacers[key] = RateLimiter(key[0], key[1], namespace="conversions")
    return found


def _asked_pause(outcomes: Sequence[Outcome]) -> float | None:
    """The longest delay the platform asked for in its answer to one request, if any."""
    delays = [o.retry_after for o in outcomes if o.retry and o.retry_after]
    return max(delays) if delays else None


async def _conversions(
    session: AsyncSession, workspace_id: str, uploads: Sequence[ConversionUpload]
) -> tuple[list[Conversion], list[ConversionUpload]]:
    """The uploads as conversions, and those whose lead is gone."""
    found = await leads.leads_by_id(session, workspace_id, [u.lead_id for u in uploads])
    ready: list[Conversion] = []
    gone: list[ConversionUpload] = []
    for upload in uploads:
        lead: Lead | None = found.get(upload.lead_id)
        if lead is None:
            gone.append(upload)
            continue
        visit = (
            await visits.visit_of(session, workspace_id, lead.visit_id) if lead.visit_id else None
        )
        ready.append(
            checks.conversion_of(
                lead,
                visit,
                key=upload.dedupe_key,
                event_name=upload.event_name,
                status=upload.status,
                occurred_at=upload.occurred_at,
            )
        )
    return ready, gone


def _recorded(
    settings: Settings, upload: ConversionUpload, outcome: Outcome, now: datetime
) -> dict[str, Any]:
    if outcome.state == "sent":
        return {
            "state": SENT,
            "sent_at": now,
            "next_attempt_at": None,
            "error_code": None,
            "error_message": None,
            "updated_at": now,
        }
    again = outcome.retry and upload.attempts < MAX_ATTEMPTS
    return {
        "state": PENDING if again else FAILED,
        "next_attempt_at": (
            now + timedelta(seconds=retry_delay(settings, upload.attempts, outcome.retry_after))
            if again
            else None
        ),
        "error_code": (outcome.code or "")[:200] or None,
        "error_message": outcome.message,
        "updated_at": now,
    }


async def _record_batch(
    session: AsyncSession,
    settings: Settings,
    result: Delivered,
    destination: ConversionDestination,
    claimed: Sequence[ConversionUpload],
    gone: Sequence[ConversionUpload],
    answered: Sequence[Outcome],
) -> None:
    """Record what became of each upload of one batch (sent, failed, to be tried again), add
    it to ``result``, and audit the batch."""
    outcomes = {o.key: o for o in answered}
    repo = ConversionRepository(session)
    now = utcnow()
    counts = {"sent": 0, "failed": 0, "retrying": 0}
    for upload in claimed:
        if upload in gone:
            outcome = Outcome(upload.dedupe_key, "failed", "lead_gone", "the lead was deleted")
        else:
            outcome = outcomes.get(upload.dedupe_key) or Outcome(
                upload.dedupe_key,
                "failed",
                "no_outcome",
                "the platform's answer did not mention this conversion",
                retry=True,
            )
        values = _recorded(settings, upload, outcome, now)
        await repo.record(upload.id, values)
        result.outcomes[upload.dedupe_key] = outcome
        which = (
            "sent"
            if values["state"] == SENT
            else ("retrying" if values["state"] == PENDING else "failed")
        )
        counts[which] += 1
    result.sent += counts["sent"]
    result.failed += counts["failed"]
    result.retrying += counts["retrying"]
    result.batches += 1
    await audit.record(
        session,
        destination.workspace_id,
        ACTOR,
        "conversion.uploaded",
        "conversion_destination",
        destination.id,
        {
            "platform": (None, destination.platform),
            "conversions": (None, len(claimed)),
            **{name: (None, count) for name, count in counts.items() if count},
        },
    )


async def deliver(
    db: Database,
    settings: Settings,
    client: httpx.AsyncClient,
    workspace_id: str,
    destination_id: str,
) -> Delivered:
    """Send the destination's due pending uploads, a batch at a time, and record each
    outcome; enqueue the next run when some are to be tried again."""
    result = Delivered()
    pacer = _pacer(settings)
    while True:
        pace = await pacer.peek(destination_id)
        if pace is not None and not pace.allowed:
            result.paused_until = utcnow() + timedelta(seconds=pace.retry_after)
            break
        async with db.transaction() as session:
            destination = await ConversionRepository(session).destination(
                workspace_id, destination_id
            )
            if destination is None:
                return result
            adapter = registry.adapters().get(destination.platform)
            if adapter is None:
                return result
            now = utcnow()
            claimed = await ConversionRepository(session).claim(
                workspace_id, destination_id, now, now + LEASE, adapter.max_batch
            )
            if not claimed:
                break
            if not destination.enabled:
                for upload in claimed:
                    await ConversionRepository(session).record(
                        upload.id,
                        {
                            "state": SKIPPED,
                            "reasons": checks.DESTINATION_DISABLED,
                            "next_attempt_at": None,
                        },
                    )
                continue
            ready, gone = await _conversions(session, workspace_id, claimed)
            seen = await service.destination_for_adapter(session, settings, destination)
        answered: list[Outcome] = []
        if ready:
            await pacer.hit(destination_id)
            answered = await adapter.send(client, seen, ready)
        async with db.transaction() as session:
            await _record_batch(session, settings, result, destination, claimed, gone, answered)
        pause = _asked_pause(answered)
        if pause is not None:
            result.paused_until = utcnow() + timedelta(seconds=pause)
            break
        if len(claimed) < adapter.max_batch:
            break
    async with db.transaction() as session:
        due = await ConversionRepository(session).next_due(workspace_id, destination_id)
        if due is not None:
            if result.paused_until is not None:
                due = max(due, result.paused_until)
            await enqueue_delivery(session, workspace_id, destination_id, run_at=due)
    return result
