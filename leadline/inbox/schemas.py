"""What the inbox's rules take and give: named structures, whatever surface calls them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from leadline.models import Contact, Conversation, Message, Note


class Status(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    CLOSED = "closed"
    SPAM = "spam"


class Author(StrEnum):
    CONTACT = "contact"
    OPERATOR = "operator"
    AI = "ai"


# Where each status may go. A snoozed conversation opens when its time comes, when someone
# opens it, or when the contact writes; a closed one when someone opens it or the contact
# writes; a spam one only when someone opens it.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.SNOOZED, Status.CLOSED, Status.SPAM}),
    Status.SNOOZED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
    Status.SPAM: frozenset({Status.OPEN}),
}

# Why a conversation opened again, as the conversation.reopened event says it.
REOPENED_MANUALLY = "manual"
REOPENED_BY_MESSAGE = "message"
REOPENED_BY_TIMER = "snooze_ended"


class Unset:
    """The value of a field a change leaves as it is (None may be a value: "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = Unset()


@dataclass(frozen=True)
class ContactFields:
    """Who a new conversation is with: an existing contact (``id``), or someone found by email,
    else by phone, else created with these fields."""

    id: str | None = None
    email: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ContactChanges:
    """A change to a contact; UNSET fields stay, None clears. ``attributes`` are merged into
    the contact's: a key set to None is removed."""

    name: str | None = UNSET
    email: str | None = UNSET
    phone: str | None = UNSET
    attributes: dict[str, Any] = UNSET


@dataclass(frozen=True)
class ConversationChanges:
    """A change to a conversation; UNSET fields stay. ``assignee_id`` None unassigns it,
    ``subject`` None clears it."""

    status: str = UNSET
    assignee_id: str | None = UNSET
    snoozed_until: datetime | None = UNSET
    subject: str | None = UNSET
    tags: list[str] = UNSET


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[Conversation]
    has_more: bool


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    has_more: bool


@dataclass(frozen=True)
class NotePage:
    notes: list[Note]
    has_more: bool


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Contact]
    has_more: bool


@dataclass(frozen=True)
class InboxUsage:
    """What a workspace's inbox made in a period: conversations and messages created."""

    conversations: int
    messages: int


@dataclass(frozen=True)
class NewConversation:
    """A conversation just started: with its first message, and whether its contact is new."""

    conversation: Conversation
    message: Message
    contact_created: bool = False
