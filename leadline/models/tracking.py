"""Sites that may send tracking data, and the events their visitors' browsers send."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base


class Site(Base):
    """A website of a workspace. Its ``site_key`` is public: it sits in the snippet, and only
    names the site; the Origin of each request must be one of the site's domains."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    site_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteDomain(Base):
    """A host a site's pages are served from: ``example.com``, or ``*.example.com`` for every
    subdomain."""

    __tablename__ = "site_domains"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))

    __table_args__ = (UniqueConstraint("site_id", "domain"),)


class TrackedEvent(Base):
    """One event of a visit, as the browser reported it. ``client_id`` is the browser's id for
    the event, so a batch sent twice is stored once."""

    __tablename__ = "events"

    # SQLite only auto-numbers an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    data: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        UniqueConstraint("session_id", "client_id"),
        Index("ix_events_site_received", "site_id", "received_at"),
    )
