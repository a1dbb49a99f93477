"""The conversions jobs: planning the uploads of status changes, sending them, and the daily
notice of clicks about to expire."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadline.conversions import delivery, service
from leadline.conversions.trigger import PLAN
from leadline.jobs.registry import GiveUp, JobContext, Periodic, periodic, task
from leadline.kit.time import iso_millis, parse_datetime, utcnow
from leadline.leads import service as leads
from leadline.webhooks import service as webhooks

EXPIRING = "conversions.click_expiring"
EXPIRING_EVENT = "conversion.click_expiring"
# Each lead is announced once, seven days ahead: the daily run takes the leads whose click
# expires in the day that starts six days from now.
_NOTICE_FROM = timedelta(days=6)
_NOTICE_SPAN = timedelta(days=1)
_PAGE = 500


@task(PLAN, max_attempts=5)
async def plan_uploads(context: JobContext, payload: dict[str, Any]) -> None:
    workspace_id = context.workspace_id
    if workspace_id is None:
        raise GiveUp("a conversions job belongs to a workspace")
    reached = [
        delivery.StatusReached(item["lead_id"], item["status"], parse_datetime(item["at"]))
        for item in payload.get("changes", [])
    ]
    async with context.db.transaction() as session:
        destinations = await delivery.plan(session, workspace_id, reached)
        for destination_id in destinations:
            await delivery.enqueue_delivery(session, workspace_id, destination_id)


@task(delivery.DELIVER, max_attempts=5)
async def deliver_uploads(context: JobContext, payload: dict[str, Any]) -> None:
    workspace_id = context.workspace_id
    if workspace_id is None:
        raise GiveUp("a conversions job belongs to a workspace")
    await delivery.deliver(
        context.db, context.settings, context.http, workspace_id, str(payload["destination_id"])
    )


@task(EXPIRING, max_attempts=3)
async def announce_expiring(context: JobContext, payload: dict[str, Any]) -> None:
    """Send ``conversion.click_expiring`` for every open or qualified lead, not yet uploaded
    anywhere, whose click expires in a week."""
    start = utcnow() + _NOTICE_FROM
    await announce(context, start, start + _NOTICE_SPAN)


async def announce(context: JobContext, start: datetime, end: datetime) -> int:
    announced = 0
    after: tuple[datetime, str] | None = None
    while True:
        async with context.db.transaction() as session:
            found = await leads.click_expiring(session, None, start, end, limit=_PAGE, after=after)
            by_workspace: dict[str, list[Any]] = {}
            for lead in found:
                by_workspace.setdefault(lead.workspace_id, []).append(lead)
            for workspace_id, some in by_workspace.items():
                sent = await service.leads_sent(session, workspace_id, [lead.id for lead in some])
                for lead in some:
                    if lead.id in sent or lead.expires_at is None:
                        continue
                    await webhooks.emit(
                        session,
                        workspace_id,
                        EXPIRING_EVENT,
                        {
                            "lead": leads.webhook_lead(lead),
                            "platform": lead.ad_platform,
                            "expires_at": iso_millis(lead.expires_at),
                        },
                    )
                    announced += 1
        if len(found) < _PAGE:
            return announced
        last = found[-1]
        assert last.expires_at is not None
        after = (last.expires_at, last.id)


periodic(Periodic(name=EXPIRING, kind=EXPIRING, cron="23 6 * * *"))
