"""The Inbox pages: conversations by status and assignee, a thread with its reply box and
notes. New messages and notes reach an open thread through ``inbox_stream``.

Every change goes through the inbox's service as the signed-in person (their principal), so
the audit log and the webhooks name them as they would name their token. A form works as a
plain POST (answered with a redirect to the thread, which says what was done) and with htmx
(answered with the thread's part of the page and the same words for the live region).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadline.accounts.service import SignedIn
from leadline.assistant import service as assistant
from leadline.auth.service import Principal
from leadline.errors import (
    ConversationClosed,
    InvalidTransition,
    LeadlineError,
    NotFound,
    ValidationFailed,
)
from leadline.http import refuse_closed
from leadline.inbox import contacts
from leadline.inbox import messages as inbox_messages
from leadline.inbox import rules as inbox_rules
from leadline.inbox import service as inbox
from leadline.inbox.schemas import TRANSITIONS, ConversationChanges, Status
from leadline.kit import cursors
from leadline.kit.time import utcnow
from leadline.models import AssistantDraft, Contact, Conversation, Message, Note, Person
from leadline.people import service as people
from leadline.web import access
from leadline.web.access import page
from leadline.web.rendering import render

PAGE_SIZE = 25
# Messages a thread shows at once; earlier ones are a link away.
THREAD_SIZE = 100
# Notes read with a thread, at most (a page of the service's at a time).
NOTES_MOST = 1000
NOTES_PAGE = 100

# A message's number in its conversation; a time zone's offset from UTC in minutes.
_NUMBER = re.compile(r"[0-9]{1,18}")
_OFFSET = re.compile(r"-?[0-9]{1,4}")

STATUS_CHOICES = (("open", "Open"), ("snoozed", "Snoozed"), ("closed", "Closed"), ("spam", "Spam"))
STATUS_ALL = "all"
STATUS_FILTERS = (*STATUS_CHOICES, (STATUS_ALL, "All"))
ASSIGNEE_CHOICES = (("mine", "Mine"), ("unassigned", "Unassigned"), ("all", "Everyone's"))
SNOOZE_CHOICES = (
    ("1h", "1 hour", timedelta(hours=1)),
    ("4h", "4 hours", timedelta(hours=4)),
    ("1d", "1 day", timedelta(days=1)),
    ("3d", "3 days", timedelta(days=3)),
    ("1w", "1 week", timedelta(weeks=1)),
)
SNOOZE_CUSTOM = "custom"

# What each action is called on its button, and what the page says once it is done.
DONE = {
    "replied": "Reply sent.",
    "draft_sent": "Draft sent as your reply.",
    "noted": "Note added. Only your team sees it.",
    "assigned": "Assignment saved.",
    "snoozed": "Conversation snoozed.",
    "closed": "Conversation closed.",
    "reopened": "Conversation reopened.",
    "spam": "Marked as spam. The contact's next messages are kept aside.",
}


# ------------------------------------------------------------------------------ showing


def when(value: datetime) -> str:
    """A time as the pages show it: the day, the minute, in UTC."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def iso(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """A time as whole microseconds since 1970, as the stream's positions write it."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def contact_name(contact: Contact | None) -> str:
    if contact is None:
        return "Unknown contact"
    if contact.erased_at is not None:
        return "Erased contact"
    return contact.name or contact.email or contact.phone or "Anonymous visitor"


@dataclass
class Names:
    """Who the pages name: the contact of a conversation and the workspace's people."""

    people: dict[str, Person] = field(default_factory=dict)
    contacts: dict[str, Contact | None] = field(default_factory=dict)

    @classmethod
    async def of_workspace(cls, session: AsyncSession, workspace_id: str) -> Names:
        members = await people.of_workspace(session, workspace_id)
        return cls(people={person.id: person for person in members})

    def person(self, person_id: str | None) -> str:
        found = self.people.get(person_id or "")
        return found.name if found is not None else "An operator"

    def reach(self, contact_id: str) -> str | None:
        """How the contact can be reached, once :meth:`contact` has read them."""
        found = self.contacts.get(contact_id)
        if found is None or found.erased_at is not None:
            return None
        return found.email or found.phone

    async def contact(self, session: AsyncSession, workspace_id: str, contact_id: str) -> str:
        if contact_id not in self.contacts:
            try:
                self.contacts[contact_id] = await contacts.get(session, workspace_id, contact_id)
            except NotFound:
                self.contacts[contact_id] = None
        return contact_name(self.contacts[contact_id])


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a thread: a message, or an operator's note."""

    kind: str  # "message" or "note"
    id: str
    author: str  # who wrote it, as the page names them
    source: str  # contact, operator, ai; note
    text: str
    at: datetime
    seq: int = 0
    quarantined: bool = False

    @property
    def when(self) -> str:
        return when(self.at)

    @property
    def iso(self) -> str:
        return iso(self.at)


