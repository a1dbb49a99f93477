"""The capture writer: one per process, for ``/lead.capture``.

A request reads its submission, checks who sends it from memory (its key, and the site, its
domains and form: ``sites.cache.CaptureSites``) and its fields, hands the submission over and
waits (``db.GroupCommit``). So a submission refused for who sent it (an unknown site, a page off
the site's domains, a form that is not the site's) or for its fields never reaches a group. The
writer takes every submission queued while its previous transaction ran and captures them one
after another in one transaction (a later submission of the group sees what an earlier one made:
the same person's second post joins the lead the first created), then commits and answers each.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.config import Settings
from leadline.db import GroupCommit
from leadline.errors import LeadlineError
from leadline.forms import capture
from leadline.forms.capture import Captured, Sender, Submission


@dataclass(frozen=True, slots=True)
class CaptureOrder:
    submission: Submission
    settings: Settings
    # Checked before the order was queued.
    sender: Sender


class CaptureWriter(GroupCommit[CaptureOrder, Captured]):
    what = "submissions"

    async def capture(self, order: CaptureOrder) -> Captured:
        # The fields are checked before the order is queued: bad input never reaches a group.
        capture.check_fields(order.submission.fields)
        return await self.submit(order)

    async def apply(
        self, session: AsyncSession, orders: list[CaptureOrder]
    ) -> list[Captured | LeadlineError]:
        return [
            await capture.capture(session, order.sender, order.submission, order.settings)
            for order in orders
        ]
