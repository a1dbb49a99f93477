"""Inbox rules: conversations and where their statuses may go, who is assigned, messages,
operators' notes, and what the inbox made (for billing)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline import live
from leadline.audit import service as audit
from leadline.audit.service import Actor
from leadline.auth.service import Principal
from leadline.errors import ConversationClosed, InvalidTransition, NotFound, ValidationFailed
from leadline.inbox import contacts
from leadline.inbox.repository import ConversationFilter, InboxRepository
from leadline.inbox.schemas import (
    REOPENED_BY_MESSAGE,
    REOPENED_BY_TIMER,
    REOPENED_MANUALLY,
    TRANSITIONS,
    UNSET,
    Author,
    ContactFields,
    ConversationChanges,
    ConversationPage,
    InboxUsage,
    MessagePage,
    NewConversation,
    NotePage,
    Status,
)
from leadline.jobs import service as jobs
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import after_millisecond, iso_micros, iso_millis, utcnow
from leadline.models import Contact, Conversation, Message, Note, Person
from leadline.people import service as people
from leadline.tracking import visits
from leadline.webhooks import service as webhooks

TEXT_LENGTH = 10_000
SUBJECT_LENGTH = 500
TAG_LENGTH = 50
TAGS = 20

# The jobs of the inbox (tasks.py): waking a snoozed conversation when its time comes, and
# handing unanswered conversations to the next online person.
WAKE = "inbox.wake"
REASSIGN = "inbox.reassign"
# Conversations reassigned per workspace and transaction.
REASSIGN_BATCH = 200

# Who the audit log names for what the inbox does by itself.
TIMER = Actor.system("inbox.snooze")
ROUTER = Actor.system("inbox.reassign")

# "@ada@example.com" in a note: the address after the @.
_MENTION = re.compile(r"(?<![\w.+-])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


# Called in the transaction that adds a (not quarantined) message from a contact, so features
# above the inbox (the assistant) can queue their work; they register on import.
ContactMessageHook = Callable[[AsyncSession, Conversation, Message], Awaitable[None]]
_CONTACT_MESSAGE_HOOKS: list[ContactMessageHook] = []


def on_contact_message(hook: ContactMessageHook) -> None:
    if hook not in _CONTACT_MESSAGE_HOOKS:
        _CONTACT_MESSAGE_HOOKS.append(hook)


async def _contact_message_added(
    session: AsyncSession, conversation: Conversation, message: Message
) -> None:
    for hook in _CONTACT_MESSAGE_HOOKS:
        await hook(session, conversation, message)


# Called in the transaction that adds an operator's message, whichever path posts it (the API,
# the dashboard, a sent draft): the assistant ends a wait for a human there.
_OPERATOR_MESSAGE_HOOKS: list[ContactMessageHook] = []


def on_operator_message(hook: ContactMessageHook) -> None:
    if hook not in _OPERATOR_MESSAGE_HOOKS:
        _OPERATOR_MESSAGE_HOOKS.append(hook)


class _Journal:
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


def check_tags(tags: Sequence[str]) -> list[str]:
    """Tags as given, trimmed, each once: at most 20, each 1 to 50 characters."""
    kept: list[str] = []
    for tag in tags:
        text = tag.strip()
        if not text or len(text) > TAG_LENGTH or "\x00" in text:
            raise ValidationFailed(
                f"each tag is 1-{TAG_LENGTH} characters", details={"field": "tags"}
            )
        if text not in kept:
            kept.append(text)
    if len(kept) > TAGS:
        raise ValidationFailed(f"at most {TAGS} tags", details={"field": "tags"})
    return kept


def tags_of(conversation: Conversation) -> list[str]:
    found: list[str] = json.loads(conversation.tags or "[]")
    return found


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


async def _conversation(
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


async def get_conversation(
    session: AsyncSession, principal: Principal, conversation_id: str
) -> Conversation:
    return await _conversation(session, principal.workspace_id, conversation_id)


async def list_conversations(
    session: AsyncSession,
    principal: Principal,
    only: ConversationFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> ConversationPage:
    """Up to ``limit`` conversations, newest activity first, after ``after``."""
    rows = await InboxRepository(session).conversations(
        principal.workspace_id, only, limit=limit + 1, after=after
    )
    found, more = cursors.cut(rows, limit)
    return ConversationPage(conversations=found, has_more=more)


# ------------------------------------------------------------------------------- events


def _conversation_event(conversation: Conversation, **more: Any) -> dict[str, Any]:
    return {"conversation_id": conversation.id, "contact_id": conversation.contact_id, **more}


async def _emit(
    session: AsyncSession, conversation: Conversation, event_type: str, **data: Any
) -> None:
    await webhooks.emit(
        session, conversation.workspace_id, event_type, _conversation_event(conversation, **data)
    )


# ------------------------------------------------------------------------------ statuses


async def _set_status(
    session: AsyncSession,
    conversation: Conversation,
    to: Status,
    journal: _Journal,
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
        await _wake_at(session, conversation, snoozed_until)
    elif to is Status.CLOSED:
        await _emit(
            session,
            conversation,
            "conversation.resolved",
            previous_status=before.value,
            resolved_at=iso_millis(now),
        )
    elif to is Status.OPEN:
        await _emit(
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


async def _wake_at(session: AsyncSession, conversation: Conversation, when: datetime) -> None:
    """Queue the job that opens the snoozed conversation at ``when``; it does nothing if the
    snooze changed meanwhile (a later snooze queues its own)."""
    await jobs.enqueue(
        session,
        WAKE,
        {"conversation_id": conversation.id, "snoozed_until": iso_micros(when)},
        workspace_id=conversation.workspace_id,
        run_at=when,
    )


def _check_transition(conversation: Conversation, to: Status) -> None:
    current = Status(conversation.status)
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise InvalidTransition(
            f"a {current.value} conversation cannot become {to.value}; it can become {allowed}",
            details={"from": current.value, "to": to.value},
        )


def _snooze_time(until: datetime | None, now: datetime) -> datetime:
    if until is None or until <= now:
        raise ValidationFailed(
            "snoozed_until must be a time in the future to snooze a conversation",
            details={"field": "snoozed_until"},
        )
    return until


# ---------------------------------------------------------------------------- assignment


async def _assign(
    session: AsyncSession,
    conversation: Conversation,
    person_id: str | None,
    journal: _Journal,
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
    await _emit(
        session,
        conversation,
        "conversation.assigned",
        assignee_id=person_id,
        previous_assignee_id=before,
        assigned_at=iso_millis(now),
    )


async def _next_person(
    session: AsyncSession, workspace_id: str, *, besides: str | None = None
) -> Person | None:
    """The next online person in turn, other than ``besides`` when anyone else is online."""
    person = await people.next_for_assignment(session, workspace_id)
    if person is not None and person.id == besides:
        person = await people.next_for_assignment(session, workspace_id)
    return person


# ------------------------------------------------------------------------------ creating


async def start_conversation(
    session: AsyncSession,
    principal: Principal,
    *,
    contact: ContactFields,
    text: str,
    subject: str | None = None,
    visit_id: str | None = None,
) -> NewConversation:
    """A conversation with the contact ``contact`` names (found or created), whose first
    message, from the contact, is ``text``. It is assigned round robin among the people online
    when the workspace assigns automatically. A spam contact's conversation starts as spam,
    its message quarantined, unassigned and unannounced."""
    text = check_text(text, "message.text")
    subject = check_subject(subject)
    journal = _Journal()
    found, created = await contacts.find_or_create(session, principal, contact, journal.entries)
    visit = None
    if visit_id is not None and contacts.usable_id(visit_id):
        visit = await visits.visit_of(session, principal.workspace_id, visit_id)
    now = utcnow()
    conversation = Conversation(
        id=new_id("conv"),
        workspace_id=principal.workspace_id,
        contact_id=found.id,
        status=(Status.SPAM if found.spam else Status.OPEN).value,
        subject=subject,
        tags="[]",
        visit_id=visit.id if visit is not None else None,
        message_count=0,
        last_activity_at=now,
        created_at=now,
        updated_at=now,
    )
    await InboxRepository(session).add(conversation)
    journal.add(
        "conversation.created",
        "conversation",
        conversation.id,
        {"contact_id": (None, found.id), "status": (None, conversation.status)},
    )
    if found.spam:
        message = await _append(session, conversation, Author.CONTACT, text, None, now, True)
        await journal.write(session, principal.workspace_id, principal.actor)
        return NewConversation(conversation, message, created)
    await _emit(
        session,
        conversation,
        "conversation.created",
        status=conversation.status,
        **({"subject": subject} if subject else {}),
        created_at=iso_millis(now),
    )
    if principal.workspace.auto_assign:
        person = await _next_person(session, principal.workspace_id)
        if person is not None:
            await _assign(session, conversation, person.id, journal, now=now)
    message = await _append(session, conversation, Author.CONTACT, text, None, now, False)
    conversation.waiting_since = now
    await _contact_message_added(session, conversation, message)
    await contacts.give_lead(
        session, principal, found, visit_id=conversation.visit_id, entries=journal.entries
    )
    await contacts.learn_email(
        session, principal, found, text, visit_id=conversation.visit_id, entries=journal.entries
    )
    await journal.write(session, principal.workspace_id, principal.actor)
    return NewConversation(conversation, message, created)


# ------------------------------------------------------------------------------ changing


async def update_conversation(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    changes: ConversationChanges,
) -> Conversation:
    """Change a conversation's status (as TRANSITIONS allow; snoozing needs a future
    ``snoozed_until``), assignee (not while it is closed), subject or tags."""
    conversation = await _conversation(session, principal.workspace_id, conversation_id, lock=True)
    now = utcnow()
    journal = _Journal()
    await _change_status(session, conversation, changes, journal, now=now)
    if changes.assignee_id is not UNSET and changes.assignee_id != conversation.assignee_id:
        if conversation.status == Status.CLOSED:
            raise ConversationClosed(
                "the conversation is closed; reopen it (status open) to assign it",
                details={"id": conversation.id},
            )
        person_id = changes.assignee_id
        if person_id is not None:
            person_id = (await people.operator(session, principal.workspace_id, person_id)).id
        await _assign(session, conversation, person_id, journal, now=now)
    described: dict[str, tuple[Any, Any]] = {}
    if changes.subject is not UNSET:
        subject = check_subject(changes.subject)
        if subject != conversation.subject:
            # What a subject says may name someone: the log keeps that it changed.
            described["subject"] = (
                audit.REDACTED if conversation.subject else None,
                audit.REDACTED if subject else None,
            )
            conversation.subject = subject
    if changes.tags is not UNSET:
        tags = check_tags(changes.tags)
        if tags != tags_of(conversation):
            described["tags"] = (tags_of(conversation), tags)
            conversation.tags = json.dumps(tags, ensure_ascii=False)
    if described:
        conversation.updated_at = now
        journal.add("conversation.updated", "conversation", conversation.id, described)
    await journal.write(session, principal.workspace_id, principal.actor)
    return conversation


async def _change_status(
    session: AsyncSession,
    conversation: Conversation,
    changes: ConversationChanges,
    journal: _Journal,
    *,
    now: datetime,
) -> None:
    target = parse_status(changes.status) if changes.status is not UNSET else None
    until = changes.snoozed_until
    if target is None and until is UNSET:
        return
    current = Status(conversation.status)
    if target is None or target is current:
        if current is not Status.SNOOZED:
            if until is not UNSET and until is not None:
                raise ValidationFailed(
                    "snoozed_until goes with status snoozed", details={"field": "snoozed_until"}
                )
            return
        if until is UNSET:
            return
        # Snoozed already: a new time is a new wake-up.
        until = _snooze_time(until, now)
        if until != conversation.snoozed_until:
            journal.add(
                "conversation.snoozed",
                "conversation",
                conversation.id,
                {"snoozed_until": (conversation.snoozed_until, until)},
            )
            conversation.snoozed_until = until
            conversation.updated_at = now
            await _wake_at(session, conversation, until)
        return
    _check_transition(conversation, target)
    if target is Status.SNOOZED:
        snooze = _snooze_time(None if until is UNSET else until, now)
        await _set_status(session, conversation, target, journal, now=now, snoozed_until=snooze)
        return
    if until is not UNSET and until is not None:
        raise ValidationFailed(
            "snoozed_until goes with status snoozed", details={"field": "snoozed_until"}
        )
    await _set_status(session, conversation, target, journal, now=now)


# ------------------------------------------------------------------------------ messages


async def _append(
    session: AsyncSession,
    conversation: Conversation,
    author: Author,
    text: str,
    person_id: str | None,
    now: datetime,
    quarantined: bool,
) -> Message:
    """The conversation's next message (its seq one past the last), announced unless it is
    quarantined."""
    conversation.message_count += 1
    conversation.updated_at = now
    if not quarantined:
        conversation.last_activity_at = now
    message = Message(
        id=new_id("msg"),
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        seq=conversation.message_count,
        author=author.value,
        person_id=person_id,
        text=text,
        quarantined=quarantined,
        created_at=now,
    )
    await InboxRepository(session).add(message)
    if not quarantined:
        await webhooks.emit(
            session,
            conversation.workspace_id,
            "message.created",
            {
                "conversation_id": conversation.id,
                "message_id": message.id,
                "from": author.value,
                "text": text,
                "created_at": iso_millis(now),
            },
        )
    _announce_message(session, conversation, message)
    return message


def message_event(message: Message) -> live.LiveEvent:
    """A message as the live streams send it (its id in the stream is its ``seq``)."""
    return live.LiveEvent(
        kind="message.created",
        id=message.seq,
        data={
            "id": message.id,
            "conversation_id": message.conversation_id,
            "seq": message.seq,
            "from": message.author,
            "person_id": message.person_id,
            "text": message.text,
            "created_at": iso_millis(message.created_at),
            "quarantined": message.quarantined,
        },
    )


async def typing(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    *,
    author: Author,
    typing: bool,
) -> Conversation:
    """Tell the conversation's streams (and for a contact, the workspace's) that someone is
    typing, or stopped; nothing is stored."""
    conversation = await _conversation(session, principal.workspace_id, conversation_id)
    item = live.LiveEvent(
        kind="typing",
        data={
            "conversation_id": conversation.id,
            "from": author.value,
            "person_id": principal.person_id if author is Author.OPERATOR else None,
            "typing": typing,
        },
    )
    topic = live.conversation_topic(conversation.workspace_id, conversation.id)
    live.announce(session, topic, item)
    if author is Author.CONTACT:
        live.announce(session, live.workspace_topic(conversation.workspace_id), item)
    return conversation


def _announce_message(session: AsyncSession, conversation: Conversation, message: Message) -> None:
    """Streams hear of the message once the transaction commits: the conversation's, and the
    workspace's (operators' inboxes; no id there, since seqs are per conversation)."""
    item = message_event(message)
    live.announce(
        session, live.conversation_topic(conversation.workspace_id, conversation.id), item
    )
    live.announce(
        session,
        live.workspace_topic(conversation.workspace_id),
        live.LiveEvent(kind=item.kind, data=item.data),
    )


def author_of(principal: Principal, author: str | None) -> Author:
    """Who a message is from: as given, else an operator (a person's token or a key)."""
    if author is None:
        return Author.OPERATOR
    if author not in Author.__members__.values():
        raise ValidationFailed(
            f"author must be one of {', '.join(Author)}", details={"field": "author"}
        )
    return Author(author)


async def post_message(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    *,
    text: str,
    author: str | None = None,
) -> Message:
    """A new message at the end of the conversation.

    From the contact: it waits for a reply (``waiting_since``), opens a closed or snoozed
    conversation again, and an email address in it makes the contact a lead; from a spam
    contact it is kept quarantined and does none of that. From an operator (the person whose
    token posts it) or the AI: the first is the conversation's first reply, and an operator's
    ends the contact's wait.
    """
    text = check_text(text)
    who = author_of(principal, author)
    conversation = await _conversation(session, principal.workspace_id, conversation_id, lock=True)
    now = utcnow()
    journal = _Journal()
    if who is Author.CONTACT:
        contact = await contacts.get(session, principal.workspace_id, conversation.contact_id)
        message = await _contact_wrote(
            session, principal, conversation, contact, text, journal, now
        )
    else:
        person_id = principal.person_id if who is Author.OPERATOR else None
        message = await _append(session, conversation, who, text, person_id, now, False)
        if conversation.first_reply_at is None:
            conversation.first_reply_at = now
        if who is Author.OPERATOR:
            conversation.waiting_since = None
            for hook in _OPERATOR_MESSAGE_HOOKS:
                await hook(session, conversation, message)
    await journal.write(session, principal.workspace_id, principal.actor)
    return message


async def _contact_wrote(
    session: AsyncSession,
    principal: Principal,
    conversation: Conversation,
    contact: Contact,
    text: str,
    journal: _Journal,
    now: datetime,
) -> Message:
    if contact.spam:
        return await _append(session, conversation, Author.CONTACT, text, None, now, True)
    message = await _append(session, conversation, Author.CONTACT, text, None, now, False)
    await _contact_message_added(session, conversation, message)
    if conversation.waiting_since is None:
        conversation.waiting_since = now
    if conversation.status in (Status.CLOSED, Status.SNOOZED):
        await _set_status(
            session, conversation, Status.OPEN, journal, now=now, reason=REOPENED_BY_MESSAGE
        )
    await contacts.learn_email(
        session, principal, contact, text, visit_id=conversation.visit_id, entries=journal.entries
    )
    return message


async def list_messages(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    *,
    limit: int,
    after_seq: int | None = None,
) -> MessagePage:
    """The conversation's messages in order (quarantined ones too, marked so)."""
    await _conversation(session, principal.workspace_id, conversation_id)
    rows = await InboxRepository(session).messages(
        principal.workspace_id, conversation_id, limit=limit + 1, after_seq=after_seq
    )
    found, more = cursors.cut(rows, limit)
    return MessagePage(messages=found, has_more=more)


@dataclass(frozen=True, slots=True)
class LeadConversations:
    """The conversations of a lead's contacts (newest first) and their newest messages."""

    conversations: list[Conversation]
    messages: list[Message]


async def get_message(session: AsyncSession, workspace_id: str, message_id: str) -> Message:
    """One message of the workspace, by id (for the features that answer one)."""
    found = await InboxRepository(session).message(workspace_id, message_id)
    if found is None:
        raise NotFound(f"no message {message_id[:64]}", resource="message")
    return found


async def conversations_of_lead(
    session: AsyncSession, workspace_id: str, lead_id: str, *, messages: int
) -> LeadConversations:
    """What the inbox holds of a lead: the conversations of the contacts it was given to
    (a contact becomes a lead's when it gives an email or phone) and their newest
    ``messages`` messages."""
    repo = InboxRepository(session)
    found = await repo.conversations_of_lead(workspace_id, lead_id)
    latest = await repo.latest_messages(
        workspace_id, [conversation.id for conversation in found], messages
    )
    return LeadConversations(found, latest)


# --------------------------------------------------------------------------------- notes


async def _mentions(session: AsyncSession, workspace_id: str, text: str) -> list[str]:
    """The workspace's people a note @-mentions, by email, in the order it names them."""
    named = [found.lower().rstrip(".") for found in _MENTION.findall(text)]
    if not named:
        return []
    members = {person.email for person in await people.of_workspace(session, workspace_id)}
    return list(dict.fromkeys(email for email in named if email in members))


async def add_note(
    session: AsyncSession, principal: Principal, conversation_id: str, *, text: str
) -> Note:
    """An operator's note on the conversation; it records the people it @-mentions."""
    text = check_text(text)
    conversation = await _conversation(session, principal.workspace_id, conversation_id)
    note = Note(
        id=new_id("note"),
        workspace_id=principal.workspace_id,
        conversation_id=conversation.id,
        person_id=principal.person_id,
        key_id=None if principal.person_id else principal.key_id or None,
        text=text,
        mentions=json.dumps(await _mentions(session, principal.workspace_id, text)),
        created_at=utcnow(),
    )
    await InboxRepository(session).add(note)
    # Operators only: the workspace's topic (never the conversation's, which visitors follow).
    live.announce(
        session,
        live.workspace_topic(principal.workspace_id),
        live.LiveEvent(
            kind="note.created", data={"conversation_id": conversation.id, "note_id": note.id}
        ),
    )
    return note


async def list_notes(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> NotePage:
    """The conversation's notes, oldest first."""
    await _conversation(session, principal.workspace_id, conversation_id)
    rows = await InboxRepository(session).notes(
        principal.workspace_id, conversation_id, limit=limit + 1, after=after
    )
    found, more = cursors.cut(rows, limit)
    return NotePage(notes=found, has_more=more)


# ----------------------------------------------------------------------------- the jobs


async def wake(session: AsyncSession, conversation_id: str, due: datetime) -> timedelta | None:
    """Open the conversation snoozed until ``due`` once that time has come. A conversation no
    longer snoozed until then (opened, closed, snoozed for longer) is left alone. How long is
    left when ``due`` has not come yet (a clock behind the queue's); None otherwise."""
    conversation = await InboxRepository(session).conversation_by_id(conversation_id)
    if (
        conversation is None
        or conversation.status != Status.SNOOZED
        or conversation.snoozed_until != due
    ):
        return None
    now = utcnow()
    if due > now:
        return due - now
    journal = _Journal()
    await _set_status(
        session, conversation, Status.OPEN, journal, now=now, reason=REOPENED_BY_TIMER
    )
    await journal.write(session, conversation.workspace_id, TIMER)
    return None


async def reassigning_workspaces(session: AsyncSession) -> list[tuple[str, int]]:
    """The workspaces that reassign unanswered conversations, and after how many minutes."""
    return await InboxRepository(session).reassigning_workspaces()


async def reassign_overdue(
    session: AsyncSession,
    workspace_id: str,
    assigned_before: datetime,
    *,
    batch: int = REASSIGN_BATCH,
) -> int:
    """Hand each open conversation of the workspace assigned before ``assigned_before`` and not
    answered yet to the next online person (up to ``batch`` of them); how many were handed on.
    Stops early when nobody is online to take them."""
    repo = InboxRepository(session)
    now = utcnow()
    journal = _Journal()
    handed = 0
    for conversation_id in await repo.overdue(workspace_id, assigned_before, batch):
        conversation = await repo.conversation(workspace_id, conversation_id, lock=True)
        if (
            conversation is None
            or conversation.status != Status.OPEN
            or conversation.first_reply_at is not None
            or conversation.assignee_id is None
        ):
            continue
        person = await _next_person(session, workspace_id, besides=conversation.assignee_id)
        if person is None:
            break  # nobody is online to take it, nor the ones after it
        if person.id == conversation.assignee_id:
            # Nobody else is online: the assignee keeps it, and the wait starts again.
            conversation.assigned_at = now
            continue
        await _assign(session, conversation, person.id, journal, now=now)
        handed += 1
    await journal.write(session, workspace_id, ROUTER)
    return handed


# ---------------------------------------------------------------------------------- usage


async def usage(session: AsyncSession, workspace_id: str, since: datetime) -> InboxUsage:
    """The conversations and messages the workspace's inbox made since ``since``."""
    repo = InboxRepository(session)
    return InboxUsage(
        conversations=await repo.count_conversations_since(workspace_id, since),
        messages=await repo.count_messages_since(workspace_id, since),
    )
