"""The AI assistant: a workspace's settings, its per-conversation state, drafts for
operators, and the tokens spent each month."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import ERASED, PersonalData, not_personal


class AssistantSettings(Base):
    """One row per workspace that configured the assistant; none means off. ``api_key`` is
    sealed (Fernet under a key derived from the instance's secret key)."""

    __tablename__ = "assistant_settings"
    __personal__: ClassVar[PersonalData] = not_personal(model="the AI provider's model name")

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    base_url: Mapped[str] = mapped_column(String(500), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    api_key: Mapped[str] = mapped_column(Text, default="")
    business_description: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(30), default="answer_when_offline")
    similarity_floor: Mapped[float] = mapped_column(Float, default=0.0)
    monthly_token_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssistantConversation(Base):
    """A conversation's assistant state: switched off for it, or waiting for a human since
    a hand-off."""

    __tablename__ = "assistant_conversations"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    waiting_for_human: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssistantDraft(Base):
    """A suggested reply for operators; nothing is sent until one of them sends it.
    ``citations`` is a JSON list of {chunk_id, article_id}."""

    __tablename__ = "assistant_drafts"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"conversation_id": "conversation"}, erase={"text": ERASED}
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    citations: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Once an operator sent it: when, and the operator message it became (sent once only).
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    sent_message_id: Mapped[str | None] = mapped_column(String(40), nullable=True)

    __table_args__ = (
        Index("ix_assistant_drafts_conversation", "workspace_id", "conversation_id", "created_at"),
    )


class AssistantUsage(Base):
    """Tokens the provider reported as used, per workspace and calendar month (``YYYY-MM``)."""

    __tablename__ = "assistant_usage"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
