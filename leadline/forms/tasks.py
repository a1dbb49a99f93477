"""Lead capture's jobs: sending a lead to the CRM, every attempt logged in ``crm_sends``."""

from __future__ import annotations

import time
from typing import Any

import httpx

from leadline import __version__
from leadline.forms import crm
from leadline.forms.repository import CrmRepository
from leadline.jobs.registry import GiveUp, JobContext, RetryLater, exponential_backoff, task
from leadline.kit.ids import new_id
from leadline.kit.time import utcnow
from leadline.leads import service as leads
from leadline.models import CrmSend


@task(crm.FORWARD, max_attempts=8)
async def forward_lead(context: JobContext, payload: dict[str, Any]) -> None:
    """POST the submission's lead to LEADLINE_CRM_FORWARD_URL: 2xx is done; another 4xx (but
    408 and 429) cannot be fixed by trying again; anything else is retried with backoff."""
    url = context.settings.crm_forward_url
    if not url:
        raise GiveUp("LEADLINE_CRM_FORWARD_URL is not set any more")
    async with context.db.transaction() as session:
        repo = CrmRepository(session)
        submission = await repo.submission(str(payload["submission_id"]))
        lead = (
            await leads.lead_of_workspace(session, submission.workspace_id, submission.lead_id)
            if submission and submission.lead_id
            else None
        )
        if submission is None or lead is None:
            raise GiveUp("the submission or its lead is gone")
        body = crm.forward_body(lead, submission, bool(payload.get("reengaged")))
        workspace_id, submission_id = submission.workspace_id, submission.id
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    try:
        response = await context.http.post(
            url,
            json=body,
            headers={"user-agent": f"Leadline/{__version__}"},
            timeout=context.settings.webhooks_timeout_seconds,
        )
        status = response.status_code
        if not 200 <= status < 300:
            error = response.text[:500]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    async with context.db.transaction() as session:
        await CrmRepository(session).add_send(
            CrmSend(
                id=new_id("crms"),
                workspace_id=workspace_id,
                submission_id=submission_id,
                url=url,
                attempt=context.attempt,
                status_code=status,
                error=error,
                latency_ms=round((time.perf_counter() - started) * 1000),
                sent_at=utcnow(),
            )
        )
    if status is not None and 200 <= status < 300:
        return
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        raise GiveUp(f"the CRM refused the lead: {status}")
    raise RetryLater(
        exponential_backoff(context.attempt), f"the CRM did not take it: {status or error}"
    )
