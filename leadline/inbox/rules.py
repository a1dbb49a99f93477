"""The inbox's shared rules: what a message, subject or tag may be, loading a conversation
of the workspace, where its status may go, who it is assigned to, and the audit entries a
change gathers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.errors import InvalidTransition, NotFound, ValidationFailed
from leadline.inbox import contacts
from leadline.inbox.repository import ConversationFilter, InboxRepository
from leadline.inbox.schemas import (
    REOPENED_MANUALLY,
    TRANSITIONS,
    Status,
)
from leadline.jobs import service as jobs
from leadline.kit.tags import stored_tags
from leadline.kit.time import after_millisecond, iso_micros, iso_millis
from leadline.models import Conversation, Note, Person
from leadline.people import service as people
from leadline.webhooks import service as webhooks

TEXT_LENGTH = 10_000
SUBJECT_LENGTH = 500

# The jobs of the inbox (tasks.py): waking a snoozed conversation when its time comes, and
# handing unanswered conversations to the next online person.
WAKE = "inbox.wake"
REASSIGN = "inbox.reassign"
# Conversations reassigned per workspace and transaction.
REASSIGN_BATCH = 200

# Who the audit log names for what the inbox does by itself.
TIMER = Actor.system("inbox.snooze")
ROUTER = Actor.system("inbox.reassign")


class Journal:
    """Audit entries gathered while a change is made, appended at its end: the audit chain's
    head stays locked from the first append to the commit."""

    def __init__(self) -> None:
        self.entries: list[audit.Entry] = []

    def add(self, action: str, target_type: str, target_id: str, changes: Any) -> None:
        self.entries.append(audit.Entry(action, target_type, target_id, changes))

    async def write(self, session: AsyncSession, workspace_id: str, actor: Actor) -> None:
        await audit.record_many(session, workspace_id, actor, self.entries)
        self.entries = []


# ----------------------------------------------------------------------------- checking


def check_text(text: str, field: str = "text") -> str:
    """A message's or note's text: 1 to 10,000 characters, not only spaces, no NUL."""
    if "\x00" in text:
        raise ValidationFailed(f"{field} must not contain NUL characters", details={"field": field})
    if not text.strip():
        raise ValidationFailed(f"{field} must not be empty", details={"field": field})
    if len(text) > TEXT_LENGTH:
        raise ValidationFailed(
            f"{field} is at most {TEXT_LENGTH} characters", details={"field": field}
        )
    return text


def check_subject(subject: str | None) -> str | None:
    if subject is None:
        return None
    if "\x00" in subject:
        raise ValidationFailed(
            "subject must not contain NUL characters", details={"field": "subject"}
        )
    subject = subject.strip()
    if len(subject) > SUBJECT_LENGTH:
        raise ValidationFailed(
            f"subject is at most {SUBJECT_LENGTH} characters", details={"field": "subject"}
        )
    return subject or None


def tags_of(conversation: Conversation) -> list[str]:
    return stored_tags(conversation.tags)


def mentions_of(note: Note) -> list[str]:
    found: list[str] = json.loads(note.mentions or "[]")
    return found


def parse_status(value: str) -> Status:
    if value not in Status.__members__.values():
        raise ValidationFailed(
            f"status must be one of {', '.join(Status)}", details={"field": "status"}
        )
    return Status(value)


def conversation_filter(
    *,
    status: str | None = None,
    assignee_id: str | None = None,
    contact_id: str | None = None,
    updated_after: datetime | None = None,
) -> ConversationFilter:
    """What a list is narrowed to; ``assignee_id`` ``none`` lists the unassigned ones."""
    if status is not None:
        parse_status(status)
    return ConversationFilter(
        status=status,
        assignee_id=None if assignee_id == "none" else assignee_id,
        unassigned=assignee_id == "none",
        contact_id=contact_id,
        updated_after=after_millisecond(updated_after),
    )


# ------------------------------------------------------------------------------- reading


async def load_conversation(
    session: AsyncSession, workspace_id: str, conversation_id: str, *, lock: bool = False
) -> Conversation:
    found = (
        await InboxRepository(session).conversation(workspace_id, conversation_id, lock=lock)
        if contacts.usable_id(conversation_id)
        else None
    )
    if found is None:
        raise NotFound(
            f"conversation '{conversation_id}' not found",
            details={"id": conversation_id},
            resource="conversation",
        )
    return found


# ------------------------------------------------------------------------------- events


def _conversation_event(conversation: Conversation, **more: Any) -> dict[str, Any]:
    return {"conversation_id": conversation.id, "contact_id": conversation.contact_id, **more}


async def emit(
    session: AsyncSession, conversation: Conversation, event_type: str, **data: Any
) -> None:
    await webhooks.emit(
        session, conversation.workspace_id, event_type, _conversation_event(conversation, **data)
    )


# ------------------------------------------------------------------------------ statuses


async def set_status(
    session: AsyncSession,
    conversation: Conversation,
    to: Status,
    journal: Journal,
    *,
    now: datetime,
    reason: str = REOPENED_MANUALLY,
    snoozed_until: datetime | None = None,
) -> None:
    """Move ``conversation`` to ``to``, which its status allows, with what goes with it: the
    snooze's wake-up, the events, the contact's spam mark."""
    before = Status(conversation.status)
    was_snoozed_until = conversation.snoozed_until
    conversation.status = to.value
    conversation.snoozed_until = snoozed_until if to is Status.SNOOZED else None
    conversation.updated_at = now
    changes: dict[str, tuple[Any, Any]] = {"status": (before.value, to.value)}
    if conversation.snoozed_until != was_snoozed_until:
        changes["snoozed_until"] = (was_snoozed_until, conversation.snoozed_until)
    journal.add("conversation.status_changed", "conversation", conversation.id, changes)
    if to is Status.SNOOZED:
        assert snoozed_until is not None
        await wake_at(session, conversation, snoozed_until)
    elif to is Status.CLOSED:
        await emit(
            session,
            conversation,
            "conversation.resolved",
            previous_status=before.value,
            resolved_at=iso_millis(now),
        )
    elif to is Status.OPEN:
        await emit(
            session,
            conversation,
            "conversation.reopened",
            previous_status=before.value,
            reason=reason,
            reopened_at=iso_millis(now),
        )
    if Status.SPAM in (before, to):
        # Spam is the contact's: their later messages are quarantined, until someone opens
        # the conversation again and so says they are not.
        contact = await contacts.get(session, conversation.workspace_id, conversation.contact_id)
        spam = to is Status.SPAM
        if contact.spam != spam:
            contact.spam = spam
            contact.updated_at = now
            journal.add("contact.updated", "contact", contact.id, {"spam": (not spam, spam)})


async def wake_at(session: AsyncSession, conversation: Conversation, when: datetime) -> None:
    """Queue the job that opens the snoozed conversation at ``when``; it does nothing if the
    snooze changed meanwhile (a later snooze queues its own)."""
    await jobs.enqueue(
        session,
        WAKE,
        {"conversation_id": conversation.id, "snoozed_until": iso_micros(when)},
        workspace_id=conversation.workspace_id,
        run_at=when,
    )


def check_transition(conversation: Conversation, to: Status) -> None:
    current = Status(conversation.status)
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise InvalidTransition(
            f"a {current.value} conversation cannot become {to.value}; it can become {allowed}",
            details={"from": current.value, "to": to.value},
        )


def snooze_time(until: datetime | None, now: datetime) -> datetime:
    if until is None or until <= now:
        raise ValidationFailed(
            "snoozed_until must be a time in the future to snooze a conversation",
            details={"field": "snoozed_until"},
        )
    return until


# ---------------------------------------------------------------------------- assignment


async def assign(
    session: AsyncSession,
    conversation: Conversation,
    person_id: str | None,
    journal: Journal,
    *,
    now: datetime,
) -> None:
    before = conversation.assignee_id
    conversation.assignee_id = person_id
    conversation.assigned_at = now if person_id is not None else None
    conversation.updated_at = now
    journal.add(
        "conversation.assigned",
        "conversation",
        conversation.id,
        {"assignee_id": (before, person_id)},
    )
    await emit(
        session,
        conversation,
        "conversation.assigned",
        assignee_id=person_id,
        previous_assignee_id=before,
        assigned_at=iso_millis(now),
    )


async def next_person(
    session: AsyncSession, workspace_id: str, *, besides: str | None = None
) -> Person | None:
    """The next online person in turn, other than ``besides`` when anyone else is online."""
    person = await people.next_for_assignment(session, workspace_id)
    if person is not None and person.id == besides:
        person = await people.next_for_assignment(session, workspace_id)
    return person
