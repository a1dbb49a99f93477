"""The inbox: contacts, their conversations, the messages in them and operators' notes."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from leadline.kit.time import utcnow
from leadline.models.base import Base
from leadline.models.personal import EMPTY_OBJECT, ERASED, NOW, NULL, PersonalData


class Contact(Base):
    """Someone talking to the workspace. ``attributes`` is a JSON object. A contact merged into
    another keeps its row with ``merged_into_id`` set and is no longer found."""

    __tablename__ = "contacts"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"id": "contact", "email": "email", "phone": "phone", "merged_into_id": "contact"},
        gathers={
            "id": "contact",
            "lead_id": "lead",
            "name": "name",
            "email": "email",
            "phone": "phone",
        },
        erase={
            "name": NULL,
            "email": NULL,
            "phone": NULL,
            "attributes": EMPTY_OBJECT,
            "external_id": NULL,
            "erased_at": NOW,
            "updated_at": NOW,
        },
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    # The id a site gives the person it identified (the widget's identify call).
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The lead this contact became when they gave an email or phone.
    lead_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Messages from a contact marked spam are kept, quarantined, and reopen nothing.
    spam: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # When the person was erased at their request: the row stays, emptied, and is not found.
    erased_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_contacts_workspace_updated", "workspace_id", "updated_at", "id"),
        Index("ix_contacts_workspace_email", "workspace_id", "email"),
        Index("ix_contacts_workspace_phone", "workspace_id", "phone"),
        Index("ix_contacts_workspace_external_id", "workspace_id", "external_id"),
    )


class Conversation(Base):
    """A thread with one contact. Listed newest activity first (``last_activity_at``).
    ``tags`` is a JSON list. ``waiting_since`` is set while the contact awaits a reply."""

    __tablename__ = "conversations"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"contact_id": "contact"},
        gathers={"id": "conversation", "visit_id": "visit"},
        erase={"subject": NULL, "updated_at": NOW},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default="open")
    assignee_id: Mapped[str | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    subject: Mapped[str | None] = mapped_column(String(500), nullable=True)
    tags: Mapped[str] = mapped_column(Text, default="[]")
    snoozed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    first_reply_at: Mapped[datetime | None] = mapped_column(nullable=True)
    waiting_since: Mapped[datetime | None] = mapped_column(nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The tracked visit the conversation started in, for the lead's attribution.
    visit_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_conversations_workspace_activity", "workspace_id", "last_activity_at", "id"),
        Index(
            "ix_conversations_workspace_status_activity",
            "workspace_id",
            "status",
            "last_activity_at",
            "id",
        ),
        Index(
            "ix_conversations_workspace_assignee_activity",
            "workspace_id",
            "assignee_id",
            "last_activity_at",
            "id",
        ),
        Index("ix_conversations_workspace_updated", "workspace_id", "updated_at", "id"),
    )


class Message(Base):
    """One entry in a conversation's thread, in ``seq`` order. ``author`` is contact, operator
    or ai; ``person_id`` names the operator."""

    __tablename__ = "messages"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"conversation_id": "conversation"}, erase={"text": ERASED}
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(10))
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    text: Mapped[str] = mapped_column(Text)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("uq_messages_conversation_seq", "conversation_id", "seq", unique=True),
        Index("ix_messages_workspace_created", "workspace_id", "created_at"),
    )


class Note(Base):
    """An operator's remark on a conversation, never shown to the contact. ``mentions`` is a
    JSON list of the email addresses it @-mentions."""

    __tablename__ = "notes"
    __personal__: ClassVar[PersonalData] = PersonalData(
        match={"conversation_id": "conversation"},
        erase={"text": ERASED},
        personal={"mentions": "the members a note mentions (members, not the person)"},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    # The API key that wrote it, when no person did (an admin key).
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    mentions: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_notes_conversation_created", "conversation_id", "created_at", "id"),
    )
