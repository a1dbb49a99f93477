"""Every SQL statement for webhook endpoints, events, deliveries and attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update

from leadline.db import Repository
from leadline.kit.ids import new_id
from leadline.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


class WebhookRepository(Repository):
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
