"""Every SQL statement over the conversions tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from leadline.db import Repository
from leadline.models import ConversionDestination, ConversionUpload

PENDING, SENT, SKIPPED, FAILED = "pending", "sent", "skipped", "failed"


class ConversionRepository(Repository):
    # ------------------------------------------------------------------------ destinations

    async def add_destination(self, destination: ConversionDestination) -> None:
        self.session.add(destination)
        await self.session.flush()

    async def destination(
        self, workspace_id: str, destination_id: str
    ) -> ConversionDestination | None:
        found: ConversionDestination | None = await self.session.scalar(
            select(ConversionDestination).where(
                ConversionDestination.workspace_id == workspace_id,
                ConversionDestination.id == destination_id,
            )
        )
        return found

    async def destinations(
        self,
        workspace_id: str,
        *,
        limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[ConversionDestination]:
        """The workspace's destinations, newest first."""
        query = select(ConversionDestination).where(
            ConversionDestination.workspace_id == workspace_id
        )
        if after is not None:
            query = query.where(
                tuple_(ConversionDestination.created_at, ConversionDestination.id) < tuple_(*after)
            )
        query = query.order_by(
            ConversionDestination.created_at.desc(), ConversionDestination.id.desc()
        )
        if limit is not None:
            query = query.limit(limit)
        return list(await self.session.scalars(query))

    async def delete_destination(self, workspace_id: str, destination_id: str) -> None:
        await self.session.execute(
            delete(ConversionUpload).where(
                ConversionUpload.workspace_id == workspace_id,
                ConversionUpload.destination_id == destination_id,
            )
        )
        await self.session.execute(
            delete(ConversionDestination).where(
                ConversionDestination.workspace_id == workspace_id,
                ConversionDestination.id == destination_id,
            )
        )

    # ----------------------------------------------------------------------------- uploads

    async def add_uploads(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows``, leaving out any whose dedupe key is already stored; how many went in."""
        if not rows:
            return 0
        if self.session.get_bind().dialect.name == "postgresql":
            pg = postgresql.insert(ConversionUpload).values(list(rows))
            result = await self.session.execute(
                pg.on_conflict_do_nothing(index_elements=[ConversionUpload.dedupe_key])
            )
        else:
            lite = sqlite.insert(ConversionUpload).values(list(rows))
            result = await self.session.execute(
                lite.on_conflict_do_nothing(index_elements=[ConversionUpload.dedupe_key])
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        found = await self.session.scalars(
            select(ConversionUpload.dedupe_key).where(ConversionUpload.dedupe_key.in_(list(keys)))
        )
        return set(found)

    async def uploads_of_lead(self, workspace_id: str, lead_id: str) -> list[ConversionUpload]:
        return list(
            await self.session.scalars(
                select(ConversionUpload)
                .where(
                    ConversionUpload.workspace_id == workspace_id,
                    ConversionUpload.lead_id == lead_id,
                )
                .order_by(ConversionUpload.created_at, ConversionUpload.id)
            )
        )

    async def upload_counts(self, workspace_id: str) -> list[tuple[str, str, int, datetime | None]]:
        """Per destination and state: how many uploads, and when the newest changed."""
        rows = await self.session.execute(
            select(
                ConversionUpload.destination_id,
                ConversionUpload.state,
                func.count(),
                func.max(ConversionUpload.updated_at),
            )
            .where(ConversionUpload.workspace_id == workspace_id)
            .group_by(ConversionUpload.destination_id, ConversionUpload.state)
        )
        return [(str(d), str(s), int(n), at) for d, s, n, at in rows]

    async def leads_sent(self, workspace_id: str, lead_ids: Sequence[str]) -> set[str]:
        if not lead_ids:
            return set()
        found = await self.session.scalars(
            select(ConversionUpload.lead_id).where(
                ConversionUpload.workspace_id == workspace_id,
                ConversionUpload.lead_id.in_(list(lead_ids)),
                ConversionUpload.state == SENT,
            )
        )
        return set(found)

    async def claim(
        self,
        workspace_id: str,
        destination_id: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[ConversionUpload]:
        """Take up to ``limit`` due pending uploads of the destination for one attempt: each
        counts the attempt and is not due again until ``lease_until`` (so a second job leaves
        them be, and a job that dies mid-way has them tried again after the lease)."""
        due = (
            select(ConversionUpload.id)
            .where(
                ConversionUpload.workspace_id == workspace_id,
                ConversionUpload.destination_id == destination_id,
                ConversionUpload.state == PENDING,
                ConversionUpload.next_attempt_at <= now,
            )
            .order_by(ConversionUpload.next_attempt_at, ConversionUpload.id)
            .limit(limit)
        )
        ids = list(await self.session.scalars(due))
        if not ids:
            return []
        claimed = await self.session.scalars(
            update(ConversionUpload)
            .where(
                ConversionUpload.id.in_(ids),
                ConversionUpload.state == PENDING,
                ConversionUpload.next_attempt_at <= now,
            )
            .values(
                attempts=ConversionUpload.attempts + 1,
                next_attempt_at=lease_until,
                updated_at=now,
            )
            .returning(ConversionUpload.id)
            .execution_options(synchronize_session=False)
        )
        taken = list(claimed)
        if not taken:
            return []
        return list(
            await self.session.scalars(
                select(ConversionUpload)
                .where(ConversionUpload.id.in_(taken))
                .order_by(ConversionUpload.id)
                .execution_options(populate_existing=True)
            )
        )

    async def record(self, upload_id: str, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(ConversionUpload)
            .where(ConversionUpload.id == upload_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def next_due(self, workspace_id: str, destination_id: str) -> datetime | None:
        found: datetime | None = await self.session.scalar(
            select(ConversionUpload.next_attempt_at)
            .where(
                ConversionUpload.workspace_id == workspace_id,
                ConversionUpload.destination_id == destination_id,
                ConversionUpload.state == PENDING,
            )
            .order_by(ConversionUpload.next_attempt_at)
            .limit(1)
        )
        return found
