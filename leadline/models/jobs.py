"""The durable job queue: jobs written in the transaction that causes them, and schedules."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import SCRUB, PersonalData, not_personal


class Job(Base):
    """One unit of deferred work. ``queued`` jobs become due at ``run_at``; a worker claims one
    by setting it ``running`` with a lease (``locked_until``) it renews while it works; a job
    whose lease ran out (its worker died) is claimed again. ``succeeded`` and ``dead`` jobs stay
    for inspection and replay until the retention clean-up removes them."""

    __tablename__ = "jobs"
    __personal__: ClassVar[PersonalData] = PersonalData(
        search=("payload", "last_error"),
        erase={"payload": SCRUB, "last_error": SCRUB},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=10)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        # What a worker claims: due queued jobs, oldest first, and running jobs whose lease ran
        # out. Partial, so finished jobs, however many, never slow the claim down.
        Index(
            "ix_jobs_due",
            "run_at",
            sqlite_where=text("state = 'queued'"),
            postgresql_where=text("state = 'queued'"),
        ),
        Index(
            "ix_jobs_leased",
            "locked_until",
            sqlite_where=text("state = 'running'"),
            postgresql_where=text("state = 'running'"),
        ),
        Index("ix_jobs_state_finished", "state", "finished_at"),
    )


class JobSchedule(Base):
    """A periodic job: every ``every_seconds`` or on a ``cron`` expression (UTC). The worker that
    moves ``next_run_at`` forward enqueues the job, so each run is enqueued once."""

    __tablename__ = "job_schedules"
    __personal__: ClassVar[PersonalData] = not_personal(
        name="a schedule's name, chosen by Leadline"
    )

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    every_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cron: Mapped[str | None] = mapped_column(String(100), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
