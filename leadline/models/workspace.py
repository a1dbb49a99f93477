"""Tenants, and instance-wide settings."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData, not_personal


class Workspace(Base):
    __tablename__ = "workspaces"
    __personal__: ClassVar[PersonalData] = not_personal(name="the workspace's name")

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # PATCH /api/leads may update every lead an email or phone matches only when this is set.
    allow_bulk_updates: Mapped[bool] = mapped_column(Boolean, default=False)
    # Optional cap reported by /api/stats usage; leads past it are kept, flagged as locked.
    leads_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    default_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Leads in the workspace, kept in the transaction that adds them, so the unfiltered list
    # knows its total without counting a million rows.
    lead_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # active, or closed: a closed workspace refuses writes and is purged after purge_after.
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    purge_after: Mapped[datetime | None] = mapped_column(nullable=True)
    # Inbox routing: round-robin assignment of new conversations among online agents, and
    # reassignment after this many minutes without a first reply (None: never).
    auto_assign: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    auto_reassign_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What a lead from an erased person meets: accept (a new lead) or refuse.
    erased_returns: Mapped[str] = mapped_column(
        String(10), default="accept", server_default="accept"
    )
    # The chat widget's identify calls must carry the HMAC of the id (docs/widget.md).
    widget_identity_verification: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # How many times the widget's identity secret was rotated: the secret is derived from the
    # instance's secret key, the workspace id and this number, so a new number is a new secret.
    widget_identity_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstanceSetting(Base):
    """Values the instance generates once and keeps (the secret key)."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
