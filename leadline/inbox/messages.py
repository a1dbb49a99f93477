"""Messages and operators' notes: posting, listing, typing, and what features above the
inbox hear of a contact's or an operator's message."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from leadline import live
from leadline.auth.service import Principal
from leadline.errors import NotFound, ValidationFailed
from leadline.inbox import contacts, rules
from leadline.inbox.repository import InboxRepository
from leadline.inbox.schemas import (
    REOPENED_BY_MESSAGE,
    Author,
    MessagePage,
    NotePage,
    Status,
)
from leadline.kit import cursors
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.models import Contact, Conversation, Message, Note
from leadline.people import service as people
from leadline.webhooks import service as webhooks

# "@ada@example.com" in a note: the address after the @.
_MENTION = re.compile(r"(?<![\w.+-])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


# Called in the transaction that adds a (not quarantined) message from a contact, so features
# above the inbox (the assistant) can queue their work; they register on import.
ContactMessageHook = Callable[[AsyncSession, Conversation, Message], Awaitable[None]]
_CONTACT_MESSAGE_HOOKS: list[ContactMessageHook] = []


def on_contact_message(hook: ContactMessageHook) -> None:
    if hook not in _CONTACT_MESSAGE_HOOKS:
        _CONTACT_MESSAGE_HOOKS.append(hook)


async def contact_message_added(
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


# ------------------------------------------------------------------------------ messages


async def append(
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
    conversation = await rules.load_conversation(session, principal.workspace_id, conversation_id)
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
    text = rules.check_text(text)
    who = author_of(principal, author)
    conversation = await rules.load_conversation(
        session, principal.workspace_id, conversation_id, lock=True
    )
    now = utcnow()
    journal = rules.Journal()
    if who is Author.CONTACT:
        contact = await contacts.get(session, principal.workspace_id, conversation.contact_id)
        message = await _contact_wrote(
            session, principal, conversation, contact, text, journal, now
        )
    else:
        person_id = principal.person_id if who is Author.OPERATOR else None
        message = await append(session, conversation, who, text, person_id, now, False)
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
    journal: rules.Journal,
    now: datetime,
) -> Message:
    if contact.spam:
        return await append(session, conversation, Author.CONTACT, text, None, now, True)
    message = await append(session, conversation, Author.CONTACT, text, None, now, False)
    await contact_message_added(session, conversation, message)
    if conversation.waiting_since is None:
        conversation.waiting_since = now
    if conversation.status in (Status.CLOSED, Status.SNOOZED):
        await rules.set_status(
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
    await rules.load_conversation(session, principal.workspace_id, conversation_id)
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
    text = rules.check_text(text)
    conversation = await rules.load_conversation(session, principal.workspace_id, conversation_id)
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
    await rules.load_conversation(session, principal.workspace_id, conversation_id)
    rows = await InboxRepository(session).notes(
        principal.workspace_id, conversation_id, limit=limit + 1, after=after
    )
    found, more = cursors.cut(rows, limit)
    return NotePage(notes=found, has_more=more)
