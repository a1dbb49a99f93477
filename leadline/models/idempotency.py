"""Answers kept for idempotent retries."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import SCRUB, PersonalData


class IdempotencyRecord(Base):
    """The first answer to a request sent with an ``Idempotency-Key`` header."""

    __tablename__ = "idempotency_keys"
    __personal__: ClassVar[PersonalData] = PersonalData(
        search=("response_body",), erase={"response_body": SCRUB}
    )

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)
