"""Erasure receipts: proof of what an erasure removed, without what it removed."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData


class Erasure(Base):
    """One erasure: when, by whom, what was matched (masked), the rows removed or redacted per
    table (``counts``, a JSON object), and a SHA-256 over all of it (``receipt_hash``)."""

    __tablename__ = "erasures"
    __personal__: ClassVar[PersonalData] = PersonalData(
        personal={"progress": "whom a running erasure erases; emptied once it is done"},
        subject=False,
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    matched: Mapped[str] = mapped_column(Text)
    counts: Mapped[str] = mapped_column(Text)
    # Empty until a running erasure is done.
    receipt_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # ``running`` while a job erases a large history, batch by batch; then ``done``.
    state: Mapped[str] = mapped_column(String(16), default="done", server_default="done")
    # While running: whom to erase and where the job stands (JSON). NULL once done, so the
    # person's data does not outlive their erasure here.
    progress: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_erasures_workspace_created", "workspace_id", "created_at", "id"),)


class RetentionPolicy(Base):
    """How long a workspace keeps one class of data (docs/privacy.md lists the classes): rows
    older than ``days`` are deleted or anonymised by the daily retention job. A class without a
    row is kept forever (events: the instance's LEADLINE_EVENTS_RETENTION_DAYS)."""

    __tablename__ = "retention_policies"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    data_class: Mapped[str] = mapped_column(String(24), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RetentionRun(Base):
    """One application of a workspace's retention periods. The cut-off of each class is fixed
    when the run starts (``cutoffs``, a JSON object of ISO times), so a run cut short carries
    on with the same cut-offs and from where it stopped (``progress``); ``counts`` (a JSON
    object) grows in the transaction of each batch, so it always says what is gone.
    ``finished_at`` is None while it runs."""

    __tablename__ = "retention_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))
    cutoffs: Mapped[str] = mapped_column(Text)
    counts: Mapped[str] = mapped_column(Text, default="{}")
    # Where a class that keeps some of its old rows (visits a lead points to are anonymised,
    # not deleted) stopped: a JSON object, e.g. {"visits": ["<started_at>", "<id>"]}.
    progress: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_retention_runs_workspace_started", "workspace_id", "started_at", "id"),
    )
