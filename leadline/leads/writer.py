"""The lead writer: one per process, for the routes that create leads one request at a time.

A request checks its lead (``service.prepare``: what can be refused is refused before any
transaction), hands it over and waits (``db.GroupCommit``). The writer writes everything
queued while its previous transaction ran in one transaction: the leads of one workspace and
caller with one statement of each kind, the audit chain and the lead facets moved once per
group, and answers each request after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.db import GroupCommit
from leadline.errors import LeadlineError
from leadline.leads.schemas import LeadSource
from leadline.leads.service import CreatedLead, NewLead, create_leads, prepare


@dataclass(frozen=True, slots=True)
class LeadOrder:
    principal: Principal
    item: NewLead
    source: LeadSource
    actor: Actor | None

    @property
    def part(self) -> tuple[str, str, LeadSource, Actor | None]:
        """Leads that can share one ``create_leads``: same workspace, caller, source, actor."""
        return (self.principal.workspace_id, self.principal.key_id, self.source, self.actor)


class LeadWriter(GroupCommit[LeadOrder, CreatedLead]):
    what = "leads"

    async def create(
        self,
        principal: Principal,
        item: NewLead,
        *,
        source: LeadSource = LeadSource.API,
        actor: Actor | None = None,
    ) -> CreatedLead:
        """The lead ``item`` describes, created and committed."""
        return await self.submit(LeadOrder(principal, prepare(item), source, actor))

    async def apply(
        self, session: AsyncSession, orders: list[LeadOrder]
    ) -> list[CreatedLead | LeadlineError]:
        parts: dict[tuple[str, str, LeadSource, Actor | None], list[int]] = {}
        for index, order in enumerate(orders):
            parts.setdefault(order.part, []).append(index)
        results: list[CreatedLead | LeadlineError | None] = [None] * len(orders)
        for indexes in parts.values():
            first = orders[indexes[0]]
            created = await create_leads(
                session,
                first.principal,
                [orders[index].item for index in indexes],
                source=first.source,
                actor=first.actor,
            )
            for index, made in zip(indexes, created, strict=True):
                results[index] = made
        return [result for result in results if result is not None]
