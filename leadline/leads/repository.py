"""Every SQL statement for leads, their status history and the sessions they link to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from leadline.kit.filters import Op
from leadline.models import Label, Lead, LeadStatusChange, VisitSession


@dataclass(frozen=True)
class Criterion:
    """A typed condition on a lead column, built by the service from a parsed filter."""

    column: str
    op: Op
    value: Any


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool


def _condition(criterion: Criterion) -> ColumnElement[bool]:
    column = getattr(Lead, criterion.column)
    match criterion.op:
        case Op.EXISTS:
            if not Lead.__table__.c[criterion.column].nullable:
                # A required column always exists: no condition for the planner to trip over.
                return true() if criterion.value else false()
            present = and_(column.is_not(None), column != "") if _is_text(column) else None
            if present is None:
                present = column.is_not(None)
            return present if criterion.value else ~present
        case Op.EQ:
            if isinstance(criterion.value, list | tuple):
                return column.in_(criterion.value)  # type: ignore[no-any-return]
            return column == criterion.value  # type: ignore[no-any-return]
        case Op.GTE:
            return column >= criterion.value  # type: ignore[no-any-return]
        case Op.GT:
            return column > criterion.value  # type: ignore[no-any-return]
        case Op.LTE:
            return column <= criterion.value  # type: ignore[no-any-return]
        case Op.LT:
            return column < criterion.value  # type: ignore[no-any-return]
    raise AssertionError(criterion.op)  # pragma: no cover


def _is_text(column: Any) -> bool:
    python_type: type | None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    return python_type is str


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, lead: Lead) -> Lead:
        self.session.add(lead)
        await self.session.flush()
        return lead

    async def get(self, workspace_id: str, lead_id: str) -> Lead | None:
        result = await self.session.execute(
            select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
        )
        return result.scalar_one_or_none()

    async def find_by_email(self, workspace_id: str, email: str) -> list[Lead]:
        result = await self.session.execute(
            select(Lead)
            .where(Lead.workspace_id == workspace_id, func.lower(Lead.email) == email.lower())
            .order_by(Lead.created_at, Lead.id)
        )
        return list(result.scalars())

    async def find_by_phone(self, workspace_id: str, e164: str | None, raw: str) -> list[Lead]:
        matches = [Lead.phone == raw]
        if e164:
            matches.append(Lead.phone_e164 == e164)
        result = await self.session.execute(
            select(Lead)
            .where(Lead.workspace_id == workspace_id, or_(*matches))
            .order_by(Lead.created_at, Lead.id)
        )
        return list(result.scalars())

    def _filtered(
        self, workspace_id: str, criteria: Sequence[Criterion], search: str | None
    ) -> Select[Any]:
        query = select(Lead).where(Lead.workspace_id == workspace_id)
        for criterion in criteria:
            query = query.where(_condition(criterion))
        if search:
            pattern = f"%{_escape_like(search.lower())}%"
            query = query.where(
                or_(
                    func.lower(Lead.name).like(pattern, escape="\\"),
                    func.lower(Lead.email).like(pattern, escape="\\"),
                    Lead.phone.like(pattern, escape="\\"),
                    Lead.phone_e164.like(pattern, escape="\\"),
                )
            )
        return query

    async def page(
        self,
        workspace_id: str,
        criteria: Sequence[Criterion],
        search: str | None,
        sort: Sequence[SortKey],
        limit: int,
        offset: int,
    ) -> list[Lead]:
        order: list[Any] = []
        for key in sort:
            column = getattr(Lead, key.column)
            if not Lead.__table__.c[key.column].nullable:
                # Plain order, so PostgreSQL can walk the (workspace_id, column, id) index.
                order.append(column.desc() if key.descending else column.asc())
                continue
            # Nulls sort as the smallest value on both databases.
            order.append(
                column.desc().nulls_last() if key.descending else column.asc().nulls_first()
            )
        order.append(Lead.id.desc() if (sort and sort[-1].descending) else Lead.id.asc())
        query = self._filtered(workspace_id, criteria, search).order_by(*order)
        result = await self.session.execute(query.limit(limit).offset(offset))
        return list(result.scalars())

    async def count(
        self, workspace_id: str, criteria: Sequence[Criterion], search: str | None
    ) -> int:
        inner = self._filtered(workspace_id, criteria, search).with_only_columns(Lead.id)
        result = await self.session.execute(select(func.count()).select_from(inner.subquery()))
        return int(result.scalar_one())

    async def add_status_change(self, change: LeadStatusChange) -> None:
        self.session.add(change)

    async def status_history(self, workspace_id: str, lead_id: str) -> list[LeadStatusChange]:
        result = await self.session.execute(
            select(LeadStatusChange)
            .where(
                LeadStatusChange.workspace_id == workspace_id, LeadStatusChange.lead_id == lead_id
            )
            .order_by(LeadStatusChange.changed_at, LeadStatusChange.id)
        )
        return list(result.scalars())

    async def get_session(self, workspace_id: str, session_id: str) -> VisitSession | None:
        result = await self.session.execute(
            select(VisitSession).where(
                VisitSession.workspace_id == workspace_id, VisitSession.id == session_id
            )
        )
        return result.scalar_one_or_none()

    async def label_exists(self, workspace_id: str, label_id: str) -> bool:
        result = await self.session.execute(
            select(Label.id).where(Label.workspace_id == workspace_id, Label.id == label_id)
        )
        return result.first() is not None

    async def counts_by(
        self, workspace_id: str, column: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        col = getattr(Lead, column)
        result = await self.session.execute(
            select(col, func.count())
            .where(
                Lead.workspace_id == workspace_id, Lead.created_at >= start, Lead.created_at <= end
            )
            .group_by(col)
        )
        return {str(row[0]): int(row[1]) for row in result.all()}

    async def won_value(self, workspace_id: str, start: datetime, end: datetime) -> Decimal:
        result = await self.session.execute(
            select(func.coalesce(func.sum(Lead.value), 0)).where(
                Lead.workspace_id == workspace_id,
                Lead.created_at >= start,
                Lead.created_at <= end,
                Lead.status == "won",
            )
        )
        total = result.scalar_one()
        return total if isinstance(total, Decimal) else Decimal(str(total or 0))

    async def won_by_currency(
        self, workspace_id: str, start: datetime, end: datetime
    ) -> list[tuple[str | None, int, Decimal]]:
        """Won leads created in [start, end]: (currency, how many, sum of value) per currency."""
        result = await self.session.execute(
            select(Lead.currency, func.count(), func.coalesce(func.sum(Lead.value), 0))
            .where(
                Lead.workspace_id == workspace_id,
                Lead.created_at >= start,
                Lead.created_at <= end,
                Lead.status == "won",
            )
            .group_by(Lead.currency)
        )
        rows = []
        for currency, count, total in result.all():
            amount = total if isinstance(total, Decimal) else Decimal(str(total or 0))
            rows.append((currency, int(count), amount))
        return rows
