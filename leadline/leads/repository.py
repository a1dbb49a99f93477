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
    BigInteger,
    Select,
    and_,
    column,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Join

from leadline.db import Repository, table_of
from leadline.kit.filters import Op
from leadline.models import SEARCH_TABLE, Lead, LeadFacet, LeadStatusChange, Tombstone


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


# The fields search looks in.
_SEARCHED = ("name", "email", "phone", "phone_e164")


def search_text(lead: Any = Lead) -> ColumnElement[str]:
    """What ``search`` looks in: name, email and both phone forms, lower-cased, joined by tabs
    (of ``lead``: Lead, or an alias of it).

    PostgreSQL indexes this very expression with trigrams (``ix_leads_search``, see the
    migrations), so it must keep rendering exactly as the index was defined; the separators are
    inlined rather than bound for that reason.
    """
    empty: ColumnElement[str] = literal_column("''")
    tab: ColumnElement[str] = literal_column("'\t'")
    parts: list[ColumnElement[str]] = []
    for name in _SEARCHED:
        if parts:
            parts.append(tab)
        parts.append(func.coalesce(getattr(lead, name), empty))
    return func.lower(reduce(operator.add, parts))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A trigram index finds terms of at least this many characters.
_TRIGRAM = 3

# SQLite's search table (FTS5, trigram tokenizer), as much of it as queries name: its rowid is
# the lead's seq. The migration that creates it has the rest.
_SEARCH_ROWS = table(SEARCH_TABLE, column("rowid", BigInteger))
# Its commands are inserts into a column named as the table, with an argument in ``rank``.
_SEARCH_COMMANDS = table(SEARCH_TABLE, column(SEARCH_TABLE), column("rank"))


def _fts_phrase(term: str) -> str:
    """``term`` as one FTS5 string, to be found as it is: inside double quotes nothing is
    query syntax (AND, OR, NOT, NEAR, ``*``, ``-``, ``^``, ``:``, parentheses), and a double
    quote is written twice."""
    return '"' + term.replace('"', '""') + '"'


def _order(entity: Any, sort: Sequence[SortKey]) -> list[Any]:
    """ORDER BY for ``sort`` on ``entity`` (Lead, or the columns of a subquery), ties broken by
    creation, then id, in the direction of the last key: every list index ends with
    (created_at, id), so the whole order comes from one index."""
    order: list[Any] = []
    for key in sort:
        column = getattr(entity, key.column)
        if not Lead.__table__.c[key.column].nullable:
            # Plain order, so PostgreSQL can walk the (workspace_id, column, id) index.
            order.append(column.desc() if key.descending else column.asc())
            continue
        # Nulls sort as the smallest value on both databases.
        order.append(column.desc().nulls_last() if key.descending else column.asc().nulls_first())
    descending = bool(sort) and sort[-1].descending
    if all(key.column != "created_at" for key in sort):
        order.append(entity.created_at.desc() if descending else entity.created_at.asc())
    order.append(entity.id.desc() if descending else entity.id.asc())
    return order


class _ReadLeftFirst(Join):
    """An inner join that SQLite reads in the order written (see the compiler below)."""

    inherit_cache = True


