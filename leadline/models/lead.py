"""Leads, their status history and labels, visit attribution, and ad spend."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base

# Click identifiers the ad platforms hand out, in the order the Octanist docs list them.
CLICK_ID_FIELDS: tuple[str, ...] = (
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "ga4cid",
    "ga4sid",
    "fbc",
    "fbp",
    "msclkid",
    "ttclid",
    "twclid",
    "rdt_cid",
    "sccid",
    "li_fat_id",
    "epik",
)
UTM_FIELDS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
CONSENT_FIELDS: tuple[str, ...] = (
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
)


class _Attribution:
    """Columns a visit and a lead both carry: where the visitor came from, and consent."""

    # The site's origin (scheme, host, port): short enough to index on every database.
    website: Mapped[str | None] = mapped_column(String(512), nullable=True)
    path: Mapped[str | None] = mapped_column(String(2048), nullable=True)

    gclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    gbraid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    wbraid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ga4cid: Mapped[str | None] = mapped_column(String(256), nullable=True)
    ga4sid: Mapped[str | None] = mapped_column(String(256), nullable=True)
    fbc: Mapped[str | None] = mapped_column(String(512), nullable=True)
    fbp: Mapped[str | None] = mapped_column(String(512), nullable=True)
    msclkid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ttclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    twclid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    rdt_cid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    sccid: Mapped[str | None] = mapped_column(String(512), nullable=True)
    li_fat_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    epik: Mapped[str | None] = mapped_column(String(512), nullable=True)

    utm_source: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_term: Mapped[str | None] = mapped_column(String(512), nullable=True)
    utm_content: Mapped[str | None] = mapped_column(String(512), nullable=True)

    ad_storage: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ad_user_data: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ad_personalization: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    analytics_storage: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    # When the ad click happened (the landing), which bounds how long a click ID can be uploaded.
    clicked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class VisitSession(_Attribution, Base):
    """One visit's attribution. The tracking feature fills this; leads link to it by id."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Filled by the tracker (empty for sessions made otherwise).
    site_id: Mapped[str | None] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), nullable=True
    )
    visitor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # True when the visitor id came from the browser (consent); else derived by the server.
    identified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    referrer: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    utm_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
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
        Index("ix_sessions_site_visitor_started", "site_id", "visitor_id", "started_at"),
        Index("ix_sessions_site_started", "site_id", "started_at"),
    )


class Label(Base):
    __tablename__ = "labels"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "name"),)


def _where_present(name: str, *columns: str) -> Index:
    """An index over only the rows where the first of ``columns`` is set."""
    present = text(f"{columns[0]} IS NOT NULL")
    return Index(name, "workspace_id", *columns, sqlite_where=present, postgresql_where=present)


def _having(name: str) -> Index:
    """The leads that carry ``name``, newest first: an ``[exists]=true`` page read in order."""
    present = text(f"{name} IS NOT NULL")
    return Index(
        f"ix_leads_ws_has_{name}",
        "workspace_id",
        "created_at",
        "id",
        sqlite_where=present,
        postgresql_where=present,
    )


# Fields whose equality index covers only the rows that carry them (all but the common ones).
PARTIALLY_INDEXED_FIELDS: tuple[str, ...] = (
    *(name for name in CLICK_ID_FIELDS if name != "gclid"),
    "utm_term",
    "utm_content",
)

# Indexes whose definition differs between the databases, so they are created by the
# migrations alone and left out of the comparison with this module (see migrations/env.py).
# PostgreSQL puts nulls last in an ascending B-tree, SQLite first; list pages sort missing
# values as the smallest, so PostgreSQL's sort indexes say NULLS FIRST where SQLite's cannot.
SORT_INDEXES: dict[str, str] = {
    "ix_leads_ws_value": "value",
    "ix_leads_ws_qualified": "qualified_at",
    "ix_leads_ws_name": "name",
    "ix_leads_ws_email": "email",
}
# Looking a lead up by email ignores case.
EMAIL_LOOKUP_INDEX = "ix_leads_ws_email_lower"
# PostgreSQL only, and only where the pg_trgm extension could be created: trigrams of what
# ``search`` looks in.
SEARCH_INDEX = "ix_leads_search"
UNMODELLED_INDEXES: frozenset[str] = frozenset({*SORT_INDEXES, EMAIL_LOOKUP_INDEX, SEARCH_INDEX})


