"""Outgoing webhooks: endpoints, the events sent to them, and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import SCRUB, Parent, PersonalData


class WebhookEndpoint(Base):
    """A URL a workspace wants events POSTed to. ``event_types`` is a JSON list; empty means
    every type. After a rotation the previous secret keeps signing until
    ``previous_secret_expires_at``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    event_types: Mapped[str] = mapped_column(Text, default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Since when every delivery has failed (cleared by a success); five days of it disable.
    failing_since: Mapped[datetime | None] = mapped_column(nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """One event, stored once as the exact JSON body every endpoint receives."""

    __tablename__ = "webhook_events"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"lead_id": "lead"}, search=("body",), erase={"body": SCRUB}
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The lead the event is about (its data's ``lead``), so a lead's page lists the webhooks
    # sent for it without reading every event's body.
    lead_id: Mapped[str | None] = mapped_column(String(40), nullable=True)

    __table_args__ = (
        Index(
            "ix_webhook_events_lead",
            "workspace_id",
            "lead_id",
            sqlite_where=text("lead_id IS NOT NULL"),
            postgresql_where=text("lead_id IS NOT NULL"),
        ),
    )


class WebhookDelivery(Base):
    """An event on its way to one endpoint: ``pending`` until delivered or given up on.

    Pending deliveries are their own queue: due at ``next_attempt_at``, and while a delivery
    job sends one it holds a lease on it (``locked_by``, the job's id; ``locked_until``).
    ``attempts`` counts the attempts begun, each counted when its batch is claimed."""

    __tablename__ = "webhook_deliveries"
    __personal__: ClassVar[PersonalData] = PersonalData(
        search=("last_error",), erase={"last_error": SCRUB}
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_event", "event_id"),
        # What a delivery job claims: pending deliveries that are due. Partial, so delivered
        # and failed ones, however many, never slow the claim down.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: what came back, how long it took."""

    __tablename__ = "webhook_attempts"
    __personal__: ClassVar[PersonalData] = PersonalData(
        search=("response_excerpt", "error"),
        erase={"response_excerpt": SCRUB, "error": SCRUB},
        parent=Parent("delivery_id", "webhook_deliveries"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
