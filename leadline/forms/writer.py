"""The capture writer: one per process, for ``/lead.capture``.

A request reads its submission and (with an API key) checks its key from memory, hands the
submission over and waits (``db.GroupCommit``). The writer takes every submission queued while
its previous transaction ran and captures them one after another in one transaction (a
later submission of the group sees what an earlier one made: the same person's second post
joins the lead the first created), then commits and answers each. A submission refused for
who sent it (an unknown site, a page off the site's domains, a form that is not the site's)
is refused before it writes anything, and is that request's answer alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.auth.service import Principal
from leadline.config import Settings
from leadline.db import GroupCommit
from leadline.errors import LeadlineError
from leadline.forms import capture
from leadline.forms.capture import Captured, Sender, Submission


@dataclass(frozen=True, slots=True)
class CaptureOrder:
    submission: Submission
    settings: Settings
    # With an API key: its principal. Without: the page the browser posted from.
    principal: Principal | None
    site_key: str
    form_id: str | None
    page_host: str | None = None
    actor: str = "form"


@dataclass(frozen=True, slots=True)
class CaptureAnswer:
    sender: Sender
    captured: Captured


class CaptureWriter(GroupCommit[CaptureOrder, CaptureAnswer]):
    what = "submissions"

    async def capture(self, order: CaptureOrder) -> CaptureAnswer:
        return await self.submit(order)

    async def apply(
        self, session: AsyncSession, orders: list[CaptureOrder]
    ) -> list[CaptureAnswer | LeadlineError]:
        answers: list[CaptureAnswer | LeadlineError] = []
        for order in orders:
            try:
                # Who sent it first (a stranger learns nothing of what the fields lack), then
                # the fields; both only read, so a refusal has nothing of it to undo.
                sender = await _sender(session, order)
                capture.check_fields(order.submission.fields)
            except LeadlineError as refused:
                answers.append(refused)
                continue
            submission = replace(order.submission, site_id=sender.site_id)
            captured = await capture.capture(
                session, sender.principal, submission, sender.actor, order.settings
            )
            answers.append(CaptureAnswer(sender, captured))
        return answers


async def _sender(session: AsyncSession, order: CaptureOrder) -> Sender:
    if order.principal is not None:
        return await capture.sender_with_key(
            session, order.principal, order.site_key, order.form_id
        )
    return await capture.sender_from_page(
        session, order.site_key, order.page_host, form_id=order.form_id, actor=order.actor
    )