class Lead(_Attribution, Base):
    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True, index=True
    )

    name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The phone number in E.164 when it could be parsed; ``phone`` keeps what was sent.
    phone_e164: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    value: Mapped[Decimal | None] = mapped_column(nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    custom: Mapped[str | None] = mapped_column(Text, nullable=True)
    loss_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    conversion_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    # The ad platform the lead's click came from (googleads, meta, ...), derived at capture.
    ad_platform: Mapped[str | None] = mapped_column(String(32), nullable=True)

    google_ads_campaign_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    google_ads_campaign_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    google_ads_ad_group_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    google_ads_ad_group_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    google_ads_ad_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    label_id: Mapped[str | None] = mapped_column(
        ForeignKey("labels.id", ondelete="SET NULL"), nullable=True
    )
    selected_conversion_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    qualified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Set on leads made by a file import: a digest of the row (or of its id column) that says
    # the row was imported before, so importing it again creates nothing.
    import_key: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        # List pages: every documented sort and the common filters lead with the workspace and
        # end with (created_at, id), the order ties are broken in, so a page is read in order.
        # The sorts on nullable columns have database-specific indexes: see SORT_INDEXES.
        Index("ix_leads_ws_created", "workspace_id", "created_at", "id"),
        Index("ix_leads_ws_updated", "workspace_id", "updated_at", "created_at", "id"),
        Index("ix_leads_ws_status", "workspace_id", "status", "created_at", "id"),
        Index("ix_leads_ws_source", "workspace_id", "source", "created_at", "id"),
        Index("ix_leads_ws_phone", "workspace_id", "phone_e164"),
        Index("ix_leads_ws_phone_raw", "workspace_id", "phone"),
        Index("ix_leads_ws_gclid", "workspace_id", "gclid"),
        # Equality filters on campaign tags, answered in the default order straight from the index.
        Index("ix_leads_ws_campaign", "workspace_id", "utm_campaign", "created_at", "id"),
        Index("ix_leads_ws_utm_source", "workspace_id", "utm_source", "created_at", "id"),
        Index("ix_leads_ws_utm_medium", "workspace_id", "utm_medium", "created_at", "id"),
        Index("ix_leads_ws_website", "workspace_id", "website", "created_at", "id"),
        # Partial: a row only enters these when it carries the field, so they cost an insert
        # next to nothing for the many leads without it, yet turn equality and [exists]=true
        # filters on rare fields from table scans into index lookups.
        _where_present("ix_leads_ws_label", "label_id", "created_at", "id"),
        *(_where_present(f"ix_leads_ws_{name}", name) for name in PARTIALLY_INDEXED_FIELDS),
        *(_having(name) for name in PARTIALLY_INDEXED_FIELDS),
        # One lead per imported row and workspace; only imported leads enter it.
        Index(
            "uq_leads_ws_import_key",
            "workspace_id",
            "import_key",
            unique=True,
            sqlite_where=text("import_key IS NOT NULL"),
            postgresql_where=text("import_key IS NOT NULL"),
        ),
    )


class LeadFacet(Base):
    """How many of a workspace's leads share one trait: a status, a source, a website, or a
    field that is set (``has:gclid``). The lead service keeps it in the transaction of every
    write, so a list filtered on one such trait knows its total without counting."""

    __tablename__ = "lead_facets"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    facet: Mapped[str] = mapped_column(String(600), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LeadStatusChange(Base):
    """One row per status change: from, to, when, and which key made it."""

    __tablename__ = "lead_status_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    api_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )


class LeadSubmission(Base):
    """One form submission, kept with its own data whatever became of it: the lead it made or
    joined (``outcome`` ``created`` or ``merged``), or none when it was kept aside (a bot's,
    ``kept_aside``, with ``suspicion_reasons``). Submissions of one ``project`` (the form's
    PROJECT field, ``""`` without one) by the same visitor, email, phone or address join one
    lead; the indexes find the lead of each."""

    __tablename__ = "lead_submissions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    lead_id: Mapped[str | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), nullable=True, index=True
    )
    site_id: Mapped[str | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), nullable=True
    )
    form_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project: Mapped[str] = mapped_column(String(200), default="", server_default="")
    visitor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone_e164: Mapped[str | None] = mapped_column(String(20), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # Every field as it was sent (JSON object of strings), the scripts' own fields left out.
    fields: Mapped[str] = mapped_column(Text, default="{}")
    time_to_submit_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    suspicion_score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    suspicion_reasons: Mapped[str] = mapped_column(Text, default="[]")
    # The visit's engagement when the form was sent (reference 3.4), if a visit was found.
    engagement_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    engagement_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Whether the person ticked the form's consent box (``__pg_consent``); None: no such box.
    contact_consent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it was queued to be sent to the CRM (a new lead, or one that wrote again after
    # LEADLINE_LEAD_REENGAGE_HOURS); what the CRM and Make.com said back about it.
    forward_queued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    crm_lead_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    make_execution_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    make_status: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_lead_submissions_crm", "crm_lead_id"),
        Index("ix_lead_submissions_visitor", "workspace_id", "project", "visitor_id"),
        Index("ix_lead_submissions_email", "workspace_id", "project", "email"),
        Index("ix_lead_submissions_phone", "workspace_id", "project", "phone_e164"),
        Index("ix_lead_submissions_ip", "workspace_id", "project", "ip"),
    )


class CrmSend(Base):
    """One attempt to send a submission's lead to the CRM, whatever came of it."""

    __tablename__ = "crm_sends"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    submission_id: Mapped[str] = mapped_column(
        ForeignKey("lead_submissions.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrmActivity(Base):
    """A change the CRM reported (``POST /webhooks/crm/lead``), kept as it came, with the
    lead it was matched to, if any."""

    __tablename__ = "crm_activity"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=True
    )
    lead_id: Mapped[str | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), nullable=True, index=True
    )
    crm_lead_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class IpRule(Base):
    """An address (or network, CIDR) whose form submissions a workspace treats apart:
    ``block`` (answered as usual, kept as ``blocked``, never a lead) or ``allow`` (the team's
    own and testers' addresses: kept as ``testing``, never a lead). An address is on one list
    at most."""

    __tablename__ = "ip_rules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(49))
    kind: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "network"),)


class AdSpend(Base):
    """Daily spend per platform and campaign, loaded from the ad platforms' exports."""

    __tablename__ = "ad_spend"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    platform: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(128), default="")
    campaign_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    spend: Mapped[Decimal] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "day", "platform", "campaign_id"),)