def message_entry(message: Message, names: Names, contact: str) -> Entry:
    if message.author == "contact":
        author = contact
    elif message.author == "ai":
        author = "AI assistant"
    else:
        author = names.person(message.person_id)
    return Entry(
        kind="message",
        id=message.id,
        author=author,
        source=message.author,
        text=message.text,
        at=message.created_at,
        seq=message.seq,
        quarantined=message.quarantined,
    )


def note_entry(note: Note, names: Names) -> Entry:
    author = names.person(note.person_id) if note.person_id else "An API key"
    return Entry(
        kind="note", id=note.id, author=author, source="note", text=note.text, at=note.created_at
    )


@dataclass(frozen=True, slots=True)
class Row:
    """A conversation in the list."""

    conversation: Conversation
    contact: str
    assignee: str | None

    @property
    def last_activity(self) -> str:
        return when(self.conversation.last_activity_at)

    @property
    def last_activity_iso(self) -> str:
        return iso(self.conversation.last_activity_at)


# ------------------------------------------------------------------------------- the list


def _choice(value: str | None, choices: tuple[tuple[str, str], ...], default: str) -> str:
    allowed = {key for key, _ in choices} | {default}
    if not value:
        return default
    if value not in allowed:
        raise ValidationFailed(
            f"choose one of {', '.join(sorted(allowed))}", details={"parameter": value}
        )
    return value


def _activity_position(key: dict[str, Any]) -> tuple[datetime, str]:
    return cursors.timestamp(key["last_activity_at"]), cursors.identifier(key["id"])


def _activity_key(conversation: Conversation) -> dict[str, Any]:
    return {
        "last_activity_at": cursors.time_key(conversation.last_activity_at),
        "id": conversation.id,
    }


@page
async def conversations_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """The workspace's conversations in a status and for an assignee, newest activity
    first."""
    access.require_area(who, "inbox")
    params = request.query_params
    status = _choice(params.get("status"), STATUS_FILTERS, "open")
    assignee = _choice(params.get("assignee"), ASSIGNEE_CHOICES, "all")
    after = params.get("after") or None
    only = inbox_rules.conversation_filter(
        status=None if status == STATUS_ALL else status,
        assignee_id={"mine": who.person.id, "unassigned": "none"}.get(assignee),
    )
    found = await inbox.list_conversations(
        session,
        who.principal,
        only,
        limit=PAGE_SIZE,
        after=cursors.resume(after, _activity_position),
    )
    listed = cursors.page(found.conversations, has_more=found.has_more, key=_activity_key)
    names = await Names.of_workspace(session, who.workspace.id)
    rows = [
        Row(
            conversation=conversation,
            contact=await names.contact(session, who.workspace.id, conversation.contact_id),
            assignee=names.person(conversation.assignee_id) if conversation.assignee_id else None,
        )
        for conversation in listed.items
    ]

    def link(**changes: str | None) -> str:
        values = {"status": status, "assignee": assignee, **changes}
        query = urlencode({key: value for key, value in values.items() if value})
        return f"{access.base(request)}/inbox?{query}"

    return render(
        request,
        "inbox/list.html",
        {
            "rows": rows,
            "status": status,
            "assignee": assignee,
            "statuses": STATUS_FILTERS,
            "assignees": ASSIGNEE_CHOICES,
            "link": link,
            "next_link": link(after=listed.next_cursor) if listed.next_cursor else None,
            "first_link": link() if after else None,
            "origin": f"{request.url.scheme}://{request.url.netloc}",
        },
    )


# ------------------------------------------------------------------------------ a thread


async def _notes(session: AsyncSession, principal: Principal, conversation_id: str) -> list[Note]:
    found: list[Note] = []
    after: tuple[datetime, str] | None = None
    while len(found) < NOTES_MOST:
        batch = await inbox_messages.list_notes(
            session, principal, conversation_id, limit=NOTES_PAGE, after=after
        )
        found.extend(batch.notes)
        if not batch.has_more or not batch.notes:
            break
        after = (batch.notes[-1].created_at, batch.notes[-1].id)
    return found


@dataclass(frozen=True)
class Thread:
    """What a thread page shows of a conversation: the window of its messages (the latest
    ones unless ``earlier`` asked for those before a message), with the notes written
    meanwhile."""

    conversation: Conversation
    contact: str
    entries: list[Entry]
    first_seq: int  # of the first message shown (0: none)
    last_seq: int  # of the last message shown (0: none)
    latest: bool  # whether the window ends with the conversation's last message
    read_at: datetime  # when the notes were read
    reach: str | None  # the contact's email address or phone number
    assignee: str | None
    members: list[Person]
    drafts: list[AssistantDraft] = field(default_factory=list)  # the assistant's suggestions


