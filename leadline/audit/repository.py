"""Every SQL statement for the audit log: appending to a chain, walking it, listing events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, Row, delete, func, insert, select, union, update
from sqlalchemy.dialects import postgresql, sqlite

from leadline.db import Repository, table_of
from leadline.models import AuditEvent, AuditHead

_events = AuditEvent.__table__


class AuditRepository(Repository):
    async def delete_some_of_workspace(self, workspace_id: str, batch: int) -> int:
        """Up to ``batch`` events of the workspace's log, newest first: what is left stays a
        chain from its start until the workspace's row takes it and its head along."""
        picked = (
            select(AuditEvent.id)
            .where(AuditEvent.workspace_id == workspace_id)
            .order_by(AuditEvent.seq.desc())
            .limit(batch)
        )
        result = await self.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(picked)))
        return result.rowcount if isinstance(result, CursorResult) else 0

    # ----------------------------------------------------------------------------- append

    async def ensure_head(self, workspace_id: str, genesis_hash: str) -> None:
        """Create the workspace's chain head at seq 0 unless it exists.

        When two first appends to a workspace race, the second waits for the first's head row
        and then leaves it as it is.
        """
        values = {"workspace_id": workspace_id, "seq": 0, "hash": genesis_hash}
        if self.session.get_bind().dialect.name == "postgresql":
            pg_stmt = (
                postgresql.insert(AuditHead)
                .values(values)
                .on_conflict_do_nothing(index_elements=[AuditHead.workspace_id])
            )
            await self.session.execute(pg_stmt)
        else:
            lite_stmt = (
                sqlite.insert(AuditHead)
                .values(values)
                .on_conflict_do_nothing(index_elements=[AuditHead.workspace_id])
            )
            await self.session.execute(lite_stmt)

    async def advance_head(self, workspace_id: str, by: int = 1) -> tuple[int, str]:
        """Move the head ``by`` seqs on and return (the new seq, the hash of the event that
        was last until now).

        The update locks the head row (the whole database on SQLite) until the transaction
        ends, so appends to one chain are serialised and each sees the last one's hash.
        """
        result = await self.session.execute(
            update(AuditHead)
            .where(AuditHead.workspace_id == workspace_id)
            .values(seq=AuditHead.seq + by)
            .returning(AuditHead.seq, AuditHead.hash)
            .execution_options(synchronize_session=False)
        )
        seq, previous = result.one()
        return int(seq), str(previous)

    async def append(self, *events: dict[str, Any]) -> None:
        """Insert ``events`` (rows of one chain, in seq order; one statement for all) and make
        the last one's hash the head's."""
        await self.session.execute(insert(table_of(AuditEvent)), list(events))
        last = events[-1]
        await self.session.execute(
            update(AuditHead)
            .where(AuditHead.workspace_id == last["workspace_id"])
            .values(hash=last["hash"])
            .execution_options(synchronize_session=False)
        )

    # ----------------------------------------------------------------------------- verify

    async def chained_workspaces(self, workspace_id: str | None) -> list[str]:
        """Ids of the workspaces with a chain head or any event, in id order."""
        heads = select(AuditHead.workspace_id)
        events = select(AuditEvent.workspace_id).distinct()
        if workspace_id is not None:
            heads = heads.where(AuditHead.workspace_id == workspace_id)
            events = events.where(AuditEvent.workspace_id == workspace_id)
        both = union(heads, events).subquery()
        result = await self.session.execute(select(both.c[0]).order_by(both.c[0]))
        return [str(row[0]) for row in result.all()]

    async def head(self, workspace_id: str) -> tuple[int, str] | None:
        """The head's (seq, hash) as stored now (never an object cached by the session)."""
        result = await self.session.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.workspace_id == workspace_id)
        )
        row = result.first()
        return (int(row[0]), str(row[1])) if row else None

    async def events_after(
        self, workspace_id: str, after_seq: int | None, limit: int
    ) -> Sequence[Row[Any]]:
        """Up to ``limit`` events after ``after_seq`` (from the first when None) in seq order,
        as plain rows of every column: a walk over millions of events builds no ORM objects."""
        query = select(*_events.c).where(_events.c.workspace_id == workspace_id)
        if after_seq is not None:
            query = query.where(_events.c.seq > after_seq)
        result = await self.session.execute(query.order_by(_events.c.seq).limit(limit))
        return result.all()

    # -------------------------------------------------------------------------- retention

    async def anchor(self, workspace_id: str) -> tuple[int, str | None]:
        """Where the chain starts now: (the seq of the last event removed by retention, its
        hash); (0, None) when none was."""
        result = await self.session.execute(
            select(AuditHead.anchor_seq, AuditHead.anchor_hash).where(
                AuditHead.workspace_id == workspace_id
            )
        )
        row = result.first()
        return (int(row[0]), row[1]) if row else (0, None)

    async def count_before(self, workspace_id: str, cutoff: datetime) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id, AuditEvent.occurred_at < cutoff)
        )
        return int(result.scalar_one())

    async def trim_before(self, workspace_id: str, cutoff: datetime, batch: int) -> int:
        """Remove the chain's oldest events, up to ``batch``, as long as each occurred before
        ``cutoff``, and move the head's anchor to the last one removed: the first event kept
        names its hash as prev_hash, so the chain verifies from the anchor on. The head row is
        updated first, which serialises this with appends to the chain."""
        anchored = await self.session.execute(
            update(AuditHead)
            .where(AuditHead.workspace_id == workspace_id)
            .values(anchor_seq=AuditHead.anchor_seq)
            .returning(AuditHead.anchor_seq)
        )
        row = anchored.first()
        if row is None:
            return 0
        oldest = await self.session.execute(
            select(AuditEvent.seq, AuditEvent.hash, AuditEvent.occurred_at)
            .where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq > int(row[0]))
            .order_by(AuditEvent.seq)
            .limit(batch)
        )
        last: tuple[int, str] | None = None
        for seq, hash_, occurred_at in oldest.all():
            if _aware(occurred_at) >= cutoff:
                break
            last = (int(seq), str(hash_))
        if last is None:
            return 0
        removed = await self.session.execute(
            delete(AuditEvent).where(
                AuditEvent.workspace_id == workspace_id,
                AuditEvent.seq > int(row[0]),
                AuditEvent.seq <= last[0],
            )
        )
        await self.session.execute(
            update(AuditHead)
            .where(AuditHead.workspace_id == workspace_id)
            .values(anchor_seq=last[0], anchor_hash=last[1])
        )
        return removed.rowcount if isinstance(removed, CursorResult) else 0

    # ------------------------------------------------------------------------------- list

    # --------------------------------------------------------------------------- redaction

    async def holding(
        self,
        workspace_id: str,
        target_ids: Sequence[str],
        needles: Sequence[str],
        addresses: Sequence[str],
    ) -> list[Row[Any]]:
        """The workspace's events about one of ``target_ids``, whose changes hold one of
        ``needles`` (ignoring case), or made from one of ``addresses``: every column."""
        from sqlalchemy import func, or_

        parts: list[Any] = []
        if target_ids:
            parts.append(AuditEvent.target_id.in_(list(target_ids)))
        if addresses:
            parts.append(AuditEvent.ip.in_(list(addresses)))
        lowered = func.lower(AuditEvent.changes)
        parts.extend(lowered.contains(needle.lower(), autoescape=True) for needle in needles)
        if not parts:
            return []
        result = await self.session.execute(
            select(_events).where(AuditEvent.workspace_id == workspace_id, or_(*parts))
        )
        return list(result.all())

    async def rewrite(self, event_id: str, values: dict[str, Any]) -> None:
        """Change an event's content in place (its hash stays: see ``service.redact``)."""
        await self.session.execute(
            update(AuditEvent).where(AuditEvent.id == event_id).values(values)
        )

    async def redactions(self, workspace_id: str, action: str) -> list[str]:
        """The changes of the workspace's redaction events, in chain order."""
        result = await self.session.scalars(
            select(AuditEvent.changes)
            .where(AuditEvent.workspace_id == workspace_id, AuditEvent.action == action)
            .order_by(AuditEvent.seq)
        )
        return list(result)

    async def page(
        self,
        workspace_id: str,
        *,
        action: str | None,
        target_type: str | None,
        target_id: str | None,
        actor_id: str | None,
        since: datetime | None,
        until: datetime | None,
        before_seq: int | None,
        limit: int,
    ) -> list[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if target_type is not None:
            query = query.where(AuditEvent.target_type == target_type)
        if target_id is not None:
            query = query.where(AuditEvent.target_id == target_id)
        if actor_id is not None:
            query = query.where(AuditEvent.actor_id == actor_id)
        if since is not None:
            query = query.where(AuditEvent.occurred_at >= since)
        if until is not None:
            query = query.where(AuditEvent.occurred_at < until)
        if before_seq is not None:
            query = query.where(AuditEvent.seq < before_seq)
        result = await self.session.execute(query.order_by(AuditEvent.seq.desc()).limit(limit))
        return list(result.scalars())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
