"""API keys and people's tokens: secrets that act for a workspace or a person, stored as
digests."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData, not_personal


class ApiKey(Base):
    __tablename__ = "api_keys"
    __personal__: ClassVar[PersonalData] = not_personal(name="a key's name, given by the workspace")

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set for a person's token: it acts as that person, with the person's role (kept in
    # ``role``, so checking a token reads one row).
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # A marketing key's own list of analytics pages, as a JSON array of page names; NULL: the
    # default pages (and always NULL for other keys).
    pages: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The environment variable a key was read from (ANALYTICS_API_KEY,
    # ANALYTICS_MARKETING_API_KEY): such a key follows the variable at every start.
    from_env: Mapped[str | None] = mapped_column(String(40), nullable=True)
