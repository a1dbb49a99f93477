"""Accounts: what lets a person sign in to the dashboard. Their password, the browsers signed in
as them (a sign-in; elsewhere called a web session, but ``session`` is a database session
here), and one-time links (the first owner's setup)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData


class PersonPassword(Base):
    """A person's password, as an Argon2id hash (its parameters and salt in the string)."""

    __tablename__ = "person_passwords"

    person_id: Mapped[str] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignIn(Base):
    """One browser signed in as a person. ``id`` is the SHA-256 digest of the secret in the
    browser's cookie, so the table alone signs no one in. It ends at ``expires_at``, which
    moves forward while the browser is used (never past the absolute limit)."""

    __tablename__ = "signins"
    __personal__: ClassVar[PersonalData] = PersonalData(
        personal={"ip": "where a member signed in from", "user_agent": "a member's browser"},
        subject=False,
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_signins_person_id", "person_id"),)


class OneTimeLink(Base):
    """A link that works once, before ``expires_at``: ``purpose`` says what it does
    (``setup``: the first owner of ``workspace_id`` is made with it; ``invite``: the person
    invited as ``email`` joins it with ``role`` and, for a marketing person, ``pages``). Only
    the digest of its token is kept; revoking an invite deletes it."""

    __tablename__ = "one_time_links"
    __personal__: ClassVar[PersonalData] = PersonalData(
        personal={"email": "an invited member's address"}, subject=False
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # An invite's: who is invited, as what, and who invited them.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    pages: Mapped[str | None] = mapped_column(Text, nullable=True)
    invited_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
