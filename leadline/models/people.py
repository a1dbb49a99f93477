"""People: the members of a workspace who sign in or hold tokens (operators, in the inbox)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData


class Person(Base):
    """A member of one workspace. ``role`` is owner, admin, agent or marketing (a marketing
    person opens only their analytics pages, never the inbox); ``availability`` is
    online, away or offline and decides who new conversations are assigned to. ``email`` is
    stored lower-cased and is unique within the workspace."""

    __tablename__ = "people"
    __personal__: ClassVar[PersonalData] = PersonalData(
        personal={"email": "a member's address", "name": "a member's name"},
        subject=False,
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    availability: Mapped[str] = mapped_column(String(10), default="offline")
    # When the person was last handed a conversation by round-robin assignment.
    last_assigned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # A marketing person's analytics pages, as a JSON array of page names (leadline.auth.pages);
    # NULL: the default ones (and always NULL for other roles).
    pages: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "email"),)
