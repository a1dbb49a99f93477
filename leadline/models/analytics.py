"""What analytics keeps of its own: the anomalies its hourly check found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base


class Anomaly(Base):
    """One anomaly of one site: a kind of change (``kind``, see analytics.anomalies.KINDS)
    seen from ``first_seen_hour`` to ``last_seen_hour`` (the starts of the last hour of the
    windows judged), open while the check keeps finding it, resolved at the first check that
    does not. ``observed``, the expected range and the sentence are the latest check's."""

    __tablename__ = "anomalies"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # open or resolved.
    status: Mapped[str] = mapped_column(String(10))
    # info, warning or critical: the highest the anomaly reached.
    severity: Mapped[str] = mapped_column(String(10))
    first_seen_hour: Mapped[datetime] = mapped_column()
    last_seen_hour: Mapped[datetime] = mapped_column()
    # The hours each check judges (1 for traffic, 3 for submissions).
    window_hours: Mapped[int] = mapped_column(Integer)
    observed: Mapped[float] = mapped_column(Float)
    expected_low: Mapped[float] = mapped_column(Float)
    expected_high: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    sentence: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        # At most one open anomaly of a kind per site, whoever runs the check at once.
        Index(
            "uq_anomalies_open",
            "site_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_anomalies_workspace_seen", "workspace_id", "last_seen_hour"),
    )
