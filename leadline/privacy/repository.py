"""SQL for the privacy feature: erasure receipts, and the statements the registry of personal
data drives (finding a person's rows, erasing and reading them) over every declared table.

This is the one place that reaches into other features' tables, on purpose: each table
declares next to its model what erasure does to it (``leadline.models.personal``), so no
feature keeps erasure code of its own (docs/adr/0015-personal-data-registry.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, or_, select, tuple_, update
from sqlalchemy.engine import CursorResult

from leadline.db import Repository
from leadline.models import Erasure
from leadline.models.personal import INCREMENT, NOW, SCRUB, Set
from leadline.privacy.registry import Declared, Person

# Values per IN list: well under every database's limit on bound parameters.
CHUNK = 500
STREAM_BATCH = 200


class ErasureRepository(Repository):
    async def add(self, erasure: Erasure) -> None:
        self.session.add(erasure)
        await self.session.flush()

    async def get(self, workspace_id: str, erasure_id: str) -> Erasure | None:
        found = await self.session.get(Erasure, erasure_id)
        return found if found is not None and found.workspace_id == workspace_id else None

    async def running(self, erasure_id: str) -> Erasure | None:
        """A running erasure, locked until the transaction ends (one job step at a time)."""
        found: Erasure | None = await self.session.scalar(
            select(Erasure)
            .where(Erasure.id == erasure_id, Erasure.state == "running")
            .with_for_update()
        )
        return found


def _scope(one: Declared, workspace_id: str) -> ColumnElement[bool]:
    parent = one.data.parent
    if parent is None:
        return one.table.c.workspace_id == workspace_id
    owner: Table = one.table.metadata.tables[parent.table]
    return one.table.c[parent.column].in_(
        select(owner.c[parent.key]).where(owner.c.workspace_id == workspace_id)
    )


def _in(column: Any, values: list[str]) -> ColumnElement[bool]:
    parts = [column.in_(values[i : i + CHUNK]) for i in range(0, len(values), CHUNK)]
    return or_(*parts)


def _condition(one: Declared, person: Person) -> ColumnElement[bool] | None:
    """Rows of ``one`` that are the person's; None when nothing can match yet."""
    parts: list[ColumnElement[bool]] = []
    for name, key in one.data.match.items():
        values = person.of(key)
        if not values:
            continue
        column = one.table.c[name]
        parts.append(_in(func.lower(column) if key == "email" else column, values))
    needles = person.needles()
    for name in one.data.search if needles else ():
        lowered = func.lower(one.table.c[name])
        parts.extend(lowered.contains(needle.lower(), autoescape=True) for needle in needles)
    return or_(*parts) if parts else None


class PersonRepository(Repository):
    """A person's rows in the declared tables of one workspace."""

    async def gather(self, workspace_id: str, one: Declared, person: Person) -> bool:
        """Add what the person's rows of ``one`` say about them; whether anything was new."""
        condition = _condition(one, person)
        if condition is None or not one.data.gathers:
            return False
        columns = [one.table.c[name] for name in one.data.gathers]
        result = await self.session.execute(
            select(*columns).where(_scope(one, workspace_id), condition).distinct()
        )
        grew = False
        for row in result:
            for key, value in zip(one.data.gathers.values(), row, strict=True):
                grew = person.add(key, value) or grew
        return grew

    async def count(self, workspace_id: str, one: Declared, person: Person) -> int:
        """How many of the person's rows ``one`` holds."""
        condition = _condition(one, person)
        if condition is None:
            return 0
        found = await self.session.scalar(
            select(func.count()).select_from(one.table).where(_scope(one, workspace_id), condition)
        )
        return int(found or 0)

    async def next_keys(
        self,
        workspace_id: str,
        one: Declared,
        person: Person,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """The primary keys of the person's next ``limit`` rows of ``one`` after ``after``, in
        key order: a batch of a large erasure, which carries on from the last key."""
        condition = _condition(one, person)
        if condition is None:
            return []
        keys = list(one.table.primary_key.columns)
        query = select(*keys).where(_scope(one, workspace_id), condition)
        if after is not None:
            query = query.where(tuple_(*keys) > tuple_(*after))
        result = await self.session.execute(query.order_by(*keys).limit(limit))
        return [tuple(row) for row in result]

    async def erase(
        self,
        workspace_id: str,
        one: Declared,
        person: Person,
        now: datetime,
        scrub: Callable[[str], str],
        keys: Sequence[tuple[Any, ...]] | None = None,
    ) -> int:
        """Do to the person's rows of ``one`` (those with ``keys`` only, when given) what it
        declared; how many rows went or changed."""
        condition = _condition(one, person)
        if condition is None or keys == []:
            return 0
        where: tuple[ColumnElement[bool], ...] = (_scope(one, workspace_id), condition)
        if keys is not None:
            where = (*where, tuple_(*one.table.primary_key.columns).in_(list(keys)))
        if one.data.delete:
            deleted: CursorResult[Any] = await self.session.execute(  # type: ignore[assignment]
                delete(one.table).where(*where)
            )
            return int(deleted.rowcount)
        values: dict[str, Any] = {}
        scrubbed: list[str] = []
        for name, action in one.data.erase.items():
            if isinstance(action, Set):
                values[name] = action.value
            elif action is NOW:
                values[name] = now
            elif action is INCREMENT:
                values[name] = one.table.c[name] + 1
            elif action is SCRUB:
                scrubbed.append(name)
        changed = await self._scrub(one, where, scrubbed, scrub) if scrubbed else 0
        if values:
            updated: CursorResult[Any] = await self.session.execute(  # type: ignore[assignment]
                update(one.table).where(*where).values(values)
            )
            changed = max(changed, int(updated.rowcount))
        return changed

    async def _scrub(
        self,
        one: Declared,
        where: tuple[ColumnElement[bool], ...],
        names: list[str],
        scrub: Callable[[str], str],
    ) -> int:
        keys = list(one.table.primary_key.columns)
        result = await self.session.execute(
            select(*keys, *(one.table.c[name] for name in names)).where(*where)
        )
        changed = 0
        for row in result.all():
            key, texts = row[: len(keys)], row[len(keys) :]
            new = {
                name: scrub(text)
                for name, text in zip(names, texts, strict=True)
                if isinstance(text, str)
            }
            new = {name: text for name, text in new.items() if text != row._mapping[name]}
            if not new:
                continue
            await self.session.execute(
                update(one.table)
                .where(*(column == value for column, value in zip(keys, key, strict=True)))
                .values(new)
            )
            changed += 1
        return changed

    async def rows(
        self, workspace_id: str, one: Declared, person: Person
    ) -> AsyncIterator[dict[str, Any]]:
        """The person's rows of ``one``, every column, a few at a time."""
        condition = _condition(one, person)
        if condition is None:
            return
        keys = list(one.table.primary_key.columns)
        result = await self.session.stream(
            select(one.table)
            .where(_scope(one, workspace_id), condition)
            .order_by(*keys)
            .execution_options(yield_per=STREAM_BATCH)
        )
        async for row in result.mappings():
            yield dict(row)