async def _thread(
    session: AsyncSession, who: SignedIn, conversation_id: str, earlier: int | None
) -> Thread:
    principal = who.principal
    conversation = await inbox.get_conversation(session, principal, conversation_id)
    names = await Names.of_workspace(session, who.workspace.id)
    contact = await names.contact(session, who.workspace.id, conversation.contact_id)
    end = (
        conversation.message_count
        if earlier is None
        else min(earlier - 1, conversation.message_count)
    )
    start_after = max(0, end - THREAD_SIZE)
    window = await inbox_messages.list_messages(
        session, principal, conversation.id, limit=max(1, end - start_after), after_seq=start_after
    )
    shown = [message for message in window.messages if message.seq <= end]
    entries = [message_entry(message, names, contact) for message in shown]
    latest = end >= conversation.message_count
    read_at = utcnow()
    for note in await _notes(session, principal, conversation.id):
        if shown and start_after > 0 and note.created_at < shown[0].created_at:
            continue  # written before the messages shown
        if not latest and shown and note.created_at > shown[-1].created_at:
            continue  # written after them
        entries.append(note_entry(note, names))
    entries.sort(key=lambda entry: (entry.at, entry.kind == "note", entry.seq))
    return Thread(
        conversation=conversation,
        contact=contact,
        entries=entries,
        first_seq=shown[0].seq if shown else 0,
        last_seq=shown[-1].seq if shown else 0,
        latest=latest,
        read_at=read_at,
        reach=names.reach(conversation.contact_id),
        assignee=names.person(conversation.assignee_id) if conversation.assignee_id else None,
        members=[
            person for person in names.people.values() if "inbox" in access.areas_of(person.role)
        ],
        drafts=await assistant.drafts(session, principal, conversation.id),
    )


def _earlier(request: Request) -> int | None:
    value = request.query_params.get("earlier")
    if value is None:
        return None
    if not _NUMBER.fullmatch(value):
        raise ValidationFailed(
            "earlier is the number of a message", details={"parameter": "earlier"}
        )
    return int(value)


@dataclass
class Draft:
    """What a refused form said, to show it again with what was wrong."""

    form: str = ""
    error: str = ""
    text: str = ""


def _thread_context(
    request: Request, who: SignedIn, thread: Thread, announcement: str, draft: Draft
) -> dict[str, Any]:
    conversation = thread.conversation
    status = Status(conversation.status)
    base = access.base(request)
    return {
        "thread": thread,
        "conversation": conversation,
        "status": status.value,
        "snoozed_until": when(conversation.snoozed_until) if conversation.snoozed_until else None,
        "can": {target.value for target in TRANSITIONS[status]},
        "announcement": announcement,
        "draft": draft,
        "snooze_choices": [(key, label) for key, label, _ in SNOOZE_CHOICES],
        "action": f"{base}/inbox/{conversation.id}",
        "events": (
            f"{base}/inbox/{conversation.id}/events"
            f"?after={thread.last_seq}&since={micros(thread.read_at)}"
        ),
        "earlier_link": (
            f"{base}/inbox/{conversation.id}?earlier={thread.first_seq}"
            if thread.first_seq > 1
            else None
        ),
        "latest_link": None if thread.latest else f"{base}/inbox/{conversation.id}",
        "back": f"{base}/inbox",
        "viewer_id": who.person.id,
    }


async def _render_thread(
    request: Request,
    session: AsyncSession,
    who: SignedIn,
    *,
    announcement: str = "",
    draft: Draft | None = None,
    status_code: int = 200,
) -> Response:
    conversation_id = request.path_params["conversation_id"]
    earlier = _earlier(request) if request.method == "GET" else None
    thread = await _thread(session, who, conversation_id, earlier)
    context = _thread_context(request, who, thread, announcement, draft or Draft())
    # htmx swaps the conversation's part of the page, and what was done into the live region.
    context["announce_oob"] = access.is_htmx(request)
    template = "inbox/_conversation.html" if access.is_htmx(request) else "inbox/thread.html"
    headers = {REFUSED_HEADER: "refused"} if draft is not None and draft.error else None
    return render(request, template, context, status_code=status_code, headers=headers)


