"""Conversion destinations (ad platform accounts) and the uploads of leads' outcomes to them."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData, not_personal


class ConversionDestination(Base):
    """An ad platform account a workspace sends conversions to. ``settings`` and
    ``status_map`` are JSON objects; ``credentials`` is the JSON object of secrets, encrypted
    with a key derived from the instance's secret key (leadline/conversions/secrets.py)."""

    __tablename__ = "conversion_destinations"
    __personal__: ClassVar[PersonalData] = not_personal(
        name="the destination's name, given by the workspace"
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[str] = mapped_column(Text, default="{}")
    credentials: Mapped[str] = mapped_column(Text, default="")
    # Pipeline status -> the platform's event or conversion-action name; "{}" uses the
    # adapter's defaults.
    status_map: Mapped[str] = mapped_column(Text, default="{}")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversionUpload(Base):
    """One lead's status, for one destination: ``pending`` until sent, ``skipped`` with the
    reasons it could not go, or ``failed`` with the platform's error. ``dedupe_key`` is the
    key the platform is given; it is unique, so no key is ever sent twice."""

    __tablename__ = "conversion_uploads"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"lead_id": "lead"},
        delete=True,
        personal={"error_message": "what the ad platform answered about the lead"},
        not_personal={"event_name": "the conversion event's name on the ad platform"},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    destination_id: Mapped[str] = mapped_column(
        ForeignKey("conversion_destinations.id", ondelete="CASCADE")
    )
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    event_name: Mapped[str] = mapped_column(String(255))
    dedupe_key: Mapped[str] = mapped_column(String(64))
    # When the lead reached the status: the conversion's time.
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # skipped: the preflight's reason codes, comma-separated.
    reasons: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The lead's consent when the upload was recorded, as the consent ledger has it: a JSON
    # object {"entry_id": the last ledger entry (null: none), "flags": {...}}.
    consent: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_conversion_uploads_lead", "workspace_id", "lead_id", "created_at"),
        # What a delivery job picks: a destination's pending uploads that are due.
        Index(
            "ix_conversion_uploads_due",
            "destination_id",
            "next_attempt_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )
