"""Conversations: reading and listing them, starting one, changing its status, assignee and
tags, the jobs that wake and hand them on, and what the inbox made (for billing)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadline.audit import service as audit
from leadline.auth.service import Principal
from leadline.errors import ConversationClosed, ValidationFailed
from leadline.inbox import contacts, messages, rules
from leadline.inbox.repository import ConversationFilter, InboxRepository
from leadline.inbox.schemas import (
    REOPENED_BY_TIMER,
    UNSET,
    Author,
    ContactFields,
    ConversationChanges,
    ConversationPage,
    InboxUsage,
    NewConversation,
    Status,
)
from leadline.kit import cursors
from leadline.kit import tags as tag_rules
from leadline.kit.ids import new_id
from leadline.kit.time import iso_millis, utcnow
from leadline.models import Conversation
from leadline.people import service as people
from leadline.tracking import visits


async def get_conversation(
    session: AsyncSession, principal: Principal, conversation_id: str
) -> Conversation:
    return await rules.load_conversation(session, principal.workspace_id, conversation_id)


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
    text = rules.check_text(text, "message.text")
    subject = rules.check_subject(subject)
    journal = rules.Journal()
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
        message = await messages.append(
            session, conversation, Author.CONTACT, text, None, now, True
        )
        await journal.write(session, principal.workspace_id, principal.actor)
        return NewConversation(conversation, message, created)
    await rules.emit(
        session,
        conversation,
        "conversation.created",
        status=conversation.status,
        **({"subject": subject} if subject else {}),
        created_at=iso_millis(now),
    )
    if principal.workspace.auto_assign:
        person = await rules.next_person(session, principal.workspace_id)
        if person is not None:
            await rules.assign(session, conversation, person.id, journal, now=now)
    message = await messages.append(session, conversation, Author.CONTACT, text, None, now, False)
    conversation.waiting_since = now
    await messages.contact_message_added(session, conversation, message)
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
    conversation = await rules.load_conversation(
        session, principal.workspace_id, conversation_id, lock=True
    )
    now = utcnow()
    journal = rules.Journal()
    await _change_status(session, conversation, changes, journal, now=now)
    if changes.assignee_id is not UNSET and changes.assignee_id != conversation.assignee_id:
        if conversation.status == Status.CLOSED:
            raise ConversationClosed(
                "the conversation is closed; reopen it (status open) to rules.assign it",
                details={"id": conversation.id},
            )
        person_id = changes.assignee_id
        if person_id is not None:
            person_id = (await people.operator(session, principal.workspace_id, person_id)).id
        await rules.assign(session, conversation, person_id, journal, now=now)
    described: dict[str, tuple[Any, Any]] = {}
    if changes.subject is not UNSET:
        subject = rules.check_subject(changes.subject)
        if subject != conversation.subject:
            # What a subject says may name someone: the log keeps that it changed.
            described["subject"] = (
                audit.REDACTED if conversation.subject else None,
                audit.REDACTED if subject else None,
            )
            conversation.subject = subject
    if changes.tags is not UNSET:
        tags = tag_rules.check_tags(changes.tags)
        if tags != rules.tags_of(conversation):
            described["tags"] = (rules.tags_of(conversation), tags)
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
    journal: rules.Journal,
    *,
    now: datetime,
) -> None:
    target = rules.parse_status(changes.status) if changes.status is not UNSET else None
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
        until = rules.snooze_time(until, now)
        if until != conversation.snoozed_until:
            journal.add(
                "conversation.snoozed",
                "conversation",
                conversation.id,
                {"snoozed_until": (conversation.snoozed_until, until)},
            )
            conversation.snoozed_until = until
            conversation.updated_at = now
            await rules.wake_at(session, conversation, until)
        return
    rules.check_transition(conversation, target)
    if target is Status.SNOOZED:
        snooze = rules.snooze_time(None if until is UNSET else until, now)
        await rules.set_status(
            session, conversation, target, journal, now=now, snoozed_until=snooze
        )
        return
    if until is not UNSET and until is not None:
        raise ValidationFailed(
            "snoozed_until goes with status snoozed", details={"field": "snoozed_until"}
        )
    await rules.set_status(session, conversation, target, journal, now=now)


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
    journal = rules.Journal()
    await rules.set_status(
        session, conversation, Status.OPEN, journal, now=now, reason=REOPENED_BY_TIMER
    )
    await journal.write(session, conversation.workspace_id, rules.TIMER)
    return None


async def reassigning_workspaces(session: AsyncSession) -> list[tuple[str, int]]:
    """The workspaces that reassign unanswered conversations, and after how many minutes."""
    return await InboxRepository(session).reassigning_workspaces()


async def reassign_overdue(
    session: AsyncSession,
    workspace_id: str,
    assigned_before: datetime,
    *,
    batch: int = rules.REASSIGN_BATCH,
) -> int:
    """Hand each open conversation of the workspace assigned before ``assigned_before`` and not
    answered yet to the next online person (up to ``batch`` of them); how many were handed on.
    Stops early when nobody is online to take them."""
    repo = InboxRepository(session)
    now = utcnow()
    journal = rules.Journal()
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
        person = await rules.next_person(session, workspace_id, besides=conversation.assignee_id)
        if person is None:
            break  # nobody is online to take it, nor the ones after it
        if person.id == conversation.assignee_id:
            # Nobody else is online: the assignee keeps it, and the wait starts again.
            conversation.assigned_at = now
            continue
        await rules.assign(session, conversation, person.id, journal, now=now)
        handed += 1
    await journal.write(session, workspace_id, rules.ROUTER)
    return handed


# ---------------------------------------------------------------------------------- usage


async def usage(session: AsyncSession, workspace_id: str, since: datetime) -> InboxUsage:
    """The conversations and messages the workspace's inbox made since ``since``."""
    repo = InboxRepository(session)
    return InboxUsage(
        conversations=await repo.count_conversations_since(workspace_id, since),
        messages=await repo.count_messages_since(workspace_id, since),
    )
