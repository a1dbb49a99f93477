"""SQL for the consent ledger, as the API and conversions read it (the tracking writer adds
its entries through its own store), and the visits whose rows hold each visit's first entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from leadline.db import Repository
from leadline.models import ConsentChange, Visit


class ConsentRepository(Repository):
    async def add(self, entry: ConsentChange) -> None:
        self.session.add(entry)
        await self.session.flush()

    async def page(
        self,
        workspace_id: str,
        *,
        visitor_id: str | None,
        visit_id: str | None,
        lead_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
        after_start: bool = False,
    ) -> list[ConsentChange]:
        """Up to ``limit`` stored entries of a visitor, or of a lead (its own and its
        visit's), oldest first, after ``after`` (an entry's time and id; with
        ``after_start`` the id is a visit's start, which comes before every stored entry of
        its moment)."""
        query = select(ConsentChange).where(
            ConsentChange.workspace_id == workspace_id,
            *_of(visitor_id=visitor_id, visit_id=visit_id, lead_id=lead_id),
        )
        if after is not None:
            at, entry_id = after
            query = query.where(
                ConsentChange.occurred_at >= at
                if after_start
                else or_(
                    ConsentChange.occurred_at > at,
                    and_(ConsentChange.occurred_at == at, ConsentChange.id > entry_id),
                )
            )
        result = await self.session.scalars(
            query.order_by(ConsentChange.occurred_at, ConsentChange.id).limit(limit)
        )
        return list(result)

    async def threads(
        self, workspace_id: str, visit_ids: Sequence[str], lead_ids: Sequence[str]
    ) -> list[ConsentChange]:
        """Every entry of these visits and of these leads, oldest first: what a state before
        and after each entry is folded from."""
        if not visit_ids and not lead_ids:
            return []
        result = await self.session.scalars(
            select(ConsentChange)
            .where(
                ConsentChange.workspace_id == workspace_id,
                or_(ConsentChange.visit_id.in_(visit_ids), ConsentChange.lead_id.in_(lead_ids)),
            )
            .order_by(ConsentChange.occurred_at, ConsentChange.id)
        )
        return list(result)

    async def until(
        self, workspace_id: str, *, visit_id: str | None, lead_id: str | None, at: datetime
    ) -> list[ConsentChange]:
        """The entries of a lead and its visit made by ``at``, oldest first."""
        result = await self.session.scalars(
            select(ConsentChange)
            .where(
                ConsentChange.workspace_id == workspace_id,
                ConsentChange.occurred_at <= at,
                *_of(visitor_id=None, visit_id=visit_id, lead_id=lead_id),
            )
            .order_by(ConsentChange.occurred_at, ConsentChange.id)
        )
        return list(result)

    async def visits(self, workspace_id: str, visit_ids: Sequence[str]) -> list[Visit]:
        """The workspace's tracked visits among ``visit_ids``: their rows hold their first
        entries."""
        if not visit_ids:
            return []
        result = await self.session.scalars(
            select(Visit).where(
                Visit.workspace_id == workspace_id,
                Visit.id.in_(list(visit_ids)),
                Visit.site_id.is_not(None),
            )
        )
        return list(result)

    async def visits_of_visitor(
        self,
        site_ids: Sequence[str],
        visitor_id: str,
        since: datetime | None,
        limit: int | None,
    ) -> list[Visit]:
        """A visitor's visits to these sites started at ``since`` or later, oldest first (along
        the index of visits by site, visitor and start)."""
        if not site_ids:
            return []
        query = select(Visit).where(Visit.site_id.in_(site_ids), Visit.visitor_id == visitor_id)
        if since is not None:
            query = query.where(Visit.started_at >= since)
        query = query.order_by(Visit.started_at, Visit.id)
        if limit is not None:
            query = query.limit(limit)
        return list(await self.session.scalars(query))


def _of(*, visitor_id: str | None, visit_id: str | None, lead_id: str | None) -> list[Any]:
    if visitor_id is not None:
        return [ConsentChange.visitor_id == visitor_id]
    matches = []
    if visit_id is not None:
        matches.append(ConsentChange.visit_id == visit_id)
    if lead_id is not None:
        matches.append(ConsentChange.lead_id == lead_id)
    return [or_(*matches)] if matches else [ConsentChange.id.is_(None)]
