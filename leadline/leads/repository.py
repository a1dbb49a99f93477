"""Every SQL statement for leads, their status history, labels and facets."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import reduce
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from leadline.db import Repository, table_of
from leadline.kit.filters import Op
from leadline.models import Lead, LeadFacet, LeadStatusChange


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


def is_present(value: Any) -> bool:
    """Whether a lead's field counts as set: ``[exists]=true`` and the ``has:`` facets agree."""
    return value is not None and value != ""


def _present(name: str) -> ColumnElement[bool]:
    """SQL for :func:`is_present` on the column ``name``."""
    column = getattr(Lead, name)
    if _is_text(column):
        return and_(column.is_not(None), column != "")
    return column.is_not(None)  # type: ignore[no-any-return]


def _condition(criterion: Criterion) -> ColumnElement[bool]:
    column = getattr(Lead, criterion.column)
    match criterion.op:
        case Op.EXISTS:
            if not Lead.__table__.c[criterion.column].nullable:
                # A required column always exists: no condition for the planner to trip over.
                return true() if criterion.value else false()
            present = _present(criterion.column)
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


_BEFORE_ANY_LEAD = datetime(1, 1, 1, tzinfo=UTC)


def search_text() -> ColumnElement[str]:
    """What ``search`` looks in: name, email and both phone forms, lower-cased, joined by tabs.

    PostgreSQL indexes this very expression with trigrams (``ix_leads_search``, see the
    migrations), so it must keep rendering exactly as the index was defined; the separators are
    inlined rather than bound for that reason.
    """
    empty: ColumnElement[str] = literal_column("''")
    tab: ColumnElement[str] = literal_column("'\t'")
    parts: list[ColumnElement[str]] = []
    for column in (Lead.name, Lead.email, Lead.phone, Lead.phone_e164):
        if parts:
            parts.append(tab)
        parts.append(func.coalesce(column, empty))
    return func.lower(reduce(operator.add, parts))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class LeadRepository(Repository):
    async def add(self, *leads: Lead) -> None:
        self.session.add_all(leads)
        await self.session.flush()

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

    async def existing_import_keys(self, workspace_id: str, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` earlier imports into the workspace already used."""
        if not keys:
            return set()
        result = await self.session.execute(
            select(Lead.import_key).where(
                Lead.workspace_id == workspace_id, Lead.import_key.in_(keys)
            )
        )
        return {key for key in result.scalars() if key is not None}

    def _filtered(
        self, workspace_id: str, criteria: Sequence[Criterion], search: str | None
    ) -> Select[Any]:
        query = select(Lead).where(Lead.workspace_id == workspace_id)
        for criterion in criteria:
            query = query.where(_condition(criterion))
        if search:
            pattern = f"%{_escape_like(search.lower())}%"
            query = query.where(search_text().like(pattern, escape="\\"))
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
        # Ties go by creation, then id, in the direction of the last key: every list index
        # ends with (created_at, id), so the whole order comes from one index.
        descending = bool(sort) and sort[-1].descending
        if all(key.column != "created_at" for key in sort):
            order.append(Lead.created_at.desc() if descending else Lead.created_at.asc())
        order.append(Lead.id.desc() if descending else Lead.id.asc())
        query = self._filtered(workspace_id, criteria, search).order_by(*order)
        result = await self.session.execute(query.limit(limit).offset(offset))
        return list(result.scalars())

    async def count(
        self, workspace_id: str, criteria: Sequence[Criterion], search: str | None
    ) -> int:
        inner = self._filtered(workspace_id, criteria, search).with_only_columns(Lead.id)
        if search and self.session.get_bind().dialect.name == "sqlite":
            # A search reads every lead of the workspace. Left alone, SQLite reads them through
            # its narrowest index, in that index's order: a random table read per lead, about
            # four times slower than following ix_leads_ws_created, whose order is the table's.
            # This always-true range makes it pick that index.
            inner = inner.where(Lead.created_at >= _BEFORE_ANY_LEAD)
        result = await self.session.execute(select(func.count()).select_from(inner.subquery()))
        return int(result.scalar_one())

    # ------------------------------------------------------------------------------ facets

    async def add_to_facets(self, workspace_id: str, deltas: Mapping[str, int]) -> None:
        """Add each delta to its facet's count, creating the facet at the delta if it is new."""
        values = [
            {"workspace_id": workspace_id, "facet": facet, "count": delta}
            for facet, delta in sorted(deltas.items())  # one lock order for every writer
            if delta
        ]
        if not values:
            return
        if self.session.get_bind().dialect.name == "postgresql":
            pg = postgresql.insert(LeadFacet)
            pg_stmt = pg.on_conflict_do_update(
                index_elements=[LeadFacet.workspace_id, LeadFacet.facet],
                set_={"count": LeadFacet.count + pg.excluded["count"]},
            )
            await self.session.execute(pg_stmt, values)
        else:
            lite = sqlite.insert(LeadFacet)
            lite_stmt = lite.on_conflict_do_update(
                index_elements=[LeadFacet.workspace_id, LeadFacet.facet],
                set_={"count": LeadFacet.count + lite.excluded["count"]},
            )
            await self.session.execute(lite_stmt, values)

    async def facet_total(self, workspace_id: str, facets: Sequence[str]) -> int:
        """The sum of the counts of ``facets`` (0 for a facet no lead has had yet)."""
        result = await self.session.execute(
            select(func.coalesce(func.sum(LeadFacet.count), 0)).where(
                LeadFacet.workspace_id == workspace_id, LeadFacet.facet.in_(facets)
            )
        )
        return int(result.scalar_one())

    async def facets(self, workspace_id: str) -> dict[str, int]:
        result = await self.session.execute(
            select(LeadFacet.facet, LeadFacet.count).where(LeadFacet.workspace_id == workspace_id)
        )
        return {facet: int(count) for facet, count in result.all()}

    async def recount_facets(self, workspace_id: str, presence: Sequence[str]) -> None:
        """Rebuild a workspace's facets from its leads (after leads were loaded behind the
        service's back). ``presence`` names the fields counted as ``has:<field>``."""
        await self.session.execute(delete(LeadFacet).where(LeadFacet.workspace_id == workspace_id))
        columns = ["workspace_id", "facet", "count"]
        in_workspace = Lead.workspace_id == workspace_id
        for name in ("status", "source", "website"):
            column = getattr(Lead, name)
            await self.session.execute(
                insert(LeadFacet).from_select(
                    columns,
                    select(Lead.workspace_id, literal(f"{name}:") + column, func.count())
                    .where(in_workspace, column.is_not(None))
                    .group_by(Lead.workspace_id, column),
                )
            )
        for name in presence:
            await self.session.execute(
                insert(LeadFacet).from_select(
                    columns,
                    select(Lead.workspace_id, literal(f"has:{name}"), func.count())
                    .where(in_workspace, _present(name))
                    .group_by(Lead.workspace_id),
                )
            )

    # ---------------------------------------------------------------------- status history

    async def insert_rows(self, rows: list[dict[str, Any]]) -> None:
        """New leads, as the values of their rows (the same columns in each), at once."""
        await self.session.execute(insert(table_of(Lead)), rows)

    async def insert_status_changes(self, rows: list[dict[str, Any]]) -> None:
        await self.session.execute(insert(table_of(LeadStatusChange)), rows)

    async def add_status_change(self, change: LeadStatusChange) -> None:
        self.session.add(change)

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
