"""Form submissions, and what was sent to and heard from the CRM about them."""

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
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData


class LeadSubmission(Base):
    """One form submission, kept with its own data whatever became of it: the lead it made or
    joined (``outcome`` ``created`` or ``merged``), or none when it was kept aside (a bot's,
    ``kept_aside``, with ``suspicion_reasons``). Submissions of one ``project`` (the form's
    PROJECT field, ``""`` without one) by the same visitor, email, phone or address join one
    lead; the indexes find the lead of each."""

    __tablename__ = "lead_submissions"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={
            "id": "submission",
            "email": "email",
            "phone_e164": "phone",
            "lead_id": "lead",
        },
        gathers={
            "id": "submission",
            "visit_id": "visit",
            "email": "email",
            "phone_e164": "phone",
            "ip": "ip",
        },
        delete=True,
        personal={
            "fields": "every field of the form as the person filled it in",
            "user_agent": "the person's browser",
            "visitor_id": "the person's browser id",
        },
    )

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
    # Where the submission came from, for reports: the form's SOURCE field (PulseGate's
    # lead_source: WebSite, FB, 99...), else the utm_source it or its visit carried, else its
    # visit's channel; "" when none says.
    source: Mapped[str] = mapped_column(String(100), default="", server_default="")
    visitor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    visit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
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
        # A site's submissions by time: the hourly counts anomaly detection reads.
        Index("ix_lead_submissions_site_created", "site_id", "created_at"),
        Index("ix_lead_submissions_visitor", "workspace_id", "project", "visitor_id"),
        Index("ix_lead_submissions_email", "workspace_id", "project", "email"),
        Index("ix_lead_submissions_phone", "workspace_id", "project", "phone_e164"),
        Index("ix_lead_submissions_ip", "workspace_id", "project", "ip"),
        # The lead reports: a workspace's submissions newest first.
        Index("ix_lead_submissions_ws_created", "workspace_id", "created_at", "id"),
    )


class _SubmissionCounts:
    """What a rollup row counts of the submissions it stands for. Only what the public sent is
    counted (outcomes created, merged and kept_aside); a blocked address's submissions and the
    team's own (testing) are kept, never reported. ``engaged`` is how many had a visit to
    score, over which ``engagement_total`` averages; ``suspicion_total`` averages over all."""

    site_id: Mapped[str] = mapped_column(String(40))
    project: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    engagement_label: Mapped[str] = mapped_column(String(16))
    suspicious: Mapped[bool] = mapped_column(Boolean)
    # A row of every project, source and label at once (those three ""): what a report
    # neither grouped nor filtered by them reads, a row per site where there would be
    # hundreds.
    whole: Mapped[bool] = mapped_column(Boolean)
    submissions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    merged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kept_aside: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    engaged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    engagement_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    suspicion_total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SubmissionRollup(_SubmissionCounts, Base):
    """Submissions counted per quarter of an hour (UTC) and per what the lead reports group
    and filter on, kept by the capture in the transaction that stores each submission. With
    SubmissionDay it makes any zone's days (docs/adr/0009-submission-rollups.md): whole UTC
    days come from SubmissionDay, and the at most twelve hours between a zone's midnight and
    the nearest UTC one from here (every zone's midnight falls on a quarter hour; India's, at
    +05:30, mid-hour).

    ``site_id`` is ``""`` for a submission sent without a site (a backend with a key); no
    foreign key, so a deleted site's counts stay counted. ``suspicious`` is a suspicion score
    of at least ``forms.capture.SUSPICIOUS_FROM``. Counts, not people: an erasure leaves
    them."""

    __tablename__ = "submission_rollups"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    bucket: Mapped[datetime] = mapped_column()

    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace_id",
            "bucket",
            "site_id",
            "project",
            "source",
            "engagement_label",
            "suspicious",
            "whole",
        ),
        # SQLite keeps the rows in key order: a period's rows are read in one sweep, not
        # looked up one by one from the key's index.
        {"sqlite_with_rowid": False},
    )


class SubmissionDay(_SubmissionCounts, Base):
    """The same counts per UTC day (see SubmissionRollup): a month is thirty of these per
    value, where it is nearly three thousand quarters."""

    __tablename__ = "submission_days"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace_id",
            "day",
            "site_id",
            "project",
            "source",
            "engagement_label",
            "suspicious",
            "whole",
        ),
        # SQLite keeps the rows in key order: a period's rows are read in one sweep, not
        # looked up one by one from the key's index.
        {"sqlite_with_rowid": False},
    )


class CrmSend(Base):
    """One attempt to send a submission's lead to the CRM, whatever came of it."""

    __tablename__ = "crm_sends"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"submission_id": "submission"}, delete=True
    )

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
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"lead_id": "lead"},
        delete=True,
        personal={"payload": "what the CRM reported about the lead"},
    )

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
