"""What the tracking feature keeps: visits, their events, visitors, the daily rollups and the
visits' counters kept apart under load."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.attribution import CLICK_ID_FIELDS, Attribution
from leadline.models.base import Base
from leadline.models.personal import EMPTY_OBJECT, INCREMENT, NULL, SCRUB, PersonalData, Set


class Visit(Attribution, Base):
    """One visit's attribution. The tracking feature fills this; leads link to it by id."""

    __tablename__ = "visits"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"id": "visit"},
        gathers={"visitor_id": "visitor", **{name: "click" for name in CLICK_ID_FIELDS}},
        erase={
            "visitor_id": NULL,
            "device_id": NULL,
            "user_agent": NULL,
            "referrer": NULL,
            "screen": NULL,
            "path": SCRUB,
            **{name: NULL for name in CLICK_ID_FIELDS},
            "revision": INCREMENT,
        },
        # A visit's start as ClickHouse keeps it (leadline.clickhouse.schema): its browser's
        # id, where it came from and its landing path.
        clickhouse=PersonalData(
            match={"id": "visit"},
            erase={"visitor_id": Set(""), "referrer": Set(""), "landing": SCRUB},
            not_personal={
                "source": "a UTM source or a referring domain, counted by the reports",
                "campaign": "a UTM campaign, counted by the reports",
            },
        ),
        anonymise_keeps={
            **{
                name: "a lead's conversions are uploaded with its visit's click ids"
                for name in CLICK_ID_FIELDS
            },
            "path": "the landing page the lead's attribution reports show",
        },
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Filled by the tracker (empty for visits made otherwise).
    site_id: Mapped[str | None] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), nullable=True
    )
    visitor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # True when the visitor id came from the browser (consent); else derived by the server.
    identified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    referrer: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # Where the consent flags came from: gcm, tcf, gpp, manual, site or none.
    consent_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # paid, search, social, referral or direct.
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    browser: Mapped[str | None] = mapped_column(String(64), nullable=True)
    os: Mapped[str | None] = mapped_column(String(64), nullable=True)
    device: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Why this visit is a bot's: kept, never counted. None for a person.
    bot_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    screen: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    page_views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    events: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_scroll: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    engagement_score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    engagement_label: Mapped[str] = mapped_column(String(16), default="Cold", server_default="Cold")
    # The visitor's visits to the site before this one (return visits raise the score).
    earlier_visits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # From the browser's fingerprint and user agent, when the site and the visitor allow it.
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Raised by every change the tracking writer makes: a writer that remembers a visit
    # changes it only if nobody else has since (see tracking.repository.VisitCache).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        # Not led to last_seen_at, which every event changes: an update that changes no
        # indexed column rewrites no index (and on PostgreSQL stays in its page, HOT).
        Index("ix_visits_site_visitor_started", "site_id", "visitor_id", "started_at"),
        Index("ix_visits_site_started", "site_id", "started_at"),
    )


class TrackedEvent(Base):
    """One event of a visit, as the browser reported it. ``client_id`` is the browser's id for
    the event (or the server's, increasing, when it sent none), so a batch sent twice is
    stored once.

    Events carry no foreign keys: the writer checks the visit in the transaction that stores
    them, a checked key costs every insert, and a cascade from ``visits`` would need an index
    led by ``visit_id``, whose pages every group commit would rewrite, one per visit.
    Deleting a site or a workspace deletes its events first, by ``site_id``
    (``TrackingRepository.delete_site_events``)."""

    __tablename__ = "events"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"visit_id": "visit"},
        erase={"data": EMPTY_OBJECT, "url": SCRUB},
        # The events themselves when ClickHouse keeps them (leadline.clickhouse.schema),
        # with the page's path they were counted under.
        clickhouse=PersonalData(
            match={"visit_id": "visit"},
            erase={"data": EMPTY_OBJECT, "url": SCRUB, "path": SCRUB},
        ),
    )

    # SQLite only auto-numbers an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # Copied from the visit, which is checked when the event is stored.
    workspace_id: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[str] = mapped_column(String(40))
    visit_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    data: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        # Led by the event id: new ids increase, so a group's events land at the end of this
        # index instead of in each visit's part of it.
        UniqueConstraint("client_id", "visit_id"),
        Index("ix_events_site_received", "site_id", "received_at"),
    )


