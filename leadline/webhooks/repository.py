"""Every SQL statement for webhook endpoints, events, deliveries and attempts."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, or_, select, update

from leadline.db import Repository
from leadline.kit.ids import new_id
from leadline.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


@dataclass(slots=True, frozen=True)
class Claimed:
    """A pending delivery a delivery job took, with its attempt's number."""

    id: str
    endpoint_id: str
    event_id: str
    attempt: int


@dataclass(slots=True, frozen=True)
class EndpointRow:
    """What a batch needs of an endpoint, read once per batch."""

    id: str
    workspace_id: str
    url: str
    enabled: bool
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None


# The Core table, for a statement executed once per row (the ORM would take such a list for
# its own bulk update by primary key).
_Delivery = cast(Table, WebhookDelivery.__table__)
_UNLOCKED: dict[str, Any] = {"locked_by": None, "locked_until": None}


def _changed(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


class WebhookRepository(Repository):
    async def delete_some_events_of(self, workspace_id: str, batch: int) -> int:
        """Up to ``batch`` of the workspace's events, their deliveries and attempts with them."""
        return await self.delete_some(
            WebhookEvent, WebhookEvent.workspace_id == workspace_id, batch=batch
        )

    @property
    def _postgresql(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add(self, *rows: object) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # ---------------------------------------------------------------------------- endpoints

    async def endpoint(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return await self.session.scalar(
            select(WebhookEndpoint).where(
                WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id
            )
        )

    async def endpoint_by_id(self, endpoint_id: str) -> WebhookEndpoint | None:
        """Any workspace's endpoint: for the delivery job, which works for every workspace."""
        return await self.session.get(WebhookEndpoint, endpoint_id)

    async def endpoints(
        self, workspace_id: str, *, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[WebhookEndpoint]:
        query = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.workspace_id == workspace_id)
            .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
            .limit(limit)
        )
        if after:
            created, endpoint_id = after
            query = query.where(
                (WebhookEndpoint.created_at < created)
                | ((WebhookEndpoint.created_at == created) & (WebhookEndpoint.id < endpoint_id))
            )
        return list(await self.session.scalars(query))

    async def enabled_endpoints(self, workspace_id: str) -> list[WebhookEndpoint]:
        return list(
            await self.session.scalars(
                select(WebhookEndpoint)
                .where(
                    WebhookEndpoint.workspace_id == workspace_id,
                    WebhookEndpoint.enabled.is_(True),
                )
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            )
        )

    async def delete_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)
        await self.session.flush()

    async def mark_failing(self, endpoint_id: str, since: datetime) -> None:
        await self.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
            .values(failing_since=since)
        )

    async def mark_healthy(self, endpoint_id: str) -> None:
        await self.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )

    # --------------------------------------------------------------------------- deliveries

    async def delivery(
        self, workspace_id: str, delivery_id: str
    ) -> tuple[WebhookDelivery, WebhookEndpoint, WebhookEvent] | None:
        row = (
            await self.session.execute(
                select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .where(
                    WebhookDelivery.workspace_id == workspace_id,
                    WebhookDelivery.id == delivery_id,
                )
            )
        ).first()
        return (row[0], row[1], row[2]) if row else None

    async def deliveries(
        self,
        workspace_id: str,
        endpoint_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[tuple[WebhookDelivery, WebhookEvent]]:
        query = (
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.workspace_id == workspace_id,
                WebhookDelivery.endpoint_id == endpoint_id,
            )
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
        if after:
            created, delivery_id = after
            query = query.where(
                (WebhookDelivery.created_at < created)
                | ((WebhookDelivery.created_at == created) & (WebhookDelivery.id < delivery_id))
            )
        return [(row[0], row[1]) for row in (await self.session.execute(query)).all()]

    async def deliveries_of_lead(
        self, workspace_id: str, lead_id: str, limit: int
    ) -> list[tuple[WebhookDelivery, WebhookEvent, str]]:
        query = (
            select(WebhookDelivery, WebhookEvent, WebhookEndpoint.url)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookEvent.workspace_id == workspace_id,
                WebhookEvent.lead_id == lead_id,
                WebhookDelivery.workspace_id == workspace_id,
            )
            .order_by(WebhookEvent.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
        return [(row[0], row[1], row[2]) for row in (await self.session.execute(query)).all()]

    async def deliveries_of_event(self, event_id: str) -> list[WebhookDelivery]:
        return list(
            await self.session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.event_id == event_id)
            )
        )

    async def record_delivered(
        self,
        delivery_id: str,
        now: datetime,
        *,
        status: int,
        latency_ms: int,
        excerpt: str | None,
    ) -> bool:
        """The common case in two statements: the delivery is done, and its attempt logged."""
        number = await self.session.scalar(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == "pending")
            .values(
                state="delivered",
                attempts=WebhookDelivery.attempts + 1,
                last_status=status,
                last_error=None,
                updated_at=now,
                delivered_at=now,
            )
            .returning(WebhookDelivery.attempts)
        )
        if number is None:
            return False
        await self.session.execute(
            insert(WebhookAttempt).values(
                id=new_id("wha"),
                delivery_id=delivery_id,
                number=number,
                started_at=now,
                status=status,
                latency_ms=latency_ms,
                response_excerpt=excerpt,
            )
        )
        return True

    async def attempts(self, delivery_ids: Sequence[str]) -> list[WebhookAttempt]:
        if not delivery_ids:
            return []
        return list(
            await self.session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(delivery_ids))
                .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
            )
        )

    # ------------------------------------------------------------------- the delivery queue

    async def claim(self, holder: str, now: datetime, until: datetime, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due deliveries for ``holder`` (a delivery job), oldest first,
        counting an attempt on each. A delivery another holder leases is skipped until its
        lease runs out; one ``holder`` itself leased (it ran before, and its worker stopped)
        is taken again. On PostgreSQL rows another job is taking at the same moment are
        skipped, not waited for; SQLite lets one writer in at a time."""
        free = or_(
            WebhookDelivery.locked_until.is_(None),
            WebhookDelivery.locked_until < now,
            WebhookDelivery.locked_by == holder,
        )
        due = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                free,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        if self._postgresql:
            due = due.with_for_update(skip_locked=True)
        rows = await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due.scalar_subquery()))
            .values(
                locked_by=holder,
                locked_until=until,
                attempts=WebhookDelivery.attempts + 1,
                updated_at=now,
            )
            .returning(
                WebhookDelivery.id,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.event_id,
                WebhookDelivery.attempts,
                WebhookDelivery.next_attempt_at,
            ),
            execution_options={"synchronize_session": False},
        )
        found = sorted(rows.all(), key=lambda row: (row.next_attempt_at, row.id))
        return [Claimed(row.id, row.endpoint_id, row.event_id, row.attempts) for row in found]

    async def endpoint_rows(self, endpoint_ids: Collection[str]) -> dict[str, EndpointRow]:
        rows = await self.session.execute(
            select(
                WebhookEndpoint.id,
                WebhookEndpoint.workspace_id,
                WebhookEndpoint.url,
                WebhookEndpoint.enabled,
                WebhookEndpoint.secret,
                WebhookEndpoint.previous_secret,
                WebhookEndpoint.previous_secret_expires_at,
                WebhookEndpoint.failing_since,
            ).where(WebhookEndpoint.id.in_(endpoint_ids))
        )
        return {row.id: EndpointRow(*row) for row in rows.all()}

    async def event_bodies(self, event_ids: Collection[str]) -> dict[str, str]:
        rows = await self.session.execute(
            select(WebhookEvent.id, WebhookEvent.body).where(WebhookEvent.id.in_(event_ids))
        )
        return {event_id: body for event_id, body in rows.all()}

    def _held(self, holder: str, ids: Collection[str]) -> tuple[Any, ...]:
        return (
            WebhookDelivery.id.in_(ids),
            WebhookDelivery.locked_by == holder,
            WebhookDelivery.state == "pending",
        )

    async def renew(self, holder: str, ids: Collection[str], until: datetime) -> None:
        if ids:
            await self.session.execute(
                update(WebhookDelivery).where(*self._held(holder, ids)).values(locked_until=until),
                execution_options={"synchronize_session": False},
            )

    async def release(self, holder: str, ids: Collection[str], now: datetime) -> int:
        """Hand deliveries back unattempted (their attempt no longer counted), due as before."""
        if not ids:
            return 0
        result = await self.session.execute(
            update(WebhookDelivery)
            .where(*self._held(holder, ids))
            .values(attempts=WebhookDelivery.attempts - 1, updated_at=now, **_UNLOCKED),
            execution_options={"synchronize_session": False},
        )
        return _changed(result)

    async def postpone(
        self, holder: str, ids: Collection[str], now: datetime, until: datetime
    ) -> None:
        """Hand deliveries back unattempted, due again at ``until``."""
        if ids:
            await self.session.execute(
                update(WebhookDelivery)
                .where(*self._held(holder, ids))
                .values(
                    attempts=WebhookDelivery.attempts - 1,
                    next_attempt_at=until,
                    updated_at=now,
                    **_UNLOCKED,
                ),
                execution_options={"synchronize_session": False},
            )

    async def fail_unsent(
        self, holder: str, ids: Collection[str], now: datetime, error: str
    ) -> None:
        """Deliveries given up on without an attempt (their endpoint was disabled)."""
        if ids:
            await self.session.execute(
                update(WebhookDelivery)
                .where(*self._held(holder, ids))
                .values(
                    state="failed",
                    attempts=WebhookDelivery.attempts - 1,
                    last_status=None,
                    last_error=error,
                    next_attempt_at=None,
                    updated_at=now,
                    **_UNLOCKED,
                ),
                execution_options={"synchronize_session": False},
            )

    async def settle_delivered(
        self, holder: str, now: datetime, ids_by_status: Mapping[int, Collection[str]]
    ) -> set[str]:
        """Deliveries answered 2xx, one statement per status (one, as a rule); returns those
        ``holder`` still held (a lease lost to another job records nothing here)."""
        held: set[str] = set()
        for status, ids in ids_by_status.items():
            rows = await self.session.scalars(
                update(WebhookDelivery)
                .where(*self._held(holder, ids))
                .values(
                    state="delivered",
                    last_status=status,
                    last_error=None,
                    next_attempt_at=None,
                    updated_at=now,
                    delivered_at=now,
                    **_UNLOCKED,
                )
                .returning(WebhookDelivery.id),
                execution_options={"synchronize_session": False},
            )
            held.update(rows.all())
        return held

    async def hold(self, holder: str, ids: Collection[str], now: datetime) -> set[str]:
        """Of ``ids``, those ``holder`` still holds, kept for the rest of this transaction."""
        if not ids:
            return set()
        rows = await self.session.scalars(
            update(WebhookDelivery)
            .where(*self._held(holder, ids))
            .values(updated_at=now)
            .returning(WebhookDelivery.id),
            execution_options={"synchronize_session": False},
        )
        return set(rows.all())

    async def settle_failed(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Failed attempts of held deliveries, each with its own outcome: ``id``, ``state``
        (pending again, or failed), ``last_status``, ``last_error``, ``next_attempt_at``,
        ``updated_at``. One statement, executed once per row."""
        if rows:
            await self.session.execute(
                update(_Delivery)
                .where(_Delivery.c.id == bindparam("b_id"))
                .values(
                    state=bindparam("b_state"),
                    last_status=bindparam("b_status"),
                    last_error=bindparam("b_error"),
                    next_attempt_at=bindparam("b_next"),
                    updated_at=bindparam("b_now"),
                    **_UNLOCKED,
                ),
                [
                    {
                        "b_id": row["id"],
                        "b_state": row["state"],
                        "b_status": row["last_status"],
                        "b_error": row["last_error"],
                        "b_next": row["next_attempt_at"],
                        "b_now": row["updated_at"],
                    }
                    for row in rows
                ],
            )

    async def add_attempts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(WebhookAttempt), [dict(row) for row in rows])
