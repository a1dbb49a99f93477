"""Leads, their status history, labels and facets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.attribution import CLICK_ID_FIELDS, Attribution
from leadline.models.base import Base
from leadline.models.personal import PersonalData, not_personal


class Label(Base):
    __tablename__ = "labels"
    __personal__: ClassVar[PersonalData] = not_personal(name="a label the workspace defines")

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
    "utm_id",
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

# SQLite only: the FTS5 table (trigram tokenizer) ``search`` looks in, one row per lead keyed by
# ``leads.seq``, kept by triggers on ``leads`` (see the migrations). A virtual table and the
# shadow tables FTS5 keeps its index in are not models, so they too are left uncompared.
SEARCH_TABLE = "leads_search"
UNMODELLED_TABLES: frozenset[str] = frozenset(
    {
        SEARCH_TABLE,
        *(f"{SEARCH_TABLE}_{part}" for part in ("data", "idx", "content", "docsize", "config")),
    }
)


class Lead(Attribution, Base):
    __tablename__ = "leads"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"id": "lead", "email": "email", "phone": "phone", "phone_e164": "phone"},
        gathers={
            "id": "lead",
            "visit_id": "visit",
            "name": "name",
            "email": "email",
            "phone": "phone",
            # Ad click ids identify the person's click: scrubbed wherever they were copied.
            **{name: "click" for name in CLICK_ID_FIELDS},
        },
        delete=True,
        personal={
            "note": "what an operator wrote about the lead",
            "custom": "the lead's custom fields",
            "loss_reason": "why the lead was lost, in an operator's words",
        },
        not_personal={
            "conversion_name": "the name of the workspace's conversion event",
            "google_ads_campaign_name": "an ad campaign's name",
            "google_ads_ad_group_name": "an ad group's name",
        },
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    visit_id: Mapped[str | None] = mapped_column(
        ForeignKey("visits.id", ondelete="SET NULL"), nullable=True, index=True
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
    # SQLite only: a stable integer key, the row of the lead in the search table (SEARCH_TABLE).
    # The table's own rowid will not do: its primary key is text, so VACUUM may renumber it. A
    # trigger assigns it on insert (one more than the largest), so every write path gets one;
    # PostgreSQL searches with a trigram index over the row itself and leaves it NULL.
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

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
        Index(
            "uq_leads_seq",
            "seq",
            unique=True,
            sqlite_where=text("seq IS NOT NULL"),
            postgresql_where=text("seq IS NOT NULL"),
        ),
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
    __personal__: ClassVar[PersonalData] = PersonalData(match={"lead_id": "lead"}, delete=True)

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


class Tombstone(Base):
    """An erased person's email or phone, kept only as a keyed hash (HMAC-SHA256 with the
    instance's secret key of the normalised value) so a later lead from them is recognised
    and handled as the workspace chose (``workspaces.erased_returns``)."""

    __tablename__ = "tombstones"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # email or phone
    kind: Mapped[str] = mapped_column(String(8))
    digest: Mapped[str] = mapped_column(String(64))
    erasure_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workspace_id", "digest"),)