@page
async def thread_page(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    """One conversation: its messages and notes, the reply and note boxes, its actions."""
    access.require_area(who, "inbox")
    done = request.query_params.get("done", "")
    return await _render_thread(request, session, who, announcement=DONE.get(done, ""))


# ------------------------------------------------------------------------------ changing


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _snooze_until(form: Any, now: datetime) -> datetime:
    choice = _form_text(form, "for")
    for key, _, length in SNOOZE_CHOICES:
        if choice == key:
            return now + length
    if choice != SNOOZE_CUSTOM:
        raise ValidationFailed("choose how long to snooze", details={"field": "for"})
    text = _form_text(form, "until").strip()
    try:
        chosen = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            "give the time the conversation opens again, such as 2026-05-12 09:00",
            details={"field": "until"},
        ) from None
    if chosen.tzinfo is None:
        # The browser's offset from UTC, in minutes (as getTimezoneOffset gives it), when
        # its script sent one; else the time is UTC, as the form says.
        offset = _form_text(form, "offset")
        minutes = int(offset) if _OFFSET.fullmatch(offset) else 0
        try:
            chosen = chosen.replace(tzinfo=UTC) + timedelta(minutes=minutes)
        except OverflowError:
            raise ValidationFailed("choose an earlier time", details={"field": "until"}) from None
    chosen = chosen.astimezone(UTC)
    if chosen <= now:
        raise ValidationFailed("choose a time in the future", details={"field": "until"})
    return chosen


async def _apply(
    session: AsyncSession,
    principal: Principal,
    conversation_id: str,
    action: str,
    form: Any,
    who: SignedIn,
) -> str:
    """Do ``action`` as the form asks; what was done (a key of DONE)."""
    if action == "reply":
        await inbox_messages.post_message(
            session, principal, conversation_id, text=_form_text(form, "text")
        )
        return "replied"
    if action == "note":
        await inbox_messages.add_note(
            session, principal, conversation_id, text=_form_text(form, "text")
        )
        return "noted"
    if action == "send_draft":
        await assistant.send_draft(
            session,
            principal,
            conversation_id,
            _form_text(form, "draft_id"),
            text=_form_text(form, "text"),
        )
        return "draft_sent"
    changes: ConversationChanges
    if action == "assign":
        chosen = _form_text(form, "assignee")
        person_id = who.person.id if chosen == "me" else chosen or None
        changes = ConversationChanges(assignee_id=person_id)
    elif action == "snooze":
        now = utcnow()
        changes = ConversationChanges(status="snoozed", snoozed_until=_snooze_until(form, now))
    elif action in ("close", "reopen", "spam"):
        changes = ConversationChanges(
            status={"close": "closed", "reopen": "open"}.get(action, action)
        )
    else:
        raise NotFound("there is no such action", resource="action")
    await inbox.update_conversation(session, principal, conversation_id, changes)
    return {"assign": "assigned", "snooze": "snoozed", "close": "closed", "reopen": "reopened"}.get(
        action, action
    )


# Marks the answer to a refused form, which the page's script lets htmx show, although its
# status is an error's.
REFUSED_HEADER = "X-Inbox-Form"

ACTIONS = frozenset({"reply", "note", "assign", "snooze", "close", "reopen", "spam", "send_draft"})


@page
async def _act(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    access.require_area(who, "inbox")
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound("there is no page at this address", resource="page")
    principal = who.principal
    conversation = await inbox.get_conversation(
        session, principal, request.path_params["conversation_id"]
    )
    refuse_closed(request, principal)
    form = await request.form()
    request.state.inbox_form = action
    done = await _apply(session, principal, conversation.id, action, form, who)
    if access.is_htmx(request):
        return await _render_thread(request, session, who, announcement=DONE[done])
    to = f"{access.base(request)}/inbox/{conversation.id}?done={done}"
    return RedirectResponse(to + ("#reply" if action in ("reply", "note") else ""), status_code=303)


def _refused_on_form(exc: LeadlineError) -> bool:
    """Whether a refusal is about what the form said (shown on the thread, with the form as
    it was), rather than about the page (its own error page)."""
    if isinstance(exc, NotFound):
        return exc.resource == "person"
    return isinstance(exc, (ValidationFailed, InvalidTransition, ConversationClosed))


@page
async def _refused(request: Request, session: AsyncSession, who: SignedIn) -> Response:
    exc: LeadlineError = request.state.inbox_refused
    form = await request.form()
    draft = Draft(
        form=getattr(request.state, "inbox_form", ""),
        error=exc.message,
        text=_form_text(form, "text"),
    )
    return await _render_thread(request, session, who, draft=draft, status_code=exc.status_code)


async def act(request: Request) -> Response:
    """A form of the thread: reply, note, assign, snooze, close, reopen, spam. A refusal
    rolls the whole change back, then shows the thread with the form as it was sent."""
    try:
        return await _act(request)
    except LeadlineError as exc:
        if not _refused_on_form(exc):
            raise
        request.state.inbox_refused = exc
        return await _refused(request)


ROUTES: list[BaseRoute] = [
    Route("/inbox", conversations_page, methods=["GET"]),
    Route("/inbox/{conversation_id}", thread_page, methods=["GET"]),
    Route("/inbox/{conversation_id}/{action}", act, methods=["POST"]),
]