class TrackingDaily(Base):
    """Daily counts per site and dimension, kept by the tracking writer in the transaction that
    stores the visits and events they count, so dashboards never scan raw events.

    ``dimension`` is ``total`` (value ``""``), a visit's ``channel``, ``source``, ``campaign``,
    ``referrer``, ``landing``, ``country``, ``browser``, ``os``, ``device`` or ``platform``
    (the ad platform of a click ID) (visits and visitors), ``page`` (page views by path),
    ``event`` (events by type), ``bot`` (visits of bots by reason, which no other row
    counts), or ``score`` (value: the engagement score class, ``counts.SCORE_CLASSES``),
    ``score_sum`` (``visits`` holds the sum of the scores) and ``bounce`` (visits of one page
    view), which count each visit on the day it started as its row stands now (the writer
    moves it as the row changes, ADR 0011). Days are UTC.
    """

    __tablename__ = "tracking_daily"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    visits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    visitors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    page_views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    events: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (PrimaryKeyConstraint("site_id", "day", "dimension", "value"),)


class TrackingHourly(Base):
    """Hourly counts per site and dimension, kept by the tracking writer beside the daily ones
    (same transaction, same dimensions, same rules), so that a report's days can be any time
    zone's: a zone's day is 24 (23 or 25) UTC hours. ``hour`` is the UTC hour the counts
    happened in (a visit at its start, a page view or event when it was stored; ``score``,
    ``score_sum`` and ``bounce`` at the visit's start). Visitors are not kept here: see
    ``VisitorDay`` (docs/adr/0011-visitor-sketches.md)."""

    __tablename__ = "tracking_hourly"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column()
    dimension: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    visits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    page_views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    events: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Led by the dimension before the hour: a report reads one dimension over a range of hours.
    __table_args__ = (PrimaryKeyConstraint("site_id", "dimension", "hour", "value"),)


class VisitorDay(Base):
    """The distinct visitors of a site on a day of a time zone, kept once the day is over (a
    report computes a missing day from ``visits`` and stores it): the exact count, and a
    HyperLogLog sketch of the visitor ids (Apache DataSketches, ``kit/distinct.py``) that a
    report of many days merges. Rows of a zone are made only when a report asks for it. A day
    not yet over is kept as far as ``counted_until`` (the visits started before it), and a
    report counts on from there. See docs/adr/0011-visitor-sketches.md."""

    __tablename__ = "visitor_days"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    visitors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sketch: Mapped[bytes] = mapped_column(LargeBinary)
    # None once the whole day is counted.
    counted_until: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (PrimaryKeyConstraint("site_id", "zone", "day"),)


class Visitor(Base):
    """A visitor of a site across visits: when first and last seen, and the first and the latest
    visit that came from somewhere (an ad click, a tagged link or another site), each with its
    attribution as JSON and the time it was captured. A cookieless visitor's id changes every
    day, so its record covers one day."""

    __tablename__ = "visitors"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"visitor_id": "visitor"},
        erase={"first_touch": NULL, "last_touch": NULL},
    )

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


class IngestErrorsHourly(Base):
    """Tracking and capture requests of a site that were refused (a body that cannot be
    read, a domain the site does not list, a full queue ...), per UTC hour: what anomaly
    detection reads to tell that a site's tracking or forms broke. Counted in memory by
    each process and added here about once a minute (tracking.ingest_errors)."""

    __tablename__ = "ingest_errors_hourly"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column()
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (PrimaryKeyConstraint("site_id", "hour"),)


class ConsentChange(Base):
    """One change in the consent ledger (docs/privacy.md). ``flags`` is a JSON object of the
    Consent Mode flags the entry states (true or false; a flag not named is as it was).
    ``source``: for a change reported by a ``consent_update`` event banner, consent_mode, tcf,
    gpp, gpc or dnt; for a visit resumed with another consent the start's source (gcm, tcf,
    gpp, manual, site, dnt, gpc); api for a lead's flags given through the API.
    A visit's first entry, the consent it started with, is not stored: it is read from the
    visit's row (``tracking.consent.start_entry``).
    An entry made through the API for a lead names the lead (and its visit, if it has one).
    The state before and after each entry is the fold of the entries before it (see
    ``tracking.consent``), so the writer never reads a visit to record a change."""

    __tablename__ = "consent_changes"
    # Erased, an entry keeps what was consented to and when, no longer by whom (as retention
    # anonymises it).
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"visit_id": "visit", "visitor_id": "visitor", "lead_id": "lead"},
        erase={"visitor_id": NULL},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    site_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    visit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    visitor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lead_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    flags: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_consent_changes_visitor", "workspace_id", "visitor_id", "occurred_at", "id"),
        # Partial: the writer's entries name no lead and cost it nothing.
        Index(
            "ix_consent_changes_lead",
            "workspace_id",
            "lead_id",
            "occurred_at",
            "id",
            sqlite_where=text("lead_id IS NOT NULL"),
            postgresql_where=text("lead_id IS NOT NULL"),
        ),
        Index("ix_consent_changes_visit", "visit_id", "occurred_at"),
    )
