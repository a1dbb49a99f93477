"""Erasure receipts: proof of what an erasure removed, without what it removed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base


class Erasure(Base):
    """One erasure: when, by whom, what was matched (masked), the rows removed or redacted per
    table (``counts``, a JSON object), and a SHA-256 over all of it (``receipt_hash``)."""

    __tablename__ = "erasures"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    matched: Mapped[str] = mapped_column(Text)
    counts: Mapped[str] = mapped_column(Text)
    receipt_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_erasures_workspace_created", "workspace_id", "created_at", "id"),)
