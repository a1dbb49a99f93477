"""Sites that may send tracking data, and the events their visitors' browsers send."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
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
    # Privacy signals the site honours: a browser sending Do Not Track is treated as having
    # refused all consent; one sending Global Privacy Control as having refused the ad flags.
    respect_dnt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    respect_gpc: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether a browser's fingerprint (sent only with analytics consent) may identify the
    # visitor and device.
    fingerprinting: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A deleted site keeps its visits, events and leads; its key no longer names it.
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SiteDomain(Base):
    """A host a site's pages are served from: ``example.com``, or ``*.example.com`` for every
    subdomain."""

    __tablename__ = "site_domains"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))

    __table_args__ = (UniqueConstraint("site_id", "domain"),)


class SiteForm(Base):
    """A form of a site, as ``/form.js`` renders it: ``form_json`` is its definition (fields,
    submit label, thank-you page or message, consent text; see docs/forms.md), checked when it
    is saved. ``form_id`` is the site's own name for it, unique within the site."""

    __tablename__ = "site_forms"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    form_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    form_json: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("site_id", "form_id"),)


class TrackedEvent(Base):
    """One event of a visit, as the browser reported it. ``client_id`` is the browser's id for
    the event (or the server's, increasing, when it sent none), so a batch sent twice is
    stored once.

    Events carry no foreign keys: the writer checks the visit in the transaction that stores
    them, a checked key costs every insert, and a cascade from ``sessions`` would need an index
    led by ``session_id``, whose pages every group commit would rewrite, one per visit.
    Deleting a site or a workspace deletes its events first, by ``site_id``
    (``TrackingRepository.delete_site_events``)."""

    __tablename__ = "events"

    # SQLite only auto-numbers an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # Copied from the visit, which is checked when the event is stored.
    workspace_id: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    data: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        # Led by the event id: new ids increase, so a group's events land at the end of this
        # index instead of in each visit's part of it.
        UniqueConstraint("client_id", "session_id"),
        Index("ix_events_site_received", "site_id", "received_at"),
    )


class TrackingDaily(Base):
    """Daily counts per site and dimension, kept by the tracking writer in the transaction that
    stores the visits and events they count, so dashboards never scan raw events.

    ``dimension`` is ``total`` (value ``""``), a visit's ``channel``, ``source``, ``campaign``,
    ``referrer``, ``landing``, ``country``, ``browser``, ``os`` or ``device`` (visits and
    visitors), ``page`` (page views by path), ``event`` (events by type), or ``bot`` (visits
    of bots by reason, which no other row counts). Days are UTC.
    """

    __tablename__ = "tracking_daily"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    sessions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    visitors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    page_views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    events: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (PrimaryKeyConstraint("site_id", "day", "dimension", "value"),)


class Visitor(Base):
    """A visitor of a site across visits: when first and last seen, and the first and the latest
    visit that came from somewhere (an ad click, a tagged link or another site), each with its
    attribution as JSON and the time it was captured. A cookieless visitor's id changes every
    day, so its record covers one day."""

    __tablename__ = "visitors"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    visitor_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    identified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    visits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_touch_at: Mapped[datetime | None] = mapped_column(nullable=True)
    first_touch: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_touch_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_touch: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (PrimaryKeyConstraint("site_id", "visitor_id"),)


class VisitCounts(Base):
    """What a group of events added to visits whose own rows the writer did not rewrite then
    (on PostgreSQL under load, see ``tracking.writer``): one row per group, ``counts`` a JSON
    array of ``[session id, events, page views, clicks, deepest scroll, last seen]``. A later
    transaction adds the rows to their visits and deletes them; ``writer`` names the writer
    that wrote them (a key of the advisory lock its connection holds), so that the rows of a
    writer that is gone are added by another."""

    __tablename__ = "visit_counts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    writer: Mapped[int] = mapped_column(Integer, index=True)
    counts: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