@compiles(_ReadLeftFirst, "sqlite")
def _cross_join(join: _ReadLeftFirst, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's CROSS JOIN is an inner join whose tables it never reorders.
    joined = compiler.visit_join(join, **kw)  # type: ignore[no-untyped-call]
    return str(joined).replace(" JOIN ", " CROSS JOIN ", 1)


@dataclass(frozen=True, slots=True)
class Found:
    """A page of leads read through the search index, and how many matches were read."""

    leads: list[Lead]
    matches: int


class LeadRepository(Repository):
    async def count_created(self, workspace_id: str, since: datetime, until: datetime) -> int:
        """Leads created from ``since`` to ``until`` (excluded), counted along the index led
        by the workspace and the creation time."""
        found = await self.session.scalar(
            select(func.count()).where(
                Lead.workspace_id == workspace_id,
                Lead.created_at >= since,
                Lead.created_at < until,
            )
        )
        return int(found or 0)

    async def delete_some_of_workspace(self, workspace_id: str, batch: int) -> int:
        """Up to ``batch`` of the workspace's leads, with what cascades from them (their
        submissions, status history and CRM activity); how many leads went."""
        return await self.delete_some(Lead, Lead.workspace_id == workspace_id, batch=batch)

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

    async def matching_person(
        self,
        workspace_id: str,
        emails: Sequence[str],
        phones: Sequence[str],
        lead_ids: Sequence[str] = (),
    ) -> list[Lead]:
        """The workspace's leads with any of ``emails`` (case-insensitive) or ``phones`` (as
        given or in E.164), or among ``lead_ids``."""
        matches: list[ColumnElement[bool]] = []
        if lead_ids:
            matches.append(Lead.id.in_(lead_ids))
        if emails:
            matches.append(func.lower(Lead.email).in_([e.lower() for e in emails]))
        if phones:
            matches.extend([Lead.phone.in_(phones), Lead.phone_e164.in_(phones)])
        if not matches:
            return []
        result = await self.session.execute(
            select(Lead).where(Lead.workspace_id == workspace_id, or_(*matches))
        )
        return list(result.scalars())

    async def workspace_of(self, lead_id: str) -> str | None:
        """The workspace of a lead known by id alone: for the operator's command line, which
        acts for every workspace."""
        found: str | None = await self.session.scalar(
            select(Lead.workspace_id).where(Lead.id == lead_id)
        )
        return found

    async def click_expiring(
        self,
        workspace_id: str | None,
        start: datetime,
        end: datetime,
        *,
        statuses: Sequence[str],
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[Lead]:
        """Leads in ``statuses`` whose click expires from ``start`` to ``end`` (excluded), by
        expiry then id, after ``after``; every workspace's when ``workspace_id`` is None."""
        query = select(Lead).where(
            Lead.expires_at >= start, Lead.expires_at < end, Lead.status.in_(list(statuses))
        )
        if workspace_id is not None:
            query = query.where(Lead.workspace_id == workspace_id)
        if after is not None:
            query = query.where(tuple_(Lead.expires_at, Lead.id) > tuple_(*after))
        query = query.order_by(Lead.expires_at, Lead.id).limit(limit)
        return list(await self.session.scalars(query))

    async def status_changes(self, workspace_id: str, lead_id: str) -> list[LeadStatusChange]:
        """The lead's status changes, newest first."""
        change = LeadStatusChange
        return list(
            await self.session.scalars(
                select(change)
                .where(change.workspace_id == workspace_id, change.lead_id == lead_id)
                .order_by(change.changed_at.desc(), change.id.desc())
            )
        )

    async def status_changes_between(
        self, workspace_id: str, statuses: Sequence[str], start: datetime, end: datetime
    ) -> list[LeadStatusChange]:
        """The workspace's changes to one of ``statuses`` from ``start`` up to (not
        including) ``end``, oldest first."""
        change = LeadStatusChange
        return list(
            await self.session.scalars(
                select(change)
                .where(
                    change.workspace_id == workspace_id,
                    change.to_status.in_(list(statuses)),
                    change.changed_at >= start,
                    change.changed_at < end,
                )
                .order_by(change.changed_at, change.id)
            )
        )

    async def of_ids(self, workspace_id: str, lead_ids: Sequence[str]) -> list[Lead]:
        if not lead_ids:
            return []
        return list(
            await self.session.scalars(
                select(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(lead_ids))
            )
        )

    async def ids_containing(self, workspace_id: str, search: str, at_most: int) -> list[str]:
        """The ids of the newest ``at_most`` leads whose name, email or phone contains
        ``search`` (as the list's search finds them: through the search index when the term
        is long enough, else by testing each lead)."""
        if self.can_look_up(search):
            query = self._indexed(workspace_id, [], search)
        else:
            query = select(Lead).where(Lead.workspace_id == workspace_id, self._contains(search))
        query = query.with_only_columns(Lead.id).order_by(Lead.created_at.desc(), Lead.id.desc())
        return list(await self.session.scalars(query.limit(at_most)))

    async def delete(self, workspace_id: str, lead_ids: Sequence[str]) -> None:
        """Remove leads and their status history (the search table follows by trigger)."""
        if not lead_ids:
            return
        await self.session.execute(
            delete(LeadStatusChange).where(LeadStatusChange.lead_id.in_(lead_ids))
        )
        await self.session.execute(
            delete(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(lead_ids))
        )

    async def tombstoned(self, workspace_id: str, digests: Sequence[str]) -> set[str]:
        """Which of ``digests`` the workspace holds tombstones for."""
        if not digests:
            return set()
        result = await self.session.scalars(
            select(Tombstone.digest).where(
                Tombstone.workspace_id == workspace_id, Tombstone.digest.in_(digests)
            )
        )
        return set(result)

    async def add_tombstones(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(Tombstone), rows)

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
        """The workspace's leads that meet ``criteria`` and contain ``search``, tested lead by
        lead: no index serves the search here, so a query walks the order it asks for."""
        query = select(Lead).where(Lead.workspace_id == workspace_id)
        for criterion in criteria:
            query = query.where(_condition(criterion))
        if search:
            query = query.where(self._contains(search))
        return query

    def matching(
        self, workspace_id: str, criteria: Sequence[Criterion], search: str | None
    ) -> Select[Any]:
        """SELECT of the workspace's leads that meet ``criteria`` and contain ``search``, for
        a reader that pages through them in its own way (an export)."""
        return self._filtered(workspace_id, criteria, search)

    async def page(
        self,
        workspace_id: str,
        criteria: Sequence[Criterion],
        search: str | None,
        sort: Sequence[SortKey],
        limit: int,
        offset: int,
    ) -> list[Lead]:
        """A page in the list's order. With ``search``, each lead on the way is tested, which
        is quick when many leads match (see :meth:`look_up` for when few do)."""
        query = self._filtered(workspace_id, criteria, search).order_by(*_order(Lead, sort))
        result = await self.session.execute(query.limit(limit).offset(offset))
        return list(result.scalars())

    async def count(
        self,
        workspace_id: str,
        criteria: Sequence[Criterion],
        search: str | None,
        *,
        at_most: int | None = None,
    ) -> int:
        """How many leads match, counting no further than ``at_most``."""
        inner = self._filtered(workspace_id, criteria, search).with_only_columns(Lead.id)
        if search and self._dialect == "sqlite":
            # A search tests the leads one by one. Left alone, SQLite reads them through its
            # narrowest index, in that index's order: a random table read per lead, about four
            # times slower than following ix_leads_ws_created, whose order is the table's.
            # This always-true range makes it pick that index.
            inner = inner.where(Lead.created_at >= _BEFORE_ANY_LEAD)
        if at_most is not None:
            inner = inner.limit(at_most)
        result = await self.session.execute(select(func.count()).select_from(inner.subquery()))
        return int(result.scalar_one())

    # ------------------------------------------------------------------------------ search

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def can_look_up(self, search: str) -> bool:
        """Whether the search index can find ``search``: a term of at least three characters
        (a trigram). On SQLite, whose index keeps each field apart, also only a term without a
        tab, the separator of the fields in :func:`search_text` (such a term could match across
        two of them, as it always could)."""
        if len(search) < _TRIGRAM:
            return False
        return self._dialect != "sqlite" or "\t" not in search

    def _contains(self, search: str, lead: Any = Lead) -> ColumnElement[bool]:
        """:func:`search_text` contains ``search``, lower-cased as it is. The same test as
        ``LIKE '%term%'`` (which is what the lower-cased text and the term make of case), in a
        form no trigram index serves: PostgreSQL then walks the page's order instead of reading
        every match from its trigram index to sort them."""
        position = func.strpos if self._dialect == "postgresql" else func.instr
        return position(search_text(lead), search.lower()) > 0

    async def walk(
        self,
        workspace_id: str,
        criteria: Sequence[Criterion],
        search: str,
        sort: Sequence[SortKey],
        limit: int,
        offset: int,
        *,
        within: int,
    ) -> list[Lead] | None:
        """A page of the leads that contain ``search``, read in the list's order and tested
        one by one, as :meth:`page` does, from the first ``within`` leads of the list only:
        None when those hold too few matches to fill the page (the rest may be far down the
        list, a walk to the end of it). On SQLite, for an order other than the default, the
        walk goes on to the end of the page however far that is (see :meth:`_walk_window`)."""
        listed = self._filtered(workspace_id, criteria, None)
        order = _order(Lead, sort)
        if [key.column for key in sort] == ["created_at"]:
            # The default order, which ix_leads_ws_created keeps: find in the index where the
            # list's first `within` leads end, and walk no further. The walk itself stops as
            # soon as the page is full.
            edge_query = listed.with_only_columns(Lead.created_at, Lead.id).order_by(*order)
            edge = (await self.session.execute(edge_query.offset(within - 1).limit(1))).first()
            query = listed.where(self._contains(search))
            if edge is not None:
                key, bound = tuple_(Lead.created_at, Lead.id), tuple_(edge[0], edge[1])
                query = query.where(key >= bound if sort[0].descending else key <= bound)
            query = query.order_by(*order).limit(limit).offset(offset)
            leads = list((await self.session.execute(query)).scalars())
        elif self._dialect == "postgresql":
            leads = await self._walk_window(listed, search, sort, limit, offset, within)
        else:
            return await self.page(workspace_id, criteria, search, sort, limit, offset)
        return leads if len(leads) == limit else None

    async def _walk_window(
        self,
        listed: Select[Any],
        search: str,
        sort: Sequence[SortKey],
        limit: int,
        offset: int,
        within: int,
    ) -> list[Lead]:
        """The walk of :meth:`walk` in another order than the default: the first ``within``
        leads in that order, as a subquery, tested, and the page's leads read whole.
        PostgreSQL stops reading them when the page is full. SQLite would read them all before
        it sorted what matched, in that order's index (a random read of the table per lead,
        ten times the cost of the default order's): there an unbounded walk is cheaper."""
        needed = {*(key.column for key in sort), "created_at", "id", *_SEARCHED}
        first = listed.with_only_columns(*(getattr(Lead, name) for name in sorted(needed)))
        window = first.order_by(*_order(Lead, sort)).limit(within).subquery("first")
        keys = dict.fromkeys(["id", "created_at", *(key.column for key in sort)])
        matched = select(*(window.c[name] for name in keys))
        matched = matched.where(self._contains(search, window.c))
        matched = matched.order_by(*_order(window.c, sort)).limit(limit).offset(offset)
        page = matched.subquery("page")
        query = select(Lead).join(page, Lead.id == page.c.id).order_by(*_order(page.c, sort))
        return list((await self.session.execute(query)).scalars())

    async def look_up(
        self,
        workspace_id: str,
        criteria: Sequence[Criterion],
        search: str,
        sort: Sequence[SortKey],
        limit: int,
        offset: int,
        *,
        at_most: int | None,
    ) -> Found:
        """A page of the leads that match, found through the search index: the matches (all,
        or at most ``at_most`` of them) are read, counted and sorted. Quick when few leads
        match; when ``Found.matches`` reaches ``at_most``, others were left unread and the page
        is not to be used. Only for a term :meth:`can_look_up` accepts."""
        # The matches are read with only what sorts them; the page's leads are read whole.
        ordering = {*(key.column for key in sort), "created_at", "id"}
        narrow = [getattr(Lead, name) for name in sorted(ordering)]
        indexed = self._indexed(workspace_id, criteria, search).with_only_columns(*narrow)
        matches = (indexed if at_most is None else indexed.limit(at_most)).subquery("matches")
        matched = func.count().over().label("matched")
        window = select(matches, matched).order_by(*_order(matches.c, sort))
        page = window.limit(limit).offset(offset).subquery("page")
        query = select(Lead, page.c.matched).join(page, Lead.id == page.c.id)
        rows = (await self.session.execute(query.order_by(*_order(page.c, sort)))).all()
        if rows:
            return Found([row[0] for row in rows], int(rows[0].matched))
        # A page past the last match: count them alone.
        counted = select(func.count()).select_from(matches)
        return Found([], int((await self.session.execute(counted)).scalar_one()))

    def _indexed(
        self, workspace_id: str, criteria: Sequence[Criterion], search: str
    ) -> Select[Any]:
        """The workspace's leads that meet ``criteria`` and contain ``search``, found through
        the search index and checked with the very test every search made before there was
        one (the index finds candidates; the test decides)."""
        query = select(Lead).where(Lead.workspace_id == workspace_id)
        for criterion in criteria:
            query = query.where(_condition(criterion))
        pattern = f"%{_escape_like(search.lower())}%"
        query = query.where(search_text().like(pattern, escape="\\"))
        if self._dialect != "sqlite":
            # PostgreSQL's trigram index is over search_text() itself: the LIKE is its query.
            return query
        # SQLite's FTS5 table yields the seq of each lead with the term in one of its fields
        # (every trigram of it, one after the other), whatever the case of its letters; each
        # lead is then read by its seq. The FTS5 table must be read first, and SQLite, which
        # keeps no statistics unless told to, would rather read the workspace's leads and ask
        # the table about each: CROSS JOIN is how SQLite is told the order.
        phrase = literal_column(SEARCH_TABLE).op("MATCH")(_fts_phrase(search.lower()))
        hits = _ReadLeftFirst(_SEARCH_ROWS, Lead.__table__, Lead.seq == _SEARCH_ROWS.c.rowid)
        return query.select_from(hits).where(phrase)

    async def merge_search_index(self, pages: int) -> bool:
        """Merge up to ``pages`` pages of SQLite's search table's index segments that are of a
        size (see the migration: two are enough to merge); whether there was any to merge.
        PostgreSQL keeps its trigram index itself: nothing to do there."""
        if self._dialect != "sqlite":
            return False
        changes = select(func.total_changes())
        before = (await self.session.execute(changes)).scalar_one()
        merge = insert(_SEARCH_COMMANDS).values({SEARCH_TABLE: "merge", "rank": pages})
        await self.session.execute(merge)
        # FTS5 counts a merge that wrote something as two changes or more.
        return int((await self.session.execute(changes)).scalar_one()) - int(before) >= 2

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
