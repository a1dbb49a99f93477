"""The append-only audit log, hash-chained per workspace."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import PersonalData


class AuditEvent(Base):
    """One change, by whom, from where. ``hash`` covers every other column and the previous
    event's hash (``prev_hash``), so editing or deleting a row breaks the chain at that row."""

    __tablename__ = "audit_events"
    __personal__: ClassVar[PersonalData] = PersonalData(
        personal={
            "ip": "the address of whoever made the change (a member, or a visitor on a "
            "public route)",
            "user_agent": "the browser of whoever made the change",
        },
        subject=False,
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    changes: Mapped[str] = mapped_column(Text, default="{}")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("workspace_id", "seq"),
        Index("ix_audit_ws_occurred", "workspace_id", "occurred_at", "seq"),
        Index("ix_audit_ws_action", "workspace_id", "action", "seq"),
        Index("ix_audit_ws_target", "workspace_id", "target_type", "target_id", "seq"),
    )


class AuditHead(Base):
    """The end of a workspace's chain. Appending updates this row first, which serialises
    concurrent appends in one workspace, and it lets a verifier notice a deleted last event."""

    __tablename__ = "audit_heads"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    # Where the chain now starts: events up to ``anchor_seq`` were removed by the workspace's
    # retention, and ``anchor_hash`` is the hash of the last of them, which the first event
    # kept names as its prev_hash (0 and None: the chain starts at its genesis).
    anchor_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    anchor_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
